"""Type-check config values against the annotations of the dataclass they fill, when the file is read.

TOML has real booleans, integers, floats, strings, arrays and tables, so a value of the wrong kind is a mistake in
the file: `permutation = "no"` must not be read as true (a non-empty string is truthy), `n_splits = "3"` must not
reach `make_folds`, `features = "user_profile"` must not be iterated letter by letter. One checker reads the field
annotations (`int`, `float`, `bool`, `str`, `X | None`, `list[...]`, `dict[...]`, nested config dataclasses), so a
new config field is checked without writing a check for it.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any

# How a TOML user would name the kind of a value.
_KIND = {bool: "a boolean", int: "an integer", float: "a float", str: "a string", list: "an array", dict: "a table"}


def kind_of(value: Any) -> str:
    """The TOML name of a value's kind, for messages ("a string", "an integer", ...)."""
    for tp in (bool, int, float, str, list, dict):  # bool before int: True is an int in Python
        if isinstance(value, tp):
            return _KIND[tp]
    return type(value).__name__


def key_path(where: str, key: str) -> str:
    """`cfg.toml [cv]` + `n_splits` -> `cfg.toml [cv].n_splits`; top level: `cfg.toml: seed`."""
    return f"{where}.{key}" if where.endswith("]") else f"{where}: {key}"


def field_type_problem(cls: type, data: dict[str, Any], where: str) -> str | None:
    """The first value of `data` that does not match its field's annotation in dataclass `cls`, as a message."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in data:
            problem = value_type_problem(data[f.name], hints[f.name], key_path(where, f.name))
            if problem:
                return problem
    return None


def value_type_problem(value: Any, annotation: Any, path: str) -> str | None:
    """None when `value` fits `annotation`, else "PATH must be EXPECTED, got VALUE (KIND)"."""
    expected = _expected(annotation)
    ok, inner = _fits(value, annotation, path)
    if inner:
        return inner
    if ok:
        return None
    return f"{path} must be {expected}, got {value!r} ({kind_of(value)})"


def _fits(value: Any, tp: Any, path: str) -> tuple[bool, str | None]:
    """(fits, message of a nested problem). A nested problem (an array element) carries its own path."""
    if tp is Any:
        return True, None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None and len(options) < len(typing.get_args(tp)):
            return True, None
        for a in options:
            ok, inner = _fits(value, a, path)
            if ok or inner:
                return ok, inner
        return False, None
    if origin is list or tp is list:
        if not isinstance(value, list):
            return False, None
        (item,) = typing.get_args(tp) or (Any,)
        for i, v in enumerate(value):
            problem = value_type_problem(v, _item_annotation(item), f"{path}[{i}]")
            if problem:
                return False, problem
        return True, None
    if origin is dict or tp is dict:
        return isinstance(value, dict), None
    if dataclasses.is_dataclass(tp):
        return isinstance(value, dict), None
    if tp is bool:
        return isinstance(value, bool), None
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool), None
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False, None
        if not math.isfinite(value):
            return False, f"{path} must be a finite number, got {value!r}"
        return True, None
    if tp is str:
        return isinstance(value, str), None
    return isinstance(value, tp) if isinstance(tp, type) else True, None


def _item_annotation(item: Any) -> Any:
    """Array items that are config dataclasses may be written as a table or as a plain name (`"lgbm"`)."""
    if dataclasses.is_dataclass(item):
        return dict[str, Any] | str
    return item


def _expected(tp: Any) -> str:
    """How to say what a field wants: "an integer", "a boolean (true or false)", "an array of strings", ..."""
    if tp is Any:
        return "any value"
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        return " or ".join(_expected(a) for a in options)
    if origin is list or tp is list:
        (item,) = typing.get_args(tp) or (Any,)
        if dataclasses.is_dataclass(item):
            return "an array (of names or tables)"
        return "an array" if item is Any else f"an array of {_expected(item).split(' ', 1)[1]}s"
    if origin is dict or tp is dict or dataclasses.is_dataclass(tp):
        return "a table"
    if tp is bool:
        return "a boolean (true or false)"
    if tp is float:
        return "a number"
    return _KIND.get(tp, getattr(tp, "__name__", str(tp)))

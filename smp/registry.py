"""One generic registry of named classes: feature generators (`smp.features`) and models (`smp.ensembles`).

Duplicate keys are rejected naming both classes; an unknown key raises a `KeyError` listing the valid ones.
"""

from __future__ import annotations

from typing import Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """A name -> class table whose `key_attr` is read off each registered class."""

    def __init__(self, kind: str, key_attr: str = "name") -> None:
        self.kind = kind
        self.key_attr = key_attr
        self._items: dict[str, type[T]] = {}

    def register(self, cls: type[T]) -> type[T]:
        key = getattr(cls, self.key_attr, None)
        if not isinstance(key, str) or not key:
            raise TypeError(f"{cls.__qualname__} must define a non-empty string `{self.key_attr}` to be registered")
        if key in self._items and self._items[key] is not cls:
            other = self._items[key]
            raise KeyError(
                f"{self.kind} key {key!r} is already registered by {other.__module__}.{other.__qualname__}; "
                f"cannot register {cls.__module__}.{cls.__qualname__} under the same key"
            )
        self._items[key] = cls
        return cls

    def get(self, key: str) -> type[T]:
        try:
            return self._items[key]
        except KeyError:
            raise KeyError(f"unknown {self.kind} {key!r}; valid keys: {sorted(self._items)}") from None

    def create(self, key: str, params: dict | None = None) -> T:
        cls = self.get(key)
        try:
            return cls(**(params or {}))
        except TypeError as e:
            raise TypeError(f"bad parameters for {self.kind} {key!r}: {e}") from e

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))

    def items(self) -> list[tuple[str, type[T]]]:
        return sorted(self._items.items())

    def decorator(self) -> Callable[[type[T]], type[T]]:
        return self.register

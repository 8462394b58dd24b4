"""Config values are type-checked when the file is read: the message names the file, the key, the expected type and
the value (pipelines/_fieldtypes.py, through config._build)."""

from __future__ import annotations

import re

import pytest

from smp.pipelines.cli import main
from smp.pipelines.config import ConfigError, config_from_dict, load_config

BASE = {"models": [{"key": "ridge"}]}


@pytest.mark.parametrize(
    "raw, message",
    [
        ({**BASE, "importance": {"permutation": "no"}},
         "cfg.toml [importance].permutation must be a boolean (true or false), got 'no' (a string)"),
        ({**BASE, "output": {"submission": "false"}},
         "cfg.toml [output].submission must be a boolean (true or false), got 'false' (a string)"),
        ({**BASE, "cv": {"n_splits": "3"}}, "cfg.toml [cv].n_splits must be an integer, got '3' (a string)"),
        ({**BASE, "cv": {"n_splits": 3.5}}, "cfg.toml [cv].n_splits must be an integer, got 3.5 (a float)"),
        ({**BASE, "cv": {"n_splits": True}}, "cfg.toml [cv].n_splits must be an integer, got True (a boolean)"),
        ({**BASE, "seed": "zero"}, "cfg.toml: seed must be an integer, got 'zero' (a string)"),
        ({**BASE, "data": {"path": 42}}, "cfg.toml [data].path must be a string, got 42 (an integer)"),
        ({**BASE, "features": "user_profile"},
         "cfg.toml: features must be an array (of names or tables), got 'user_profile' (a string)"),
        ({**BASE, "features": ["time", 3]}, "cfg.toml: features[1] must be a table or a string, got 3"),
        ({"models": "ridge"}, "cfg.toml: models must be an array (of names or tables), got 'ridge'"),
        ({"models": [{"key": "ridge", "params": "x"}]}, "cfg.toml [[models]][0].params must be a table, got 'x'"),
        ({**BASE, "tuning": {"models": ["a", 3]}}, "cfg.toml [tuning].models[1] must be a string, got 3"),
        ({**BASE, "tuning": {"timeout": "1h"}}, "cfg.toml [tuning].timeout must be a number, got '1h'"),
        ({**BASE, "pseudo": {"alpha": float("inf")}}, "cfg.toml [pseudo].alpha must be a finite number, got inf"),
        ({**BASE, "ray": {"num_cpus": 2.5}}, "cfg.toml [ray].num_cpus must be an integer, got 2.5"),
        ({**BASE, "stack": {"passthrough": 1}}, "cfg.toml [stack].passthrough must be a boolean (true or false), got 1"),
        ({**BASE, "stack": {"levels": [{"learners": ["ridge"], "passthrough": "yes"}]}},
         "cfg.toml [[stack.levels]][0].passthrough must be a boolean"),
        ({**BASE, "cv": {"n_splits": 1}}, "cfg.toml [cv].n_splits must be >= 2"),
        ({**BASE, "seed": -1}, "cfg.toml: seed must be >= 0"),
        ({**BASE, "importance": {"repeats": 0}}, "cfg.toml [importance].repeats must be >= 1"),
        ({**BASE, "data": {"label_range": [5, 1]}}, "cfg.toml [data].label_range must be [low, high] with low < high"),
        ({**BASE, "data": {"label_range": ["a", 1]}}, r"cfg.toml \[data\].label_range\[0\] must be a number"),
        ({**BASE, "features": [{"name": "time", "params": {"bogus": 1}}]},
         "cfg.toml [[features]][0] (time): bad parameters for feature generator 'time'"),
        ({**BASE, "features": [{"name": "time", "params": 3}]}, "cfg.toml [[features]][0].params must be a table"),
        ({"models": [{"key": "lgbm", "params": {"num_leafs": 9}}]},
         "cfg.toml [[models]][0] (lgbm): unknown LightGBM parameter 'num_leafs'; close: "),
        ({**BASE, "stack": {"learners": [{"key": "ridge", "params": {"alpah": 1}}]}},
         "cfg.toml [stack].learners[0] (ridge): unknown parameter 'alpah'"),
    ],
)
def test_wrong_types_name_file_key_type_and_value(raw, message):
    with pytest.raises(ConfigError) as info:
        config_from_dict(raw, "cfg.toml")
    got = str(info.value)
    assert message in got or re.search(message, got), got


def test_right_types_pass_and_ints_are_floats():
    cfg = config_from_dict({**BASE, "tuning": {"timeout": 30}, "cv": {"n_splits": 3, "seed": 7},
                            "output": {"submission": False}, "importance": {"permutation": False},
                            "data": {"label_range": [0, 20]}})
    assert cfg.tuning.timeout == 30 and cfg.cv.seed == 7 and cfg.output.submission is False
    assert cfg.importance.permutation is False and cfg.data.label_range == [0, 20]


def test_bool_is_not_read_as_true_from_a_file_through_the_cli(tmp_path, capsys):
    p = tmp_path / "c.toml"
    p.write_text('[importance]\npermutation = "no"\n[[models]]\nkey = "ridge"\n')
    assert main(["run", "--config", str(p)]) == 2
    err = capsys.readouterr().err
    assert f"{p} [importance].permutation must be a boolean (true or false), got 'no'" in err
    assert "Traceback" not in err


def test_non_utf8_toml_names_file_line_and_byte(tmp_path):
    p = tmp_path / "c.toml"
    p.write_bytes(b'name = "a"\n# caf\xe9\n[[models]]\nkey = "ridge"\n')
    with pytest.raises(ConfigError, match=re.escape(f"{p}: line 2, column 6: byte 0xe9 is not UTF-8")):
        load_config(p)

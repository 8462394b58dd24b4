from __future__ import annotations

import tomllib

import pytest

from smp.pipelines.config import BUNDLED, ConfigError, config_from_dict, load_config


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_configs_load_and_round_trip(name):
    cfg = load_config(name)
    again = config_from_dict(tomllib.loads(cfg.to_toml()), "<round trip>")
    assert again.to_dict() == cfg.to_dict()
    assert cfg.models and cfg.features
    for spec in cfg.features:  # parameters are valid for their generator
        spec.create()


BASE = {"models": [{"key": "ridge"}]}


@pytest.mark.parametrize(
    "raw, match",
    [
        ({**BASE, "nmae": "x"}, "unknown key 'nmae'; valid keys"),
        ({**BASE, "data": {"fromat": "table"}}, r"\[data\]: unknown key 'fromat'"),
        ({**BASE, "data": {"format": "xlsx"}}, "format must be one of"),
        ({**BASE, "cv": {"scheme": "loo"}}, "scheme must be one of"),
        ({**BASE, "metric": "rmse"}, "metric must be one of"),
        ({**BASE, "features": [{"name": "no_such_gen"}]}, "unknown feature generator 'no_such_gen'; valid"),
        ({**BASE, "features": [{"name": "time", "parms": {}}]}, r"expected \{name"),
        ({"models": [{"key": "xgb"}]}, "unknown model 'xgb'; valid keys"),
        ({"models": [{"key": "ridge"}, {"key": "ridge"}]}, "two entries named 'ridge'"),
        ({"models": [{"kye": "ridge"}]}, "unknown key 'kye'"),
        ({}, "at least one"),
        ({**BASE, "stack": {"learner": []}}, r"\[stack\]: unknown key 'learner'"),
    ],
)
def test_config_errors_name_the_key(raw, match):
    with pytest.raises(ConfigError, match=match):
        config_from_dict(raw, "cfg.toml")


def test_missing_file_lists_bundled(tmp_path):
    with pytest.raises(ConfigError, match="does not exist.*bundled configs"):
        load_config(tmp_path / "nope.toml")


def test_invalid_toml_names_file(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text("name = [")
    with pytest.raises(ConfigError, match="bad.toml: invalid TOML"):
        load_config(p)


def test_models_as_plain_keys_and_names_default_to_key():
    cfg = config_from_dict({"models": ["lgbm", {"key": "lgbm", "name": "lgbm_deep", "params": {"num_leaves": 255}}]})
    assert [m.name for m in cfg.models] == ["lgbm", "lgbm_deep"]

"""`[tuning]`, `[pseudo]` and `[[stack.levels]]` config sections."""

from __future__ import annotations

import tomllib

import pytest

from smp.pipelines.config import ConfigError, config_from_dict, load_config

BASE = {"models": [{"key": "lgbm"}, {"key": "ridge", "name": "r"}]}


def test_sections_default_off_and_round_trip():
    cfg = config_from_dict(BASE)
    assert not cfg.tuning.enabled and not cfg.pseudo.enabled and cfg.stack.levels == [] and not cfg.stack.fold_blend
    raw = {**BASE, "tuning": {"enabled": True, "models": ["r"], "metric": "smp", "n_trials": 3, "workers": 2},
           "pseudo": {"enabled": True, "rounds": 1, "alpha": 1.0, "weight": 0.2},
           "stack": {"learners": ["blend"], "fold_blend": True,
                     "levels": [{"learners": ["ridge"], "passthrough": True}, {"learners": ["blend"]}]}}
    cfg = config_from_dict(raw)
    assert cfg.tuning.models == ["r"] and cfg.tuning.workers == 2 and cfg.pseudo.weight == 0.2
    assert [lv.learners[0].name for lv in cfg.stack.levels] == ["ridge", "blend"] and cfg.stack.levels[0].passthrough
    assert config_from_dict(tomllib.loads(cfg.to_toml())).to_dict() == cfg.to_dict()


def test_bundled_full_config_has_every_learner_and_component():
    cfg = load_config("smpd_video_full")
    assert [m.key for m in cfg.models] == ["lgbm", "catboost", "tabnet", "mlp"]
    assert cfg.tuning.enabled and cfg.pseudo.enabled and cfg.stack.fold_blend and cfg.stack.levels


@pytest.mark.parametrize(
    "over, match",
    [
        ({"tuning": {"enabeld": True}}, r"\[tuning\]: unknown key 'enabeld'"),
        ({"tuning": {"metric": "rmse"}}, r"\[tuning\]: metric must be one of"),
        ({"tuning": {"models": ["xgb"]}}, r"models \['xgb'\] are not \[\[models\]\] names"),
        ({"tuning": {"workers": 0}}, "must be >= 1"),
        ({"pseudo": {"alpah": 1}}, r"\[pseudo\]: unknown key 'alpah'"),
        ({"pseudo": {"weight": 0}}, "weight > 0"),
        ({"pseudo": {"source": "votes"}}, "source must be one of"),
        ({"stack": {"levels": [{"learners": []}]}}, r"\[\[stack.levels\]\]\[0\]: needs at least one learner"),
        ({"stack": {"levels": [{"learners": ["xgb"]}]}}, r"\[\[stack.levels\]\]\[0\].learners: unknown model 'xgb'"),
        ({"stack": {"levels": [{"lerners": ["ridge"]}]}}, "unknown key 'lerners'"),
        ({"stack": {"time_tail": 1.0}}, r"\[stack\].time_tail must be in \[0, 1\)"),
        ({"stack": {"time_tail": -0.1}}, r"\[stack\].time_tail must be in \[0, 1\)"),
    ],
)
def test_errors_name_the_section_and_key(over, match):
    with pytest.raises(ConfigError, match=match):
        config_from_dict({**BASE, **over})

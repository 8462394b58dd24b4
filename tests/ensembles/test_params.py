"""Model params are checked against what each library accepts, when the config is read (ensembles/models/params.py)."""

from __future__ import annotations

import re

import pytest

from smp.ensembles.models.params import ParamError, catboost_params, check_params, lightgbm_aliases

W = "cfg.toml [[models]][0] (m)"


@pytest.mark.parametrize(
    "key, params, match",
    [
        ("lgbm", {"num_leafs": 9}, "unknown LightGBM parameter 'num_leafs'; close: .*num_leaves"),
        ("lgbm", {"num_leaves": -7}, "LightGBM rejects num_leaves = -7: num_leaves must be > 1"),
        ("lgbm", {"learning_rate": "fast"}, "LightGBM rejects learning_rate = 'fast': expected a number, got 'fast'"),
        ("lgbm", {"bagging_freq": 2.5}, "bagging_freq = 2.5: .*should be of type int"),
        ("lgbm", {"objective": "regresion"}, "objective = 'regresion': Unknown objective type name"),
        ("lgbm", {"feature_fraction": 1.5}, "feature_fraction must be <= 1.0"),
        ("lgbm", {"num_leaf": 9}, "'num_leaf' and the lgbm default 'num_leaves' are one LightGBM parameter"),
        ("lgbm", {"min_data_in_leaf": 5}, "and the lgbm default 'min_child_samples' .*set 'min_child_samples'"),
        ("lgbm", {"lambda_l1": 1.0, "reg_alpha": 2.0}, "'lambda_l1' and 'reg_alpha' all name LightGBM's 'lambda_l1'; set it once"),
        ("lgbm", {"num_iterations": 100}, "'num_iterations' is LightGBM's name for the wrapper's 'n_estimators'"),
        ("lgbm", {"verbose": 1}, "set by the lgbm wrapper itself"),
        ("lgbm", {"n_estimators": "many"}, "n_estimators must be an integer >= 1, got 'many'"),
        ("lgbm", {"early_stopping_rounds": -1}, "early_stopping_rounds must be an integer >= 0"),
        ("lgbm", {"max_depth": {"a": 1}}, "max_depth = .* is not a LightGBM value"),
        ("catboost", {"depht": 6}, "unknown CatBoost parameter 'depht'; close: depth"),
        ("catboost", {"depth": -3}, r"depth \(tree depth\) must be an integer >= 1, got -3"),
        # One rule per meaning for both boosters, where a library's own parser has a gap.
        ("catboost", {"learning_rate": -0.1}, r"learning_rate \(learning rate\) must be a finite number > 0, got -0.1"),
        ("catboost", {"eta": -1}, r"eta \(learning rate\) must be a finite number > 0"),
        ("lgbm", {"learning_rate": -0.1}, r"learning_rate \(learning rate\) must be a finite number > 0, got -0.1"),
        ("lgbm", {"eta": float("inf")}, r"eta \(learning rate\) must be a finite number > 0, got inf"),
        ("catboost", {"random_strength": -1}, r"random_strength \(random strength\) must be a finite number >= 0"),
        ("catboost", {"l2_leaf_reg": -1}, r"l2_leaf_reg \(L2 regularisation\) must be a finite number >= 0"),
        ("lgbm", {"reg_lambda": -1}, r"reg_lambda \(L2 regularisation\) must be a finite number >= 0"),
        ("catboost", {"depth": 20}, "depth = 20: Maximum tree depth is 16"),
        ("catboost", {"loss_function": "RMS"}, "loss_function = 'RMS': Key 'RMS' not found"),
        ("catboost", {"n_estimators": 50}, "only one of the parameters iterations, n_estimators.*defaults set"),
        ("catboost", {"verbose": True}, "'verbose' is set by the catboost wrapper"),
        ("ridge", {"alpah": 1.0}, "unknown parameter 'alpah' for model 'ridge'; close: alpha"),
        ("ridge", {"alpha": "x"}, "alpha must be a number, got 'x'"),
        ("mlp", {"hidden": 64}, "hidden must be an array, got 64"),
        ("mlp", {"batch_size": 3.5}, "batch_size must be an integer, got 3.5"),
        ("tabnet", {"max_epochs": True}, "max_epochs must be a number, got True"),
        ("blend", {"x": 1}, "unknown parameter 'x' for model 'blend'; valid: loss"),
        ("lgbm", {"seeds": 0}, "seeds must be an integer >= 1, got 0"),
        ("catboost", {"exclude": "raw_"}, "exclude must be an array of column-name prefixes"),
        ("lgbm", {"select": {"method": "lasso"}}, "select must be a table with method = one of"),
        ("xgb", {}, "unknown model 'xgb'"),
    ],
)
def test_bad_params_name_where_key_and_value(key, params, match):
    with pytest.raises(ParamError, match=match) as info:
        check_params(key, params, W)
    assert str(info.value).startswith(W)


@pytest.mark.parametrize(
    "key, params",
    [
        ("lgbm", {"num_leaves": 9, "learning_rate": 0.1, "n_estimators": 50, "objective": "huber", "alpha": 0.9}),
        ("lgbm", {"min_child_samples": 5, "monotone_constraints": [1, 0], "metric": "l1", "max_bin": 63}),
        ("catboost", {"depth": 8, "loss_function": "MAE", "early_stopping_rounds": 0, "bootstrap_type": "Bernoulli",
                      "subsample": 0.8}),
        ("ridge", {"alpha": 2}),
        ("mlp", {"co_attention": True, "hidden": [32], "dropout": 0}),
        ("tabnet", {"n_d": 8, "device": "cpu"}),
    ],
)
def test_good_params_pass(key, params):
    check_params(key, params, W)


def test_accepted_names_come_from_the_libraries():
    aliases = lightgbm_aliases()
    assert aliases["num_leaf"] == "num_leaves" and aliases["min_child_samples"] == "min_data_in_leaf"
    assert len(aliases) > 200
    names = catboost_params()
    assert {"depth", "l2_leaf_reg", "eta", "n_estimators"} <= set(names)


def test_no_lightgbm_noise_on_stderr(capfd):
    with pytest.raises(ParamError):
        check_params("lgbm", {"num_leaves": -7}, W)
    out, err = capfd.readouterr()
    assert "[LightGBM]" not in out + err


def test_config_reports_param_errors_before_any_work(tmp_path):
    from smp.pipelines.cli import main

    cfg = tmp_path / "c.toml"
    cfg.write_text('[data]\npath = "/nonexistent"\n[[models]]\nkey = "lgbm"\nparams = { num_leafs = 9 }\n')
    from smp.pipelines.config import ConfigError, load_config

    with pytest.raises(ConfigError, match=re.escape(f"{cfg} [[models]][0] (lgbm): unknown LightGBM parameter")):
        load_config(cfg)
    assert main(["-q", "run", "--config", str(cfg)]) == 2


def test_every_model_takes_the_base_params():
    for key in ("lgbm", "catboost", "ridge", "mlp", "tabnet", "blend"):
        check_params(key, {"seeds": 2, "exclude": ["raw_categories__"], "select": {"method": "null", "quantile": 0.8}}, W)

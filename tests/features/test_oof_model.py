"""Per-modality model predictions: out of fold on fitted rows, one model per modality, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import KFold

from smp.features import get_generator


def modal_frame(n: int = 300, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """A label that the text block predicts linearly and the user block does not at all."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 4)), columns=[f"emb__{i}" for i in range(4)])
    X["user_profile__a"] = rng.normal(size=n)
    X["user_profile__kind"] = pd.Categorical(rng.choice(["a", "b"], n))  # not numeric: left out
    X.index = pd.Index(np.arange(n) * 3 + 5)
    y = pd.Series(2.0 * X["emb__0"] - X["emb__1"] + rng.normal(0, 0.3, n), index=X.index)
    return X, y


def make(**params):
    return get_generator("oof_model", {"modalities": {"text": ["emb__"], "user": ["user_profile__"]}, **params})


@pytest.mark.parametrize("model, params", [("ridge", {}), ("lgbm", {"n_estimators": 30})])
def test_fit_transform_is_each_inner_fold_model_on_its_validation_rows(model, params):
    X, y = modal_frame()
    out = make(model=model, params=params, inner_folds=4, seed=3).fit_transform(X, y)
    assert list(out.columns) == ["oof_model__text", "oof_model__user"]
    for tr, va in KFold(4, shuffle=True, random_state=3).split(X):
        part = make(model=model, params=params, seed=3).fit(X.iloc[tr], y.iloc[tr]).transform(X.iloc[va])
        pd.testing.assert_frame_equal(out.iloc[va], part)


def test_each_modality_sees_only_its_columns():
    X, y = modal_frame()
    gen = make(model="ridge")
    out = gen.fit_transform(X, y)
    assert np.corrcoef(out["oof_model__text"], y)[0, 1] > 0.9
    assert abs(np.corrcoef(out["oof_model__user"], y)[0, 1]) < 0.2
    assert gen.columns_ == {"text": ["emb__0", "emb__1", "emb__2", "emb__3"], "user": ["user_profile__a"]}
    lgbm = make(params={"n_estimators": 60, "objective": "huber"}).fit_transform(X, y)
    assert np.corrcoef(lgbm["oof_model__text"], y)[0, 1] > 0.7


def test_rows_without_the_modality_get_missing_values():
    X, y = modal_frame()
    gen = make(model="ridge").fit(X, y)
    new = X.iloc[:3].copy()
    new.loc[new.index[0], ["emb__0", "emb__1", "emb__2", "emb__3"]] = np.nan
    out = gen.transform(new)
    assert np.isnan(out["oof_model__text"].iloc[0]) and out["oof_model__text"].iloc[1:].notna().all()
    assert out["oof_model__user"].notna().all()
    assert len(gen.transform(X.iloc[:0])) == 0


def test_errors_name_the_mistake():
    X, y = modal_frame()
    with pytest.raises(KeyError, match=r"starting with \['sentence__'\]"):
        get_generator("oof_model", {"modalities": {"text": ["sentence__"]}}).fit(X, y)
    with pytest.raises(ValueError, match="'k' has no numeric column"):
        get_generator("oof_model", {"modalities": {"k": ["user_profile__kind"]}}).fit(X, y)
    for params, msg in [({"model": "svm"}, "model must be one of"),
                        ({"model": "ridge", "params": {"n_estimators": 5}}, "ridge model takes only"),
                        ({"modalities": {"Text": ["emb__"]}}, "a name in `modalities`"),
                        ({"modalities": {"t": []}}, "one or more column prefixes")]:
        with pytest.raises(ValueError, match=msg):
            get_generator("oof_model", {"modalities": {"t": ["emb__"]}, **params}).fit(X, y)

"""Target encodings: smoothed means, out-of-fold values on fitted rows, the prior for unseen keys."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import KFold

from smp.features import get_generator


def target_frame() -> tuple[pd.DataFrame, pd.Series]:
    X = pd.DataFrame(
        {
            "user_id": ["a", "a", "a", "b", "b", "c"],
            "category": ["F", "F", "T", "T", None, "F"],
            "subcategory": ["F1", "F1", "T1", "T1", "T1", "F2"],
            "concept": ["x", "y", "x", "y", "x", "y"],
        },
        index=list("pqrstu"),
    )
    y = pd.Series([1.0, 3.0, 5.0, 2.0, 4.0, 9.0], index=X.index)
    return X, y


def test_user_target_smoothed_mean_count_and_std_on_new_rows():
    X, y = target_frame()
    gen = get_generator("user_target", {"smoothing": 2.0}).fit(X, y)
    prior = y.mean()  # 4
    out = gen.transform(pd.DataFrame({"user_id": ["a", "b", "c", "zz"]}))
    np.testing.assert_allclose(
        out["user_target__mean"], [(9 + 2 * prior) / 5, (6 + 2 * prior) / 4, (9 + 2 * prior) / 3, prior]
    )
    assert out["user_target__count"].tolist() == [3, 2, 1, 0]
    np.testing.assert_allclose(out["user_target__std"], [np.std([1, 3, 5]), 1.0, np.nan, np.nan])


def test_user_target_fit_transform_matches_a_manual_out_of_fold_computation():
    X, y = target_frame()
    gen = get_generator("user_target", {"smoothing": 1.0, "inner_folds": 3, "seed": 4})
    out = gen.fit_transform(X, y)
    expected = pd.Series(np.nan, index=X.index)
    for tr, va in KFold(3, shuffle=True, random_state=4).split(X):
        ytr, utr = y.iloc[tr], X["user_id"].iloc[tr]
        prior = ytr.mean()
        for i in va:
            same = ytr[utr == X["user_id"].iloc[i]]
            expected.iloc[i] = (same.sum() + prior) / (len(same) + 1)
    np.testing.assert_allclose(out["user_target__mean"], expected)
    # After fit_transform the generator holds statistics of every row, for validation / test rows.
    np.testing.assert_allclose(gen.transform(X.iloc[:1])["user_target__mean"], (9 + y.mean()) / 4)


def test_category_target_means_per_level_and_missing_values():
    X, y = target_frame()
    gen = get_generator("category_target", {"smoothing": 0.0}).fit(X, y)
    out = gen.transform(X)
    assert list(out.columns) == [f"category_target__{c}_mean" for c in ("category", "subcategory", "concept")]
    # Row t has no category: it gets the prior, 4.
    np.testing.assert_allclose(out["category_target__category_mean"], [13 / 3, 13 / 3, 3.5, 3.5, 4, 13 / 3])
    np.testing.assert_allclose(out["category_target__subcategory_mean"], [2, 2, 11 / 3, 11 / 3, 11 / 3, 9])
    np.testing.assert_allclose(out["category_target__concept_mean"], [10 / 3, 14 / 3, 10 / 3, 14 / 3, 10 / 3, 14 / 3])


def test_category_target_columns_param_and_errors():
    X, y = target_frame()
    gen = get_generator("category_target", {"columns": ["concept"]})
    assert gen.requires == ("concept",)
    assert list(gen.fit_transform(X[["concept"]], y).columns) == ["category_target__concept_mean"]
    with pytest.raises(ValueError, match="smoothing >= 0"):
        get_generator("user_target", {"smoothing": -1}).fit(X, y)
    with pytest.raises(ValueError, match="y must be finite"):
        get_generator("user_target").fit(X, y.where(y < 9))


def cluster_frame() -> tuple[pd.DataFrame, pd.Series]:
    X, y = target_frame()
    ids = pd.Categorical(["0", "0", "1", "1", None, "2"], categories=["0", "1", "2", "3"])
    X = X.assign(clusters__sentence_k4=ids, clusters__sentence_k4_dist=np.arange(6.0), other__k2=["a"] * 6)
    return X, y


def test_cluster_target_mean_count_std_per_id_by_prefix():
    X, y = cluster_frame()
    gen = get_generator("cluster_target", {"smoothing": 0.0})
    gen.fit(X, y)
    assert gen.input_columns(X) == ["clusters__sentence_k4"]  # the numeric distance is not an id
    out = gen.transform(X)
    p = "cluster_target__clusters_sentence_k4"
    assert list(out.columns) == [f"{p}_mean", f"{p}_count", f"{p}_std"]
    # Ids 0 (labels 1, 3), 1 (5, 2), none (prior 4), 2 (9).
    np.testing.assert_allclose(out[f"{p}_mean"], [2, 2, 3.5, 3.5, 4, 9])
    np.testing.assert_allclose(out[f"{p}_count"], [2, 2, 2, 2, 0, 1])
    np.testing.assert_allclose(out[f"{p}_std"], [1, 1, 1.5, 1.5, np.nan, np.nan])
    smoothed = get_generator("cluster_target", {"smoothing": 2.0}).fit(X, y).transform(X.iloc[:1])
    np.testing.assert_allclose(smoothed[f"{p}_mean"], (4 + 2 * 4) / 4)
    unseen = gen.transform(X.assign(clusters__sentence_k4=pd.Categorical(["3"] * 6, categories=["0", "1", "2", "3"])))
    np.testing.assert_allclose(unseen[f"{p}_mean"], 4)


def test_cluster_target_named_columns_and_errors():
    X, y = cluster_frame()
    gen = get_generator("cluster_target", {"prefixes": [], "columns": ["other__k2", "clusters__sentence_k4"]})
    assert gen.requires == ("other__k2", "clusters__sentence_k4")
    out = gen.fit_transform(X, y)
    assert [c for c in out.columns if c.endswith("_mean")] == [
        "cluster_target__other_k2_mean", "cluster_target__clusters_sentence_k4_mean"]
    with pytest.raises(KeyError, match=r"starting with \['clusters__'\].*available columns"):
        get_generator("cluster_target").fit(X.drop(columns=["clusters__sentence_k4", "clusters__sentence_k4_dist"]), y)
    with pytest.raises(ValueError, match="no categorical column starting with"):
        get_generator("cluster_target").fit(X.drop(columns="clusters__sentence_k4"), y)

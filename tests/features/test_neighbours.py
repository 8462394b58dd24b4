"""Neighbour labels: exact statistics, out-of-fold retrieval (never itself, never its inner fold), spaces, errors."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import KFold

from smp.features import get_generator


def points(n: int = 60, seed: int = 0, dims: int = 3) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, dims)), columns=[f"emb__{i}" for i in range(dims)])
    X["user_profile__a"] = rng.normal(size=n) * 100
    X["post_id"] = [f"p{i}" for i in range(n)]
    X.index = pd.Index(np.arange(n) * 2 + 7)
    y = pd.Series(rng.normal(5, 2, n), index=X.index)
    return X, y


def plain(**params):
    return get_generator(
        "neighbour_labels",
        {"spaces": {"e": ["emb__"]}, "metric": "euclidean", "standardize": False, "balance_blocks": False, **params},
    )


def brute(train: np.ndarray, ytr: np.ndarray, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    d = np.sqrt(((query[:, None, :] - train[None, :, :]) ** 2).sum(axis=2))
    order = np.argsort(d, axis=1, kind="stable")[:, :k]
    return ytr[order], np.take_along_axis(d, order, axis=1)


def test_transform_matches_a_brute_force_search():
    X, y = points()
    tr, te = X.iloc[:40], X.iloc[40:]
    stats = ["mean", "median", "std", "min", "max", "wmean", "dist"]
    out = plain(k=[1, 4], stats=stats).fit(tr, y.iloc[:40]).transform(te)
    cols = [f"emb__{i}" for i in range(3)]
    lab, d = brute(tr[cols].to_numpy(), y.iloc[:40].to_numpy(), te[cols].to_numpy(), 4)
    np.testing.assert_allclose(out["neighbour_labels__e_k1_mean"], lab[:, 0], rtol=1e-6)
    assert out["neighbour_labels__e_k1_std"].isna().all()  # one neighbour has no spread
    np.testing.assert_allclose(out["neighbour_labels__e_k4_mean"], lab.mean(axis=1), rtol=1e-6)
    np.testing.assert_allclose(out["neighbour_labels__e_k4_median"], np.median(lab, axis=1), rtol=1e-6)
    np.testing.assert_allclose(out["neighbour_labels__e_k4_std"], lab.std(axis=1), rtol=1e-6)
    np.testing.assert_allclose(out["neighbour_labels__e_k4_min"], lab.min(axis=1), rtol=1e-6)
    np.testing.assert_allclose(out["neighbour_labels__e_k4_max"], lab.max(axis=1), rtol=1e-6)
    np.testing.assert_allclose(out["neighbour_labels__e_k4_dist"], d.mean(axis=1), rtol=1e-4)
    w = 1 / (d + 1e-6)
    np.testing.assert_allclose(out["neighbour_labels__e_k4_wmean"], (w * lab).sum(1) / w.sum(1), rtol=1e-4)
    assert list(out.columns) == [f"neighbour_labels__e_k{k}_{s}" for k in (1, 4) for s in stats]


@pytest.mark.parametrize("folds", [None, "grouped"])
def test_fit_transform_never_retrieves_the_row_or_its_inner_fold(folds):
    X, y = points(n=50)
    # Each row's twin sits right next to it with a label 1000 higher: retrieving a row of the same inner
    # validation fold (the twin shares it) or the row itself would show at once.
    twin = X.copy()
    twin.index = twin.index + 1
    twin["emb__0"] += 1e-4
    both = pd.concat([X, twin]).sort_index()
    yb = pd.concat([y, y + 1000.0]).sort_index()
    pair = np.arange(len(both)) // 2
    if folds == "grouped":
        split = list(KFold(5, shuffle=True, random_state=1).split(np.arange(50)))
        folds = [(np.flatnonzero(np.isin(pair, a)), np.flatnonzero(np.isin(pair, b))) for a, b in split]
        inner = folds
    else:
        inner = list(KFold(5, shuffle=True, random_state=0).split(both))
    out = plain(k=[1], stats=["mean"]).fit_transform(both, yb, folds=folds)["neighbour_labels__e_k1_mean"]
    cols = [f"emb__{i}" for i in range(3)]
    for tr, va in inner:
        lab, _ = brute(both[cols].to_numpy()[tr], yb.to_numpy()[tr], both[cols].to_numpy()[va], 1)
        np.testing.assert_allclose(out.iloc[va], lab[:, 0], rtol=1e-6)
    got, labels = out.to_numpy(), yb.to_numpy()
    assert not np.isclose(got, labels).any()  # never its own label
    if folds is not None:  # twins validated together: no row ever gets its twin's label either
        assert not np.isclose(got, labels[np.arange(len(both)) ^ 1]).any()


def test_cosine_ignores_scale_and_standardising_uses_fitted_rows():
    X, y = points()
    gen = plain(metric="cosine", k=[3]).fit(X, y)
    scaled = X.copy()
    scaled[[f"emb__{i}" for i in range(3)]] *= 10.0
    pd.testing.assert_frame_equal(gen.transform(scaled).drop(columns="neighbour_labels__e_k3_std"),
                                  gen.transform(X).drop(columns="neighbour_labels__e_k3_std"), rtol=1e-5)
    # Standardised euclidean = plain euclidean on columns scaled by the fitted rows' std.
    std = get_generator("neighbour_labels", {"spaces": {"e": ["emb__"]}, "metric": "euclidean", "k": [3]}).fit(X, y)
    Xs = X.copy()
    cols = [f"emb__{i}" for i in range(3)]
    Xs[cols] = (X[cols] - X[cols].mean()) / X[cols].std(ddof=0)
    pd.testing.assert_frame_equal(std.transform(X), plain(k=[3]).fit(Xs, y).transform(Xs), rtol=1e-5)


def test_several_spaces_and_blocks_balanced():
    X, y = points()
    spaces = {"text": ["emb__"], "user": ["user_profile__"], "both": ["emb__", "user_profile__"]}
    gen = get_generator("neighbour_labels", {"spaces": spaces, "k": [2, 5]})
    out = gen.fit(X, y).transform(X.iloc[:5])
    assert list(out.columns) == [f"neighbour_labels__{s}_k{k}_{t}" for s in spaces for k in (2, 5)
                                 for t in ("mean", "median", "std")]
    assert gen.input_columns(X) == ["emb__0", "emb__1", "emb__2", "user_profile__a"]
    # With blocks balanced, the one user column weighs as much as the three embedding columns together.
    sp = gen.spaces_["both"]
    np.testing.assert_allclose(sp.scale * X[sp.columns].std(ddof=0).to_numpy(), [3**-0.5] * 3 + [1.0], rtol=1e-9)


def test_missing_space_rows_and_more_neighbours_than_rows():
    X, y = points(n=12)
    X.loc[X.index[:2], ["emb__0", "emb__1", "emb__2"]] = np.nan
    gen = plain(k=[50], stats=["mean"]).fit(X, y)
    out = gen.transform(X)["neighbour_labels__e_k50_mean"]
    assert out.iloc[:2].isna().all()
    np.testing.assert_allclose(out.iloc[2:], y.iloc[2:].mean())  # 10 fitted rows with a vector: all of them
    empty = gen.transform(X.iloc[:0])
    assert list(empty.columns) == ["neighbour_labels__e_k50_mean"] and len(empty) == 0


def test_errors_name_the_mistake():
    X, y = points()
    with pytest.raises(KeyError, match=r"starting with \['sentence__'\].*available columns"):
        get_generator("neighbour_labels").fit(X, y)
    Xc = X.assign(cat__a=pd.Categorical(["x"] * len(X)))
    with pytest.raises(ValueError, match="'c' has no numeric column starting with"):
        get_generator("neighbour_labels", {"spaces": {"c": ["cat__"]}}).fit(Xc, y)
    for params, msg in [({"metric": "manhattan"}, "metric must be one of"), ({"stats": ["mode"]}, "stats must be"),
                        ({"k": [0]}, "k >= 1"), ({"spaces": {"Bad Name": ["emb__"]}}, "a name in `spaces`"),
                        ({"spaces": {"e": "emb__"}}, "one or more column prefixes")]:
        with pytest.raises(ValueError, match=msg):
            get_generator("neighbour_labels", {"spaces": {"e": ["emb__"]}, **params}).fit(X, y)
    fitted = plain().fit(X, y)
    with pytest.raises(KeyError, match=r"fitted with columns \['emb__1'\]"):
        fitted.transform(X.drop(columns="emb__1"))


def test_a_few_thousand_rows_are_quick():
    """Rough throughput on a loaded shared machine (not a timing for the record): 5-fold OOF over 3,000 posts."""
    rng = np.random.default_rng(0)
    n = 3000
    X = pd.DataFrame(rng.normal(size=(n, 32)).astype(np.float32), columns=[f"emb__{i}" for i in range(32)])
    y = pd.Series(rng.normal(size=n))
    t = time.perf_counter()
    out = get_generator("neighbour_labels", {"spaces": {"e": ["emb__"]}, "k": [5, 20]}).fit_transform(X, y)
    assert time.perf_counter() - t < 20
    assert out.notna().all().all()


def test_twenty_thousand_rows_stay_in_bounded_memory():
    import tracemalloc

    rng = np.random.default_rng(0)
    n = 20_000
    X = pd.DataFrame(rng.normal(size=(n, 16)).astype(np.float32), columns=[f"emb__{i}" for i in range(16)])
    y = pd.Series(rng.normal(size=n))
    tracemalloc.start()
    get_generator("neighbour_labels", {"spaces": {"e": ["emb__"]}, "k": [5, 20]}).fit_transform(X, y)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 400e6  # an n x n float64 distance matrix alone would be 3.2 GB

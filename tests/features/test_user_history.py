"""The sliding-window user history: hand-checked window means, first posts, ties, new posts and errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from smp.features import get_generator
from tests._data import make_postframe, shared_rows
from tests._tiny_sentence import tiny_sentence_dir

T0 = pd.Timestamp("2020-01-01", tz="UTC")


def posts(rows: list[tuple[str, str, float, float]], index: list | None = None) -> pd.DataFrame:
    """(post_id, user_id, hour, value) rows with a numeric `x` column; no embedding needed."""
    return pd.DataFrame({
        "post_id": [p for p, _, _, _ in rows],
        "user_id": [u for _, u, _, _ in rows],
        "post_time": [T0 + pd.Timedelta(hours=h) for _, _, h, _ in rows],
        "x": [v for _, _, _, v in rows],
    }, index=index)


def numeric_only(**params):
    return get_generator("user_history", {"embedding": None, "features": {}, "columns": ["x"], **params})


def test_window_means_follow_time_order_and_skip_missing_values():
    # User a posts at hours 0..5 (rows shuffled); user b interleaves and never enters a's windows.
    X = posts([("a3", "a", 3, 8.0), ("b0", "b", 0.5, 100.0), ("a0", "a", 0, 1.0), ("a5", "a", 5, 32.0),
               ("a1", "a", 1, 2.0), ("a2", "a", 2, 4.0), ("a4", "a", 4, np.nan), ("b1", "b", 2.5, 200.0)],
              index=list("pqrstuvw"))
    out = numeric_only(windows=[2, 3]).fit_transform(X).set_axis(X["post_id"])
    n2, n3 = out["user_history__n2_x"], out["user_history__n3_x"]
    assert np.isnan(n2["a0"]) and np.isnan(n3["a0"])  # a first post: missing, not zero
    assert n2["a1"] == 1.0 and n3["a1"] == 1.0  # one earlier post: the window holds what there is
    assert n2["a3"] == 3.0 and n3["a3"] == pytest.approx(7 / 3)
    assert n2["a5"] == 8.0  # a4's missing value is left out of the window (a3, a4)
    assert n3["a5"] == 6.0  # (a2, a3, a4): 4 and 8
    assert n2["b1"] == 100.0 and np.isnan(n2["b0"])
    assert out["user_history__previous"].tolist() == [3, 0, 0, 5, 1, 2, 4, 1]


def test_min_posts_ties_and_row_order():
    X = posts([("p2", "a", 1, 3.0), ("p1", "a", 1, 2.0), ("p0", "a", 0, 1.0), ("p3", "a", 2, 4.0)])
    out = numeric_only(windows=[3], min_posts=2).fit_transform(X).set_axis(X["post_id"])
    # Posts at the same time are ordered by post_id: p1 before p2.
    assert np.isnan(out.loc["p0", "user_history__n3_x"]) and np.isnan(out.loc["p1", "user_history__n3_x"])
    assert out.loc["p2", "user_history__n3_x"] == 1.5
    assert out.loc["p3", "user_history__n3_x"] == 2.0
    shuffled = numeric_only(windows=[3], min_posts=2).fit_transform(X.iloc[[3, 1, 0, 2]])
    pd.testing.assert_frame_equal(shuffled.loc[X.index], out.set_axis(X.index))


def test_new_posts_see_the_fitted_posts_before_them():
    X = posts([("a0", "a", 0, 1.0), ("a1", "a", 1, 3.0)])
    gen = numeric_only(windows=[3]).fit(X)
    new = pd.concat([X, posts([("a2", "a", 2, 10.0)], index=[7])])
    assert gen.transform(new).loc[7, "user_history__n3_x"] == 2.0


def test_embedding_window_mean_and_cosine():
    frame = make_postframe(n_posts=60, n_users=6, seed=3)
    params = {"embedding_params": {"model": tiny_sentence_dir(), "backend": "torch", "n_components": None},
              "windows": [3]}
    gen = get_generator("user_history", params).use_rows(shared_rows())
    out = gen.fit_transform(frame)
    E = get_generator("sentence", params["embedding_params"]).use_rows(shared_rows()).fit(frame).embed(frame)
    order = frame.sort_values(["post_time", "post_id"]).index
    user = frame.loc[order[-1], "user_id"]
    rows = [i for i in order if frame.loc[i, "user_id"] == user]
    last, before = rows[-1], rows[-4:-1]
    pos = {i: p for p, i in enumerate(frame.index)}
    mean = E[[pos[i] for i in before]].mean(axis=0)
    got = out.loc[last, [f"user_history__n3_emb_{i}" for i in range(E.shape[1])]].to_numpy(dtype=float)
    np.testing.assert_allclose(got, mean, rtol=1e-5, atol=1e-6)
    v = E[pos[last]]
    want = v @ mean / np.linalg.norm(v) / np.linalg.norm(mean)
    assert out.loc[last, "user_history__n3_cos"] == pytest.approx(want, rel=1e-4)
    firsts = frame.sort_values(["post_time", "post_id"]).drop_duplicates("user_id").index
    assert out.loc[firsts, "user_history__n3_cos"].isna().all()
    # Text-statistics features come along by default.
    assert "user_history__n3_text_stats_tag_count" in out.columns


@pytest.mark.parametrize("params, match", [
    ({"windows": []}, "at least one"),
    ({"windows": [0]}, "windows"),
    ({"windows": [2], "min_posts": 3}, "min_posts <= min"),
    ({"embedding": "tfidf_svd"}, "embedding generator"),
    ({"features": {"user_target": {}}}, "static generators"),
    ({"features": ["text_stats"]}, "map generator names"),
])
def test_bad_parameters(params, match):
    X = posts([("a0", "a", 0, 1.0), ("a1", "a", 1, 3.0)]).assign(title="t", tags=[["x"], []], description="")
    with pytest.raises(ValueError, match=match):
        get_generator("user_history", {"embedding": None, **params}).fit(X)


def test_text_columns_are_rejected():
    X = posts([("a0", "a", 0, 1.0)]).assign(x="text")
    with pytest.raises(ValueError, match="must be numeric"):
        numeric_only().fit(X)


def test_the_registry_reads_its_default_columns():
    from smp.features import GENERATORS

    cls = GENERATORS.get("user_history")
    assert {"post_id", "user_id", "post_time", "title", "tags"} <= set(cls.requires)

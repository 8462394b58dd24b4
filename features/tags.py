"""Hot tags (HVLA, MM '24): how trendy a post's tags are in its week and month, and over the whole frame.

Frequencies count posts (a tag repeated inside one post counts once). Recomputed over the frame `transform` gets,
so new posts fold into the weekly / monthly trends of their own period.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._base import FeatureGenerator, register
from ._common import DAY, codes, frame_of, safe_ratio, segment_reduce, tag_table, to_seconds, unique_int, utc


def period_rank(period: np.ndarray, tag: np.ndarray, n_tags: int) -> tuple[np.ndarray, np.ndarray]:
    """For (period, tag) pairs: the tag's post count in that period and its 0-based rank there.

    Ranks order tags by descending count, ties by the (sorted) tag code, so they do not depend on row order.
    """
    v = max(n_tags, 1)
    uk, inv, cnt = unique_int(period * v + tag, return_inverse=True, return_counts=True)
    up, utag = uk // v, uk % v
    order = np.lexsort((utag, -cnt, up))
    pos = np.arange(len(uk))
    new = np.r_[True, up[order][1:] != up[order][:-1]] if len(uk) else np.zeros(0, dtype=bool)
    rank = np.empty(len(uk), dtype=np.int64)
    rank[order] = pos - np.maximum.accumulate(np.where(new, pos, 0))
    return cnt[inv].astype(float), rank[inv]


@register
class HotTags(FeatureGenerator):
    """Per post: its tags among the top-K of its week / month, their frequencies there and over the frame.

    Also how many of its tags only one user uses (personal tags) versus several users (shared tags).
    """

    name = "hot_tags"
    group = "tags"
    requires = ("user_id", "post_time", "tags")
    version = 2  # 2: posts per tag on the fitted frame's scale (`at_fitted_size`)

    def __init__(self, *, top_k: int = 50) -> None:
        self.top_k = top_k

    def _fit(self, X: pd.DataFrame, y: pd.Series | None) -> None:
        if not (isinstance(self.top_k, int) and self.top_k >= 1):
            raise ValueError(f"`top_k >= 1` must hold, but got top_k={self.top_k!r}")

    def _transform(self, X: pd.DataFrame) -> pd.DataFrame:
        n = len(X)
        tt = tag_table(X["tags"])
        post, tag, n_tags = tt.post, tt.tag, len(tt.vocab)
        days = np.floor(to_seconds(X["post_time"]) / DAY)
        t = utc(X["post_time"])
        periods = {
            "week": (days + 3) // 7,  # 1970-01-01 was a Thursday: weeks run Monday to Sunday
            "month": t.dt.year.to_numpy(dtype=float) * 12 + t.dt.month.to_numpy(dtype=float) - 1,
        }
        out: dict[str, np.ndarray] = {}
        for label, per in periods.items():
            pcode, _ = pd.factorize(per)  # NaN (no time) -> -1
            p = pcode[post]
            ok = p >= 0
            freq, rank = period_rank(p[ok], tag[ok], n_tags)
            hot = (rank < self.top_k).astype(float)
            out[f"{label}_hot"] = np.bincount(post[ok], weights=hot, minlength=n).astype(float)
            out[f"{label}_freq_sum"] = np.bincount(post[ok], weights=freq, minlength=n).astype(float)
            out[f"{label}_freq_max"] = segment_reduce(post[ok], freq, n, np.maximum)

        n_per_post = tt.per_post_count()
        tag_posts = self.at_fitted_size(np.bincount(tag, minlength=n_tags)[tag], X)
        out["tag_freq_mean"] = safe_ratio(np.bincount(post, weights=tag_posts, minlength=n), n_per_post)
        out["tag_freq_max"] = segment_reduce(post, tag_posts, n, np.maximum)
        out["tag_freq_min"] = segment_reduce(post, tag_posts, n, np.minimum)

        g, n_users = codes(X["user_id"])
        n_users = max(n_users, 1)
        user_tag = unique_int(tag * n_users + g[post]) // n_users  # the tag of each distinct (tag, user) pair
        tag_users = np.bincount(user_tag, minlength=n_tags).astype(float)[tag]
        single = (tag_users == 1).astype(float)
        out["single_user_tags"] = np.bincount(post, weights=single, minlength=n).astype(float)
        out["multi_user_tags"] = np.bincount(post, weights=1.0 - single, minlength=n).astype(float)
        out["tag_users_mean"] = safe_ratio(np.bincount(post, weights=tag_users, minlength=n), n_per_post)
        return frame_of(X.index, self.name, out)

"""User features: the profile columns, per-user aggregates of the posts and posting-interval statistics.

The aggregates are recomputed over whatever frame `transform` gets (train + test at fit time, train + new posts
later), as the SMP teams compute them over both splits (HVLA, MM '24: post intervals, first- vs last-year activity).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from ._base import FeatureGenerator, register
from ._common import (
    arrow_text,
    DAY,
    HOUR,
    check_fitted_columns,
    clean_category,
    codes,
    frame_of,
    group_agg,
    group_moments,
    group_sum,
    safe_ratio,
    slog1p,
    tag_lists,
    tag_table,
    to_seconds,
    unique_int,
)

# (output stat, numerator column, denominator column); a ratio is produced when both columns are numeric.
PROFILE_RATIOS: tuple[tuple[str, str, str], ...] = (
    ("views_per_photo", "user_total_views", "user_photo_count"),
    ("faves_per_photo", "user_total_faves", "user_photo_count"),
    ("faves_per_view", "user_total_faves", "user_total_views"),
    ("followers_per_following", "user_follower_count", "user_following_count"),
    ("tags_per_photo", "user_total_tags", "user_photo_count"),
    ("geotagged_per_photo", "user_total_geotagged", "user_photo_count"),
    ("in_group_per_photo", "user_total_in_group", "user_photo_count"),
    ("likes_per_video", "user_likes_count", "user_video_count"),
    ("hearts_per_video", "user_heart_count", "user_video_count"),
    ("followers_per_video", "user_follower_count", "user_video_count"),
    ("digg_per_video", "user_digg_count", "user_video_count"),
)
# (output stat, unix-seconds column): days between that date and the post; the raw date is not log-scaled.
PROFILE_DATES: tuple[tuple[str, str], ...] = (
    ("account_age_days", "user_photo_firstdate"),
    ("first_taken_age_days", "user_photo_firstdatetaken"),
)
_NOT_PROFILE = {"user_id"}


@register
class UserProfile(FeatureGenerator):
    """Signed log1p of every numeric `user_*` column, ratios between them, and the account age at post time.

    Which columns are numeric (hence which outputs exist) is learned at fit, so train, test and new posts get the
    same columns; string profile columns are skipped.
    """

    name = "user_profile"
    group = "user"
    requires = ("post_time",)
    requires_prefix = ("user_",)
    version = 1

    def __init__(self) -> None:
        pass

    def _fit(self, X: pd.DataFrame, y: pd.Series | None) -> None:
        dates = {c for _, c in PROFILE_DATES}
        self.numeric_ = [
            c
            for c in X.columns
            if c.startswith("user_")
            and c not in _NOT_PROFILE
            and c not in dates
            and (pd.api.types.is_numeric_dtype(X[c]) or pd.api.types.is_bool_dtype(X[c]))
        ]
        self.ratios_ = [r for r in PROFILE_RATIOS if r[1] in self.numeric_ and r[2] in self.numeric_]
        self.dates_ = [d for d in PROFILE_DATES if d[1] in X.columns]

    def _transform(self, X: pd.DataFrame) -> pd.DataFrame:
        check_fitted_columns(self.name, X, self.numeric_ + [c for _, c in self.dates_])
        values = {c: pd.to_numeric(X[c], errors="coerce").to_numpy(dtype=float, na_value=np.nan) for c in self.numeric_}
        out: dict[str, np.ndarray] = {f"log_{c[len('user_') :]}": slog1p(v) for c, v in values.items()}
        for stat, num, den in self.ratios_:
            out[stat] = safe_ratio(values[num], values[den])
        if self.dates_:
            t = to_seconds(X["post_time"])
            for stat, col in self.dates_:
                first = np.array(pd.to_numeric(X[col], errors="coerce").to_numpy(dtype=float, na_value=np.nan))
                first[~(first > 0)] = np.nan  # 0 / negative = unknown date in the source
                out[stat] = (t - first) / DAY
        return frame_of(X.index, self.name, out)


@register
class UserPosts(FeatureGenerator):
    """Per-user aggregates over the frame: post count, title length, tag counts, distinct tags and categories."""

    name = "user_posts"
    group = "user"
    requires = ("user_id", "title", "tags", "category", "subcategory", "concept", "latitude", "longitude")
    version = 2  # 2: post counts on the fitted frame's scale (`at_fitted_size`)

    def __init__(self) -> None:
        pass

    def _transform(self, X: pd.DataFrame) -> pd.DataFrame:
        n = len(X)
        g, k = codes(X["user_id"])
        count = group_sum(g, k)
        title_len = pc.utf8_length(arrow_text(X["title"])).to_numpy(zero_copy_only=False).astype(float)
        n_tags = np.fromiter(map(len, tag_lists(X["tags"])), dtype=float, count=n)
        _, t_mean, t_std, _ = group_moments(g, k, title_len)
        _, g_mean, g_std, _ = group_moments(g, k, n_tags)
        g_max = group_agg(g, k, n_tags, "max")
        tt = tag_table(X["tags"])
        pairs = unique_int(g[tt.post] * max(len(tt.vocab), 1) + tt.tag)
        distinct_tags = group_sum(pairs // max(len(tt.vocab), 1), k)
        geo = (X["latitude"].notna() & X["longitude"].notna()).to_numpy(dtype=float)
        out = {
            "post_count": self.at_fitted_size(count[g], X),
            "title_len_mean": t_mean[g],
            "title_len_std": t_std[g],
            "tag_count_mean": g_mean[g],
            "tag_count_std": g_std[g],
            "tag_count_max": g_max[g],
            "distinct_tags": distinct_tags[g],
        }
        for col in ("category", "subcategory", "concept"):
            vals = clean_category(X[col]).to_numpy(dtype=object)
            out[f"distinct_{col}"] = group_agg(g, k, vals, "nunique")[g]
        out["geo_share"] = (group_sum(g, k, geo) / count)[g]
        out["frame_share"] = count[g] / max(n, 1)
        return frame_of(X.index, self.name, out)


@register
class UserPostInterval(FeatureGenerator):
    """Gaps (hours) between a user's consecutive posts, activity rates and this post's place in the user's history.

    Posts at the same second (bulk uploads) are a gap of 0 in the per-user statistics; for the per-post gaps to the
    previous / next post they count as one batch (`same_time_posts`), so the values do not depend on row order.
    """

    name = "user_post_interval"
    group = "user"
    requires = ("user_id", "post_time")
    version = 1

    def __init__(self) -> None:
        pass

    def _transform(self, X: pd.DataFrame) -> pd.DataFrame:
        n = len(X)
        g, k = codes(X["user_id"])
        t = to_seconds(X["post_time"]) / HOUR
        order = np.lexsort((t, g))
        gs, ts = g[order], t[order]
        same_user = np.r_[False, gs[1:] == gs[:-1]] if n else np.zeros(0, dtype=bool)
        gap = np.full(n, np.nan)
        gap[1:] = ts[1:] - ts[:-1]
        gap[~same_user] = np.nan
        has_gap = same_user & np.isfinite(gap)
        gu, gv = gs[has_gap], gap[has_gap]
        _, gap_mean, gap_std, gap_skew = group_moments(gu, k, gv)
        gap_min = group_agg(gu, k, gv, "min")
        gap_max = group_agg(gu, k, gv, "max")
        gap_median = group_agg(gu, k, gv, "median")

        count = group_sum(g, k)
        first = group_agg(g, k, t, "min")
        last = group_agg(g, k, t, "max")
        span_days = (last - first) / 24.0
        year_h = 365.0 * 24.0
        first_year = group_sum(g, k, (t < first[g] + year_h).astype(float))
        frame_end = np.nanmax(t) if n else np.nan
        last_year = group_sum(g, k, (t >= frame_end - year_h).astype(float))

        # Ties on (user, time) form one batch: rank = 1 + posts strictly earlier; gaps skip to other timestamps.
        new_time = ~same_user | (np.r_[np.nan, ts[:-1]] != ts) if n else same_user.copy()
        pos = np.arange(n)
        user_start = np.maximum.accumulate(np.where(~same_user, pos, 0))
        block_id = np.cumsum(new_time) - 1
        block_first = np.flatnonzero(new_time)
        block_last = np.r_[block_first[1:] - 1, n - 1] if n else block_first
        after = np.minimum(block_last + 1, max(n - 1, 0))
        block_next = np.where((block_last + 1 < n) & (gs[after] == gs[block_last]), ts[after] - ts[block_last], np.nan)
        rank_sorted = (block_first[block_id] - user_start + 1).astype(float)
        prev_sorted = gap[block_first][block_id]
        next_sorted = block_next[block_id]
        size_sorted = (block_last - block_first + 1)[block_id].astype(float)

        def unsort(a: np.ndarray) -> np.ndarray:
            out = np.empty(n)
            out[order] = a
            return out

        rank = unsort(rank_sorted)
        out = {
            "gap_min": gap_min[g],
            "gap_max": gap_max[g],
            "gap_mean": gap_mean[g],
            "gap_median": gap_median[g],
            "gap_std": gap_std[g],
            "gap_skew": gap_skew[g],
            "active_days": span_days[g],
            "posts_per_week": count[g] / np.maximum(span_days[g] / 7.0, 1.0),
            "posts_per_month": count[g] / np.maximum(span_days[g] / 30.4375, 1.0),
            "first_year_posts": first_year[g],
            "last_year_posts": last_year[g],
            "last_to_first_year_ratio": safe_ratio(last_year, first_year)[g],
            "days_since_first": (t - first[g]) / 24.0,
            "days_until_last": (last[g] - t) / 24.0,
            "rank": rank,
            "rank_pct": rank / count[g],
            "same_time_posts": unsort(size_sorted),
            "gap_prev": unsort(prev_sorted),
            "gap_next": unsort(next_sorted),
        }
        return frame_of(X.index, self.name, out)

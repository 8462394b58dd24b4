"""Vectorised helpers shared by the feature families: time stamps, tag tables, group statistics, fixed categories.

Everything here works on whole columns (numpy, pandas, pyarrow compute); the only Python loops are over tag
lists, which the PostFrame stores as one list per row.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Callable

import numpy as np
import pandas as pd

HOUR = 3600.0
DAY = 86400.0


class param_requires:
    """A `requires` that depends on the generator's parameters (e.g. a `columns` parameter).

    Read on an instance it gives ``fn(instance)``; read on the class it gives ``fn`` of the default parameters, so
    listings of the registry still see a plain tuple of column names.
    """

    def __init__(self, fn: Callable[[object], tuple[str, ...]]) -> None:
        self.fn = fn

    def __get__(self, obj: object, objtype: type | None = None) -> tuple[str, ...]:
        if obj is None:
            return tuple(self.fn(SimpleNamespace(**objtype.default_params())))
        return tuple(self.fn(obj))


def to_seconds(s: pd.Series) -> np.ndarray:
    """Unix seconds (float64, NaN for NaT) of a datetime column; naive times are taken as UTC."""
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        s = s.dt.tz_convert("UTC").dt.tz_localize(None)
    elif not pd.api.types.is_datetime64_dtype(s.dtype):
        raise TypeError(f"column {s.name!r} must be a datetime column, got dtype {s.dtype}")
    ns = s.to_numpy(dtype="datetime64[ns]")
    out = ns.astype(np.int64).astype(np.float64) / 1e9
    out[np.isnat(ns)] = np.nan
    return out


def utc(s: pd.Series) -> pd.Series:
    """The column as a UTC-aware datetime (naive times are taken as UTC)."""
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        return s.dt.tz_convert("UTC")
    if not pd.api.types.is_datetime64_dtype(s.dtype):
        raise TypeError(f"column {s.name!r} must be a datetime column, got dtype {s.dtype}")
    return s.dt.tz_localize("UTC")


def codes(s: pd.Series) -> tuple[np.ndarray, int]:
    """Group codes 0..k-1 of a key column (missing keys form their own group) and the number of groups k.

    Codes follow the sorted key order, so they do not depend on the row order.
    """
    c, uniques = pd.factorize(s, sort=True, use_na_sentinel=False)
    return c.astype(np.int64), len(uniques)


def safe_ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a / b, NaN where b is not positive or either side is missing (never inf)."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    ok = np.isfinite(a) & np.isfinite(b) & (b > 0)
    out = np.full(a.shape, np.nan)
    np.divide(a, b, out=out, where=ok)
    return out


def slog1p(x: np.ndarray) -> np.ndarray:
    """sign(x) * log1p(|x|): a log scale that is finite for every finite value, negative ones included."""
    x = np.asarray(x, dtype=float)
    with np.errstate(invalid="ignore"):
        out = np.sign(x) * np.log1p(np.abs(x))
    out[~np.isfinite(out)] = np.nan
    return out


def arrow_text(s: pd.Series):
    """A text column as a pyarrow string array ("" for missing), for pyarrow's vectorised string kernels."""
    import pyarrow as pa

    return pa.array(s.fillna("").astype(str).to_numpy(dtype=object), type=pa.large_string())


def finite(x: np.ndarray) -> np.ndarray:
    """float64 copy with +-inf replaced by NaN."""
    x = np.array(x, dtype=float)
    x[np.isinf(x)] = np.nan
    return x


# --------------------------------------------------------------------------------------------- per-group stats
def group_sum(g: np.ndarray, k: int, w: np.ndarray | None = None) -> np.ndarray:
    return np.bincount(g, weights=w, minlength=k).astype(float)


def group_agg(g: np.ndarray, k: int, values: np.ndarray, how: str) -> np.ndarray:
    """Per-group `how` ("min", "max", "median", "nunique", ...) of `values` as an array of length k (NaN if none)."""
    out = pd.Series(values).groupby(g, sort=True).agg(how)
    return out.reindex(range(k)).to_numpy(dtype=float)


def group_moments(g: np.ndarray, k: int, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Count, mean, population std and skew of the finite values of `x` per group (NaN where undefined)."""
    ok = np.isfinite(x)
    g, x = g[ok], x[ok]
    n = group_sum(g, k)
    mean = safe_ratio(group_sum(g, k, x), n)
    dev = x - mean[g]
    m2 = safe_ratio(group_sum(g, k, dev**2), n)
    m3 = safe_ratio(group_sum(g, k, dev**3), n)
    std = np.sqrt(m2)
    # Constant values leave rounding noise in m2; call their skew 0 instead of dividing noise by noise.
    flat = m2 <= 1e-12 * (mean**2 + 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        skew = np.where(flat, 0.0, m3 / np.where(flat, 1.0, m2) ** 1.5)
    skew[(n < 3) | np.isnan(m2)] = np.nan
    return n, mean, std, skew


def segment_reduce(post: np.ndarray, values: np.ndarray, n: int, ufunc: np.ufunc) -> np.ndarray:
    """`ufunc.reduce` of `values` per post, for `post` sorted ascending; NaN for posts with no values."""
    out = np.full(n, np.nan)
    if len(post):
        starts = np.flatnonzero(np.r_[True, post[1:] != post[:-1]])
        out[post[starts]] = ufunc.reduceat(np.asarray(values, dtype=float), starts)
    return out


def unique_int(x: np.ndarray, *, return_inverse: bool = False, return_counts: bool = False):
    """Sorted unique values of an integer array (optionally inverse and counts), like `np.unique`.

    Sort-based: numpy 2.4's hash-based `np.unique` is about 15x slower on a million int64 keys.
    """
    x = np.asarray(x)
    order = np.argsort(x, kind="stable")
    s = x[order]
    first = np.r_[True, s[1:] != s[:-1]] if len(s) else np.zeros(0, dtype=bool)
    out = [s[first]]
    if return_inverse:
        inv = np.empty(len(x), dtype=np.int64)
        inv[order] = np.cumsum(first) - 1
        out.append(inv)
    if return_counts:
        out.append(np.diff(np.r_[np.flatnonzero(first), len(x)]))
    return out[0] if len(out) == 1 else tuple(out)


# ------------------------------------------------------------------------------------------------------ tags
@dataclass
class TagTable:
    """The distinct (post, tag) pairs of a tags column, sorted by post then tag.

    `post` holds row positions (0..n_posts-1), `tag` codes into `vocab`, the sorted normalised tags.
    """

    post: np.ndarray
    tag: np.ndarray
    vocab: pd.Index
    n_posts: int

    def per_post_count(self) -> np.ndarray:
        return np.bincount(self.post, minlength=self.n_posts).astype(float)


def tag_lists(tags: pd.Series) -> list:
    """The cells of a tags column as sequences (missing or scalar cells become empty)."""
    return [v if isinstance(v, (list, tuple, np.ndarray)) else () for v in tags.to_numpy()]


def tag_table(tags: pd.Series) -> TagTable:
    """Explode a tags column into distinct (post, tag) pairs; tags are lower-cased, stripped and lose a leading '#'."""
    lists = tag_lists(tags)
    n = len(lists)
    lens = np.fromiter(map(len, lists), dtype=np.int64, count=n)
    flat = np.fromiter(itertools.chain.from_iterable(lists), dtype=object, count=int(lens.sum()))
    post = np.repeat(np.arange(n, dtype=np.int64), lens)
    if not len(flat):
        return TagTable(post, post.copy(), pd.Index([], dtype=object), n)
    raw_codes, raw_uniques = pd.factorize(flat)
    # Normalise the distinct raw tags only, then re-code: far cheaper than normalising every occurrence.
    norm = pd.Series(raw_uniques, dtype=object).astype(str).str.strip().str.lower().str.lstrip("#").str.strip()
    norm_codes, vocab = pd.factorize(norm, sort=True)
    tag = norm_codes[raw_codes].astype(np.int64)
    if (vocab == "").any():  # tags that were only '#' or blanks
        keep = tag != vocab.get_loc("")
        post, tag = post[keep], tag[keep]
    v = max(len(vocab), 1)
    key = unique_int(post * v + tag)
    return TagTable(key // v, key % v, pd.Index(vocab), n)


# ------------------------------------------------------------------------------------------------ categories
def clean_category(s: pd.Series) -> pd.Series:
    """A category-like column as object strings, with None for missing and empty values."""
    v = s.astype(object)
    miss = s.isna().to_numpy() | (v == "").to_numpy(dtype=bool)
    out = v.where(~miss, None)
    present = out[~miss]
    if len(present) and pd.api.types.infer_dtype(present, skipna=True) != "string":
        out[~miss] = present.astype(str).astype(object)
    return out


def fit_categories(s: pd.Series, min_count: int = 1) -> list[str]:
    """Sorted category values seen at least `min_count` times (missing values excluded)."""
    vc = clean_category(s).value_counts(dropna=True)
    return sorted(map(str, vc.index[vc.to_numpy() >= min_count]))


def fit_top_categories(s: pd.Series, min_count: int = 1, max_categories: int | None = None) -> list[str]:
    """`fit_categories`, keeping only the `max_categories` most frequent values (ties by value), sorted.

    Free-text columns (music titles) would otherwise explode into thousands of one-post levels.
    """
    cats = fit_categories(s, min_count)
    if max_categories is not None and len(cats) > max_categories:
        clean = clean_category(s)
        counts = clean[clean.isin(cats)].value_counts()
        top = counts.sort_index().sort_values(ascending=False, kind="stable").index[: int(max_categories)]
        cats = sorted(map(str, top))
    return cats


def encode_categories(s: pd.Series, categories: list[str]) -> pd.Series:
    """A `category` column with the fitted categories; values outside them (and missing ones) become NaN."""
    # The default string dtype of the categories (pandas 3: `str`) is what a parquet round trip gives back.
    dtype = pd.CategoricalDtype(pd.Index(list(categories)), ordered=False)
    codes = dtype.categories.get_indexer(clean_category(s).to_numpy(dtype=object))  # -1: unseen or missing
    return pd.Series(pd.Categorical.from_codes(codes, dtype=dtype), index=s.index)


def check_fitted_columns(name: str, X: pd.DataFrame, wanted: list[str]) -> None:
    """`KeyError` naming the fitted columns a transform frame lacks and the ones it has."""
    missing = [c for c in wanted if c not in X.columns]
    if missing:
        raise KeyError(
            f"feature generator {name!r} was fitted with columns {missing} that the frame lacks; "
            f"available columns: {sorted(map(str, X.columns))}"
        )


def frame_of(index: pd.Index, prefix: str, cols: dict[str, object]) -> pd.DataFrame:
    """An output frame with columns `{prefix}__{stat}` on `index`."""
    return pd.DataFrame({f"{prefix}__{k}": v for k, v in cols.items()}, index=index)


# ------------------------------------------------------------------------------------------------------- SVD
def fit_svd(M, n_components: int, random_state: int):
    """A TruncatedSVD fitted on sparse `M` with at most `n_components` (fewer when `M` is smaller), or None.

    Tiny frames can have fewer rows or terms than components; the projection is then padded with zeros, so the
    output columns depend only on the parameters.
    """
    from sklearn.decomposition import TruncatedSVD

    k = min(int(n_components), M.shape[0], M.shape[1])
    if M.shape[1] < 2 or k < 1 or M.nnz == 0:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):  # explained_variance_ratio_ of constant rows: 0 / 0
        return TruncatedSVD(n_components=k, algorithm="randomized", random_state=random_state).fit(M)


def project_svd(svd, M, n_components: int) -> np.ndarray:
    """`svd.transform(M)` as float32, zero-padded to `n_components` columns (all zeros when `svd` is None)."""
    out = np.zeros((M.shape[0], int(n_components)), dtype=np.float32)
    if svd is not None and M.shape[0]:
        z = svd.transform(M)
        out[:, : z.shape[1]] = z
    return out


def check_int(name: str, value: object, low: int) -> None:
    """`ValueError` unless `value` is an int >= `low`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"`{name} >= {low}` must hold for an integer {name}, but got {name}={value!r}")

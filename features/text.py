"""Text features: surface statistics of title, tags and description, and TF-IDF + truncated SVD topic vectors."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sklearn.feature_extraction.text import TfidfVectorizer

from ._base import FeatureGenerator, register
from ._common import (
    arrow_text,
    check_int,
    fit_svd,
    frame_of,
    param_requires,
    project_svd,
    safe_ratio,
    tag_lists,
)

TEXT_COLUMNS = ("title", "tags", "description")


def _np(a: pa.Array) -> np.ndarray:
    return a.to_numpy(zero_copy_only=False).astype(float)


@register
class TextStats(FeatureGenerator):
    """Lengths and character mix of the title, the tag count and mean tag length, the description length.

    Character classes are Unicode-aware (RE2 through pyarrow): `\\p{Lu}` uppercase, `\\p{Nd}` digits.
    Ratios are over the title's characters and NaN for an empty title.
    """

    name = "text_stats"
    group = "text"
    requires = ("title", "tags", "description")
    version = 1

    def __init__(self) -> None:
        pass

    def _transform(self, X: pd.DataFrame) -> pd.DataFrame:
        n = len(X)
        title = arrow_text(X["title"])
        chars = _np(pc.utf8_length(title))
        desc = arrow_text(X["description"])
        lists = tag_lists(X["tags"])
        lens = np.fromiter(map(len, lists), dtype=np.int64, count=n)
        flat = pa.array([str(t) for t in itertools.chain.from_iterable(lists)], type=pa.large_string())
        tag_chars = np.bincount(np.repeat(np.arange(n), lens), weights=_np(pc.utf8_length(flat)), minlength=n)
        out = {
            "title_chars": chars,
            "title_words": _np(pc.count_substring_regex(title, r"\S+")),
            "has_title": (_np(pc.utf8_length(pc.utf8_trim_whitespace(title))) > 0).astype(float),
            "title_upper_ratio": safe_ratio(_np(pc.count_substring_regex(title, r"\p{Lu}")), chars),
            "title_digit_ratio": safe_ratio(_np(pc.count_substring_regex(title, r"\p{Nd}")), chars),
            "title_nonascii_ratio": safe_ratio(_np(pc.count_substring_regex(title, r"[^\x00-\x7F]")), chars),
            "tag_count": lens.astype(float),
            "tag_len_mean": safe_ratio(tag_chars, lens),
            "description_chars": _np(pc.utf8_length(desc)),
            "description_words": _np(pc.count_substring_regex(desc, r"\S+")),
        }
        return frame_of(X.index, self.name, out)


def column_docs(X: pd.DataFrame, column: str) -> list[str]:
    """One document per post: the column's text, or its tags joined with spaces."""
    if column == "tags":
        return [" ".join(map(str, v)) for v in tag_lists(X["tags"])]
    return X[column].fillna("").astype(str).tolist()


def _text_column(g: object) -> str:
    column = g.column
    if column not in TEXT_COLUMNS:
        raise ValueError(f"`column` must be one of {list(TEXT_COLUMNS)}, but got column={column!r}")
    return column


@register
class TfidfSvd(FeatureGenerator):
    """TF-IDF of one text column reduced by truncated SVD; outputs `tfidf_svd__{column}_{i}`.

    Vocabulary, IDF weights and the SVD basis are fitted on the frame; `transform` projects any frame onto them.
    Tags are joined with spaces and each whitespace-separated token is a term; title and description are split
    into word tokens (single characters kept, which matters for CJK text).
    """

    name = "tfidf_svd"
    group = "text"
    requires = param_requires(lambda g: (_text_column(g),))
    version = 1

    def __init__(
        self,
        *,
        column: str = "title",
        n_components: int = 16,
        max_features: int | None = 50000,
        min_df: int = 2,
        random_state: int = 0,
    ) -> None:
        self.column = column
        self.n_components = n_components
        self.max_features = max_features
        self.min_df = min_df
        self.random_state = random_state

    def _fit(self, X: pd.DataFrame, y: pd.Series | None) -> None:
        check_int("n_components", self.n_components, 1)
        check_int("min_df", self.min_df, 1)
        if self.max_features is not None:
            check_int("max_features", self.max_features, 1)
        vec = TfidfVectorizer(
            token_pattern=r"(?u)\S+" if self.column == "tags" else r"(?u)\b\w+\b",
            min_df=self.min_df,
            max_features=self.max_features,
            sublinear_tf=True,
        )
        try:
            M = vec.fit_transform(column_docs(X, self.column))
        except ValueError as e:  # nothing to learn from: no term reaches min_df (e.g. an all-empty column)
            if not any(m in str(e) for m in ("empty vocabulary", "max_df corresponds", "no terms remain")):
                raise
            self.vectorizer_, self.svd_ = None, None
            return
        self.vectorizer_ = vec
        self.svd_ = fit_svd(M, self.n_components, self.random_state)

    def _transform(self, X: pd.DataFrame) -> pd.DataFrame:
        if self.vectorizer_ is None or not len(X):
            Z = np.zeros((len(X), int(self.n_components)), dtype=np.float32)
        else:
            Z = project_svd(self.svd_, self.vectorizer_.transform(column_docs(X, self.column)), self.n_components)
        cols = {f"{self.column}_{i}": Z[:, i] for i in range(Z.shape[1])}
        return frame_of(X.index, self.name, cols)


@register
class Words(FeatureGenerator):
    """Binary indicators of the `n_words` most frequent words and word pairs of one text column (document
    frequency at least `min_df`); outputs `words__{column}_{i}`, the i-th term of `vocabulary_` (columns beyond the
    vocabulary stay 0, so the outputs depend only on the parameters).

    A tree reads a single telling word ("bootcamp", "beginners", a product name) directly, where the 16 SVD
    directions of `tfidf_svd` spread it over topics. The vocabulary is chosen on the frame by frequency alone,
    without labels. Tags are joined with spaces and each whitespace-separated token is a term.
    """

    name = "words"
    group = "text"
    requires = param_requires(lambda g: (_text_column(g),))
    version = 1

    def __init__(self, *, column: str = "title", n_words: int = 200, min_df: int = 5, pairs: bool = True) -> None:
        self.column = column
        self.n_words = n_words
        self.min_df = min_df
        self.pairs = pairs

    def _fit(self, X: pd.DataFrame, y: pd.Series | None) -> None:
        from sklearn.feature_extraction.text import CountVectorizer

        check_int("n_words", self.n_words, 1)
        check_int("min_df", self.min_df, 1)
        self.vectorizer_ = CountVectorizer(
            token_pattern=r"(?u)\S+" if self.column == "tags" else r"(?u)\b\w+\b", lowercase=True, binary=True,
            ngram_range=(1, 2 if self.pairs else 1), min_df=self.min_df, max_features=self.n_words)
        try:
            self.vectorizer_.fit(column_docs(X, self.column))
        except ValueError as e:  # no term reaches min_df (an empty or tiny column): every output stays 0
            if not any(m in str(e) for m in ("empty vocabulary", "max_df corresponds", "no terms remain")):
                raise
            self.vectorizer_ = None
        self.vocabulary_ = [] if self.vectorizer_ is None else list(self.vectorizer_.get_feature_names_out())

    def _transform(self, X: pd.DataFrame) -> pd.DataFrame:
        Z = np.zeros((len(X), int(self.n_words)), dtype=np.float32)
        if self.vectorizer_ is not None and len(X):
            M = self.vectorizer_.transform(column_docs(X, self.column))
            Z[:, : M.shape[1]] = M.toarray()
        return frame_of(X.index, self.name, {f"{self.column}_{i}": Z[:, i] for i in range(Z.shape[1])})

"""The base of generators whose model writes one text per post (image captions, speech transcripts).

A model's text is cached per row like an embedding (`RowStore`, keyed by the model and the hash of the row's file
bytes), so a re-run or a retrain on grown data runs the model on new files only. The text generators named in the
`text` parameter (`sentence`, `static_embedding`, `tfidf_svd`, `glove`, `text_emotion`, `clip_text`) then read it:
each gets an inner frame whose `description` column holds the texts (their `fields` / `column` / `columns`
parameter is pointed at it), and its outputs come back renamed `{name}__{generator}_{stat}`. Rows without a text
(no file, an undecodable file, no speech) are empty there, which each text generator treats as it treats an empty
description.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from ._base import FeatureGenerator, get_generator
from .embedding.row_cache import row_hashes

# Each text generator's parameter that names the text columns it reads.
TEXT_READERS = {"sentence": "fields", "static_embedding": "fields", "clip_text": "fields", "tfidf_svd": "column",
                "glove": "column", "text_emotion": "columns"}
TEXT_FIELD = "description"


def text_reader(owner: str, name: str, params: dict | None) -> FeatureGenerator:
    """The text generator `name` with `params`, reading the inner frame's text column."""
    if name not in TEXT_READERS:
        raise ValueError(f"{owner}: `text` generators must be among {sorted(TEXT_READERS)}, got {name!r}")
    key = TEXT_READERS[name]
    return get_generator(name, {**dict(params or {}), key: TEXT_FIELD if key == "column" else [TEXT_FIELD]})


def text_frame(index: pd.Index, texts: np.ndarray) -> pd.DataFrame:
    """The inner frame the text generators read: the texts as `description` ("" where a row has none)."""
    return pd.DataFrame({TEXT_FIELD: [t if isinstance(t, str) else "" for t in texts]}, index=index)


class TextSource(FeatureGenerator):
    """Subclasses implement `_text_key` (the model's row-cache key), `_contents` (per-row bytes, None for no input,
    and the payload `_write` reads), `_write` (texts of some rows; None where the model could not read a row) and
    may add columns of their own in `_extra`."""

    text: dict

    def _text_key(self) -> str:
        raise NotImplementedError

    def _contents(self, X: pd.DataFrame) -> tuple[list[bytes | None], Any]:
        raise NotImplementedError

    def _write(self, payload: Any, positions: list[int]) -> list[str | None]:
        raise NotImplementedError

    def _extra(self, X: pd.DataFrame, texts: np.ndarray, contents: list, payload: Any) -> dict[str, np.ndarray]:
        return {}

    def _batch(self) -> int:
        return max(int(getattr(self, "batch_size", 8)), 1)

    def _costly(self, misses: int) -> None:
        """Called before the model runs on `misses` rows (subclasses warn about CPU cost)."""

    # --------------------------------------------------------------------------------------------- texts
    def texts(self, X: pd.DataFrame) -> tuple[np.ndarray, list, Any]:
        """Each row's text (an object array, None where there is none) through the row cache, the per-row contents
        and the payload."""
        contents, payload = self._contents(X)
        have = [i for i, c in enumerate(contents) if c is not None]
        out = np.full(len(contents), None, dtype=object)
        self.rows_computed_ = self.rows_cached_ = 0
        if not have:
            return out, contents, payload
        key = self._text_key()
        keys = row_hashes(key, [contents[i] for i in have])
        cache = self.rows.cache(key)

        def compute(pos: list[int]) -> list[str | None]:
            return self._write(payload, [have[p] for p in pos])

        T, computed, cached = cache.get_or_compute(keys, compute, batch_size=self._batch() * 8, text=True,
                                                   on_misses=self._costly)
        out[have] = T
        self.rows_computed_, self.rows_cached_ = int(computed), int(cached)
        return out, contents, payload

    # -------------------------------------------------------------------------------------------- readers
    def _readers(self) -> dict[str, FeatureGenerator]:
        if not isinstance(self.text, dict):
            raise ValueError(f"{self.name}: `text` must map text generator names to parameters, got {self.text!r}")
        return {name: text_reader(self.name, name, params) for name, params in self.text.items()}

    def cache_identity(self) -> str | None:
        parts = [self._text_key()] + [f"{n}={g.cache_identity()}" for n, g in self._readers().items()]
        return "|".join(parts)

    def _out(self, X: pd.DataFrame, *, fitting: bool) -> pd.DataFrame:
        texts, contents, payload = self.texts(X)
        if fitting:
            self.readers_ = self._readers()
        cols: dict[str, np.ndarray] = {
            "words": np.array([len(t.split()) if isinstance(t, str) else np.nan for t in texts], dtype=np.float32)}
        cols.update(self._extra(X, texts, contents, payload))  # may add the rows of a cache of its own
        computed, cached = self.rows_computed_, self.rows_cached_
        inner = text_frame(X.index, texts)
        for name, gen in self.readers_.items():
            gen.use_rows(self.rows)
            part = gen.fit_transform(inner) if fitting else gen.transform(inner)
            computed += getattr(gen, "rows_computed_", 0)
            cached += getattr(gen, "rows_cached_", 0)
            for c in part.columns:
                cols[str(c).replace("__", "_", 1)] = part[c].to_numpy()
        self.rows_computed_, self.rows_cached_ = computed, cached
        return pd.DataFrame({f"{self.name}__{c}": v for c, v in cols.items()}, index=X.index)

    def _fit(self, X: pd.DataFrame, y: pd.Series | None) -> None:
        self._out(X, fitting=True)

    def _transform(self, X: pd.DataFrame) -> pd.DataFrame:
        return self._out(X, fitting=False)

    def fit_transform(self, frame: pd.DataFrame, y: pd.Series | None = None) -> pd.DataFrame:
        X = self._select(frame)
        out = self._out(X, fitting=True)
        self.fitted_ = True
        return self._check_output(X, out)


def warn_cpu_cost(who: str, rows: int, seconds_per_row: float, device: str) -> None:
    """A warning that a generative model runs on the CPU, with a rough cost for the rows about to be processed."""
    if device.startswith("cuda") or rows < 1:
        return
    warnings.warn(f"feature generator {who!r} runs its model on {device!r} for {rows} rows, at very roughly "
                  f"{seconds_per_row:g} s a row on a few CPU cores ({rows * seconds_per_row / 60:.0f} min); "
                  f"a GPU (device = 'auto' finds one) is tens of times faster", RuntimeWarning, stacklevel=4)

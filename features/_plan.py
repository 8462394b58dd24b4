"""Turn a list of generator specs into a static feature matrix plus the label-using generators for the engine."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from smp.memory import release_memory
from smp.progress import progress_bar

from ._base import FeatureGenerator, get_generator
from ._cache import FeatureCache, generator_key
from .embedding.row_cache import RowStore


@dataclass(frozen=True)
class FeatureSpec:
    """One `[[features]]` entry of a config: a registered generator name and its parameters."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)

    def create(self) -> FeatureGenerator:
        return get_generator(self.name, self.params)


@dataclass
class FeatureSet:
    """The static matrix (one row per PostFrame row), its fitted generators and the unfitted label-using ones."""

    static: pd.DataFrame
    static_generators: list[FeatureGenerator]
    target_generators: list[FeatureGenerator]
    columns: dict[str, dict[str, str]]  # column -> {"generator": name, "group": group}
    cache_hits: int = 0
    # one per static generator, in order: {"seconds": wall time of its fit (or cache load), "from_cache": bool}
    stats: list[dict[str, Any]] = field(default_factory=list)

    def categorical_columns(self) -> list[str]:
        return [c for c in self.static.columns if isinstance(self.static[c].dtype, pd.CategoricalDtype)]


def build_features(
    frame: pd.DataFrame,
    specs: list[FeatureSpec],
    *,
    cache: FeatureCache | None = None,
    rows: RowStore | None = None,
    progress: bool = True,
) -> FeatureSet:
    """Fit every static generator on the whole `frame` (through the cache) and collect label-using ones unfitted.

    `rows` is where embedding generators keep their per-row vectors (default: under `<cache>/rows` when there is
    a cache, else memory only; see `embedding/row_cache.py`). Label-using generators may read static feature columns
    too: their `requires` are checked against the PostFrame plus the static matrix, before any of them is fitted.
    """
    if rows is None:
        rows = RowStore(cache.root / "rows" if cache is not None else None, progress=progress)
    generators = [spec.create().use_rows(rows) for spec in specs]
    static_parts: list[pd.DataFrame] = []
    fitted: list[FeatureGenerator] = []
    targets: list[FeatureGenerator] = []
    columns: dict[str, dict[str, str]] = {}
    hits = 0
    stats: list[dict[str, Any]] = []
    for gen in generators:  # fail early, naming missing columns, before any work
        if not gen.uses_target:
            gen.input_columns(frame)
        elif missing := [c for c in gen.requires if c not in frame.columns and "__" not in c]:
            # Feature columns (`generator__stat`) exist only once the static generators ran; PostFrame ones now.
            raise KeyError(f"feature generator {gen.name!r} requires columns {missing} that the frame lacks; "
                           f"available columns: {sorted(map(str, frame.columns))}")
    bar = progress_bar(generators, desc="features", unit="gen", enabled=progress, leave=False)
    for gen in bar:
        bar.set_postfix_str(gen.name)
        if gen.uses_target:
            targets.append(gen)
            continue
        t = time.perf_counter()
        key = generator_key(gen, frame) if cache is not None else None
        hit = cache.load(gen, key) if cache is not None else None
        if hit is not None:
            out, gen = hit
            gen.use_rows(rows)
            hits += 1
            if hasattr(gen, "rows_computed_"):  # this run embedded nothing: every vector came from a cache
                gen.rows_cached_ = gen.rows_computed_ + gen.rows_cached_
                gen.rows_computed_ = 0
        else:
            out = gen.fit_transform(frame)
            if cache is not None:
                cache.save(gen, key, out)
        static_parts.append(out)
        fitted.append(gen)
        release_memory()  # the generator's temporaries (model weights, decoded images, float64 blocks) are gone
        stats.append({"seconds": time.perf_counter() - t, "from_cache": hit is not None})
    static = pd.concat(static_parts, axis=1) if static_parts else pd.DataFrame(index=frame.index)
    for gen, part in zip(fitted, static_parts):
        for c in part.columns:
            _claim(columns, c, gen)
    wide = _wide_head(frame, static)
    for gen in targets:
        for c in target_output_columns(gen, wide):
            _claim(columns, c, gen)
    return FeatureSet(static, fitted, targets, columns, cache_hits=hits, stats=stats)


def _wide_head(posts: pd.DataFrame, X: pd.DataFrame, n: int = 8) -> pd.DataFrame:
    """The first rows of the PostFrame beside their static features: what label-using generators may read."""
    return pd.concat([posts.iloc[:n].reset_index(drop=True), X.iloc[:n].reset_index(drop=True)], axis=1)


def target_input_columns(generators: list[FeatureGenerator], posts: pd.DataFrame, X: pd.DataFrame) -> list[str]:
    """The static feature columns (of `X`) that the label-using `generators` read, in `X`'s order."""
    wide = _wide_head(posts, X, 0)
    wanted = {c for gen in generators for c in gen.input_columns(wide)}
    return [c for c in X.columns if c in wanted and c not in posts.columns]


def transform_features(frame: pd.DataFrame, generators: list[FeatureGenerator], *,
                       rows: RowStore | None = None) -> pd.DataFrame:
    """Apply already fitted static generators to a (new) frame, e.g. training posts plus new posts; `rows` is the
    per-row embedding store, so only rows never embedded before are encoded."""
    parts = [gen.use_rows(rows).transform(frame) for gen in generators]
    return pd.concat(parts, axis=1) if parts else pd.DataFrame(index=frame.index)


def target_output_columns(gen: FeatureGenerator, frame: pd.DataFrame) -> list[str]:
    """Output names of a label-using generator, from a fit on a tiny labelled slice (cheap, no label needed)."""
    head = frame.iloc[: min(len(frame), 8)]
    probe = gen.clone().fit(head, pd.Series(range(len(head)), index=head.index, dtype=float))
    return list(probe.transform(head).columns)


def _claim(columns: dict[str, dict[str, str]], col: str, gen: FeatureGenerator) -> None:
    if col in columns:
        raise ValueError(
            f"feature column {col!r} is produced by both {columns[col]['generator']!r} and {gen.name!r}; "
            "give the generators parameters that name their outputs apart"
        )
    columns[col] = {"generator": gen.name, "group": gen.group}

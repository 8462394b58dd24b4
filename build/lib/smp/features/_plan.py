"""Turn a list of generator specs into a static feature matrix plus the target-aware generators for the engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from ._base import FeatureGenerator, get_generator
from ._cache import FeatureCache, generator_key
from ._rowcache import active_root, use_row_cache


@dataclass(frozen=True)
class FeatureSpec:
    """One `[[features]]` entry of a config: a registered generator name and its parameters."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)

    def create(self) -> FeatureGenerator:
        return get_generator(self.name, self.params)


@dataclass
class FeatureSet:
    """The static matrix (one row per PostFrame row), its fitted generators and the unfitted target-aware ones."""

    static: pd.DataFrame
    static_generators: list[FeatureGenerator]
    target_generators: list[FeatureGenerator]
    columns: dict[str, dict[str, str]]  # column -> {"generator": name, "group": group}
    cache_hits: int = 0

    def categorical_columns(self) -> list[str]:
        return [c for c in self.static.columns if isinstance(self.static[c].dtype, pd.CategoricalDtype)]


def build_features(
    frame: pd.DataFrame,
    specs: list[FeatureSpec],
    *,
    cache: FeatureCache | None = None,
    progress: bool = True,
) -> FeatureSet:
    """Fit every static generator on the whole `frame` (through the cache) and collect target-aware ones unfitted.

    With a cache, embedding generators also keep their per-row vectors under `<cache>/rows` (see `_rowcache.py`).
    """
    row_root = active_root() or (cache.root / "rows" if cache is not None else None)
    with use_row_cache(row_root, progress=progress):
        return _build_features(frame, specs, cache=cache, progress=progress)


def _build_features(
    frame: pd.DataFrame, specs: list[FeatureSpec], *, cache: FeatureCache | None, progress: bool
) -> FeatureSet:
    generators = [spec.create() for spec in specs]
    static_parts: list[pd.DataFrame] = []
    fitted: list[FeatureGenerator] = []
    targets: list[FeatureGenerator] = []
    columns: dict[str, dict[str, str]] = {}
    hits = 0
    bar = tqdm(generators, desc="features", unit="gen", disable=not progress, leave=False)
    for gen in bar:
        bar.set_postfix_str(gen.name)
        gen.input_columns(frame)  # fail early, naming missing columns, before any work
        if gen.uses_target:
            targets.append(gen)
            continue
        key = generator_key(gen, frame) if cache is not None else None
        hit = cache.load(gen, key) if cache is not None else None
        if hit is not None:
            out, gen = hit
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
    static = pd.concat(static_parts, axis=1) if static_parts else pd.DataFrame(index=frame.index)
    for gen, part in zip(fitted, static_parts):
        for c in part.columns:
            _claim(columns, c, gen)
    for gen in targets:
        for c in target_output_columns(gen, frame):
            _claim(columns, c, gen)
    return FeatureSet(static, fitted, targets, columns, cache_hits=hits)


def transform_features(frame: pd.DataFrame, generators: list[FeatureGenerator]) -> pd.DataFrame:
    """Apply already fitted static generators to a (new) frame, e.g. training posts plus new posts."""
    parts = [gen.transform(frame) for gen in generators]
    return pd.concat(parts, axis=1) if parts else pd.DataFrame(index=frame.index)


def target_output_columns(gen: FeatureGenerator, frame: pd.DataFrame) -> list[str]:
    """Output names of a target-aware generator, from a fit on a tiny labelled slice (cheap, no label needed)."""
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

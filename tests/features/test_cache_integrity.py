"""Cache integrity: every feature-cache entry and row-cache shard stores checksums of its bytes; a mismatch (bytes
flipped in place, size kept) warns, recomputes and replaces the entry instead of being used silently."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from smp.features import FeatureCache, FeatureSpec, build_features, generator_key
from smp.features.embedding.row_cache import RowCache, row_hashes
from tests._data import make_postframe

SPECS = [FeatureSpec("user_profile"), FeatureSpec("time"), FeatureSpec("text_stats")]


def _flip(path: Path, at: int, n: int = 40) -> None:
    data = bytearray(path.read_bytes())
    size = len(data)
    at = min(at, size - n)
    data[at:at + n] = bytes(b ^ 0xA5 for b in data[at:at + n])
    path.write_bytes(bytes(data))
    assert path.stat().st_size == size


def test_flipped_feature_cache_parquet_is_recomputed_and_replaced(tmp_path):
    frame = make_postframe(n_posts=200, n_users=20, seed=2)
    cache = FeatureCache(tmp_path / "cache")
    clean = build_features(frame, SPECS, cache=cache, progress=False)
    again = build_features(frame, SPECS, cache=cache, progress=False)
    assert again.cache_hits == 3
    entries = sorted((tmp_path / "cache").glob("user_profile-*.parquet"))
    assert len(entries) == 1 and entries[0].with_suffix(".sha256").is_file()
    _flip(entries[0], at=entries[0].stat().st_size // 2)
    with pytest.warns(UserWarning, match=r"feature cache entry .*user_profile-.* is corrupt \(user_profile-.*\.parquet "
                                         r"does not match its checksum\); recomputing it"):
        healed = build_features(frame, SPECS, cache=cache, progress=False)
    assert healed.cache_hits == 2  # the corrupt one was recomputed, the others still came from the cache
    pd.testing.assert_frame_equal(healed.static, clean.static)
    after = build_features(frame, SPECS, cache=cache, progress=False)  # and the entry was replaced
    assert after.cache_hits == 3
    pd.testing.assert_frame_equal(after.static, clean.static)


def test_entry_without_checksums_is_not_trusted(tmp_path):
    frame = make_postframe(n_posts=120, n_users=12, seed=3)
    cache = FeatureCache(tmp_path / "cache")
    build_features(frame, SPECS[:1], cache=cache, progress=False)
    next((tmp_path / "cache").glob("*.sha256")).unlink()  # as a killed save leaves it, or an entry from before
    assert build_features(frame, SPECS[:1], cache=cache, progress=False).cache_hits == 0
    assert build_features(frame, SPECS[:1], cache=cache, progress=False).cache_hits == 1


def test_flipped_row_cache_shard_is_embedded_again(tmp_path):
    calls = []

    def encode(positions):
        calls.append(len(positions))
        return np.array([[float(p), p * 2.0, 1.0] for p in positions], dtype=np.float32)

    keys = row_hashes("toy-model", [f"row {i}" for i in range(50)])
    cache = RowCache("toy-model", tmp_path / "rows")
    first, computed, cached = cache.get_or_compute(keys, encode)
    assert (computed, cached) == (50, 0)
    _, computed, cached = RowCache("toy-model", tmp_path / "rows").get_or_compute(keys, encode)
    assert (computed, cached) == (0, 50)
    (vals,) = list(cache.dir.glob("*.vals.npy"))
    _flip(vals, at=200)
    with pytest.warns(UserWarning, match="row cache shard .* is corrupt"):
        again, computed, cached = RowCache("toy-model", tmp_path / "rows").get_or_compute(keys, encode)
    assert (computed, cached) == (50, 0) and np.array_equal(again, first)
    assert not vals.exists()  # replaced by a new shard
    _, computed, cached = RowCache("toy-model", tmp_path / "rows").get_or_compute(keys, encode)
    assert (computed, cached) == (0, 50)


def test_shard_from_before_checksums_is_adopted(tmp_path):
    def encode(positions):
        return np.ones((len(positions), 2), dtype=np.float32)

    keys = row_hashes("m", ["a", "b", "c"])
    cache = RowCache("m", tmp_path / "rows")
    cache.get_or_compute(keys, encode)
    (sums,) = list(cache.dir.glob("*.sha256"))
    sums.unlink()
    _, computed, cached = RowCache("m", tmp_path / "rows").get_or_compute(keys, encode)
    assert (computed, cached) == (0, 3) and sums.is_file()  # trusted once, then protected like any other


PROBE = '''
from smp.features._base import FeatureGenerator


class Probe(FeatureGenerator):
    name = "probe"
    requires = ("post_time",)

    def _fit(self, X, y=None):
        self.origin_ = X["post_time"].min()  # {state}

    def _transform(self, X):
        return X[[]].assign(days=(X["post_time"] - self.origin_).dt.days)
'''


def _probe(tmp_path: Path, monkeypatch, state: str):
    """The generator class of a module file under `smp.features`, as an edit of it would be imported."""
    path = tmp_path / "probe.py"
    path.write_text(PROBE.replace("{state}", state))
    name = "smp.features.probe_for_test"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    return module.Probe


def test_an_edited_generator_module_never_loads_the_state_its_earlier_source_pickled(tmp_path, monkeypatch):
    # A refactor that renames what the fitted state holds, with the version left alone, read a pickle of the
    # earlier source and silently fell back to another rule (udemy's category counts). The source is in the key.
    frame = make_postframe(n_posts=50, n_users=5, seed=1)
    before = generator_key(_probe(tmp_path, monkeypatch, "first")(), frame)
    assert generator_key(_probe(tmp_path, monkeypatch, "first")(), frame) == before  # a re-import is a hit
    assert generator_key(_probe(tmp_path, monkeypatch, "renamed")(), frame) != before

"""Where a run keeps the models it builds (distilled static embeddings, ONNX exports): `[output] models_dir`, else
`$SMP_MODELS_DIR`, else `<cache_dir>/models`."""

from __future__ import annotations

from smp.pipelines.config import load_config
from smp.pipelines.prepare import row_store


def test_models_dir_setting_then_environment_then_cache_dir(tmp_path, monkeypatch):
    cfg = load_config("default").evolve(output={"cache_dir": str(tmp_path / "cache")})
    monkeypatch.delenv("SMP_MODELS_DIR", raising=False)
    store = row_store(cfg)
    assert (store.root, store.models) == (tmp_path / "cache" / "rows", tmp_path / "cache" / "models")
    monkeypatch.setenv("SMP_MODELS_DIR", str(tmp_path / "shared"))
    assert row_store(cfg).models == tmp_path / "shared"
    cfg = cfg.evolve(output={"models_dir": str(tmp_path / "mine")})
    assert row_store(cfg).models == tmp_path / "mine"
    assert row_store(cfg).root == tmp_path / "cache" / "rows"  # the row vectors stay in the cache dir

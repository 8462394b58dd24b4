"""Model registry: versions appear only when committed, the champion switches in one atomic replace, the lock
admits one job."""

from __future__ import annotations

import json

import pytest

from smp.pipelines.model_registry import Registry, RegistryError, RegistryLocked, registry_lock


def _stage(reg: Registry, tag: str):
    s = reg.stage()
    (s / "run").mkdir()
    (s / "run" / "tag.txt").write_text(tag)
    return s


def test_commit_versions_promotion_and_rollback(tmp_path):
    reg = Registry(tmp_path / "reg")
    assert reg.versions() == [] and reg.champion() is None
    v1 = reg.commit(_stage(reg, "a"), {"created": "t1"}, promote=True)
    v2 = reg.commit(_stage(reg, "b"), {"created": "t2", "parent": v1}, promote=False)
    assert (v1, v2) == ("v0001", "v0002")
    assert reg.versions() == [v1, v2] and reg.champion() == v1
    assert reg.manifest(v2)["promoted"] is False and reg.manifest(v2)["version"] == v2
    assert (reg.run_dir() / "tag.txt").read_text() == "a"
    assert reg.rollback(v2) == v2 and (reg.run_dir("champion") / "tag.txt").read_text() == "b"
    events = [h["event"] for h in reg.state()["history"]]
    assert events == ["promote", "add", "rollback"]
    assert [r["champion"] for r in reg.table()] == [False, True]


def test_uncommitted_folders_are_invisible_and_cleaned(tmp_path):
    reg = Registry(tmp_path / "reg")
    reg.commit(_stage(reg, "a"), {}, promote=True)
    before = (reg.root / "registry.json").read_bytes()
    _stage(reg, "killed while training")
    (reg.root / "v0002").mkdir()  # killed between the rename and the state switch
    assert reg.versions() == ["v0001"] and reg.champion() == "v0001"
    assert reg.next_version() == "v0003"  # never reuses a leftover name
    removed = reg.clean()
    assert {p.name for p in removed} >= {"v0002"} and not any((reg.root / ".staging").iterdir())
    assert (reg.root / "registry.json").read_bytes() == before
    assert reg.commit(_stage(reg, "b"), {}, promote=False) == "v0002"


@pytest.mark.parametrize("version, match", [("v0007", "has no version 'v0007'"), ("champion", "no champion")])
def test_unknown_version_errors(tmp_path, version, match):
    with pytest.raises(RegistryError, match=match):
        Registry(tmp_path / "empty").run_dir(version)


def test_lock_is_exclusive_and_released(tmp_path):
    path = tmp_path / "reg" / ".retrain.lock"
    with registry_lock(path):
        with pytest.raises(RegistryLocked, match="another job holds the lock"):
            with registry_lock(path):
                pass
    with registry_lock(path):  # released after the first holder left
        pass


def test_state_file_is_replaced_whole(tmp_path):
    reg = Registry(tmp_path / "reg")
    reg.commit(_stage(reg, "a"), {}, promote=True)
    assert json.loads((reg.root / "registry.json").read_text())["champion"] == "v0001"
    assert not [p for p in reg.root.iterdir() if p.name.startswith(".registry.json")]  # no temp file left

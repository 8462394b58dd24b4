"""The synthetic SMPD-Image generator: official layout, determinism, and the structure models should find."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy.stats import spearmanr

from smp.pipelines.datasets import generate_smpd_image
from smp.pipelines.datasets.synthetic import CATEGORY_TREE

N_POSTS, N_USERS = 3000, 300
TABLES = ("category", "text", "temporalspatial_information", "additional_information", "user_data")


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def gen_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("synthetic")
    kw = dict(n_posts=N_POSTS, n_users=N_USERS, image_size=8, progress=False)
    return {
        "a": generate_smpd_image(base / "a", seed=0, **kw),
        "b": generate_smpd_image(base / "b", seed=0, **kw),
        "c": generate_smpd_image(base / "c", seed=1, **kw),
    }


@pytest.fixture(scope="module")
def train(gen_dirs: dict[str, Path]) -> pd.DataFrame:
    """Train rows of the generated files joined by hand (independent of the loader under test elsewhere)."""
    root = gen_dirs["a"] / "train"
    tables = [pd.DataFrame(json.loads((root / f"train_{t}.json").read_text())) for t in TABLES]
    frame = pd.concat([tables[0], *(t.drop(columns=["Pid", "Uid"]) for t in tables[1:])], axis=1)
    frame["label"] = np.loadtxt(root / "train_label.txt")
    extra = pd.read_csv(gen_dirs["a"] / "user_additional.csv", dtype={"Pathalias": str})
    return frame.merge(extra, on="Pathalias", how="left")


def test_same_seed_gives_byte_identical_files(gen_dirs: dict[str, Path]) -> None:
    a, b = _files(gen_dirs["a"]), _files(gen_dirs["b"])
    assert a.keys() == b.keys()
    assert [k for k in a if a[k] != b[k]] == []


def test_different_seed_gives_different_data(gen_dirs: dict[str, Path]) -> None:
    a, c = _files(gen_dirs["a"]), _files(gen_dirs["c"])
    for name in ("train/train_label.txt", "train/train_text.json", "user_additional.csv"):
        assert a[name] != c[name], name


def test_official_layout(gen_dirs: dict[str, Path]) -> None:
    root = gen_dirs["a"]
    n = {}
    for split in ("train", "test"):
        lengths = set()
        for table in TABLES:
            records = json.loads((root / split / f"{split}_{table}.json").read_text())
            assert isinstance(records, list) and isinstance(records[0], dict)
            assert all(isinstance(v, str) for v in records[0].values()), records[0]
            lengths.add(len(records))
        paths = (root / split / f"{split}_img_filepath.txt").read_text().splitlines()
        lengths.add(len(paths))
        assert len(lengths) == 1, lengths
        n[split] = lengths.pop()
        assert all(p.startswith(f"{split}/") and p.endswith(".jpg") for p in paths)
        for p in paths[:50]:
            with Image.open(root / p) as img:
                assert img.size == (8, 8) and img.format == "JPEG"
    assert not (root / "test" / "test_label.txt").exists()
    assert len((root / "train" / "train_label.txt").read_text().splitlines()) == n["train"]
    assert n["train"] + n["test"] == N_POSTS
    assert n["test"] == pytest.approx(0.2 * N_POSTS, abs=1)


def test_values_look_like_smpd(train: pd.DataFrame) -> None:
    assert train["Uid"].str.fullmatch(r"\d+@N\d\d").all()
    assert train["Pid"].str.fullmatch(r"\d+").all()
    assert set(train["Category"]) <= set(CATEGORY_TREE) and train["Category"].nunique() >= 8
    post = pd.to_numeric(train["Postdate"])
    assert (post.max() - post.min()) / 86400 > 300  # spread over more than a year
    no_geo = train["Latitude"].eq("0")
    assert 0.1 < (~no_geo).mean() < 0.7 and train.loc[no_geo, "Longitude"].eq("0").all()
    assert train["ispro"].isin(["0", "1"]).all()
    assert train["timezone_offset"].str.fullmatch(r"[+-]\d\d:\d\d|None").all()


def test_post_counts_per_user_are_heavy_tailed(train: pd.DataFrame) -> None:
    counts = train["Uid"].value_counts()
    assert counts.max() >= 8 * counts.median()
    top = counts.iloc[: max(1, len(counts) // 10)].sum() / counts.sum()
    assert top > 0.35, top


def test_label_range_and_mean(train: pd.DataFrame) -> None:
    label = train["label"]
    assert 5.8 < label.mean() < 7.0
    assert label.min() >= 1.0 and label.max() <= 16.6
    assert 1.5 < label.std() < 3.2


def test_label_follows_latent_drivers(train: pd.DataFrame) -> None:
    src = lambda x: spearmanr(train["label"], x, nan_policy="omit")[0]  # noqa: E731
    assert src(train["followerCount"]) > 0.3
    assert src(train["totalViews"]) > 0.3
    assert src(train["Alltags"].str.split().map(len)) > 0.05
    assert src(train["ispro"].astype(int)) > 0.05
    by_cat = train.groupby("Category")["label"].mean()
    assert by_cat["Fashion"] > by_cat["Electronics"]


def test_test_users_overlap_train(gen_dirs: dict[str, Path], train: pd.DataFrame) -> None:
    test = json.loads((gen_dirs["a"] / "test" / "test_category.json").read_text())
    uids = {r["Uid"] for r in test}
    assert len(uids & set(train["Uid"])) / len(uids) > 0.7


def test_image_size_zero_writes_paths_but_no_images(tmp_path: Path) -> None:
    root = generate_smpd_image(tmp_path / "d", n_posts=200, n_users=20, image_size=0, progress=False)
    assert (root / "train" / "train_img_filepath.txt").read_text().strip()
    assert not list(root.rglob("*.jpg"))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(n_posts=10, n_users=20), "n_users <= n_posts"),
        (dict(n_users=0), "n_users"),
        (dict(test_frac=1.0), "test_frac"),
        (dict(image_size=-1), "image_size"),
    ],
)
def test_bad_arguments_are_rejected(tmp_path: Path, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        generate_smpd_image(tmp_path / "x", **{"n_posts": 100, "n_users": 10, **kwargs})

"""Small synthetic PostFrames for unit tests (the end-to-end tests use `smp synth` files instead)."""

from __future__ import annotations

import functools
import os

import numpy as np
import pandas as pd

from smp.pipelines.datasets._schema import finalize_postframe

VOCAB = [f"w{i}" for i in range(60)]
CATEGORIES = ["Travel", "Food", "Animal", "Fashion", "Sports"]


def make_postframe(n_posts: int = 400, n_users: int = 40, seed: int = 0, test_frac: float = 0.25) -> pd.DataFrame:
    """A canonical PostFrame whose label depends on a latent user effect, category and tag count, plus noise."""
    rng = np.random.default_rng(seed)
    user_effect = rng.normal(0, 1.5, n_users)
    users = rng.integers(0, n_users, n_posts)
    users[:n_users] = np.arange(n_users)  # every user posts at least once
    cat = rng.integers(0, len(CATEGORIES), n_posts)
    n_tags = rng.integers(0, 8, n_posts)
    t0 = pd.Timestamp("2019-01-01", tz="UTC")
    times = t0 + pd.to_timedelta(np.sort(rng.integers(0, 400 * 86400, n_posts)), unit="s")
    tags = [list(rng.choice(VOCAB, k, replace=False)) for k in n_tags]
    titles = [" ".join(rng.choice(VOCAB, rng.integers(0, 6))) for _ in range(n_posts)]
    followers = np.exp(user_effect[users] * 1.2 + 6 + rng.normal(0, 0.3, n_posts)).round()
    label = 6 + user_effect[users] + 0.3 * cat + 0.2 * n_tags + rng.normal(0, 0.7, n_posts)
    is_test = rng.random(n_posts) < test_frac
    has_geo = rng.random(n_posts) < 0.4
    frame = pd.DataFrame(
        {
            "post_id": [f"p{i}" for i in range(n_posts)],
            "user_id": [f"u{u}" for u in users],
            "post_time": times,
            "title": titles,
            "tags": tags,
            "description": [""] * n_posts,
            "category": [CATEGORIES[c] for c in cat],
            "subcategory": [f"{CATEGORIES[c]}_{s}" for c, s in zip(cat, rng.integers(0, 3, n_posts))],
            "concept": [f"c{k}" for k in rng.integers(0, 12, n_posts)],
            "location": None,
            "language": None,
            "latitude": np.where(has_geo, rng.uniform(-60, 60, n_posts), np.nan),
            "longitude": np.where(has_geo, rng.uniform(-150, 150, n_posts), np.nan),
            "geo_accuracy": np.where(has_geo, rng.integers(1, 17, n_posts), np.nan),
            "image_path": [f"train/u{u}/p{i}.jpg" for i, u in enumerate(users)],
            "label": np.where(is_test, np.nan, label),
            "split": np.where(is_test, "test", "train"),
            "user_follower_count": followers,
            "user_following_count": rng.integers(0, 500, n_users)[users].astype(float),
            "user_photo_count": rng.integers(1, 5000, n_users)[users].astype(float),
            "user_total_views": (followers * 50).astype(float),
            "user_total_faves": (followers * 2).astype(float),
            "user_timezone_id": [f"tz{u % 4}" for u in users],
            "meta_ispublic": np.ones(n_posts),
            "meta_mediatype": np.where(rng.random(n_posts) < 0.9, "photo", "video"),
            **_media_face_columns(n_posts, seed),
        }
    )
    return finalize_postframe(frame, "<tests/_data.py>")


FACE_CLASSES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


def _media_face_columns(n_posts: int, seed: int) -> dict[str, object]:
    """SMPD-Video-like face side-table columns (as the loader joins them), from their own random stream."""
    rng = np.random.default_rng([seed, 1])
    has_face = (rng.random(n_posts) < 0.6).astype(float)
    dist, dominant = [], []
    for h in has_face:
        k = int(rng.integers(0, 3)) if h else 0
        if k == 0:
            dist.append("{}")
            dominant.append("none")
            continue
        names = rng.choice(FACE_CLASSES, k, replace=False)
        shares = np.round(rng.dirichlet(np.ones(k)), 4)
        dist.append("{" + ", ".join(f"'{n}': {v}" for n, v in zip(names, shares)) + "}")
        dominant.append(str(names[int(np.argmax(shares))]))
    return {
        "meta_face_has_face": has_face,
        "meta_face_avg_faces_per_frame": np.where(has_face > 0, 1.0 + rng.random(n_posts), 0.0),
        "meta_face_dominant_emotion": dominant,
        "meta_face_emotion_distribution": dist,
    }
def write_images(frame: pd.DataFrame, folder, *, size: int = 32, skip_every: int = 0, seed: int = 0) -> list:
    """Write a small JPEG per row (colour from the category, brightness from the label) and return absolute paths.

    With `skip_every=k`, every k-th row's path points at a file that is not written (a missing image).
    """
    from pathlib import Path

    from PIL import Image

    rng = np.random.default_rng(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    codes = pd.factorize(frame["category"].fillna(""), sort=True)[0]
    label = frame["label"].fillna(frame["label"].mean()).to_numpy()
    paths = []
    for i, (c, lab) in enumerate(zip(codes, label)):
        path = folder / f"img{i}.jpg"
        paths.append(str(path))
        if skip_every and i % skip_every == 0:
            continue
        base = np.array([40 + 40 * (c % 5), 200 - 30 * (c % 4), 60 + 50 * (c % 3)], dtype=float)
        px = base * np.clip(0.6 + 0.05 * (lab - 6), 0.2, 1.3) + rng.normal(0, 15, (size, size, 3))
        Image.fromarray(np.clip(px, 0, 255).astype(np.uint8)).save(path, format="JPEG", quality=85)
    return paths


# Music titles as the SMP-Video release writes them: "original sound" in several languages, songs with a version
# after " - ", a title without a dash, missing and blank ones.
MUSIC_TITLES = [
    "original sound - maker", "Sonido original - x", "Originalton", "オリジナル楽曲 - KOH", "eredeti hang – tim",
    "Circles - Instrumental", "Flowers", "flowers - Sped Up", "Lo-fi hip hop", None, "",
]
# Country codes of `location`: known ones, a lower-case one, one the holidays package does not know, none.
COUNTRIES = ["US", "GB", "us", "DE", "JP", "BR", "ZZ", None]


def add_video_columns(frame: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """A copy with SMPD-Video-like `meta_music_*` / `meta_video_*` columns and country codes (own random stream)."""
    rng = np.random.default_rng([seed, 2])
    n = len(frame)
    video = rng.integers(5, 120, n).astype(float)
    music = np.where(rng.random(n) < 0.4, video, rng.integers(5, 200, n)).astype(float)
    music[rng.random(n) < 0.05] = np.nan
    portrait = rng.random(n) < 0.8
    return frame.assign(
        location=[COUNTRIES[i] for i in rng.integers(0, len(COUNTRIES), n)],
        meta_music_title=[MUSIC_TITLES[i] for i in rng.integers(0, len(MUSIC_TITLES), n)],
        meta_music_duration=music,
        meta_video_duration=video,
        meta_video_height=np.where(portrait, 1280.0, 720.0),
        meta_video_width=np.where(portrait, 720.0, 1280.0),
    )


def add_feature_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy with static feature columns as the engine hands them to label-using generators.

    `sentence__tags_0..7`: a fixed projection of each post's tag bag (missing for posts without tags);
    `clusters__tags_k4` / `_k8`: categorical ids from its arg-max, with a numeric `_dist` beside them. The names
    share the real generators' prefixes but not their columns (`sentence__0`, `clusters__sentence_k8`), so a frame
    can also carry the real ones. (No `user_profile__` block: static generators read every `user_*` column; the
    real `user_profile` generator makes one.) Each row's values depend on that row alone, so train and new frames
    are consistent.
    """
    proj = np.random.default_rng(123).normal(size=(len(VOCAB), 8))
    pos = {w: i for i, w in enumerate(VOCAB)}
    emb = np.full((len(frame), 8), np.nan)
    for r, tags in enumerate(frame["tags"]):
        idx = [pos[t] for t in tags if t in pos]
        if idx:
            emb[r] = proj[idx].sum(axis=0) / np.sqrt(len(idx))
    cols: dict[str, object] = {f"sentence__tags_{i}": emb[:, i] for i in range(8)}
    ok = np.isfinite(emb).all(axis=1)
    for k in (4, 8):
        dtype = pd.CategoricalDtype(pd.Index([str(i) for i in range(k)]))
        ids = np.where(ok, np.nan_to_num(emb[:, :k]).argmax(axis=1), -1)
        cols[f"clusters__tags_k{k}"] = pd.Categorical.from_codes(ids, dtype=dtype)
        cols[f"clusters__tags_k{k}_dist"] = np.where(ok, np.nanmax(np.nan_to_num(emb[:, :k]), axis=1), np.nan)
    return frame.assign(**cols)


def make_news_table(n_posts: int = 600, n_authors: int = 80, seed: int = 0) -> pd.DataFrame:
    """A generic posts table no bundled config was written for (a news-aggregator dump: id, title, url, author,
    created_at, points): popularity rises with an author effect, two title words and a slow time trend; the
    points are heavy-tailed (log2(points + 1) is the usual label)."""
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(60)] + ["launch", "rust", "ask", "show"]
    author = rng.integers(0, n_authors, n_posts)
    effect = rng.normal(0, 1.0, n_authors)[author]
    titles, bonus = [], np.zeros(n_posts)
    for i in range(n_posts):
        t = list(rng.choice(words, size=rng.integers(3, 9)))
        bonus[i] = 0.8 * ("launch" in t) + 0.6 * ("rust" in t) - 0.5 * ("ask" in t)
        titles.append(" ".join(t))
    start = pd.Timestamp("2021-01-01", tz="UTC").value // 10**9
    created = np.sort(rng.integers(start, start + 365 * 86400, n_posts))
    trend = np.linspace(0.0, 0.5, n_posts)
    log_points = np.clip(2.0 + effect + bonus + trend + rng.gumbel(0, 0.9, n_posts), 0, None)
    points = np.round(2.0 ** log_points - 1).astype(int)
    return pd.DataFrame({
        "id": [f"n{i}" for i in range(n_posts)], "title": titles,
        "url": [f"https://example.org/{i}" for i in range(n_posts)], "author": [f"a{a}" for a in author],
        "created_at": pd.to_datetime(created, unit="s", utc=True).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "points": points, "label": np.log2(points + 1.0),
    })


NEWS_MAPPING = {"post_id": "id", "user_id": "author", "post_time": "created_at", "title": "title", "label": "label"}


@functools.lru_cache(maxsize=1)
def shared_rows():
    """One in-memory row store for the test session: suites that fit the same embedding generators on the same
    frames many times (the contract suite) embed each row once. Runs use their own store on disk. Its built models
    (ONNX exports, distilled static models) go to the session's shared folder (`$SMP_MODELS_DIR`, tests/conftest.py),
    so a worker reuses what another one built."""
    from smp.features import RowStore

    return RowStore(memory_limit_bytes=2 * 2**30, models=os.environ.get("SMP_MODELS_DIR"))


def make_heavy_tailed_table(n_posts: int = 800, n_authors: int = 120, seed: int = 0) -> pd.DataFrame:
    """A news table whose label is heavy-tailed the way real vote counts are: most posts get one point or none,
    a few get thousands (log2(points + 1): a spike at 0-1 and a long right tail). A squared-error model predicts
    near the mean, far above the median, and loses on MAE to predicting the median."""
    rng = np.random.default_rng(seed)
    t = make_news_table(n_posts=n_posts, n_authors=n_authors, seed=seed)
    author = t["author"].str[1:].astype(int).to_numpy()
    talent = rng.normal(0, 1, n_authors)[author] + 0.8 * t["title"].str.contains("launch").to_numpy()
    hit = rng.random(n_posts) < 1 / (1 + np.exp(-(talent - 1.5)))  # a few posts take off
    points = np.where(hit, np.round(rng.pareto(0.8, n_posts) * 50 + 10), rng.integers(0, 3, n_posts))
    return t.assign(points=points.astype(int), label=np.log2(points + 1.0))

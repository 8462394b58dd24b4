"""Synthetic SMPD-Image data in the official folder layout, for tests and full-scale benchmarks.

The real SMPD-Image release is not available here (users bring their own copy), so this writes files in
exactly its layout (see shared/DATA.md) from a small generative model with the structure popularity models
exploit: users with a latent influence and activity, heavy-tailed post counts, bursty posting,
category-dependent tags and titles, per-user favourite tags, clustered geotags, user profiles and crawled user
stats that reflect the latent influence, and images whose colour and brightness follow category and label.
Every value is drawn with numpy in bulk from one seeded generator, so the same seed gives byte-identical files.
`write_video` writes small synthetic video files (frames, optionally a tone) for the video feature generators.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd

from smp.progress import progress_bar

# Category -> subcategory -> concepts, modelled on the SMPD-Image taxonomy (11 categories).
CATEGORY_TREE: dict[str, dict[str, tuple[str, ...]]] = {
    "Travel&Active&Sports": {
        "Travel": ("beach", "mountain", "lake", "island", "roadtrip"),
        "Sports": ("soccer", "basketball", "tennis", "motorsport"),
        "Active": ("hiking", "cycling", "running", "surfing"),
    },
    "Holiday&Celebrations": {
        "Christmas": ("christmas", "xmas", "santa"),
        "Festival": ("carnival", "fireworks", "parade"),
        "Wedding": ("wedding", "bride", "ceremony"),
    },
    "Fashion": {
        "Fashion": ("glam", "model", "dress", "outfit"),
        "Beauty": ("makeup", "hair", "nails"),
        "Cosplay": ("cosplay", "costume", "anime"),
    },
    "Entertainment": {
        "Music": ("concert", "guitar", "dj", "band"),
        "Art": ("painting", "graffiti", "sculpture"),
        "Games": ("videogame", "boardgame", "lego"),
    },
    "Social&People": {
        "Portrait": ("portrait", "face", "smile"),
        "Street": ("streetphotography", "crowd", "market"),
        "Friends": ("friends", "party", "selfie"),
    },
    "Whether&Season": {
        "Winter": ("snow", "ice", "frost"),
        "Autumn": ("autumn", "leaves", "fog"),
        "Weather": ("rain", "clouds", "sunset", "storm"),
    },
    "Animal": {
        "Dogs": ("dog", "puppy", "labrador"),
        "Cats": ("cat", "kitten"),
        "Birds": ("bird", "eagle", "owl", "heron"),
        "Wildlife": ("wildlife", "deer", "butterfly"),
    },
    "Food": {
        "Dessert": ("cake", "icecream", "chocolate"),
        "Drinks": ("coffee", "beer", "cocktail"),
        "Dinner": ("pizza", "sushi", "burger"),
    },
    "Urban": {
        "Architecture": ("architecture", "church", "bridge", "tower"),
        "Cityscape": ("skyline", "cityscape", "night"),
        "Transport": ("train", "car", "airplane"),
    },
    "Family": {
        "Baby": ("baby", "newborn"),
        "Kids": ("kids", "playground", "toys"),
        "Home": ("home", "garden", "family"),
    },
    "Electronics": {
        "Cameras": ("camera", "lens", "nikon"),
        "Phones": ("iphone", "smartphone"),
        "Computers": ("laptop", "keyboard", "robot"),
    },
}
CATEGORIES = tuple(CATEGORY_TREE)
# Flat (category, subcategory, concept) table, ordered by category then subcategory.
CONCEPTS = tuple((c, s, k) for c, subs in CATEGORY_TREE.items() for s, ks in subs.items() for k in ks)
# Share of posts per category and its effect on the label (Fashion and people-centric posts do better on
# Flickr; gadgets and food worse), plus a base colour per category for the images.
CATEGORY_WEIGHT = np.array([0.22, 0.11, 0.12, 0.10, 0.08, 0.07, 0.09, 0.05, 0.08, 0.05, 0.03])
CATEGORY_EFFECT = np.array([0.2, 0.0, 0.9, 0.3, 0.5, -0.1, 0.1, -0.4, -0.2, 0.3, -0.6])
CATEGORY_COLOUR = np.array(
    [
        [60, 140, 200],
        [200, 40, 40],
        [220, 120, 180],
        [140, 60, 200],
        [210, 170, 130],
        [170, 190, 210],
        [90, 140, 60],
        [220, 150, 40],
        [110, 110, 120],
        [240, 200, 160],
        [40, 40, 50],
    ],
    dtype=float,
)
GENERIC_WORDS = (
    "photo photography flickr nikon canon sony nature light color blackandwhite bw travel love art "
    "beautiful sky 2015 2016 2017 instagram iphone d750 summer spring city street people water landscape "
    "green blue red white black sun trees flowers macro bokeh hdr film vintage explore"
).split()
# (name, latitude, longitude, timezone id, UTC offset in hours), cities geotags cluster around.
CITIES = (
    ("New York, USA", 40.71, -74.01, "America/New_York", -5),
    ("London, UK", 51.51, -0.13, "Europe/London", 0),
    ("Paris, France", 48.86, 2.35, "Europe/Paris", 1),
    ("Tokyo, Japan", 35.68, 139.69, "Asia/Tokyo", 9),
    ("San Francisco, USA", 37.77, -122.42, "America/Los_Angeles", -8),
    ("Berlin, Germany", 52.52, 13.40, "Europe/Berlin", 1),
    ("Sydney, Australia", -33.87, 151.21, "Australia/Sydney", 10),
    ("Toronto, Canada", 43.65, -79.38, "America/Toronto", -5),
    ("Amsterdam, Netherlands", 52.37, 4.90, "Europe/Amsterdam", 1),
    ("Barcelona, Spain", 41.39, 2.17, "Europe/Madrid", 1),
    ("Rome, Italy", 41.90, 12.50, "Europe/Rome", 1),
    ("Chicago, USA", 41.88, -87.63, "America/Chicago", -6),
    ("Singapore", 1.35, 103.82, "Asia/Singapore", 8),
    ("Hong Kong", 22.32, 114.17, "Asia/Hong_Kong", 8),
    ("Sao Paulo, Brazil", -23.55, -46.63, "America/Sao_Paulo", -3),
    ("Mumbai, India", 19.08, 72.88, "Asia/Kolkata", 5.5),
    ("Cape Town, South Africa", -33.92, 18.42, "Africa/Johannesburg", 2),
    ("Moscow, Russia", 55.76, 37.62, "Europe/Moscow", 3),
    ("Seattle, USA", 47.61, -122.33, "America/Los_Angeles", -8),
    ("Melbourne, Australia", -37.81, 144.96, "Australia/Melbourne", 10),
    ("Vancouver, Canada", 49.28, -123.12, "America/Vancouver", -8),
    ("Istanbul, Turkey", 41.01, 28.98, "Europe/Istanbul", 3),
    ("Buenos Aires, Argentina", -34.60, -58.38, "America/Argentina/Buenos_Aires", -3),
    ("Seoul, Korea", 37.57, 126.98, "Asia/Seoul", 9),
    ("Mexico City, Mexico", 19.43, -99.13, "America/Mexico_City", -6),
    ("Dublin, Ireland", 53.35, -6.26, "Europe/Dublin", 0),
    ("Prague, Czechia", 50.08, 14.44, "Europe/Prague", 1),
    ("Reykjavik, Iceland", 64.15, -21.94, "Atlantic/Reykjavik", 0),
)
SYLLABLES = tuple("ka lo mi ne ru sa to vi be da fo gi ha ju ke la mo pi ri zu".split())
N_PSEUDO_WORDS = 3000
START = pd.Timestamp("2015-11-01", tz="UTC")
WINDOW_S = 16 * 30 * 86400  # 16 months, as in SMPD-Image
USER_ADDITIONAL_COLUMNS = (
    "totalViews",
    "totalTags",
    "totalGeotagged",
    "totalFaves",
    "totalInGroup",
    "photoCount",
    "followerCount",
    "followingCount",
)


def generate_smpd_image(
    out_dir: str | Path,
    *,
    n_posts: int = 20000,
    n_users: int = 2500,
    seed: int = 0,
    image_size: int = 32,
    test_frac: float = 0.2,
    progress: bool = True,
) -> Path:
    """Write a synthetic SMPD-Image dataset under `out_dir` and return that folder.

    Layout: `train/` and `test/` with the official `*_category.json`, `*_text.json`,
    `*_temporalspatial_information.json`, `*_additional_information.json`, `*_user_data.json`,
    `*_img_filepath.txt`, `train_label.txt`, images at `<split>/<Uid>/<Pid>.jpg` (none when
    `image_size=0`), and `user_additional.csv` keyed by Pathalias. Test posts are a random `test_frac`
    of all posts, so test users overlap train users as in SMPD. Existing files of the same names are replaced.
    """
    if n_users < 1 or n_posts < n_users:
        raise ValueError(f"`1 <= n_users <= n_posts` must hold (every user posts), but got ({n_users=}, {n_posts=}).")
    if not 0.0 <= test_frac < 1.0:
        raise ValueError(f"`0 <= test_frac < 1` must hold, but got {test_frac=}.")
    if image_size < 0:
        raise ValueError(f"`image_size >= 0` must hold (0 writes no images), but got {image_size=}.")
    out = Path(out_dir)
    rng = np.random.default_rng(seed)
    users = _make_users(rng, n_users, n_posts)
    posts = _make_posts(rng, users)
    is_test = np.zeros(len(posts["user"]), dtype=bool)
    is_test[rng.permutation(len(is_test))[: int(round(test_frac * len(is_test)))]] = True
    order = rng.permutation(len(is_test))  # file row order: shuffled, not grouped by user or time
    for split, mask in (("train", ~is_test[order]), ("test", is_test[order])):
        rows = order[mask]
        _write_split(out, split, rows, posts, users, rng, image_size, progress)
    _write_user_additional(out / "user_additional.csv", users, rng)
    return out


def _vocabulary() -> tuple[np.ndarray, np.ndarray]:
    """Fixed vocabulary (generic + category words + pseudo-words) and per-category sampling CDFs over it."""
    cat_words = [
        sorted({w.lower() for sub, concepts in tree.items() for w in (sub, *concepts)})
        for tree in CATEGORY_TREE.values()
    ]
    known = list(dict.fromkeys(GENERIC_WORDS + [w for ws in cat_words for w in ws]))
    pseudo = ["".join(p) for p in itertools.islice(itertools.product(SYLLABLES, repeat=3), N_PSEUDO_WORDS)]
    vocab = np.array(known + pseudo, dtype=object)
    index = {w: i for i, w in enumerate(vocab)}
    # A Zipf tail over the pseudo-words, permuted per category so each category has its own frequent words.
    perm_rng = np.random.default_rng(20190701)
    cdfs = []
    generic = 1.0 / (1 + np.arange(len(GENERIC_WORDS))) ** 0.7
    tail = 1.0 / (1 + np.arange(N_PSEUDO_WORDS)) ** 1.05
    for words in cat_words:
        # Token shares: 30% generic photo words, 35% the category's own words, 35% its Zipf tail.
        weight = np.zeros(len(vocab))
        weight[[index[w] for w in GENERIC_WORDS]] += 0.30 * generic / generic.sum()
        weight[[index[w] for w in words]] += 0.35 / len(words)
        weight[len(known) + perm_rng.permutation(N_PSEUDO_WORDS)] += 0.35 * tail / tail.sum()
        cdfs.append(np.cumsum(weight / weight.sum()))
    cdf = np.stack(cdfs)
    cdf[:, -1] = 1.0
    return vocab, cdf


def _alias_names(rng: np.random.Generator, n: int) -> np.ndarray:
    """Unique Flickr-like path aliases built from syllables (suffixed with a number when they would repeat)."""
    k = rng.integers(2, 5, n)
    picks = rng.integers(0, len(SYLLABLES), (n, 4))
    syl = np.array(SYLLABLES, dtype=object)
    names = ["".join(syl[row[:m]]) for row, m in zip(picks, k)]
    seen: dict[str, int] = {}
    out = []
    for name in names:
        count = seen.get(name, 0)
        seen[name] = count + 1
        out.append(name if count == 0 else f"{name}{count}")
    return np.array(out, dtype=object)


def _make_users(rng: np.random.Generator, n_users: int, n_posts: int) -> dict[str, np.ndarray]:
    """Latent user traits and the observable profile fields that follow from them."""
    influence = rng.normal(0, 1, n_users)
    activity = 0.3 * influence + np.sqrt(1 - 0.09) * rng.normal(0, 1, n_users)
    # Heavy-tailed posts per user: everyone posts once, the rest follow a lognormal activity weight.
    weight = np.exp(1.6 * activity)
    counts = 1 + rng.multinomial(n_posts - n_users, weight / weight.sum())
    ids = rng.choice(90_000 * 90, n_users, replace=False)
    uid = np.array([f"{1000 + i // 90}@N{10 + i % 90:02d}" for i in ids.tolist()], dtype=object)
    alias = _alias_names(rng, n_users)
    no_alias = rng.random(n_users) < 0.06
    city = rng.choice(len(CITIES), n_users, p=_city_weights())
    has_tz = rng.random(n_users) < 0.85
    years_on_flickr = np.clip(5 + 1.2 * influence + rng.normal(0, 2.5, n_users), 0.1, 11.5)
    firstdate = START.timestamp() - years_on_flickr * 365.25 * 86400
    photo_count = np.round(counts * np.exp(2.5 + 0.8 * activity + 0.4 * influence + rng.normal(0, 0.5, n_users)))
    follower = np.round(np.exp(3.5 + 1.5 * influence + rng.normal(0, 0.6, n_users)))
    following = np.round(np.exp(4.0 + 0.3 * influence + 0.4 * activity + rng.normal(0, 1.0, n_users)))
    views = np.round(photo_count * np.exp(3.0 + 1.3 * influence + rng.normal(0, 0.5, n_users)))
    return {
        "influence": influence,
        "activity": activity,
        "counts": counts,
        "uid": uid,
        "alias": np.where(no_alias, "None", alias).astype(object),
        "name_tag": np.char.add(alias.astype(str), "photography").astype(object),
        "city": city,
        "has_tz": has_tz,
        "tz_offset": np.where(has_tz, np.array([c[4] for c in CITIES])[city], 0.0),
        "firstdate": firstdate,
        "firstdatetaken": firstdate - rng.uniform(0, 3 * 365.25 * 86400, n_users),
        "firstdatetaken_missing": rng.random(n_users) < 0.04,
        "photo_count": photo_count,
        "ispro": rng.random(n_users) < 1 / (1 + np.exp(-(-1.2 + 1.0 * influence))),
        "canbuy": rng.random(n_users) < 0.95,
        "geo_rate": rng.beta(0.5, 0.9, n_users),
        "tag_rate": np.exp(rng.normal(1.9, 0.8, n_users)),  # typical tags per post
        "fav_rate": rng.beta(1.0, 4.0, n_users),
        "title_rate": rng.uniform(0.5, 1.0, n_users),
        "fav_cat": rng.choice(len(CATEGORIES), n_users, p=CATEGORY_WEIGHT / CATEGORY_WEIGHT.sum()),
        "cat_loyalty": rng.uniform(0.3, 0.9, n_users),
        "user_noise": rng.normal(0, 0.4, n_users),
        "has_description": rng.random(n_users) < 0.6,
        "has_location": rng.random(n_users) < 0.5,
        "follower": follower,
        "following": following,
        "views": views,
    }


def _concept_layout() -> tuple[np.ndarray, np.ndarray]:
    """Per subcategory (in CATEGORY_TREE order): number of concepts and index of its first row in CONCEPTS."""
    n = np.array([len(ks) for subs in CATEGORY_TREE.values() for ks in subs.values()])
    return n, np.r_[0, np.cumsum(n)[:-1]]


def _city_weights() -> np.ndarray:
    w = 1.0 / (1 + np.arange(len(CITIES))) ** 0.6
    return w / w.sum()


def _make_posts(rng: np.random.Generator, users: dict[str, np.ndarray]) -> dict[str, object]:
    """Draw every post attribute vectorised, rows grouped by user (the caller shuffles the file order)."""
    counts = users["counts"]
    user = np.repeat(np.arange(len(counts)), counts)
    n = len(user)
    first = np.r_[0, np.cumsum(counts)[:-1]]

    # Bursty posting: most gaps are minutes (a photo session), the rest long and scaled to the user's rate.
    burst = rng.random(n) < 0.55
    long_mean = WINDOW_S / np.maximum(counts * 0.45, 1.0)
    gaps = np.where(burst, rng.exponential(900.0, n), rng.exponential(long_mean[user]))
    gaps[first] = 0.0
    cum = np.cumsum(gaps)
    cum -= np.repeat(cum[first], counts)
    span = cum[first + counts - 1]
    # Squeeze users whose posts would overrun the window into 98% of it, so every start time stays random.
    scale = np.minimum(1.0, 0.98 * WINDOW_S / np.maximum(span, 1.0))
    start = rng.uniform(0, 1, len(counts)) * (WINDOW_S - span * scale)
    post_time = np.floor(START.timestamp() + start[user] + cum * scale[user]).astype(np.int64)

    loyal = rng.random(n) < users["cat_loyalty"][user]
    category = np.where(
        loyal, users["fav_cat"][user], rng.choice(len(CATEGORIES), n, p=CATEGORY_WEIGHT / CATEGORY_WEIGHT.sum())
    )
    # Subcategory then concept, skewed towards the first entries; `concept` indexes the flat CONCEPTS table.
    sub_n = np.array([len(CATEGORY_TREE[c]) for c in CATEGORIES])
    subcategory = np.floor(rng.random(n) ** 1.5 * sub_n[category]).astype(int)
    sub_first = np.r_[0, np.cumsum(sub_n)[:-1]]
    sub_id = sub_first[category] + subcategory
    concept_n, concept_first = _concept_layout()
    concept = concept_first[sub_id] + np.floor(rng.random(n) * concept_n[sub_id]).astype(int)

    vocab, cdf = _vocabulary()
    n_tags = np.minimum(rng.poisson(users["tag_rate"][user]), 75)
    n_tags[rng.random(n) < 0.12] = 0
    tag_ids = _sample_words(rng, cdf, category, n_tags)
    # Favourite tags: a user's own name tag or one of a few personal words replace some tokens.
    tok_user = np.repeat(user, n_tags)
    fav = rng.random(len(tag_ids)) < users["fav_rate"][tok_user]
    own = rng.random(len(tag_ids)) < 0.5
    personal = (tok_user * 7919 + rng.integers(0, 3, len(tag_ids))) % len(vocab)
    tag_ids = np.where(fav & own, len(vocab) + tok_user, np.where(fav, personal, tag_ids))

    has_title = rng.random(n) < users["title_rate"][user]
    camera_title = rng.random(n) < 0.1
    n_title = np.where(has_title & ~camera_title, 1 + rng.poisson(2.5, n), 0)
    title_ids = _sample_words(rng, cdf, category, n_title)
    camera_no = rng.integers(1, 10000, n)

    geo = rng.random(n) < users["geo_rate"][user]
    away = rng.random(n) < 0.2
    city = np.where(away, rng.choice(len(CITIES), n, p=_city_weights()), users["city"][user])
    spread = np.where(rng.random(n) < 0.1, 1.0, 0.06)
    lat = np.array([c[1] for c in CITIES])[city] + rng.normal(0, 1, n) * spread
    lon = np.array([c[2] for c in CITIES])[city] + rng.normal(0, 1, n) * spread
    accuracy = np.where(rng.random(n) < 0.6, 16, rng.choice([3, 6, 11, 12, 13, 14, 15], n))
    video = rng.random(n) < 0.03

    local_hour = ((post_time % 86400) / 3600 + users["tz_offset"][user]) % 24
    concept_effect = np.random.default_rng(7).normal(0, 0.3, len(CONCEPTS))
    raw = (
        1.8 * users["influence"][user]
        + 0.25 * users["activity"][user]
        + users["user_noise"][user]
        + CATEGORY_EFFECT[category]
        + concept_effect[concept]
        + 0.07 * np.minimum(n_tags, 25)
        + 0.08 * np.minimum(n_title, 8)
        + 0.3 * np.cos(2 * np.pi * (local_hour - 20) / 24)
        + 0.35 * geo
        - 0.5 * video
        + rng.normal(0, 1.0, n)
    )
    raw += 6.4 - raw.mean()
    # Soft floor and ceiling keep the official range (about 1 to 16.6) without piling values on the bounds.
    label = 1.0 + np.logaddexp(0, (raw - 1.0) * 3) / 3
    label = 16.6 - np.logaddexp(0, (16.6 - label) * 3) / 3

    return {
        "user": user,
        "pid": (1 + rng.permutation(n) + rng.integers(0, 40_000)).astype(np.int64),
        "post_time": post_time,
        "category": category,
        "concept": concept,
        "n_tags": n_tags,
        "tag_ids": tag_ids,
        "n_title": n_title,
        "title_ids": title_ids,
        "camera_title": camera_title & has_title,
        "camera_no": camera_no,
        "geo": geo,
        "lat": lat,
        "lon": lon,
        "accuracy": accuracy,
        "video": video,
        "label": label,
        "vocab": vocab,
        "brightness": rng.normal(0, 0.08, n),
    }


def _sample_words(rng: np.random.Generator, cdf: np.ndarray, category: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Draw `k[i]` word ids for row i from the CDF of its category, all rows in one searchsorted call."""
    tok_cat = np.repeat(category, k)
    n_vocab = cdf.shape[1]
    # Stacking the CDFs with offsets 0, 1, 2, ... makes one sorted array; category c owns (c, c + 1].
    flat = (cdf + np.arange(len(cdf))[:, None]).ravel()
    u = rng.random(len(tok_cat)) * (1 - 1e-12)
    idx = np.searchsorted(flat, tok_cat + u, side="right") - tok_cat * n_vocab
    return np.minimum(idx, n_vocab - 1)


def _join_rows(words: list[str], counts: np.ndarray, rows: np.ndarray, *, unique: bool) -> list[str]:
    """Space-join each row's slice of `words` (rows in file order), dropping repeats when `unique`."""
    ends = np.cumsum(counts)
    starts = ends - counts
    out = []
    for r in rows.tolist():
        chunk = words[starts[r] : ends[r]]
        out.append(" ".join(dict.fromkeys(chunk) if unique else chunk))
    return out


def _write_split(
    out: Path,
    split: str,
    rows: np.ndarray,
    posts: dict[str, object],
    users: dict[str, np.ndarray],
    rng: np.random.Generator,
    image_size: int,
    progress: bool,
) -> None:
    """Write one split's JSON tables, image list, labels (train) and images, in the order of `rows`."""
    folder = out / split
    folder.mkdir(parents=True, exist_ok=True)
    user = posts["user"][rows]
    pid = posts["pid"][rows].astype(str).astype(object)
    uid = users["uid"][user]
    vocab = posts["vocab"]
    cat = posts["category"][rows]
    concept_rows = np.array(CONCEPTS, dtype=object)[posts["concept"][rows]]
    cat_names, subcategory, concept = (concept_rows[:, j].tolist() for j in range(3))

    ext_vocab = list(vocab) + list(users["name_tag"])
    tags = _join_rows([ext_vocab[i] for i in posts["tag_ids"].tolist()], posts["n_tags"], rows, unique=True)
    titles = _join_rows([vocab[i] for i in posts["title_ids"].tolist()], posts["n_title"], rows, unique=False)
    camera = posts["camera_title"][rows]
    camera_no = posts["camera_no"][rows]
    prefix = np.where(camera_no % 2 == 0, "DSC_", "IMG_")
    titles = [
        f"{p}{no:04d}" if cam else t.capitalize()
        for t, cam, p, no in zip(titles, camera.tolist(), prefix.tolist(), camera_no.tolist())
    ]

    geo = posts["geo"][rows]
    lat = np.where(geo, np.char.mod("%.6f", posts["lat"][rows]), "0")
    lon = np.where(geo, np.char.mod("%.6f", posts["lon"][rows]), "0")
    acc = np.where(geo, posts["accuracy"][rows].astype(str), "0")
    postdate = posts["post_time"][rows].astype(str)
    mediatype = np.where(posts["video"][rows], "video", "photo")

    base = {"Pid": pid.tolist(), "Uid": uid.tolist()}
    _dump_records(
        folder / f"{split}_category.json",
        {**base, "Category": cat_names, "Subcategory": subcategory, "Concept": concept},
    )
    _dump_records(
        folder / f"{split}_text.json", {**base, "Title": titles, "Mediatype": mediatype.tolist(), "Alltags": tags}
    )
    _dump_records(
        folder / f"{split}_temporalspatial_information.json",
        {
            **base,
            "Postdate": postdate.tolist(),
            "Latitude": lat.tolist(),
            "Longitude": lon.tolist(),
            "Geoaccuracy": acc.tolist(),
        },
    )
    _dump_records(
        folder / f"{split}_additional_information.json",
        {
            **base,
            "Pathalias": users["alias"][user].tolist(),
            "Ispublic": ["1"] * len(rows),
            "Mediastatus": ["ready"] * len(rows),
        },
    )
    _dump_records(folder / f"{split}_user_data.json", {**base, **_user_fields(users, user)})
    paths = [f"{split}/{u}/{p}.jpg" for u, p in zip(uid.tolist(), pid.tolist())]
    (folder / f"{split}_img_filepath.txt").write_text("".join(p + "\n" for p in paths), encoding="utf-8")
    if split == "train":
        labels = np.char.mod("%.2f", posts["label"][rows])
        (folder / "train_label.txt").write_text("".join(v + "\n" for v in labels.tolist()), encoding="utf-8")
    if image_size > 0:
        _write_images(
            out, paths, cat, posts["label"][rows], posts["brightness"][rows], rng, image_size, progress, split
        )


def _user_fields(users: dict[str, np.ndarray], user: np.ndarray) -> dict[str, list[str]]:
    """Per-post copies of the user profile, as strings in the release's formats ("None" / "" when absent)."""
    offset = users["tz_offset"]
    hours, minutes = np.divmod(np.round(np.abs(offset) * 60).astype(int), 60)
    tz_text = np.array(
        [f"{'-' if o < 0 else '+'}{h:02d}:{m:02d}" for o, h, m in zip(offset, hours, minutes)], dtype=object
    )
    has_tz = users["has_tz"]
    city_names = np.array([c[0] for c in CITIES], dtype=object)[users["city"]]
    tz_ids = np.array([c[3] for c in CITIES], dtype=object)[users["city"]]
    taken = pd.to_datetime(users["firstdatetaken"].astype(np.int64), unit="s").strftime("%Y-%m-%d %H:%M:%S")
    templates = np.array(
        [
            "Amateur photographer based in {}.",
            "Travel and street photography. {}",
            "Nikon shooter from {}",
            "I love taking pictures of everything. Living in {}.",
            "Professional photographer, {}. All rights reserved.",
        ],
        dtype=object,
    )
    pick = np.where(users["influence"] > 1, 4, np.arange(len(offset)) % 4)
    description = np.array([t.format(c) for t, c in zip(templates[pick], city_names)], dtype=object)
    per_user = {
        "photo_firstdate": users["firstdate"].astype(np.int64).astype(str).astype(object),
        "photo_count": users["photo_count"].astype(np.int64).astype(str).astype(object),
        "ispro": np.where(users["ispro"], "1", "0").astype(object),
        "canbuy_pro": np.where(users["ispro"] | ~users["canbuy"], "0", "1").astype(object),
        "timezone_offset": np.where(has_tz, tz_text, "None").astype(object),
        "photo_firstdatetaken": np.where(users["firstdatetaken_missing"], "None", np.asarray(taken, dtype=object)),
        "timezone_id": np.where(has_tz, tz_ids, "None").astype(object),
        "user_description": np.where(users["has_description"], description, "").astype(object),
        "location_description": np.where(users["has_location"], city_names, "").astype(object),
    }
    return {k: v[user].tolist() for k, v in per_user.items()}


def _write_user_additional(path: Path, users: dict[str, np.ndarray], rng: np.random.Generator) -> None:
    """Write the crawled per-user stats keyed by Pathalias (users without an alias cannot be keyed, as in SMPD)."""
    n = len(users["uid"])
    z = users["influence"]
    photo = users["photo_count"]
    table = pd.DataFrame(
        {
            "Pathalias": users["alias"],
            "totalViews": users["views"],
            "totalTags": np.round(photo * users["tag_rate"] * rng.uniform(0.7, 1.1, n)),
            "totalGeotagged": np.round(photo * users["geo_rate"] * rng.uniform(0.8, 1.0, n)),
            "totalFaves": np.round(users["views"] * np.exp(-4.0 + 0.3 * z + rng.normal(0, 0.5, n))),
            "totalInGroup": np.round(photo * rng.beta(1.0, 3.0, n)),
            "photoCount": np.round(photo * rng.uniform(1.0, 1.1, n)),
            "followerCount": users["follower"],
            "followingCount": users["following"],
        }
    )
    table[list(USER_ADDITIONAL_COLUMNS)] = table[list(USER_ADDITIONAL_COLUMNS)].astype(np.int64)
    table = table.iloc[rng.permutation(n)]
    table = table[table["Pathalias"] != "None"]
    table.to_csv(path, index=False, lineterminator="\n")


def _dump_records(path: Path, columns: dict[str, list[str]]) -> None:
    """Write columns as a JSON list of records (the release's shape), keys in the given order."""
    keys = list(columns)
    records = [dict(zip(keys, values)) for values in zip(*columns.values())]
    path.write_text(json.dumps(records), encoding="utf-8")


def _write_images(
    out: Path,
    paths: list[str],
    category: np.ndarray,
    label: np.ndarray,
    brightness: np.ndarray,
    rng: np.random.Generator,
    size: int,
    progress: bool,
    split: str,
) -> None:
    """Write small JPEGs: a category-coloured gradient whose brightness rises with the label, plus noise."""
    from PIL import Image

    for folder in dict.fromkeys(p.rsplit("/", 1)[0] for p in paths):
        (out / folder).mkdir(parents=True, exist_ok=True)
    ramp = np.linspace(0.0, 1.0, size)[None, :, None, None]
    batch = 512
    with progress_bar(total=len(paths), desc=f"images {split}", unit="img", enabled=progress) as bar:
        for lo in range(0, len(paths), batch):
            hi = min(lo + batch, len(paths))
            k = hi - lo
            light = np.clip(0.75 + 0.06 * (label[lo:hi] - 6.4) + brightness[lo:hi], 0.2, 1.3)
            top = CATEGORY_COLOUR[category[lo:hi]] * light[:, None]
            bottom = top * 0.5 + 0.5 * rng.uniform(0, 255, (k, 3))
            pixels = top[:, None, None, :] * (1 - ramp) + bottom[:, None, None, :] * ramp
            pixels = pixels + rng.normal(0, 12, (k, size, size, 3))
            pixels = np.clip(pixels, 0, 255).astype(np.uint8)
            for i in range(k):
                Image.fromarray(pixels[i]).save(out / paths[lo + i], format="JPEG", quality=85)
            bar.update(k)


def write_video(path: Path, *, seconds: float = 1.0, fps: int = 8, size: int = 32, hue: int = 0,
               tone_hz: float | None = None) -> Path:
    """A small synthetic video whose frames brighten over time (`hue` picks the colour), for the video generators'
    tests and benchmarks: OpenCV's mp4v writer, or, with `tone_hz`, PyAV with an AAC audio track holding a sine
    tone of that pitch (OpenCV writes no audio)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = max(int(seconds * fps), 1)
    base = np.array([40 + 50 * (hue % 4), 200 - 40 * (hue % 3), 90 + 30 * (hue % 5)], dtype=float)
    frames = [np.broadcast_to(np.clip(base * (0.4 + 0.6 * i / n), 0, 255), (size, size, 3)).astype(np.uint8)
              for i in range(n)]
    if tone_hz is None:
        import cv2

        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (size, size))
        for f in frames:
            writer.write(f[..., ::-1])  # OpenCV writes BGR
        writer.release()
        return path
    import av

    rate = 16000
    with av.open(str(path), "w") as out:
        video = out.add_stream("mpeg4", rate=fps)
        video.width = video.height = size
        video.pix_fmt = "yuv420p"
        audio = out.add_stream("aac", rate=rate)
        audio.layout = "mono"
        for f in frames:
            for packet in video.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        t = np.arange(int(seconds * rate)) / rate
        tone = (0.5 * np.sin(2 * np.pi * tone_hz * t)).astype(np.float32)
        for lo in range(0, len(tone), 1024):
            chunk = av.AudioFrame.from_ndarray(tone[None, lo:lo + 1024], format="fltp", layout="mono")
            chunk.sample_rate = rate
            chunk.pts = lo
            for packet in audio.encode(chunk):
                out.mux(packet)
        for packet in audio.encode():
            out.mux(packet)
    return path

"""SMP-Video facts: original-sound variants, the music head, durations, frame shape, country holidays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from smp.features import get_generator
from smp.features.video_meta import ORIGINAL_SOUND, music_head

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "smpd-video"


def video_frame(titles, *, location="US", times=None) -> pd.DataFrame:
    n = len(titles)
    return pd.DataFrame(
        {
            "post_time": pd.to_datetime(times if times is not None else ["2022-03-01 12:00"] * n, utc=True),
            "location": location if isinstance(location, list) else [location] * n,
            "meta_music_title": titles,
            "meta_music_duration": np.full(n, 30.0),
            "meta_video_duration": np.full(n, 30.0),
            "meta_video_height": np.full(n, 1280.0),
            "meta_video_width": np.full(n, 720.0),
        }
    )


@pytest.mark.parametrize(
    "title",
    ["original sound - maker", "Original Sound", "  ORIGINAL\u00a0SOUND  - x", "sonido original - a", "Originalton",
     "son original", "som original - b", "suara asli - c", "оригинальный звук", "オリジナル楽曲 - KOH", "原聲 - d",
     "eredeti hang – green timelapse", "oryginalny dźwięk – x", "nhạc nền - ❀ Love", "Originalton - 𝗙𝗲𝗻𝗲𝗿"],
)
def test_original_sound_variants_are_one_head(title):
    assert music_head(title) == "original sound"


@pytest.mark.parametrize(
    "title, head",
    [("Circles - Instrumental", "circles"), ("Lo-fi hip hop", "lo-fi hip hop"), ("Flowers", "flowers"),
     ("Kernkraft 400 (Original Radio Edit)", "kernkraft 400 (original radio edit)"),
     ("Isla Del Encanto - Original", "isla del encanto"), (None, None), ("", None), ("   ", None)],
)
def test_music_head_of_songs_and_missing_titles(title, head):
    assert music_head(title) == head


def test_flags_head_categories_and_shape():
    titles = ["original sound - a", "Sonido original", "Flowers - Sped Up", "flowers", "Circles", None]
    f = video_frame(titles)
    f.loc[1, "meta_music_duration"] = 12.0
    f.loc[2, "meta_music_duration"] = np.nan
    f.loc[3, ["meta_video_height", "meta_video_width"]] = [720.0, 1280.0]
    f.loc[4, "meta_video_width"] = 0.0
    gen = get_generator("video_meta", {"min_count": 2}).fit(f)
    out = gen.transform(f)
    np.testing.assert_array_equal(out["video_meta__original_sound"], [1, 1, 0, 0, 0, np.nan])
    assert list(out["video_meta__music_head"].cat.categories) == ["flowers", "original sound"]
    assert out["video_meta__music_head"].astype(object).tolist()[:5] == [
        "original sound", "original sound", "flowers", "flowers", np.nan]
    np.testing.assert_array_equal(out["video_meta__music_is_video_length"], [1, 0, np.nan, 1, 1, 1])
    np.testing.assert_array_equal(out["video_meta__music_minus_video"], [0, -18, np.nan, 0, 0, 0])
    np.testing.assert_allclose(out["video_meta__aspect"], [16 / 9, 16 / 9, 16 / 9, 9 / 16, np.nan, 16 / 9])
    np.testing.assert_allclose(out["video_meta__area_mpx"], [0.9216, 0.9216, 0.9216, 0.9216, np.nan, 0.9216])
    # A head unseen at fit is missing, not a new category.
    new = gen.transform(video_frame(["Brand New Song - Remix", "flowers"]))
    assert new["video_meta__music_head"].isna().tolist() == [True, False]
    assert list(new["video_meta__music_head"].cat.categories) == ["flowers", "original sound"]


def test_max_categories_keeps_the_most_frequent_heads():
    f = video_frame(["a"] * 3 + ["b"] * 2 + ["c"] * 4 + ["d"])
    out = get_generator("video_meta", {"min_count": 1, "max_categories": 2}).fit_transform(f)
    assert list(out["video_meta__music_head"].cat.categories) == ["a", "c"]
    with pytest.raises(ValueError, match="max_categories >= 1"):
        get_generator("video_meta", {"max_categories": 0}).fit(f)


def test_holidays_of_the_post_country_and_unknown_countries():
    times = ["2022-07-04 10:00", "2022-07-05 23:59", "2022-07-04 10:00", "2022-07-04 10:00", "2022-07-04 10:00",
             "2022-12-24 08:00", None]
    f = video_frame(["x"] * 7, location=["US", "US", "us ", "ZZ", None, "DE", "US"], times=times)
    out = get_generator("video_meta").fit_transform(f)
    np.testing.assert_array_equal(out["video_meta__holiday"], [1, 0, 1, np.nan, np.nan, 0, np.nan])
    # US 2022: Independence Day 07-04, Labor Day 09-05; Germany: Christmas Day 12-25 (12-24 is not a holiday).
    np.testing.assert_array_equal(out["video_meta__days_since_holiday"][:3], [0, 1, 0])
    assert out["video_meta__days_to_next_holiday"].iloc[1] == (pd.Timestamp("2022-09-05") - pd.Timestamp("2022-07-05")).days
    assert out["video_meta__days_to_next_holiday"].iloc[5] == 1
    np.testing.assert_array_equal(out["video_meta__days_to_nearest_holiday"][:3], [0, 1, 0])
    assert out.iloc[[3, 4, 6]].filter(like="holiday").isna().all().all()
    no_hol = get_generator("video_meta", {"holidays": False}).fit_transform(f)
    assert not [c for c in no_hol.columns if "holiday" in c]


@pytest.mark.skipif(not DATA.is_dir(), reason=f"{DATA} not present")
def test_on_the_released_files():
    from smp.pipelines.datasets.smpd_video import load_smpd_video

    frame = load_smpd_video(DATA, media=False)
    out = get_generator("video_meta").fit_transform(frame)
    # Every head of the release that names "original sound" in some language is flagged; about half the posts.
    heads = frame["meta_music_title"].map(music_head)
    assert 0.4 < out["video_meta__original_sound"].mean() < 0.6
    seen = set(frame["meta_music_title"].dropna().str.split(" - ").str[0].str.strip().str.casefold())
    assert len(ORIGINAL_SOUND & seen) >= 18
    assert heads.isin(["original sound"]).sum() == int(out["video_meta__original_sound"].sum())
    assert 0.3 < out["video_meta__music_is_video_length"].mean() < 0.5
    assert out["video_meta__holiday"].notna().mean() > 0.95

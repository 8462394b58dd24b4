"""SMP-Video facts as features [meta]: the "original sound" flag, the music title's head, duration and frame shape,
public holidays of the post's country.

What the 2025 video teams read off the released files (ACVLAB, `skyandkibo/SMPVideo`): TikTok writes "original
sound" in the poster's app language (about 40 variants in the release: "sonido original", "Originalton", "suara
asli", "オリジナル楽曲", ...), usually followed by " - <creator>"; a song is "<title> - <version or artist>". The
head before the first dash is a small category (variants merged into one "original sound"); the music length
equals the video length for about a third of the posts (the sound was recorded with the video). Holidays come from
the `holidays` package for the post's `location` country code on the post's UTC date; a code the package does not
know, or none, gives missing values, never an error.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

import numpy as np
import pandas as pd

from ._base import FeatureGenerator, register
from ._common import DAY, check_int, encode_categories, fit_top_categories, frame_of, safe_ratio, to_seconds

# TikTok's "original sound" in the app languages, normalised (NFKC, case-folded, single spaces). Most appear in the
# SMP-Video release; the rest are the same label in the other languages TikTok ships, so later posts match too.
ORIGINAL_SOUND = frozenset({
    "original sound",  # en
    "sonido original",  # es
    "son original",  # fr
    "som original",  # pt
    "so original",  # ca
    "suono originale",  # it
    "sunet original",  # ro
    "originalton",  # de
    "origineel geluid",  # nl
    "originalljud",  # sv
    "original lyd", "originallyd",  # da, nb
    "alkuperäinen ääni",  # fi
    "originaalheli",  # et
    "oriģinālā skaņa",  # lv
    "originalus garsas",  # lt
    "dźwięk oryginalny", "oryginalny dźwięk",  # pl
    "původní zvuk",  # cs
    "pôvodný zvuk",  # sk
    "eredeti hang",  # hu
    "originalni zvuk", "izvorni zvuk",  # hr, sr, bs
    "orijinal ses",  # tr
    "πρωτότυπος ήχος",  # el
    "оригинальный звук",  # ru
    "оригінальний звук", "оригінальний аудіозапис",  # uk
    "оригинален звук",  # bg
    "оригинални звук",  # sr
    "suara asli",  # id
    "bunyi asal",  # ms
    "orihinal na tunog",  # fil
    "nhạc nền", "âm thanh gốc",  # vi
    "เสียงต้นฉบับ",  # th
    "オリジナル楽曲", "オリジナルサウンド",  # ja
    "오리지널 사운드",  # ko
    "原声", "原聲", "原创音乐", "原創音樂",  # zh
    "الصوت الأصلي", "صوت أصلي",  # ar
    "צליל מקורי",  # he
    "صدای اصلی",  # fa
    "اصل آواز",  # ur
    "मूल ध्वनि", "ओरिजिनल साउंड",  # hi
    "আসল শব্দ",  # bn
    "សំឡេងដើម",  # km
    "မူရင်းအသံ",  # my
})
ORIGINAL = "original sound"
# The head ends at the first spaced dash (hyphen, en dash, em dash): "original sound - x", "eredeti hang – x".
_DASH = re.compile(r"\s[-\u2013\u2014]\s")
_SPACE = re.compile(r"\s+")


def normalise_title(title: object) -> str | None:
    """NFKC, case-folded, whitespace collapsed (no-break spaces too); None for a missing or blank title."""
    if not isinstance(title, str):
        return None
    text = _SPACE.sub(" ", unicodedata.normalize("NFKC", title).casefold()).strip()
    return text or None


def music_head(title: object) -> str | None:
    """The normalised part before the first spaced dash, every "original sound" variant as "original sound"."""
    text = normalise_title(title)
    if text is None:
        return None
    head = _DASH.split(text, maxsplit=1)[0].strip() or text
    return ORIGINAL if head in ORIGINAL_SOUND else head


def _flag(mask: np.ndarray, known: np.ndarray) -> np.ndarray:
    return np.where(known, mask.astype(float), np.nan)


@register
class VideoMeta(FeatureGenerator):
    """Original-sound flag, music head (category), music vs video length, aspect and area, country holidays.

    The music-head categories (at least `min_count` posts, the `max_categories` most frequent) are learned at fit;
    a head not among them is missing. Everything else is a function of the row alone.
    """

    name = "video_meta"
    group = "meta"
    requires = ("post_time", "location", "meta_music_title", "meta_music_duration", "meta_video_duration",
                "meta_video_height", "meta_video_width")
    version = 1

    def __init__(self, *, min_count: int = 2, max_categories: int = 100, holidays: bool = True) -> None:
        self.min_count = min_count
        self.max_categories = max_categories
        self.holidays = holidays

    def _fit(self, X: pd.DataFrame, y: pd.Series | None) -> None:
        check_int("min_count", self.min_count, 1)
        check_int("max_categories", self.max_categories, 1)
        heads = X["meta_music_title"].map(music_head)
        self.heads_ = fit_top_categories(heads, int(self.min_count), int(self.max_categories))

    def _transform(self, X: pd.DataFrame) -> pd.DataFrame:
        heads = X["meta_music_title"].map(music_head)
        known = heads.notna().to_numpy()
        music = pd.to_numeric(X["meta_music_duration"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        video = pd.to_numeric(X["meta_video_duration"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        height = pd.to_numeric(X["meta_video_height"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        width = pd.to_numeric(X["meta_video_width"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        both = np.isfinite(music) & np.isfinite(video)
        area = np.where((height > 0) & (width > 0), height * width / 1e6, np.nan)
        out: dict[str, object] = {
            "original_sound": _flag(heads.eq(ORIGINAL).to_numpy(), known),
            "music_head": encode_categories(heads, self.heads_),
            "music_is_video_length": _flag(music == video, both),
            "music_minus_video": np.where(both, music - video, np.nan),
            "aspect": safe_ratio(height, width),
            "area_mpx": area,
        }
        if self.holidays:
            out.update(holiday_features(X["location"], X["post_time"]))
        return frame_of(X.index, self.name, out)


def holiday_features(location: pd.Series, post_time: pd.Series) -> dict[str, np.ndarray]:
    """Per post: is its UTC date a public holiday of its country, days to the next, since the last, to the nearest.

    NaN where the country code is missing or unknown to the `holidays` package, or the time is missing.
    """
    import holidays as hol

    n = len(location)
    out = {k: np.full(n, np.nan) for k in ("holiday", "days_to_next_holiday", "days_since_holiday",
                                           "days_to_nearest_holiday")}
    sec = to_seconds(post_time)
    day = np.floor(sec / DAY)  # days since 1970-01-01, UTC
    codes = np.array([v.strip().upper() if isinstance(v, str) and v.strip() else None for v in location], dtype=object)
    ok = np.isfinite(day) & pd.notna(codes)
    if not ok.any():
        return out
    years = pd.to_datetime(sec[ok], unit="s").year
    span = range(int(years.min()) - 1, int(years.max()) + 2)  # a year either side: the next / last holiday exists
    epoch = date(1970, 1, 1)
    for code in sorted(set(codes[ok])):
        try:
            table = hol.country_holidays(code, years=span)
        except NotImplementedError:  # not a country the package knows: missing, as for no code at all
            continue
        days = np.array(sorted((d - epoch).days for d in table.keys()), dtype=float)
        rows = np.flatnonzero(ok & (codes == code))
        if not len(days):
            continue
        d = day[rows]
        i = np.searchsorted(days, d, side="left")  # first holiday on or after the day
        nxt = np.where(i < len(days), days[np.minimum(i, len(days) - 1)] - d, np.nan)
        j = np.searchsorted(days, d, side="right") - 1  # last holiday on or before the day
        prev = np.where(j >= 0, d - days[np.maximum(j, 0)], np.nan)
        out["holiday"][rows] = (nxt == 0).astype(float)
        out["days_to_next_holiday"][rows] = nxt
        out["days_since_holiday"][rows] = prev
        out["days_to_nearest_holiday"][rows] = np.fmin(nxt, prev)
    return out

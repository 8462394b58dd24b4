"""Image/video emotion from the SMPD-Video media side tables, in the same columns as `face_emotion`.

The loader (`smp.pipelines.datasets.smpd_video`) already joins `media/{split}_face.csv` and `_audio.csv` as
`meta_face_*` / `meta_audio_*` columns; this generator only reads those columns (no second parse of the files):

- `meta_face_has_face`, `meta_face_avg_faces_per_frame` -> has_face, face_count;
- `meta_face_emotion_distribution` (a dict string such as ``{'happy': 0.9, 'sad': 0.1}``) -> the 7-class
  distribution (classes absent from the dict are 0; the values are normalised to sum to 1);
- `meta_face_dominant_emotion` -> dominant (``none`` when the table found no emotion);
- `meta_audio_emotion_label` (when present) -> ``audio_emotion``, a category fixed at fit.

A post missing from the side table (NaN has_face) gets NaN features, like an unreadable image in `face_emotion`.
"""

from __future__ import annotations

import ast

import numpy as np
import pandas as pd

from ._base import FeatureGenerator, register
from ._common import check_fitted_columns, encode_categories, fit_categories, frame_of
from .face_emotion import DOMINANT_CATEGORIES, FACE_EMOTIONS, face_columns

FACE_COLUMNS = ("meta_face_has_face", "meta_face_avg_faces_per_frame", "meta_face_dominant_emotion",
                "meta_face_emotion_distribution")
AUDIO_EMOTION = "meta_audio_emotion_label"


def parse_distribution(value: object, *, column: str, post: object) -> dict[str, float]:
    """A dict string of emotion -> share; `ValueError` naming the column, the post and the value otherwise."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or str(value).strip() in ("", "{}"):
        return {}
    try:
        parsed = ast.literal_eval(str(value))
    except (ValueError, SyntaxError) as e:
        raise ValueError(f"column {column!r}: row {post!r}: expected a dict string like {{'happy': 0.9}}, "
                         f"got {value!r}") from e
    if not isinstance(parsed, dict):
        raise ValueError(f"column {column!r}: row {post!r}: expected a dict, got {value!r}")
    out = {}
    for k, v in parsed.items():
        key = str(k).strip().lower()
        if key not in FACE_EMOTIONS:
            raise ValueError(f"column {column!r}: row {post!r}: unknown emotion {k!r} in {value!r}; "
                             f"valid: {list(FACE_EMOTIONS)}")
        try:
            share = float(v)
        except (TypeError, ValueError):
            share = np.nan
        if not np.isfinite(share) or share < 0:
            raise ValueError(f"column {column!r}: row {post!r}: share of {k!r} must be a number >= 0, got {v!r}")
        out[key] = out.get(key, 0.0) + share
    return out


@register
class MediaEmotion(FeatureGenerator):
    """The face/audio media side tables (SMPD-Video) as emotion columns matching `face_emotion`'s.

    Outputs ``media_emotion__{has_face, face_count, dominant (category), p_<7 classes>, intensity, valence}``
    plus ``audio_emotion`` (category) when the audio table is joined.
    """

    name = "media_emotion"
    group = "emotion"
    requires = FACE_COLUMNS
    requires_prefix = (AUDIO_EMOTION,)
    version = 1

    def __init__(self, *, audio: bool = True) -> None:
        self.audio = audio

    def _fit(self, X: pd.DataFrame, y: pd.Series | None) -> None:
        self.audio_categories_: list[str] | None = None
        if self.audio and AUDIO_EMOTION in X.columns:
            self.audio_categories_ = fit_categories(X[AUDIO_EMOTION])

    def _transform(self, X: pd.DataFrame) -> pd.DataFrame:
        n = len(X)
        has = pd.to_numeric(X["meta_face_has_face"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        count = pd.to_numeric(X["meta_face_avg_faces_per_frame"], errors="coerce").to_numpy(dtype=float,
                                                                                           na_value=np.nan)
        ok = np.isfinite(has)
        n_faces = np.where(has > 0, np.where(np.isfinite(count) & (count > 0), count, 1.0), 0.0)
        prob = np.zeros((n, len(FACE_EMOTIONS)))
        dist_col = "meta_face_emotion_distribution"
        for i, (post, value) in enumerate(zip(X.index, X[dist_col].to_numpy(dtype=object))):
            d = parse_distribution(value, column=dist_col, post=post)
            total = sum(d.values())
            if total > 0:
                prob[i] = [d.get(e, 0.0) / total for e in FACE_EMOTIONS]
        dominant = []
        for post, value, p in zip(X.index, X["meta_face_dominant_emotion"].to_numpy(dtype=object),
                                  prob):
            v = str(value).strip().lower() if isinstance(value, str) and value.strip() else "none"
            if v not in DOMINANT_CATEGORIES:
                raise ValueError(f"column 'meta_face_dominant_emotion': row {post!r}: unknown emotion {value!r}; "
                                 f"valid: {list(DOMINANT_CATEGORIES)}")
            dominant.append(v)
        cols = face_columns(prob, n_faces, dominant, ok)
        if self.audio_categories_ is not None:
            check_fitted_columns(self.name, X, [AUDIO_EMOTION])
            cols["audio_emotion"] = encode_categories(X[AUDIO_EMOTION], self.audio_categories_)
        return frame_of(X.index, self.name, cols)

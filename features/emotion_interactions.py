"""EIJL's emotion interaction terms (its eq. 1): text emotion x image emotion x likability.

    Y = b0 + b1 txt_emo + b2 img_emo + b3 likability + b4 txt_emo*img_emo + b5 txt_emo*img_emo*likability + e

- ``txt_emo``: the signed text emotion, ``valence`` of `smp.features.emotion` (VADER compound and the lexicon's
  valence averaged; EIJL graded text emotion by polarity from very negative to very positive).
- ``img_emo``: the facial emotional intensity of the image, 1 - P(neutral) over the detected faces, 0 without a
  face (EIJL: facial emotion of the cover, split by face presence). ``image_source`` picks where it comes from:
  ``"media"`` the SMPD-Video face side table (`media_emotion`), ``"face"`` fer's model on the image files
  (`face_emotion`), ``"none"`` zeros.
- ``likability``: an engagement proxy of the poster that exists before the post is published:
  log1p(user likes / user posts), e.g. SMPD-Image ``user_total_faves / user_photo_count`` (faves per photo) or
  SMPD-Video ``user_heart_count / user_video_count`` (hearts per video). Never the post's own label: the generator
  reads only the columns it declares, and ``label`` is not one of them.

Outputs ``emotion_interactions__{txt_emo, img_emo, likability, txt_x_img, txt_x_like, img_x_like,
txt_x_img_x_like}`` (the columns the MLP's emotion layer and `smp analyze emotion` consume).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._base import FeatureGenerator, register
from ._common import check_fitted_columns, frame_of, param_requires
from .emotion import TEXT_COLUMNS, post_texts, text_emotion_table
from .face_emotion import face_emotion_columns, frame_image_paths
from .media_emotion import FACE_COLUMNS, MediaEmotion

IMAGE_SOURCES = ("media", "face", "none")
# (likes column, per column) pairs tried in order by likability = "auto".
LIKABILITY_PAIRS = (
    ("user_total_faves", "user_photo_count"),  # SMPD-Image (user_additional.csv): faves per photo
    ("user_heart_count", "user_video_count"),  # SMPD-Video: hearts (likes received) per video
    ("user_likes_count", "user_video_count"),
)
OUTPUTS = ("txt_emo", "img_emo", "likability", "txt_x_img", "txt_x_like", "img_x_like", "txt_x_img_x_like")


def _requires(g: object) -> tuple[str, ...]:
    if g.image_source not in IMAGE_SOURCES:
        raise ValueError(f"`image_source` must be one of {list(IMAGE_SOURCES)}, but got image_source={g.image_source!r}")
    bad = [c for c in g.text_columns if c not in TEXT_COLUMNS]
    if bad or not g.text_columns:
        raise ValueError(f"`text_columns` must be a non-empty subset of {list(TEXT_COLUMNS)}, "
                         f"but got text_columns={tuple(g.text_columns)!r}")
    image = {"media": FACE_COLUMNS, "face": ("image_path",), "none": ()}[g.image_source]
    like = tuple(c for c in (g.likes_column, g.per_column) if c != "auto")
    return (*g.text_columns, *image, *like)


@register
class EmotionInteractions(FeatureGenerator):
    """txt_emo, img_emo, likability and their EIJL interaction products (see the module docstring)."""

    name = "emotion_interactions"
    group = "emotion"
    requires = param_requires(_requires)
    requires_prefix = ("user_",)  # likability = "auto" picks its pair among the user profile columns
    version = 1

    def __init__(self, *, text_columns: tuple[str, ...] = TEXT_COLUMNS, image_source: str = "media",
                 likes_column: str = "auto", per_column: str = "auto", image_root: str = "") -> None:
        self.text_columns = text_columns
        self.image_source = image_source
        self.likes_column = likes_column
        self.per_column = per_column
        self.image_root = image_root

    def _fit(self, X: pd.DataFrame, y: pd.Series | None) -> None:
        if (self.likes_column == "auto") != (self.per_column == "auto"):
            raise ValueError("`likes_column` and `per_column` are set together (or both \"auto\"), but got "
                             f"likes_column={self.likes_column!r}, per_column={self.per_column!r}")
        if self.likes_column != "auto":
            self.likability_columns_ = (self.likes_column, self.per_column)
            return
        for pair in LIKABILITY_PAIRS:
            if all(c in X.columns for c in pair):
                self.likability_columns_ = pair
                return
        users = sorted(c for c in X.columns if str(c).startswith("user_"))
        raise KeyError(f"feature generator {self.name!r}: no likability columns found (tried "
                       f"{[list(p) for p in LIKABILITY_PAIRS]}); set likes_column and per_column; "
                       f"available user columns: {users}")

    def _image_intensity(self, X: pd.DataFrame) -> np.ndarray:
        if self.image_source == "none":
            return np.zeros(len(X))
        if self.image_source == "media":
            cols = MediaEmotion(audio=False).fit(X)._transform(X)
            return cols[f"{MediaEmotion.name}__intensity"].to_numpy(dtype=float)
        from .face_emotion import FaceEmotion

        settings = FaceEmotion(image_root=self.image_root).settings()
        paths = frame_image_paths(X, self.image_root)
        return np.asarray(face_emotion_columns(paths, settings, self.rows)["intensity"])

    def _transform(self, X: pd.DataFrame) -> pd.DataFrame:
        likes_col, per_col = self.likability_columns_
        check_fitted_columns(self.name, X, [likes_col, per_col])
        txt = text_emotion_table(post_texts(X, self.text_columns), use_nade=False)["valence"]
        img = self._image_intensity(X)
        likes = pd.to_numeric(X[likes_col], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        per = pd.to_numeric(X[per_col], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        ok = np.isfinite(likes) & np.isfinite(per) & (likes >= 0)
        ratio = np.divide(likes, np.maximum(per, 1.0), out=np.full(len(X), np.nan), where=ok)
        like = np.log1p(ratio)
        out = {
            "txt_emo": txt,
            "img_emo": img,
            "likability": like,
            "txt_x_img": txt * img,
            "txt_x_like": txt * like,
            "img_x_like": img * like,
            "txt_x_img_x_like": txt * img * like,
        }
        return frame_of(X.index, self.name, out)

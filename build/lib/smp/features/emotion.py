"""Text emotion of a post: VADER sentiment, NRC emotion-lexicon counts, `nade` Plutchik intensities, valence/arousal.

Two papers we build on predict popularity from emotion: EIJL (text emotion x image emotion x likability) and ABMF
(valence and arousal drive shares and likes). This module scores the post's text (title, tags and description
joined) with three lexicon/model families and maps them onto the valence-arousal plane:

- VADER (``vaderSentiment``, MIT): ``neg``, ``neu``, ``pos`` and ``compound`` in [-1, 1].
- NRC Emotion Lexicon (shipped in ``nrclex``): counts of the words carrying each of its 10 affect labels (8 Plutchik
  emotions plus positive / negative). The lexicon file is read directly and text is tokenised here, because
  nrclex's own path goes through TextBlob/NLTK corpora that are not available offline. **Licence: the NRC
  lexicon is free for research only; commercial use needs a licence from the National Research Council Canada.**
- ``nade`` (MIT, optional extra ``emotion``): 8 Plutchik emotion intensities in [0, 1] predicted for social-media
  text (emoji-prediction features + gradient boosting).

Valence / arousal mapping (fixed, documented here so it can be argued with). Each Plutchik emotion e gets a point
(V_e, A_e) on Russell's circumplex, valence in [-1, 1] and arousal in [0, 1] (``CIRCUMPLEX``). The post's emotion
weights w_e are the ``nade`` intensities when ``nade`` is used, else its NRC counts. Then

    valence_lex = sum_e w_e V_e / sum_e w_e      (0 when the text carries no emotion)
    arousal     = sum_e w_e A_e / sum_e w_e      (0 when the text carries no emotion)
    valence     = (VADER compound + valence_lex) / 2
    intensity   = sqrt((valence^2 + arousal^2) / 2)   in [0, 1]: the distance from the neutral origin.
"""

from __future__ import annotations

import json
import re
import warnings
from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd

from ._base import FeatureGenerator, register
from ._common import frame_of, param_requires, tag_lists

TEXT_COLUMNS = ("title", "tags", "description")
NRC_EMOTIONS = ("anger", "anticipation", "disgust", "fear", "joy", "sadness", "surprise", "trust",
                "positive", "negative")
PLUTCHIK = ("anger", "anticipation", "disgust", "fear", "joy", "sadness", "surprise", "trust")
# (valence, arousal) of each Plutchik emotion on Russell's circumplex (approximate positions of the emotion terms).
CIRCUMPLEX: dict[str, tuple[float, float]] = {
    "anger": (-0.6, 0.8),
    "anticipation": (0.3, 0.6),
    "disgust": (-0.6, 0.5),
    "fear": (-0.7, 0.8),
    "joy": (0.8, 0.6),
    "sadness": (-0.7, 0.3),
    "surprise": (0.2, 0.8),
    "trust": (0.6, 0.3),
}
_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?")
EXTRA_HINT = 'install the optional extra: pip install -e ".[emotion]"'


def post_texts(X: pd.DataFrame, columns: tuple[str, ...] | list[str] = TEXT_COLUMNS) -> list[str]:
    """One text per row: the chosen text columns joined with ". " (tags joined with spaces, '#' dropped)."""
    parts = []
    for col in columns:
        if col == "tags":
            parts.append([" ".join(str(t).lstrip("#") for t in v) for v in tag_lists(X[col])])
        else:
            parts.append(X[col].fillna("").astype(str).tolist())
    return [". ".join(p for p in row if p.strip()) for row in zip(*parts)] if parts else [""] * len(X)


# ------------------------------------------------------------------------------------------------------ VADER
@lru_cache(maxsize=1)
def _vader():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def vader_scores(texts: list[str]) -> np.ndarray:
    """(n, 4) array of VADER neg, neu, pos, compound; an empty text scores (0, 0, 0, 0)."""
    sia = _vader()
    out = np.zeros((len(texts), 4))
    for i, t in enumerate(texts):
        if t.strip():
            s = sia.polarity_scores(t)
            out[i] = (s["neg"], s["neu"], s["pos"], s["compound"])
    return out


# -------------------------------------------------------------------------------------------------------- NRC
@lru_cache(maxsize=1)
def nrc_lexicon() -> dict[str, tuple[str, ...]]:
    """word -> affect labels, read from the JSON file nrclex ships (no NLTK / TextBlob involved)."""
    path = resources.files("nrclex.data").joinpath("nrc_en.json")
    with path.open("r", encoding="utf-8") as f:
        raw = json.load(f)
    return {w: tuple(labels) for w, labels in raw.items()}


def tokenize(text: str) -> list[str]:
    """Lower-case ASCII word tokens (apostrophes kept inside words): the lexicon is English, one word per entry."""
    return _TOKEN.findall(text.lower())


def nrc_counts(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(n, 10) counts of tokens carrying each `NRC_EMOTIONS` label, and the (n,) token counts."""
    lex = nrc_lexicon()
    col = {e: j for j, e in enumerate(NRC_EMOTIONS)}
    counts = np.zeros((len(texts), len(NRC_EMOTIONS)))
    n_tokens = np.zeros(len(texts))
    for i, t in enumerate(texts):
        toks = tokenize(t)
        n_tokens[i] = len(toks)
        for tok in toks:
            for label in lex.get(tok, ()):
                j = col.get(label)
                if j is not None:
                    counts[i, j] += 1
    return counts, n_tokens


# ------------------------------------------------------------------------------------------------------- nade
def nade_available() -> bool:
    try:
        import nade  # noqa: F401
    except ImportError:
        return False
    return True


@lru_cache(maxsize=1)
def _nade_model():
    try:
        from nade import Nade
    except ImportError as e:
        raise ImportError(f"the `nade` text-emotion model is not installed; {EXTRA_HINT}") from e
    with warnings.catch_warnings():  # it announces unpacking its model files on first use
        warnings.simplefilter("ignore", UserWarning)
        return Nade()


def nade_scores(texts: list[str], batch_size: int = 4096) -> np.ndarray:
    """(n, 8) `nade` intensities in `PLUTCHIK` order; empty texts score zeros (nade would still guess)."""
    out = np.zeros((len(texts), len(PLUTCHIK)))
    idx = [i for i, t in enumerate(texts) if t.strip()]
    if not idx:
        return out
    model = _nade_model()
    for start in range(0, len(idx), batch_size):
        rows = idx[start : start + batch_size]
        # nade's fastText model reads one line per text: newlines inside a text would split it.
        res = model.predict([" ".join(texts[i].split()) for i in rows], dimensions=list(PLUTCHIK))
        for j, e in enumerate(PLUTCHIK):
            out[rows, j] = np.asarray(res[e].to_pylist(), dtype=float)
    return out


# ---------------------------------------------------------------------------------------------- valence/arousal
def valence_arousal(weights: np.ndarray, compound: np.ndarray) -> dict[str, np.ndarray]:
    """The module docstring's mapping: (n, 8) Plutchik weights + VADER compound -> valence, arousal, intensity."""
    V = np.array([CIRCUMPLEX[e][0] for e in PLUTCHIK])
    A = np.array([CIRCUMPLEX[e][1] for e in PLUTCHIK])
    w = np.clip(np.asarray(weights, dtype=float), 0.0, None)
    total = w.sum(axis=1)
    has = total > 0
    safe = np.where(has, total, 1.0)
    valence_lex = np.where(has, w @ V / safe, 0.0)
    arousal = np.where(has, w @ A / safe, 0.0)
    valence = (np.asarray(compound, dtype=float) + valence_lex) / 2.0
    intensity = np.sqrt((valence**2 + arousal**2) / 2.0)
    return {"valence_lex": valence_lex, "arousal": arousal, "valence": valence, "intensity": intensity}


def text_emotion_table(texts: list[str], use_nade: bool | None) -> dict[str, np.ndarray]:
    """Every text-emotion score of `texts`; `use_nade=None` gives NaN nade columns (nade not installed)."""
    vader = vader_scores(texts)
    counts, n_tokens = nrc_counts(texts)
    out: dict[str, np.ndarray] = {f"vader_{k}": vader[:, j] for j, k in enumerate(("neg", "neu", "pos", "compound"))}
    out.update({f"nrc_{e}": counts[:, j] for j, e in enumerate(NRC_EMOTIONS)})
    out["nrc_tokens"] = n_tokens
    weights = counts[:, [NRC_EMOTIONS.index(e) for e in PLUTCHIK]]
    if use_nade is None:
        out.update({f"nade_{e}": np.full(len(texts), np.nan) for e in PLUTCHIK})
    elif use_nade:
        nade = nade_scores(texts)
        out.update({f"nade_{e}": nade[:, j] for j, e in enumerate(PLUTCHIK)})
        weights = nade
    out.update(valence_arousal(weights, vader[:, 3]))
    return out


def _resolve_nade(setting: object, name: str) -> bool | None:
    """`nade` parameter -> True (use), False (no columns) or None (wanted but missing: NaN columns, one warning)."""
    if setting not in (True, False, "auto"):
        raise ValueError(f"feature generator {name!r}: `nade` must be true, false or \"auto\", got {setting!r}")
    if setting is False:
        return False
    if nade_available():
        return True
    if setting is True:
        raise ImportError(f"feature generator {name!r} has nade = true but `nade` is not installed; {EXTRA_HINT}")
    warnings.warn(f"feature generator {name!r}: `nade` is not installed, its columns are NaN; {EXTRA_HINT}",
                  stacklevel=3)
    return None


def _text_columns(g: object) -> tuple[str, ...]:
    cols = tuple(g.columns)
    bad = [c for c in cols if c not in TEXT_COLUMNS]
    if bad or not cols:
        raise ValueError(f"`columns` must be a non-empty subset of {list(TEXT_COLUMNS)}, but got columns={cols!r}")
    return cols


@register
class TextEmotion(FeatureGenerator):
    """VADER, NRC lexicon counts, `nade` intensities and the valence/arousal/intensity mapping of the post's text.

    Outputs ``text_emotion__{vader_neg,vader_neu,vader_pos,vader_compound, nrc_<10 emotions>, nrc_tokens,
    nade_<8 emotions>, valence_lex, arousal, valence, intensity}``. ``nade="auto"`` uses nade when installed and
    gives NaN nade columns otherwise (the valence/arousal weights then come from NRC); ``False`` drops them.
    """

    name = "text_emotion"
    group = "emotion"
    requires = param_requires(_text_columns)
    version = 1

    def __init__(self, *, columns: tuple[str, ...] = TEXT_COLUMNS, nade: bool | str = "auto") -> None:
        self.columns = columns
        self.nade = nade

    def _fit(self, X: pd.DataFrame, y: pd.Series | None) -> None:
        if self.nade is not False:  # a bad value, or nade = true without nade installed, fails at fit
            self.use_nade_ = _resolve_nade(self.nade, self.name)
        else:
            self.use_nade_ = False

    def _transform(self, X: pd.DataFrame) -> pd.DataFrame:
        table = text_emotion_table(post_texts(X, self.requires), self.use_nade_)
        return frame_of(X.index, self.name, table)

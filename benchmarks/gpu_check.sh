#!/usr/bin/env bash
# The GPU check, in one command on a machine with a CUDA GPU (and its CPU half anywhere), from the repository root:
#   benchmarks/gpu_check.sh [OUT]
# 1. installs what it needs: `make install` (torch pinned first, then smp with its test extra) unless the
#    environment already imports smp, torch, cv2 and av (PY=... picks another interpreter; SKIP_INSTALL=1 skips);
# 2. the embedding benchmark (benchmarks/bench_embeddings.py) on device=cpu beside device=cuda: MiniLM (PyTorch and
#    ONNX Runtime), EfficientNet-Lite0 at 224 px, captions (a random BLIP of BLIP-base's size: no weights needed)
#    and video_frames on synthetic videos; fewer captions and videos on the CPU, whose half would take longest;
# 3. the tests marked `gpu` (pytest -m gpu; they skip where PyTorch sees no GPU);
# 4. the default run (`smp run`, every generator with device = "auto");
# 5. a print of what ran where: the GPU, and each embedding generator's resolved device and backend.
# Logs go to OUT (default /tmp/smp-gpu-check). About 6-8 minutes on one H100-class GPU with 16 cores; the CPU half
# alone (no GPU) about 8 minutes on 2 cores.
set -uo pipefail
OUT=${1:-/tmp/smp-gpu-check}
PY=${PY:-.venv/bin/python}
SMP=${SMP:-$(dirname "$PY")/smp}
mkdir -p "$OUT"
step() { echo; echo "== $* ($(date +%H:%M:%S))"; }
status=0

step "1. install"
if [ "${SKIP_INSTALL:-0}" = 1 ]; then
  echo "skipped (SKIP_INSTALL=1)"
elif [ -x "$PY" ] && "$PY" -c "import smp, torch, cv2, av" 2>/dev/null; then
  echo "$PY already imports smp, torch, cv2 and av"
else
  make install > "$OUT/install.log" 2>&1 || { echo "make install failed: see $OUT/install.log"; exit 1; }
  "$PY" -m pip install --quiet -e ".[video]" >> "$OUT/install.log" 2>&1
fi
CUDA=$("$PY" -c "import torch; print(int(torch.cuda.is_available()))")
"$PY" -c "import torch; print('torch', torch.__version__, 'CUDA build', torch.version.cuda, '| GPU:',
  torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none visible')"
DEVICES=cpu
if [ "$CUDA" = 1 ]; then DEVICES="cpu cuda"; else echo "no GPU: only the CPU half runs"; fi

step "2. embedding benchmark"
for dev in $DEVICES; do
  if [ "$dev" = cuda ]; then rows=2000; captions=512; videos=256; else rows=500; captions=4; videos=16; fi
  echo "-- device $dev"
  "$PY" benchmarks/bench_embeddings.py --device "$dev" --rows "$rows" --only sentence,image_encoder \
    --resolutions 224 2>"$OUT/bench-$dev.err" | grep -v "^\.smp" || status=1
  "$PY" benchmarks/bench_embeddings.py --device "$dev" --rows "$captions" --only captions \
    --captioner random-blip-base 2>>"$OUT/bench-$dev.err" | grep "^captions" || status=1
  "$PY" benchmarks/bench_embeddings.py --device "$dev" --videos "$videos" --only video_frames \
    2>>"$OUT/bench-$dev.err" | grep "^video_frames" || status=1
done

step "3. tests marked gpu"
"$PY" -m pytest -m gpu -q -n 0 -rs -p no:cacheprovider tests 2>&1 | tail -8
[ "${PIPESTATUS[0]}" = 0 ] || status=1

step "4. the default run, device = auto"
start=$(date +%s)
"$SMP" run > "$OUT/run.log" 2>&1 || { echo "smp run failed: see $OUT/run.log"; status=1; }
elapsed=$(( $(date +%s) - start ))
folder=$(tr '\r' '\n' < "$OUT/run.log" | grep -a "run folder" | tail -1)
echo "smp run: ${elapsed} s; ${folder:-no run folder, see $OUT/run.log}"

step "5. what ran where"
"$PY" - <<'EOF'
import torch

from smp.features.embedding.encoders import resolve_device
from smp.pipelines.config import load_config

print("torch sees", torch.cuda.device_count(), "CUDA device(s)",
      f"({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else "")
cfg = load_config("default")
for spec in cfg.features:
    gen = spec.create()
    device = getattr(gen, "device", None)
    if device is None:
        continue  # runs on the CPU with numpy / scikit-learn
    if hasattr(gen, "_pin"):
        gen._pin()
    print(f"  {spec.name:20s} device {device!r} -> {resolve_device(device):5s} backend {getattr(gen, 'backend_', '-')}")
print("  learners: LightGBM / CatBoost / scikit-learn on the CPU; torch learners follow their own `device`")
EOF
exit $status

#!/usr/bin/env bash
# Scheduled retraining on grown data: write one synthetic set (fixed seed) as two snapshots, the posts before
# 2016-11-01 and all of them; retrain on the first, again on the same data (cache reuse), then on the grown one.
# Runs inside WORKDIR, so its feature cache (WORKDIR/.smp/cache) and registry start empty. Prints each job's wall
# time; the manifests (WORKDIR/registry/vNNNN/manifest.json) hold the feature cache counts and timings.
# Usage (from the repository root): benchmarks/bench_retrain.sh [WORKDIR] [POSTS]
set -euo pipefail
W=${1:-/tmp/smp-bench-retrain}
POSTS=${2:-10000}
SMP=${SMP:-smp}  # e.g. SMP=$PWD/.venv/bin/smp
CONFIG=$(realpath benchmarks/retrain_grown.toml)
rm -rf "$W" && mkdir -p "$W" && cd "$W"
$SMP -q synth --out early --posts "$POSTS" --users $((POSTS / 8)) --seed 0 --image-size 32 --until 2016-11-01
$SMP -q synth --out grown --posts "$POSTS" --users $((POSTS / 8)) --seed 0 --image-size 32 --until 2017-06-01
for step in "early first" "early unchanged" "grown grown"; do
  set -- $step
  start=$(date +%s.%N)
  $SMP retrain --config "$CONFIG" --data "$1" --registry registry > "out-$2.json" 2> "log-$2.txt"
  echo "retrain $2 ($1): $(python3 -c "import time; print(f'{time.time() - $start:.1f}')") s wall"
done
$SMP registry --registry registry list
for v in registry/v*/; do
  python3 -c "import json,sys; m=json.load(open(sys.argv[1])); print(m['version'], 'train rows', m['data']['rows']['train'], 'features', m['features'], 'timings_s', {k: round(v, 1) for k, v in m['timings_s']['run'].items()})" "$v/manifest.json"
done

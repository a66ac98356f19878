#!/usr/bin/env bash
# The embedded model's GPU profile as one command on a single offline GPU: 3 training seeds of
# `--profile gpu-embedded` (each stops at the profile's --max-steps, never on a wall clock), then base vs each
# adapter on 200 shape-novel held-out debug tasks, then the paired comparison over the 3 seeds (exact sign test,
# task and cluster bootstrap CIs). Everything lands in results/. It prints training.profiles.estimate_minutes'
# estimate for the detected GPU first (an estimate from assumed throughputs, not a measurement; no GPU run yet).
#
# The machine needs no network. Bring the model in pieces of at most 60 MB, made here with
#     python -m training.model_pieces pack "$(python -c 'from training.embedded_model import embedded_model_dir as d; print(d())')" pieces/
# and, when the machine lacks them, wheels of the runtime set and of the build backend, made on a machine with an
# index for the GPU machine's Python and platform:
#     pip download -d wheels/ -r requirements-train.txt openenv==0.10.0 "setuptools>=68" wheel
#
# Usage: scripts/gpu_embedded.sh PIECES_DIR [WHEELS_DIR]
set -euo pipefail
PIECES=${1:?usage: scripts/gpu_embedded.sh PIECES_DIR [WHEELS_DIR]}
WHEELS=${2:-}
PY=${PYTHON:-python}
N=${EVAL_N:-200}

python_ok() { "$PY" -c "import trl, peft, datasets, sqlglot, fastapi, fastmcp, matplotlib, scipy, openenv, env_server"; }
if ! python_ok; then
  [ -n "$WHEELS" ] || { echo "missing packages (above) and no WHEELS_DIR given" >&2; exit 2; }
  # the runtime set only (the GPU machine's own torch stays); errors are shown, and any failure stops the script
  "$PY" -m pip install --no-index --find-links "$WHEELS" "setuptools>=68" wheel
  "$PY" -m pip install --no-index --find-links "$WHEELS" -r requirements-train.txt
  "$PY" -m pip install --no-index --no-deps --find-links "$WHEELS" openenv==0.10.0
  "$PY" -m pip install --no-index --no-deps --no-build-isolation -e .
  python_ok
fi
"$PY" -c "import torch; assert torch.cuda.is_available(), 'no GPU visible'; print(torch.cuda.get_device_name(0))"
"$PY" - <<'ESTIMATE'
import torch
from training.profiles import estimate_minutes, hardware_key
hardware = hardware_key(torch.cuda.get_device_name(0), torch.cuda.get_device_capability(0))
print(f"estimate on {hardware}: {estimate_minutes('gpu-embedded', hardware):.0f} min per training seed "
      "(assumed throughputs, not a measurement; results/runs/*/metrics.json will say what it took)")
ESTIMATE

MODEL=${MODEL_DIR:-/tmp/dataops-smollm2}
"$PY" -m training.model_pieces unpack "$PIECES" "$MODEL"      # fails on any sha256 mismatch

for SEED in 0 1 2; do
  "$PY" -m training.grpo --profile gpu-embedded --model "$MODEL" --seed "$SEED" --run-id "gpu-embedded-s$SEED" \
    --no-progress
done
"$PY" -m training.evaluate --run results/runs/gpu-embedded-s0 --base --difficulty easy --n "$N" \
  --name gpu-embedded-base --fresh --batch-size 64 --no-progress
for SEED in 0 1 2; do
  "$PY" -m training.evaluate --run "results/runs/gpu-embedded-s$SEED" --difficulty easy --n "$N" \
    --name "gpu-embedded-s$SEED" --fresh --batch-size 64 --no-progress
done
"$PY" -m training.evaluate --compare results/eval/gpu-embedded-base.json \
  results/eval/gpu-embedded-s0.json results/eval/gpu-embedded-s1.json results/eval/gpu-embedded-s2.json
"$PY" presentation_graphs.py --only compare training

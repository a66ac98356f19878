#!/usr/bin/env bash
# The embedded model's GPU profile as one command on a single offline GPU (sized for under 10 minutes; not yet
# run on a GPU, so that is a target, not a measurement; TRAIN_MINUTES caps each seed's training):
# 3 training seeds of `--profile gpu-embedded`, then base vs each adapter on 200 held-out debug tasks, then the
# paired comparison over the 3 seeds (exact sign test, paired bootstrap CI). Everything lands in results/.
#
# The machine needs no network. Bring the model in pieces of at most 60 MB, made here with
#     python -m training.model_pieces pack "$(python -c 'from training.embedded_model import embedded_model_dir as d; print(d())')" pieces/
# and, when the machine lacks them, wheels for what it lacks (pip download -d wheels/ trl==1.16.0 datasets==5.2.0 ...).
#
# Usage: scripts/gpu_embedded.sh PIECES_DIR [WHEELS_DIR]
set -euo pipefail
PIECES=${1:?usage: scripts/gpu_embedded.sh PIECES_DIR [WHEELS_DIR]}
WHEELS=${2:-}
PY=${PYTHON:-python}
MINUTES=${TRAIN_MINUTES:-1.5}   # wall-clock cap per training seed
N=${EVAL_N:-200}

python_ok() { "$PY" -c "import trl, datasets, sqlglot, fastapi, openenv" 2>/dev/null; }
if ! python_ok; then
  [ -n "$WHEELS" ] || { echo "missing packages and no WHEELS_DIR given" >&2; exit 2; }
  "$PY" -m pip install --quiet --no-index --find-links "$WHEELS" -r requirements.txt 2>/dev/null \
    || "$PY" -m pip install --quiet --no-index --find-links "$WHEELS" trl datasets sqlglot fastapi uvicorn httpx
  "$PY" -m pip install --quiet --no-index --no-deps --find-links "$WHEELS" openenv
  "$PY" -m pip install --quiet --no-deps -e .
fi
"$PY" -c "import torch; assert torch.cuda.is_available(), 'no GPU visible'; print(torch.cuda.get_device_name(0))"

MODEL=${MODEL_DIR:-/tmp/dataops-smollm2}
"$PY" -m training.model_pieces unpack "$PIECES" "$MODEL"      # fails on any sha256 mismatch

for SEED in 0 1 2; do
  "$PY" -m training.grpo --profile gpu-embedded --model "$MODEL" --seed "$SEED" --run-id "gpu-embedded-s$SEED" \
    --max-train-minutes "$MINUTES" --no-progress
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

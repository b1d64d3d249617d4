# casting-inspection: `make` lists the targets.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
KERNEL := casting-inspection
KERNEL_CONFIG := $(VENV)/etc/ipython/ipython_kernel_config.py
PARAMS ?= params/default.yaml
MODEL  ?= outputs/latest
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
N      ?= 5
K      ?= 5
BUDGET ?= 300
OUT    ?= outputs/verdicts-$(shell date +%Y%m%d-%H%M%S)-$(shell echo $$PPID).csv  # the make process id: two at once differ
export TF_CPP_MIN_LOG_LEVEL ?= 2
# the commands that load TensorFlow: its C++ log lines go to outputs/tensorflow.log, not the terminal (lib/quietly.py)
QUIETLY = $(BIN)/python -m lib.quietly

.DEFAULT_GOAL := help
.PHONY: help setup browser data test test-fast lab report bench backbones repeat cv compare inspect clean lint

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-10s %s\n", $$1, $$2}'

setup: $(VENV)/.installed $(KERNEL_CONFIG) ## build .venv with the pinned packages, install lib/, register the Jupyter kernel

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	@# uv (PyPI) installs the same pins some five times faster than pip; pip where uv cannot be had. Compiled
	@# bytecode as pip makes it: without it every kernel compiles TensorFlow again (PYTHONDONTWRITEBYTECODE)
	$(BIN)/pip install --quiet uv 2>/dev/null && $(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python \
		-r requirements.txt || { $(BIN)/pip install --quiet --upgrade pip && \
		$(BIN)/pip install --quiet -r requirements.txt; }
	PYTHONWARNINGS=ignore $(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python (casting-inspection)"
	-@git rev-parse --git-dir >/dev/null 2>&1 && $(BIN)/nbstripout --install
	@touch $@

# The kernels of .venv leave what libraries write below Python (TensorFlow's C++ start-up lines) on the
# kernel's own stderr, Lab's terminal, instead of the notebook; Python's output and warnings still show
$(KERNEL_CONFIG): | $(VENV)/.installed
	@mkdir -p $(@D)
	@printf '%s\n' '# written by make setup: C-level output of libraries stays out of the notebooks' \
		'c.IPKernelApp.capture_fd_output = False' > $@

data: setup ## link the real data (../shared, else Kaggle), then check every image
	$(BIN)/python -m lib.get_data --params $(PARAMS)

test: setup ## run the whole test suite (fast tests, notebook smoke runs, real-data checks)
	$(BIN)/python -m pytest

test-fast: setup ## run only the fast tests (seconds)
	$(BIN)/python -m pytest -m "not slow"

browser: ## install Debian's chromium and poppler-utils (the report's PDF and its tests; needs root or sudo)
	@command -v chromium >/dev/null && command -v pdftotext >/dev/null || { $(SUDO) apt-get update -qq && \
		$(SUDO) apt-get install -y -qq chromium poppler-utils; }
	@chromium --version

lab: setup ## open the notebooks in JupyterLab
	$(BIN)/jupyter lab notebooks/

report: setup data ## run every notebook with PARAMS (default params/default.yaml) into a new outputs/ folder
	$(BIN)/python -m lib.report $(PARAMS)

bench: setup data ## train the seed recipe and ours on the real data; print and save speed and accuracy
	$(QUIETLY) lib.bench

backbones: setup data ## train fast_cnn and standard Keras networks BUDGET s each (300) on the grouped split (or PARAMS); compare on never-seen parts
	$(QUIETLY) lib.backbones --budget $(BUDGET) $(if $(filter command line environment,$(origin PARAMS)),--params $(PARAMS))

repeat: setup data ## train PARAMS' network with N seeds (N=5) and print mean and sd of the test figures
	$(QUIETLY) lib.repeat --n $(N) --params $(PARAMS)

cv: setup data ## grouped K-fold cross-validation (K=5) of PARAMS' recipe on all images: the "never seen" figure (SEED=N: another draw)
	$(QUIETLY) lib.cv --k $(K) --params $(PARAMS) $(if $(SEED),--seed $(SEED))

compare: setup ## PARAMS' make cv draws against BASE's (params/default.yaml) of the same seeds, pair by pair (trains nothing)
	$(QUIETLY) lib.compare --k $(K) --params $(PARAMS) $(if $(BASE),--base $(BASE))

inspect: setup ## verdicts for IMAGES=files/folders with the latest run's model, into OUT (a new CSV)
	@test -n "$(IMAGES)" || { echo "usage: make inspect IMAGES='photo.jpg folder/' [MODEL=outputs/<run>] [OUT=verdicts.csv]"; exit 2; }
	$(QUIETLY) lib.inspect $(IMAGES) --model $(MODEL) --out $(OUT)

lint: setup ## ruff on lib/, tests/ and the notebooks; check notebooks have no outputs
	$(BIN)/ruff check lib tests notebooks
	$(BIN)/nbstripout --verify notebooks/*.ipynb

clean: ## remove caches and the virtual environment (never outputs/ or data)
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

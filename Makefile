# Everything a fresh machine needs: `make demo` and `make test` create .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch + torchvision pinned to the builds this workplace serves from local disk (CPU machines).
ifeq ($(shell uname -m),aarch64)
TORCH := torch==2.9.1 torchvision==0.24.1
else
TORCH := torch==2.14.1 torchvision==0.29.1
endif
export OMP_NUM_THREADS ?= 1

.PHONY: demo test test-slow lint bench bench-tune bench-defaults clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# stardist --no-deps: the `nuclei` data set reads two image files shipped in its wheel; none of
# its code (nor its dependencies: numba, scikit-image, csbdeep) is needed.
$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet --no-deps stardist
	$(BIN)/pip install --quiet --no-deps 'recbole>=1.2'  # movielens-100k's files only
	touch $@

demo: $(VENV)/.installed
	$(BIN)/nnrecipe run digits --out runs/demo --overwrite
	@echo "predict with the trained model:  $(BIN)/nnrecipe predict runs/demo IMAGES_OR.npy --out predictions.csv"
	@echo "  or in Python:  import nnrecipe as nr; nr.load('runs/demo').predict(x)"

test: $(VENV)/.installed lint
	@[ -x /usr/bin/chromium ] || .ci/chromium.sh || echo "chromium missing: the report's browser test will skip"
	$(BIN)/python -m pytest -q -m "not slow"

test-slow: $(VENV)/.installed
	$(BIN)/python -m pytest -q -m slow; rc=$$?; [ $$rc -eq 0 ] || [ $$rc -eq 5 ]

lint: $(VENV)/.installed
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

bench: $(VENV)/.installed
	$(BIN)/python bench/overhead.py
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/device.py
	$(BIN)/python bench/zoo.py
	$(BIN)/python bench/audit.py

# The sampler comparison trains hundreds of models: tens of minutes on 2 cores.
bench-tune: $(VENV)/.installed
	$(BIN)/python bench/tune.py

# The defaults against the linear baseline on every offline built-in data set and an image
# folder: ~15 minutes on 2 cores.
bench-defaults: $(VENV)/.installed
	$(BIN)/python bench/defaults.py

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache

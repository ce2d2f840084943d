# make run   : set up .venv and run the main job on the shipped defaults
# make test  : set up .venv (with the torch-scatter extra) and run the tests
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip -q --disable-pip-version-check

.PHONY: setup scatter run test train-denoiser bench clean

setup: $(VENV)/.installed

# torch first and pinned: it is the local CPU build; pyproject's range admits it, so the
# package install that follows pulls no other build.
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install torch==2.13.0
	$(PIP) install -e '.[test]'
	touch $@

# torch-scatter has only a source release (about 6 minutes to build; pip caches the wheel)
scatter: $(VENV)/.scatter
$(VENV)/.scatter: $(VENV)/.installed
	$(PIP) install --no-build-isolation torch-scatter
	touch $@

run: setup
	$(PY) -m experiments.evaluate policy=topk_margin data.limit=256 show=3

test: setup scatter
	$(PY) -m pytest -q

train-denoiser: setup
	$(PY) -m experiments.train_denoiser task=sudoku train.steps=4500 export_to=weights/sudoku-mdm

bench: setup
	$(PY) -m experiments.bench_policies

clean:
	rm -rf $(VENV) runs outputs multirun

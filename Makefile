# Two entry points for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
TORCH_VERSION ?= 2.13.0

.PHONY: venv demo test bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first and pinned: an unpinned torch would pull several GB of CUDA wheels.
	$(PY) -m pip install -q "torch==$(TORCH_VERSION)"
	$(PY) -m pip install -q -e ".[test,notebooks]"
	touch $@

venv: $(VENV)/.installed

# With no PHOTOSTYLE_VGG_WEIGHTS set, the demo uses ../shared's partial VGG-19 when it is there
# (machines without internet), else downloads the paper's Caffe VGG-19 on first use.
SHARED_VGG := $(wildcard ../shared/weights/vgg19_normalised_conv3_1.pth)

demo: $(VENV)/.installed
	PHOTOSTYLE_VGG_WEIGHTS="$${PHOTOSTYLE_VGG_WEIGHTS:-$(SHARED_VGG)}" $(PY) -m photostyle.demo

test: $(VENV)/.installed
	$(PY) -m pytest -q

bench: $(VENV)/.installed
	$(PY) benchmarks/bench_core.py

clean:
	rm -rf $(VENV) build *.egg-info

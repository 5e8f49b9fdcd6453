# stemdl-bench: `make demo` runs the main job on small built-in data; `make test` runs the tests.
# Both create .venv on first use and re-install only when pyproject.toml changes.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
SHELL  := /bin/bash
.SHELLFLAGS := -o pipefail -c
# CPU-only machine whose pip reaches only the public index: there `torch==2.13.0` resolves
# to the CUDA build (several GB of nvidia-* wheels). Point TORCH_INDEX at a CPU wheel
# index (PyTorch's install page lists it; or your site's mirror), e.g.
#   make test TORCH_INDEX=<cpu wheel index URL>
# Empty (the default): pip's configured indexes, as before.
TORCH_INDEX ?=
# Install progress: one line per package pip collects, and the final summary.
PIP_INSTALL := $(PY) -m pip install --disable-pip-version-check --progress-bar off
PIP_PROGRESS := { grep --line-buffered -E '^(Collecting|Installing|Successfully)' || true; }
# A GPU machine gets CUDA torch/tensorflow from the index; everywhere else the CPU
# builds (torch==2.13.0 from the local wheel, tensorflow-cpu): never GBs of CUDA wheels.
HAS_GPU := $(shell nvidia-smi -L >/dev/null 2>&1 && echo 1)
ifeq ($(HAS_GPU),1)
  EXTRAS := stfc,ornl,sim,dev
  TORCH  :=
else
  EXTRAS := stfc,ornl-cpu,sim,dev
  TORCH  := torch==2.13.0
endif

.PHONY: install test lint demo bench clean containers containers-smoke slurm-smoke gpu-check gpu-wheels peer-bench

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "installing stemdl-bench[$(EXTRAS)] into $(VENV) (a few minutes on first use) ..."
	$(if $(TORCH),$(PIP_INSTALL) $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) $(TORCH) | $(PIP_PROGRESS))
	$(PIP_INSTALL) -e ".[$(EXTRAS)]" | $(PIP_PROGRESS)
	@touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check stemdl common stfc ornl compliance tests tools

test: $(STAMP) lint
	$(PY) -m pytest -q

demo: $(STAMP)
	$(VENV)/bin/stemdl demo --task all --out demo-out

# Saves each run under .benchmarks/ and compares with the previous saved run (if any);
# then prints the samples/s and the speed ratios each issue asks for.
bench: $(STAMP)
	$(PY) -m pytest tests/benchmarks --benchmark-only --benchmark-autosave -q \
	  $(if $(wildcard .benchmarks/*/*.json),--benchmark-compare)
	$(PY) -m tests.benchmarks.report

clean:
	rm -rf $(VENV) demo-out .pytest_cache .benchmarks

# Container images (OCI + Apptainer SIF) of both implementations; see docs/CONTAINERS.md.
# Base images, engine and variant: containers/build.sh's environment (BASE_IMAGE=..., VARIANT=cpu).
containers: $(STAMP)
	containers/build.sh all all

# Real build-and-run smoke test (root, a few minutes): CPU images from a local debootstrapped
# base, one epoch on tiny simulated data in podman and in apptainer, F1 and compliance.
containers-smoke: $(STAMP)
	containers/smoke.sh

# The job templates under a real scheduler (root, several minutes): a one-node SLURM cluster on
# localhost runs containers/jobs/ (2-rank STFC and ORNL training in the SIFs, or the venv;
# a requeue; simulate/preprocess job arrays), checks ranks, F1 and compliance. See docs/CONTAINERS.md.
slurm-smoke: $(STAMP)
	containers/slurm-smoke.sh

# The GPU check (docs/BENCH.md): on one NVIDIA GPU, STFC ResNet-50 at 128 px in bf16 on
# synthetic and device-staged packed data; without a GPU it says so and exits 2.
gpu-check:
	tools/gpu_check.sh --out gpu-check-out

# The small wheels the GPU check installs where the image lacks them (no index there).
gpu-wheels: $(STAMP)
	$(PY) -m pip download --no-deps --only-binary :all: -d tools/wheels mlperf-logging psutil

# Against MLCommons' upstream code (issue 25; tools/peer/README.md): interleaved rounds of
# preprocessing and one-epoch training, per-round ratios. Needs MIRROR (a git mirror of
# github.com/mlcommons/science), PEER_DIR (scratch, outside the project) and REF_VENV.
peer-bench: $(STAMP)
	tools/peer/peer_bench.sh

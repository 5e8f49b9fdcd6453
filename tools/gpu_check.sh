#!/usr/bin/env bash
# The GPU check (issue 24; docs/BENCH.md "GPU check"): on one NVIDIA GPU, the STFC recipe
# (ResNet-50, 128 px, bf16-mixed, channels-last) for a fixed number of steps on synthetic
# data and on packed data it writes itself, staged on the device; batch 256 and the
# recipe's 32; and torch.compile. Prints steady samples/s, peak GPU memory, the first-step
# time and whether each MLPerf log passes compliance; about 5 minutes.
#
#   tools/gpu_check.sh [--out DIR] [--steps N] [--dry-run]
#
# Installs nothing from the network: our package goes into a venv that sees the system's
# packages (PyTorch, Lightning, numba, h5py), without dependencies; small wheels the image
# lacks (mlperf-logging, psutil) come from tools/wheels/ (`make gpu-wheels` fills it on a
# machine that reaches a package index). Without a GPU it says so in one line and exits 2;
# --dry-run runs the same steps on the CPU with a tiny model (what `make test` checks).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${PYTHON:-python3}
dry=0
for arg in "$@"; do [[ $arg == --dry-run ]] && dry=1; done
if [[ $dry == 0 ]] && ! "${NVIDIA_SMI:-nvidia-smi}" -L >/dev/null 2>&1; then
  echo "gpu_check: no NVIDIA GPU here (nvidia-smi -L lists none); run it on a GPU node, or with --dry-run on this one" >&2
  exit 2
fi
if ! "$PY" -c "import stemdl.stfc.train, mlperf_logging, psutil" 2>/dev/null; then
  venv=${GPU_CHECK_VENV:-${TMPDIR:-/tmp}/stemdl-gpu-check-venv}
  echo "gpu_check: installing stemdl-bench (no dependencies) into $venv" >&2
  [[ -x $venv/bin/python ]] || "$PY" -m venv --system-site-packages "$venv"
  PY=$venv/bin/python
  for mod_wheel in mlperf_logging:mlperf_logging psutil:psutil; do
    mod=${mod_wheel%%:*}
    if ! "$PY" -c "import $mod" 2>/dev/null; then
      wheel=$(ls "$here"/tools/wheels/"${mod_wheel#*:}"-*.whl 2>/dev/null | head -1 || true)
      if [[ -z $wheel ]]; then
        echo "gpu_check: this Python lacks $mod and tools/wheels/ holds no wheel of it; run 'make gpu-wheels' where a package index is reachable and bring tools/wheels/ along" >&2
        exit 2
      fi
      "$PY" -m pip install -q --no-index --no-deps "$wheel"
    fi
  done
  "$PY" -m pip install -q --no-index --no-deps --no-build-isolation -e "$here"
fi
exec "$PY" "$here/tools/gpu_check.py" "$@"

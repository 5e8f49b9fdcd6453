#!/bin/bash
# Install stemdl-bench for one implementation into the venv /opt/stemdl, inside an image.
# Shared by the Dockerfile (RUN) and the Apptainer definition files (%post), so both kinds
# of image hold the same package set.
#
#   install.sh stfc|ornl gpu|cpu [--torch VERSION] [--tensorflow VERSION] [--src DIR]
#
# - The venv sees the base image's packages (--system-site-packages): on an NGC PyTorch
#   base the NVIDIA torch build is kept, not replaced by a wheel from the index.
# - pip never reads a pip.conf (PIP_CONFIG_FILE=/dev/null): the host's local index folders
#   do not exist in here. The index is the build's PIP_INDEX_URL (build.sh passes the
#   host pip's); unset, pip's own default. No index host is named here.
# - The torch CPU build (stfc cpu): from /wheels, else from TORCH_INDEX (a CPU wheel index,
#   as `make TORCH_INDEX=...`); neither: a one-line error, never GBs of CUDA wheels.
# - A CA bundle mounted as build secret (/run/secrets/ca) is used for TLS and never copied.
# - A find-links folder mounted at /wheels (e.g. the torch CPU wheel) is used when present.
set -euo pipefail

impl=${1:?usage: install.sh stfc|ornl gpu|cpu [--torch V] [--tensorflow V] [--src DIR]}
variant=${2:?usage: install.sh stfc|ornl gpu|cpu [--torch V] [--tensorflow V] [--src DIR]}
shift 2
torch_version=2.13.0
tf_version=2.21.0
src=/opt/stemdl-src
while [ $# -gt 0 ]; do
    case $1 in
        --torch) torch_version=$2; shift 2 ;;
        --tensorflow) tf_version=$2; shift 2 ;;
        --src) src=$2; shift 2 ;;
        *) echo "install.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
case $variant in gpu|cpu) ;; *) echo "install.sh: variant must be gpu or cpu, not '$variant'" >&2; exit 2 ;; esac

export PIP_CONFIG_FILE=/dev/null PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
if [ -z "${PIP_INDEX_URL:-}" ]; then unset PIP_INDEX_URL; fi  # empty build-arg: pip's default
export PIP_DEFAULT_TIMEOUT=${PIP_DEFAULT_TIMEOUT:-180}
if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi
if [ -d /wheels ]; then export PIP_FIND_LINKS=/wheels; fi

venv=/opt/stemdl
[ -x "$venv/bin/python" ] || python3 -m venv --system-site-packages "$venv"
pip=("$venv/bin/python" -m pip install --no-compile)
have() { "$venv/bin/python" -c "import $1" >/dev/null 2>&1; }

case $impl/$variant in
    stfc/cpu)
        # the CPU build (local version +cpu): from /wheels, else from TORCH_INDEX
        extra=()
        if ! compgen -G "/wheels/torch-${torch_version}+cpu-*.whl" >/dev/null; then
            if [ -z "${TORCH_INDEX:-}" ]; then
                echo "install.sh: torch ${torch_version}+cpu: no /wheels/torch-${torch_version}+cpu-*.whl" \
                     "and no TORCH_INDEX (a CPU wheel index, see PyTorch's install page)" >&2
                exit 2
            fi
            extra=(--extra-index-url "$TORCH_INDEX")
        fi
        "${pip[@]}" "${extra[@]}" "torch==${torch_version}+cpu"
        "${pip[@]}" "${src}[stfc]" ;;
    stfc/gpu)
        if have torch; then "${pip[@]}" "${src}[stfc]"          # keep the base image's torch
        else "${pip[@]}" "torch==${torch_version}" "${src}[stfc]"; fi ;;
    ornl/cpu)
        "${pip[@]}" "tensorflow-cpu==${tf_version}" "${src}[ornl-cpu]" ;;
    ornl/gpu)
        "${pip[@]}" "tensorflow[and-cuda]==${tf_version}" "${src}[ornl]" ;;
    *) echo "install.sh: implementation must be stfc or ornl, not '$impl'" >&2; exit 2 ;;
esac

install -d "$venv/share/stemdl"
install -m 0644 "$src/containers/selfcheck.py" "$venv/share/stemdl/selfcheck.py"
rm -rf "$src"
find "$venv" -name __pycache__ -prune -exec rm -rf {} + 2>/dev/null || true
"$venv/bin/stemdl" --version

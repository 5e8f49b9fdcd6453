#!/bin/bash
# Build the stemdl-bench container images (OCI, with docker or podman) and the Apptainer SIFs.
#
#   containers/build.sh image [stfc|ornl|all]   # OCI images stemdl-bench:stfc, stemdl-bench:ornl
#   containers/build.sh sif   [stfc|ornl|all]   # stemdl-stfc.sif, stemdl-ornl.sif
#   containers/build.sh all   [stfc|ornl|all]   # both (the default; `make containers`)
#
# Environment (all optional):
#   ENGINE            docker or podman (default: podman if present, else docker)
#   BASE_IMAGE        base image for every target (overrides the two below)
#   STFC_BASE_IMAGE   default nvcr.io/nvidia/pytorch:25.01-py3 (NGC PyTorch)
#   ORNL_BASE_IMAGE   default nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04 (CUDA base)
#   VARIANT           gpu (default) or cpu: the framework package set
#   TAG               image name (default stemdl-bench); tags are TAG:stfc and TAG:ornl
#   SIF_DIR           where the SIFs go (default: the current folder)
#   SIF_FROM          registry (default): apptainer builds from the base image and installs
#                     stemdl-bench itself (login nodes without docker); image: the SIF is made
#                     from the OCI image built here (docker-archive), nothing re-installed
#   CA_BUNDLE         CA bundle for pip behind a TLS-intercepting proxy (a build secret; for
#                     apptainer a bind for %post only); default: pip's `cert` setting if any
#   WHEELS_DIR        find-links folder mounted at /wheels (podman), e.g. the torch CPU wheel
#   APPTAINER         apptainer or singularity (default: whichever is installed)
#   STEMDL_COMMIT     the commit the images record (default: git HEAD of this checkout)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
what=${1:-all}
impls=${2:-all}
[ "$impls" = all ] && impls="stfc ornl"
case $what in image|sif|all) ;; *) sed -n '2,8p' "$0" >&2; exit 2 ;; esac
for impl in $impls; do
    case $impl in stfc|ornl) ;; *) echo "build.sh: implementation must be stfc, ornl or all, not '$impl'" >&2; exit 2 ;; esac
done

VARIANT=${VARIANT:-gpu}
# the commit the images hold (their runs log it as submission_github_commit_version):
# STEMDL_COMMIT if given, else git's HEAD of this checkout, "-dirty" with local changes
if [ -z "${STEMDL_COMMIT:-}" ]; then
    STEMDL_COMMIT=$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)
    if [ "$STEMDL_COMMIT" != unknown ] \
        && [ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
        STEMDL_COMMIT=$STEMDL_COMMIT-dirty
    fi
fi
TAG=${TAG:-stemdl-bench}
SIF_DIR=${SIF_DIR:-$PWD}
SIF_FROM=${SIF_FROM:-registry}
STFC_BASE_IMAGE=${STFC_BASE_IMAGE:-nvcr.io/nvidia/pytorch:25.01-py3}
ORNL_BASE_IMAGE=${ORNL_BASE_IMAGE:-nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04}
if [ -z "${CA_BUNDLE:-}" ] && command -v python3 >/dev/null; then
    CA_BUNDLE=$(python3 -m pip config list 2>/dev/null | sed -n "s/^\(global\|:env:\)\.cert='\(.*\)'$/\2/p" | head -1)
fi

# The package indexes come from the environment of the build, never from this script: the
# PIP_INDEX_URL and TORCH_INDEX variables, else the host pip's configured index-url (an
# http(s) one: a local file:// index does not exist inside the build).
if [ -z "${PIP_INDEX_URL:-}" ] && command -v python3 >/dev/null; then
    PIP_INDEX_URL=$(python3 -m pip config list 2>/dev/null \
        | sed -n "s/^\(global\|:env:\)\.index-url='\(https\?:[^' ]*\).*$/\2/p" | head -1)
fi
index_args() {
    [ -n "${PIP_INDEX_URL:-}" ] && printf '%s\n' --build-arg "PIP_INDEX_URL=$PIP_INDEX_URL"
    [ -n "${TORCH_INDEX:-}" ] && printf '%s\n' --build-arg "TORCH_INDEX=$TORCH_INDEX"
    return 0
}

base_for() {
    if [ -n "${BASE_IMAGE:-}" ]; then echo "$BASE_IMAGE"
    elif [ "$1" = stfc ]; then echo "$STFC_BASE_IMAGE"
    else echo "$ORNL_BASE_IMAGE"; fi
}

engine() {
    if [ -n "${ENGINE:-}" ]; then echo "$ENGINE"
    elif command -v podman >/dev/null; then echo podman
    elif command -v docker >/dev/null; then echo docker
    else echo "build.sh: neither podman nor docker found (apt-get install podman)" >&2; exit 3; fi
}

check_recipes() {
    local py=$ROOT/.venv/bin/python
    if [ -x "$py" ]; then "$py" "$HERE/check_recipes.py"
    else echo "note: no .venv (make install): recipe consistency check skipped"; fi
}

stage_context() {
    # only what the image needs: never .venv, runs or data
    local ctx; ctx=$(mktemp -d "${TMPDIR:-/tmp}/stemdl-context.XXXXXX")
    tar -C "$ROOT" -c --exclude=__pycache__ --exclude='*.pyc' pyproject.toml README.md \
        stemdl common stfc ornl compliance containers | tar -C "$ctx" -x
    echo "$ctx"
}

build_image() {
    local impl=$1 ctx=$2 eng; eng=$(engine)
    local args=(build -f "$ctx/containers/Dockerfile" --target "$impl"
                --build-arg "BASE_IMAGE=$(base_for "$impl")" --build-arg "VARIANT=$VARIANT"
                --build-arg "STEMDL_COMMIT=$STEMDL_COMMIT" -t "$TAG:$impl")
    mapfile -t -O "${#args[@]}" args < <(index_args)
    [ -n "${CA_BUNDLE:-}" ] && [ -f "$CA_BUNDLE" ] && args+=(--secret "id=ca,src=$CA_BUNDLE")
    if [ -n "${WHEELS_DIR:-}" ]; then
        [ "$eng" = podman ] || { echo "build.sh: WHEELS_DIR needs podman (docker build has no --volume)" >&2; exit 2; }
        args+=(--volume "$WHEELS_DIR:/wheels:ro")
    fi
    [ "$eng" = podman ] && args+=(--format docker)
    echo "==> $eng ${args[*]} $ctx"
    local t0=$SECONDS
    DOCKER_BUILDKIT=1 "$eng" "${args[@]}" "$ctx"
    echo "==> $TAG:$impl built in $((SECONDS - t0)) s"
}

apptainer_cmd() {
    if [ -n "${APPTAINER:-}" ]; then echo "$APPTAINER"
    elif command -v apptainer >/dev/null; then echo apptainer
    elif command -v singularity >/dev/null; then echo singularity
    else return 1; fi
}

build_sif() {
    local impl=$1 app sif=$SIF_DIR/stemdl-$impl.sif
    app=$(apptainer_cmd) || { echo "build.sh: no apptainer or singularity: SIF $impl not built (see docs/CONTAINERS.md)" >&2; return 3; }
    local args=(build --force --build-arg "VARIANT=$VARIANT" --build-arg "SRC=$ROOT"
                --build-arg "STEMDL_COMMIT=$STEMDL_COMMIT")
    mapfile -t -O "${#args[@]}" args < <(index_args)
    [ "$(id -u)" -eq 0 ] || args+=(--fakeroot)
    local archive=
    if [ "$SIF_FROM" = image ]; then
        archive=$(mktemp "${TMPDIR:-/tmp}/stemdl-$impl.XXXXXX.tar")
        "$(engine)" save -o "$archive" "$TAG:$impl" 2>/dev/null \
            || "$(engine)" save --format docker-archive -o "$archive" "$TAG:$impl"
        args+=(--build-arg BOOTSTRAP=docker-archive --build-arg "BASE_IMAGE=$archive")
    else
        args+=(--build-arg "BASE_IMAGE=$(base_for "$impl")")
        [ -n "${CA_BUNDLE:-}" ] && [ -f "$CA_BUNDLE" ] && args+=(--bind "$CA_BUNDLE:/run/secrets/ca")
    fi
    echo "==> $app ${args[*]} $sif $HERE/$impl.def"
    local t0=$SECONDS
    (cd "$ROOT" && "$app" "${args[@]}" "$sif" "$HERE/$impl.def")
    [ -n "$archive" ] && rm -f "$archive"
    echo "==> $sif built in $((SECONDS - t0)) s"
}

check_recipes
if [ "$what" != sif ]; then
    ctx=$(stage_context)
    trap 'rm -rf "$ctx"' EXIT
    for impl in $impls; do build_image "$impl" "$ctx"; done
fi
if [ "$what" != image ]; then
    if [ "$what" = all ] && ! apptainer_cmd >/dev/null; then
        echo "note: no apptainer or singularity here: SIFs not built (the OCI images were);" \
             "on the cluster: containers/build.sh sif, or SIF_FROM=image on a machine with both" >&2
    else
        for impl in $impls; do build_sif "$impl"; done
    fi
fi

#!/bin/bash
# Container smoke test (`make containers-smoke`): a real build-and-run of both images.
#
# For each implementation (stfc, ornl):
#   1. build a small CPU image with podman from a local, debootstrapped base image
#      (no registry is needed), through the same Dockerfile users build GPU images from;
#   2. run `stemdl train <impl>` inside it for one epoch on tiny simulated data, then
#      `stemdl compliance` on the MLPerf log it wrote;
#   3. build a SIF from that image with apptainer (run in a tool container, since Debian 12
#      does not package apptainer), via the templated definition file with
#      BOOTSTRAP=docker-archive, and run the same training + compliance inside apptainer.
# It prints the F1 and compliance result of each run and a summary table at the end.
#
# Needs root (apt, debootstrap, podman) and the network to the Debian archive and the
# package index. Where it cannot run it says what is missing and exits 77 (skipped).
#
# Environment:
#   STEMDL_SMOKE_DIR   work folder (base images, data, runs, SIFs); default /var/tmp/stemdl-smoke
#   SMOKE_IMPLS        implementations to test; default "stfc ornl"
#   SMOKE_APPTAINER=0  skip the apptainer half
#   DEBIAN_MIRROR      default: the first URI apt is configured with
#   WHEELS_DIR         find-links folder holding the torch CPU wheel; default: pip's find-links
#   CA_BUNDLE          CA bundle given to pip as a build secret; default: pip's cert setting
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
WORK=${STEMDL_SMOKE_DIR:-/var/tmp/stemdl-smoke}
IMPLS=${SMOKE_IMPLS:-stfc ornl}
HOST_STEMDL=${HOST_STEMDL:-$ROOT/.venv/bin/stemdl}
HOST_PY=${HOST_PY:-$ROOT/.venv/bin/python}
BASE_TAG=localhost/stemdl-smoke-base:bookworm
TOOL_TAG=localhost/stemdl-smoke-apptainer:sid
SKIP=77

say() { printf '\n==> %s\n' "$*"; }
skip() { printf '\ncontainers-smoke: SKIPPED: %s\n' "$*" >&2; exit "$SKIP"; }
die() { printf '\ncontainers-smoke: FAILED: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }'; }
declare -A TIMES=() RESULTS=()

# ---------------------------------------------------------------------------- preflight
preflight() {
    [ "$(id -u)" -eq 0 ] || skip "needs root (apt-get, debootstrap, podman builds); run it as root: sudo make containers-smoke"
    [ "$(uname -s)" = Linux ] || skip "needs Linux"
    [ -x "$HOST_STEMDL" ] || skip "no $HOST_STEMDL: run \`make install\` first"
    local cmd
    for cmd in simulate train compliance; do
        "$HOST_STEMDL" "$cmd" --help >/dev/null 2>&1 \
            || skip "\`stemdl $cmd\` is not available in this checkout (the smoke test runs it)"
    done
    mkdir -p "$WORK"
}

# ---------------------------------------------------------------------------- host tools
apt_mirror() {
    if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; return; fi
    local m
    m=$(grep -h -E '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
        | grep -v -E 'security|updates' | grep -o -E 'https?://[^ ]+/debian/?' | head -1 || true)
    [ -n "$m" ] || skip "no Debian mirror in apt's sources (set DEBIAN_MIRROR to one)"
    echo "$m"
}

install_tools() {
    local need=() t
    for t in podman buildah runc newuidmap debootstrap; do command -v "$t" >/dev/null || need+=("$t"); done
    if [ ${#need[@]} -gt 0 ]; then
        command -v apt-get >/dev/null || skip "missing ${need[*]} and no apt-get to install them (install podman, buildah, runc, uidmap, debootstrap)"
        say "installing podman buildah runc uidmap debootstrap (apt)"
        local t0; t0=$(now)
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q podman buildah runc uidmap debootstrap \
            >"$WORK/apt.log" 2>&1 || { apt-get update -q >>"$WORK/apt.log" 2>&1 && \
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q podman buildah runc uidmap debootstrap \
            >>"$WORK/apt.log" 2>&1; } || skip "apt-get install podman ... failed (see $WORK/apt.log)"
        TIMES[apt]=$(secs "$t0")
    fi
    # runc (crun refuses the mixed cgroup v1/v2 set-up) and ulimits below the defaults
    # (raising to the defaults is refused here); only written when there is no config yet.
    local conf=/etc/containers/containers.conf
    if ! grep -q stemdl-smoke "$conf" 2>/dev/null; then
        if [ -s "$conf" ] && grep -q -E '^\s*(runtime|default_ulimits)' "$conf"; then
            echo "note: $conf already sets runtime/default_ulimits; leaving it as it is"
        else
            mkdir -p /etc/containers
            cat >>"$conf" <<'EOF'
# added by stemdl-bench containers/smoke.sh (stemdl-smoke)
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]
[engine]
runtime = "runc"
EOF
        fi
    fi
    # apptainer --fakeroot needs a subordinate id range for root
    grep -q '^root:' /etc/subuid 2>/dev/null || echo 'root:100000:65536' >>/etc/subuid
    grep -q '^root:' /etc/subgid 2>/dev/null || echo 'root:100000:65536' >>/etc/subgid
    podman info >/dev/null 2>&1 || skip "podman is installed but \`podman info\` fails: $(podman info 2>&1 | tail -1)"
}

# ---------------------------------------------------------------------------- base images
local_base() {
    if podman image exists "$BASE_TAG"; then echo "base image $BASE_TAG exists (cached)"; return; fi
    local mirror t0; mirror=$(apt_mirror); t0=$(now)
    say "debootstrap bookworm (minbase) from $mirror -> $BASE_TAG"
    rm -rf "$WORK/rootfs-base"
    debootstrap --variant=minbase bookworm "$WORK/rootfs-base" "$mirror" >"$WORK/debootstrap-base.log" 2>&1 \
        || die "debootstrap failed (see $WORK/debootstrap-base.log)"
    tar -C "$WORK/rootfs-base" -c . | podman import -q - "$BASE_TAG" >/dev/null
    rm -rf "$WORK/rootfs-base"
    TIMES[base]=$(secs "$t0")
}

tool_image() {
    if podman image exists "$TOOL_TAG"; then echo "apptainer tool image $TOOL_TAG exists (cached)"; return 0; fi
    local mirror t0; mirror=$(apt_mirror); t0=$(now)
    say "debootstrap sid with apptainer -> $TOOL_TAG (apptainer is not packaged for Debian 12)"
    rm -rf "$WORK/rootfs-tool"
    if ! debootstrap --variant=minbase --include=apptainer,squashfs-tools,ca-certificates,uidmap \
            sid "$WORK/rootfs-tool" "$mirror" >"$WORK/debootstrap-tool.log" 2>&1; then
        echo "apptainer tool image: debootstrap sid failed (see $WORK/debootstrap-tool.log)" >&2
        return 1
    fi
    # as root, `apptainer exec` needs root's default capabilities off
    sed -i 's/^root default capabilities = .*/root default capabilities = no/' \
        "$WORK/rootfs-tool/etc/apptainer/apptainer.conf"
    echo 'root:100000:65536' >"$WORK/rootfs-tool/etc/subuid"
    echo 'root:100000:65536' >"$WORK/rootfs-tool/etc/subgid"
    tar -C "$WORK/rootfs-tool" -c . | podman import -q - "$TOOL_TAG" >/dev/null
    rm -rf "$WORK/rootfs-tool"
    TIMES[tool]=$(secs "$t0")
}

# ---------------------------------------------------------------------------- data
tiny_data() {
    if [ -f "$WORK/data/.done" ]; then echo "tiny data in $WORK/data (cached)"; return; fi
    say "simulating the tiny data set (host): stemdl simulate $WORK/data/raw --preset tiny"
    local t0; t0=$(now)
    rm -rf "$WORK/data"; mkdir -p "$WORK/data"
    "$HOST_STEMDL" simulate "$WORK/data/raw" --preset tiny >"$WORK/data/simulate.log" 2>&1 \
        || die "stemdl simulate failed (see $WORK/data/simulate.log)"
    touch "$WORK/data/.done"
    TIMES[data]=$(secs "$t0")
}

# ---------------------------------------------------------------------------- images
stage_context() {
    # only what the image needs: never .venv, runs or data (no .dockerignore at the root)
    local ctx=$WORK/context
    rm -rf "$ctx"; mkdir -p "$ctx"
    tar -C "$ROOT" -c --exclude=__pycache__ --exclude='*.pyc' pyproject.toml README.md \
        stemdl common stfc ornl compliance containers | tar -C "$ctx" -x
    echo "$ctx"
}

build_image() {
    local impl=$1 ctx=$2 t0; t0=$(now)
    say "podman build --target $impl (VARIANT=cpu, BASE_IMAGE=$BASE_TAG)"
    local args=(--format docker --target "$impl" --build-arg "BASE_IMAGE=$BASE_TAG"
                --build-arg VARIANT=cpu -t "localhost/stemdl-bench:$impl-cpu"
                -f "$ctx/containers/Dockerfile")
    local index=${PIP_INDEX_URL:-$(pip_setting index-url)}
    case $index in http://*|https://*) args+=(--build-arg "PIP_INDEX_URL=$index") ;; esac
    [ -n "${TORCH_INDEX:-}" ] && args+=(--build-arg "TORCH_INDEX=$TORCH_INDEX")
    local ca=${CA_BUNDLE:-$(pip_setting cert)}
    [ -n "$ca" ] && [ -f "$ca" ] && args+=(--secret "id=ca,src=$ca")
    local wheels=${WHEELS_DIR:-$(pip_setting find-links)}
    [ -n "$wheels" ] && [ -d "$wheels" ] && args+=(--volume "$wheels:/wheels:ro")
    set +e
    podman build "${args[@]}" "$ctx" 2>&1 | tee "$WORK/build-$impl.log" \
        | grep --line-buffered -E 'STEP [0-9]+/[0-9]+: (FROM|RUN)|Successfully tagged|^stemdl-bench [0-9]' \
        | awk '{ print substr($0, 1, 150); fflush() }'
    local status=${PIPESTATUS[0]}
    set -e
    [ "$status" -eq 0 ] || die "podman build $impl failed (see $WORK/build-$impl.log)"
    TIMES[build-$impl]=$(secs "$t0")
    RESULTS[size-$impl]=$(podman image inspect --format '{{.Size}}' "localhost/stemdl-bench:$impl-cpu" \
        | awk '{ printf "%.0f MB", $1 / 1e6 }')
}

pip_setting() {
    # the host pip's setting (env or config), e.g. cert or find-links; first value only
    local key=$1 v
    v=$(python3 -m pip config list 2>/dev/null | grep --line-buffered -E "^(global|:env:)\.$key=" | head -1 \
        | cut -d= -f2- | tr -d "'" | awk '{ print $1 }')
    echo "${v:-}"
}

# ---------------------------------------------------------------------------- runs
# The same job in both container kinds: one epoch on the tiny data, then compliance.
run_in() {  # run_in KIND IMPL OUTDIR -- prefix...   (the prefix runs a command in the container)
    local kind=$1 impl=$2 out=$3; shift 4
    local t0; t0=$(now)
    rm -rf "$out"; mkdir -p "$out"; chmod 0777 "$out"
    say "$kind: stemdl train $impl (1 epoch, tiny data), then stemdl compliance"
    # shellcheck disable=SC2046
    if ! "$@" stemdl train "$impl" $(train_args "$impl") >"$out/train.log" 2>&1; then
        tail -20 "$out/train.log" >&2; die "$kind $impl: stemdl train failed (see $out/train.log)"
    fi
    TIMES[run-$kind-$impl]=$(secs "$t0")
    grep -E "^$impl: " "$out/train.log" | tail -1 || true
    [ -s "$out/run/mlperf.log" ] || die "$kind $impl: no MLPerf log at $out/run/mlperf.log"
    if "$@" stemdl compliance /out/run/mlperf.log >"$out/compliance.log" 2>&1; then
        RESULTS[compl-$kind-$impl]=PASS
    else
        RESULTS[compl-$kind-$impl]="FAIL"
    fi
    sed 's/^/    /' "$out/compliance.log"
    RESULTS[f1-$kind-$impl]=$(final_f1 "$out/run/results.json")
    echo "$kind $impl: F1 (best val / test) ${RESULTS[f1-$kind-$impl]}, compliance ${RESULTS[compl-$kind-$impl]}"
}

train_args() {  # one epoch of ResNet-18 on the tiny data (open division: the recipe is changed)
    case $1 in
        stfc) echo "data_dir=/data/raw run_dir=/out/run epochs=1 resnet=18 batch_size=4" \
                   "num_workers=0 progress=false division=open" ;;
        ornl) echo "--data-dir /data/raw --run-dir /out/run --epochs 1 --resnet 18 --batch-size 4" \
                   "--warmup-epochs 0 division=open" ;;
    esac
}

final_f1() {  # "best-val / test" macro F1 from results.json
    "$HOST_PY" - "$1" <<'PY'
import json, sys
try:
    data = json.load(open(sys.argv[1]))
except (OSError, ValueError) as err:
    print(f"n/a ({err.__class__.__name__})"); raise SystemExit
fmt = lambda v: "n/a" if not isinstance(v, (int, float)) else f"{v:.4f}"
print(f"{fmt(data.get('best_val_macro_f1'))}/{fmt(data.get('test_macro_f1'))}")
PY
}

podman_prefix() {  # the image's entry point is stemdl, so the prefix ends at the image name
    echo podman run --rm --network none -v "$WORK/data:/data:ro" -v "$1:/out" --entrypoint= "localhost/stemdl-bench:$2-cpu"
}

# ---------------------------------------------------------------------------- apptainer
build_sif() {
    local impl=$1 ctx=$2 t0; t0=$(now)
    say "apptainer build $impl.sif from docker-archive of localhost/stemdl-bench:$impl-cpu"
    rm -f "$WORK/$impl-cpu.tar" "$WORK/$impl.sif"
    podman save -q --format docker-archive -o "$WORK/$impl-cpu.tar" "localhost/stemdl-bench:$impl-cpu"
    if ! podman run --rm --privileged -v "$WORK:/work" -v "$ctx:/src:ro" -w /work "$TOOL_TAG" \
        apptainer build --fakeroot --force \
            --build-arg BOOTSTRAP=docker-archive --build-arg "BASE_IMAGE=/work/$impl-cpu.tar" \
            --build-arg VARIANT=cpu --build-arg SRC=/src \
            "/work/$impl.sif" "/src/containers/$impl.def" >"$WORK/sif-$impl.log" 2>&1; then
        tail -20 "$WORK/sif-$impl.log" >&2; die "apptainer build $impl failed (see $WORK/sif-$impl.log)"
    fi
    rm -f "$WORK/$impl-cpu.tar"
    grep -E 'selfcheck|already in the base image' "$WORK/sif-$impl.log" || true
    TIMES[sif-$impl]=$(secs "$t0")
    RESULTS[sifsize-$impl]=$(du -m "$WORK/$impl.sif" | awk '{ print $1 " MB" }')
}

apptainer_prefix() {  # apptainer exec as on a cluster, run inside the tool container
    echo podman run --rm --privileged -v "$WORK:/work" -v "$WORK/data:/data:ro" -v "$1:/out" "$TOOL_TAG" \
        apptainer exec --cleanenv --bind /data:/data:ro --bind /out:/out "/work/$2.sif"
}

# ---------------------------------------------------------------------------- main
summary() {
    say "summary (stemdl-bench container smoke test, work folder $WORK)"
    local k
    for k in apt base tool data; do [ -n "${TIMES[$k]:-}" ] && printf '  %-28s %6s s\n' "setup $k" "${TIMES[$k]}"; done
    printf '  %-8s %-10s %10s %10s %-14s %10s\n' impl kind build_s run_s "F1" compliance
    for impl in $IMPLS; do
        printf '  %-8s %-10s %10s %10s %-14s %10s   image %s\n' "$impl" podman "${TIMES[build-$impl]:--}" \
            "${TIMES[run-podman-$impl]:--}" "${RESULTS[f1-podman-$impl]:--}" \
            "${RESULTS[compl-podman-$impl]:--}" "${RESULTS[size-$impl]:--}"
        [ "${SMOKE_APPTAINER:-1}" = 0 ] && continue
        printf '  %-8s %-10s %10s %10s %-14s %10s   sif %s\n' "$impl" apptainer "${TIMES[sif-$impl]:--}" \
            "${TIMES[run-apptainer-$impl]:--}" "${RESULTS[f1-apptainer-$impl]:--}" \
            "${RESULTS[compl-apptainer-$impl]:--}" "${RESULTS[sifsize-$impl]:--}"
    done
}

main() {
    local t_all; t_all=$(now)
    preflight
    install_tools
    local_base
    tiny_data
    local ctx impl apptainer=${SMOKE_APPTAINER:-1}
    ctx=$(stage_context)
    if [ "$apptainer" = 1 ] && ! tool_image; then
        echo "apptainer half NOT run: no apptainer tool image (debootstrap of Debian sid failed)" >&2
        apptainer=skipped
    fi
    for impl in $IMPLS; do
        build_image "$impl" "$ctx"
        podman run --rm --entrypoint= "localhost/stemdl-bench:$impl-cpu" \
            python /opt/stemdl/share/stemdl/selfcheck.py "$impl"
        # shellcheck disable=SC2046
        run_in podman "$impl" "$WORK/runs/podman-$impl" -- $(podman_prefix "$WORK/runs/podman-$impl" "$impl")
        if [ "$apptainer" = 1 ]; then
            build_sif "$impl" "$ctx"
            # shellcheck disable=SC2046
            run_in apptainer "$impl" "$WORK/runs/apptainer-$impl" -- \
                $(apptainer_prefix "$WORK/runs/apptainer-$impl" "$impl")
        fi
    done
    summary
    echo "  total $(secs "$t_all") s"
    local bad=0 k
    for k in "${!RESULTS[@]}"; do [[ $k == compl-* && ${RESULTS[$k]} != PASS ]] && bad=1; done
    [ "$apptainer" = skipped ] && { echo "containers-smoke: apptainer half skipped (see above)" >&2; bad=1; }
    [ $bad = 0 ] && echo "containers-smoke: PASSED" || die "see the summary"
}

# `source smoke.sh` (SMOKE_LIB=1) loads the functions without running them
[ "${SMOKE_LIB:-0}" = 1 ] || main "$@"

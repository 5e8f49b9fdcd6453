#!/bin/bash
# SLURM smoke test (`make slurm-smoke`): the repository's own job templates under a real
# scheduler, on a one-node SLURM cluster on localhost that this script starts and stops.
#
#   1. installs munge and SLURM (Debian: slurm-wlm, slurmctld, slurmd, 22.05) when missing;
#   2. writes a minimal slurm.conf (node "localhost", 2 CPUs, no cgroups) in its work folder,
#      starts munged, slurmctld and slurmd as foreground children it stops at the end (also
#      on failure or Ctrl-C), and waits for the node to be idle;
#   3. data at scale: `stemdl simulate` and `stemdl preprocess` as 2-task job arrays
#      (containers/jobs/slurm-{simulate,preprocess}.sbatch) against 1-rank jobs: same samples,
#      same preprocessed files (sha256);
#   4. training: containers/jobs/slurm-{stfc,ornl}-1node.sbatch with 2 tasks on the node
#      (STFC: Lightning DDP over gloo; ORNL: MultiWorkerMirroredStrategy from the SLURM
#      cluster resolver), in the Apptainer SIFs when they can be built (else with the
#      project's venv, IMAGE=none; the output says which); per job: state, ranks in the
#      MLPerf log, `stemdl compliance`, and the log's last validation macro F1 against a
#      single-process `stemdl evaluate` of the saved model on the same split;
#   5. fault: `scontrol requeue` of the STFC job after its first epoch; the requeued job
#      resumes (the template passes --resume when SLURM_RESTART_COUNT > 0) and must end
#      with one complete, compliant log without a duplicated epoch.
# One line per job, a summary, exit 0 only when every check passed.
#
# Needs root (apt, daemons, podman). Where it cannot run it says why and exits 77 (skipped).
#
# Environment:
#   STEMDL_SLURM_DIR     work folder (cluster state, data, runs); default /var/tmp/stemdl-slurm
#   STEMDL_SMOKE_DIR     containers-smoke's work folder: base images and SIFs are shared
#   SLURM_SMOKE_RUNTIME  auto (default: SIFs if apptainer works, else venv), apptainer, venv
#   SLURM_SMOKE_EPOCHS   epochs of each training job (default 3; the requeue needs >= 2)
#   SLURMCTLD_PORT, SLURMD_PORT   default 6817, 6818
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
JOBS=$HERE/jobs
SW=${STEMDL_SLURM_DIR:-/var/tmp/stemdl-slurm}
VENV_BIN=${VENV_BIN:-$ROOT/.venv/bin}
RUNTIME=${SLURM_SMOKE_RUNTIME:-auto}
EPOCHS=${SLURM_SMOKE_EPOCHS:-3}
CTLD_PORT=${SLURMCTLD_PORT:-6817}
SLURMD_PORT=${SLURMD_PORT:-6818}
SKIP=77

# containers/smoke.sh's set-up functions (podman, base image, apptainer tool image, SIFs)
# shellcheck source=containers/smoke.sh
SMOKE_LIB=1 source "$HERE/smoke.sh"

say() { printf '\n==> %s\n' "$*"; }
skip() { printf '\nslurm-smoke: SKIPPED: %s\n' "$*" >&2; exit "$SKIP"; }
die() { printf '\nslurm-smoke: FAILED: %s\n' "$*" >&2; exit 1; }
now() { date +%s; }
declare -a LINES=()
FAILED=0
record() {  # record OK|FAIL "line"
    [ "$1" = OK ] || FAILED=1
    LINES+=("$(printf '%-4s %s' "$1" "$2")")
    printf '%-4s %s\n' "$1" "$2"
}

# ---------------------------------------------------------------------------- preflight
slurm_preflight() {
    [ "$(id -u)" -eq 0 ] || skip "needs root (apt-get, munged/slurmctld/slurmd); run it as root: sudo make slurm-smoke"
    [ "$(uname -s)" = Linux ] || skip "needs Linux"
    [ -x "$VENV_BIN/stemdl" ] || skip "no $VENV_BIN/stemdl: run \`make install\` first"
    case $RUNTIME in auto|apptainer|venv) ;; *) die "SLURM_SMOKE_RUNTIME must be auto, apptainer or venv, not '$RUNTIME'" ;; esac
    case $EPOCHS in ''|*[!0-9]*) die "SLURM_SMOKE_EPOCHS must be an integer >= 2, not '$EPOCHS'" ;; esac
    [ "$EPOCHS" -ge 2 ] && [ "$EPOCHS" -le 20 ] || die "SLURM_SMOKE_EPOCHS must be in 2..20 (the requeue needs a second epoch), not $EPOCHS"
    mkdir -p "$SW"
}

install_slurm() {
    local need=() t
    for t in munged slurmctld slurmd sbatch srun scontrol; do command -v "$t" >/dev/null || need+=("$t"); done
    [ ${#need[@]} -eq 0 ] && return
    command -v apt-get >/dev/null || skip "missing ${need[*]} and no apt-get (install munge, slurm-wlm, slurmctld, slurmd)"
    say "installing munge and SLURM (apt: munge slurm-wlm slurmctld slurmd slurm-client)"
    local pkgs=(munge slurm-wlm slurmctld slurmd slurm-client)
    # the packages' services are not started: this script runs its own daemons
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${pkgs[@]}" \
        >"$SW/apt.log" 2>&1 || { apt-get update -q >>"$SW/apt.log" 2>&1 && \
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${pkgs[@]}" \
        >>"$SW/apt.log" 2>&1; } || skip "apt-get install ${pkgs[*]} failed (see $SW/apt.log)"
}

# ---------------------------------------------------------------------------- the cluster
MOUNTS=()
unmount_all() {
    local m i
    for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do m=${MOUNTS[$i]}; umount -l "$m" 2>/dev/null || true; done
}

PIDS=()
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [ -n "${SLURM_CONF:-}" ] && [ -f "$SLURM_CONF" ] && [ ${#PIDS[@]} -gt 0 ]; then
        local jobs; jobs=$(squeue -h -o %A 2>/dev/null | sort -u | paste -sd' ')
        if [ -n "$jobs" ]; then  # cancel, then let slurmd reap the steps before it stops
            # shellcheck disable=SC2086
            scancel --quiet $jobs 2>/dev/null || true
            for _ in $(seq 60); do [ -z "$(squeue -h 2>/dev/null)" ] && break; sleep 0.5; done
        fi
    fi
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -9 "$pid" 2>/dev/null || true
    done
    [ ${#PIDS[@]} -gt 0 ] && echo "slurm-smoke: stopped munged, slurmctld, slurmd (${PIDS[*]})"
    unmount_all
    exit "$status"
}

write_conf() {
    local c=$SW/cluster
    rm -rf "$c"; mkdir -p "$c/state" "$c/spool" "$c/munge"; chmod 0700 "$c/munge"
    # munge: a fresh key and a private socket, so a site's munged is never touched
    dd if=/dev/urandom of="$c/munge/munge.key" bs=1024 count=1 status=none
    chmod 0400 "$c/munge/munge.key"
    cat >"$c/slurm.conf" <<EOF
# written by stemdl-bench containers/slurm-smoke.sh: a one-node cluster on localhost
ClusterName=stemdl-smoke
SlurmctldHost=localhost
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
AuthType=auth/munge
AuthInfo=socket=$c/munge/munge.socket
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$c/state
SlurmdSpoolDir=$c/spool
SlurmctldPidFile=$c/slurmctld.pid
SlurmdPidFile=$c/slurmd.pid
SlurmctldLogFile=$c/slurmctld.log
SlurmdLogFile=$c/slurmd.log
SlurmdParameters=config_overrides
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
JobRequeue=1
MinJobAge=3600
KillWait=15
NodeName=localhost NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=smoke Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
    export SLURM_CONF=$c/slurm.conf
}

start_cluster() {
    local c=$SW/cluster pid
    say "starting munged, slurmctld, slurmd (one node: localhost, 2 CPUs; conf $c/slurm.conf)"
    trap cleanup EXIT
    trap 'echo "slurm-smoke: interrupted" >&2; exit 130' INT TERM
    munged -F --force --socket="$c/munge/munge.socket" --key-file="$c/munge/munge.key" \
        --pid-file="$c/munge/munged.pid" --log-file="$c/munge/munged.log" \
        --seed-file="$c/munge/munged.seed" >"$c/munged.out" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 50); do [ -S "$c/munge/munge.socket" ] && break; sleep 0.2; done
    [ -S "$c/munge/munge.socket" ] || die "munged did not start (see $c/munged.out, $c/munge/munged.log)"
    slurmctld -D -i -f "$SLURM_CONF" >"$c/slurmctld.out" 2>&1 &
    PIDS+=($!)
    slurmd -D -N localhost -f "$SLURM_CONF" >"$c/slurmd.out" 2>&1 &
    PIDS+=($!)
    local state=
    for _ in $(seq 120); do
        state=$(sinfo -h -n localhost -o %T 2>/dev/null || true)
        [ "$state" = idle ] && break
        for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null \
            || die "a daemon exited (see $c/slurmctld.out, $c/slurmd.out, $c/*.log)"; done
        sleep 1
    done
    [ "$state" = idle ] || die "node localhost is '$state', not idle, after 120 s (see $c/slurmctld.log, $c/slurmd.log)"
    echo "node localhost idle: $(sinfo -h -N -o '%N %c CPUs, partition %P, %T') ($(sinfo -V))"
}

# ---------------------------------------------------------------------------- jobs
# submit NAME TEMPLATE [sbatch options...] [-- template args...]: prints the job id
submit() {
    local name=$1 template=$2; shift 2
    local opts=() args=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
    [ $# -gt 0 ] && shift
    args=("$@")
    mkdir -p "$SW/logs"
    sbatch --parsable --job-name="smoke-$name" --output="$SW/logs/$name-%j.out" \
        --chdir="$SW" "${opts[@]}" "$JOBS/$template" "${args[@]}" | cut -d';' -f1
}

job_field() {  # job_field JOBID FIELD -> value from scontrol show job (first task of an array)
    scontrol -o show job "$1" 2>/dev/null | head -1 | tr ' ' '\n' | sed -n "s/^$2=//p" | head -1
}

STATES=
wait_job() {  # wait_job JOBID [TIMEOUT_S]: waits until every task ended; sets STATES
    local id=$1 limit=${2:-1500} t0
    t0=$(now)
    while :; do
        STATES=$(scontrol -o show job "$id" 2>/dev/null | tr ' ' '\n' | sed -n 's/^JobState=//p' | sort -u | paste -sd,)
        case $STATES in *PENDING*|*RUNNING*|*CONFIGURING*|*COMPLETING*|*REQUEUED*|*SUSPENDED*|'') ;; *) break ;; esac
        if [ $(( $(now) - t0 )) -gt "$limit" ]; then
            scancel "$id" 2>/dev/null || true
            STATES="TIMEOUT(smoke, ${limit}s)"; break
        fi
        sleep 3
    done
}

# ---------------------------------------------------------------------------- runtime
# SIF path: the CPU SIFs of containers-smoke (cached by a digest of the sources they hold),
# run by `apptainer` on PATH: Debian 12 has none, so $SW/bin/apptainer runs Debian sid's
# apptainer (the containers-smoke tool image, unpacked) in a chroot. The job's processes
# stay in the step's process tree (srun signals and kills them as it would on a cluster).
source_digest() {  # source_digest IMPL: what the IMPL image runs (the other implementation's folder left out)
    local other=ornl; [ "$1" = ornl ] && other=stfc
    (cd "$ROOT" && find pyproject.toml README.md stemdl common stfc ornl compliance containers/install.sh \
        containers/selfcheck.py containers/Dockerfile "containers/$1.def" -type f ! -name '*.pyc' \
        ! -path '*__pycache__*' ! -path "$other/*" -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
}

build_sifs() {
    local digest impl ctx=
    for impl in stfc ornl; do
        digest=$(source_digest "$impl")
        if [ -s "$WORK/$impl.sif" ] && [ "$(cat "$WORK/$impl.sif.src" 2>/dev/null)" = "$digest" ]; then
            echo "SIF $WORK/$impl.sif is up to date with the sources (cached)"; continue
        fi
        rm -f "$WORK/$impl.sif.src"
        [ -n "$ctx" ] || ctx=$(stage_context)
        build_image "$impl" "$ctx"
        build_sif "$impl" "$ctx"
        echo "$digest" >"$WORK/$impl.sif.src"
    done
}

APPTAINER_ROOT=
unpack_apptainer() {
    # the tool image's root file system, with the host's /proc, /sys, /dev and work folders
    APPTAINER_ROOT=$SW/apptainer-root
    if [ ! -x "$APPTAINER_ROOT/usr/bin/apptainer" ]; then
        rm -rf "$APPTAINER_ROOT"; mkdir -p "$APPTAINER_ROOT"
        local cid; cid=$(podman create -q "$TOOL_TAG" true)
        podman export "$cid" | tar -C "$APPTAINER_ROOT" -x
        podman rm -f "$cid" >/dev/null
    fi
    # apptainer makes "/" a slave mount in its namespace: the chroot's root must be a mount point
    mountpoint -q "$APPTAINER_ROOT" || { mount --bind "$APPTAINER_ROOT" "$APPTAINER_ROOT"; MOUNTS+=("$APPTAINER_ROOT"); }
    cp /etc/hosts /etc/resolv.conf "$APPTAINER_ROOT/etc/" 2>/dev/null || true
    local d
    for d in /proc /sys /dev /dev/pts /tmp "$WORK" "$SW"; do
        mkdir -p "$APPTAINER_ROOT$d"
        mountpoint -q "$APPTAINER_ROOT$d" || { mount --bind "$d" "$APPTAINER_ROOT$d"; MOUNTS+=("$APPTAINER_ROOT$d"); }
    done
    mkdir -p "$SW/bin"
    mkdir -p "$APPTAINER_ROOT/.oldroot"
    local unshare pivot  # full paths: a job's PATH (make's, sbatch's) may lack /usr/sbin
    unshare=$(PATH=$PATH:/usr/sbin:/sbin command -v unshare) && pivot=$(PATH=$PATH:/usr/sbin:/sbin command -v pivot_root) \
        || { echo "unshare or pivot_root not found (util-linux)"; return 1; }
    cat >"$SW/bin/apptainer" <<EOF
#!/bin/bash
# written by containers/slurm-smoke.sh: Debian sid's apptainer (Debian 12 has none), run with
# that file system as root in a private mount namespace (pivot_root: apptainer refuses chroot)
exec $unshare --mount --propagation private /bin/sh -c 'cd "\$0" && $pivot . .oldroot && cd / \\
    && /usr/bin/umount -l /.oldroot && { cd "\$1" 2>/dev/null || cd /; } && shift && exec /usr/bin/apptainer "\$@"' \\
    "$APPTAINER_ROOT" "\$PWD" "\$@"
EOF
    chmod +x "$SW/bin/apptainer"
}

choose_runtime() {
    # sets MODE (apptainer or venv) and says why
    MODE=venv
    [ "$RUNTIME" = venv ] && { echo "runtime: venv (SLURM_SMOKE_RUNTIME=venv)"; return; }
    local why=
    if ! ( install_tools && local_base && tool_image ) >"$SW/sif-setup.log" 2>&1; then
        why="podman/apptainer tool image set-up failed (see $SW/sif-setup.log)"
    elif ! build_sifs >>"$SW/sif-setup.log" 2>&1; then
        why="SIF build failed (see $SW/sif-setup.log)"
    elif ! unpack_apptainer >>"$SW/sif-setup.log" 2>&1; then
        why="apptainer could not be unpacked (see $SW/sif-setup.log)"
    elif ! (cd "$SW" && PATH=$SW/bin:$PATH apptainer exec "$WORK/stfc.sif" stemdl --version) >>"$SW/sif-setup.log" 2>&1; then
        why="apptainer exec of $WORK/stfc.sif failed (see $SW/sif-setup.log)"
    fi
    if [ -z "$why" ]; then
        MODE=apptainer
        echo "runtime: Apptainer SIFs $WORK/stfc.sif, $WORK/ornl.sif ($(PATH=$SW/bin:$PATH apptainer --version), via $SW/bin/apptainer)"
    elif [ "$RUNTIME" = apptainer ]; then
        die "SLURM_SMOKE_RUNTIME=apptainer, but $why"
    else
        echo "runtime: venv $VENV_BIN (IMAGE=none): no SIF, because $why"
    fi
}

# ---------------------------------------------------------------------------- checks
ok_states() { [ -n "$1" ] && [ "$(echo "$1" | tr ',' '\n' | grep -cv '^COMPLETED$')" -eq 0 ]; }
CHECK() { "$VENV_BIN/python" "$HERE/slurm_checks.py" "$@"; }
f4() { printf '%.4f' "$1" 2>/dev/null || echo "${1:-n/a}"; }
mlval() { "$VENV_BIN/python" -c 'import json,sys; print(json.loads(sys.argv[1]).get(sys.argv[2]))' "$1" "$2"; }

data_jobs() {
    local d=$SW/data j1 j2 s1 s2 res
    rm -rf "$d"; mkdir -p "$d"
    # 3 space groups x 10 random crystals, one energy, 32 px: 30 samples (24 train, 3 val, 3 test)
    local sim=(--preset demo --space-groups 194,221,225 --materials-per-group 10 --energies 1 --size 32)
    say "data: stemdl simulate, 1 rank and a 2-task job array (containers/jobs/slurm-simulate.sbatch)"
    j1=$(submit sim-1rank slurm-simulate.sbatch --export="ALL,SIM_OUT=$d/raw-1rank" -- "${sim[@]}")
    j2=$(submit sim-array slurm-simulate.sbatch --array=0-1 --export="ALL,SIM_OUT=$d/raw-2ranks" -- "${sim[@]}")
    wait_job "$j1"; s1=$STATES; wait_job "$j2"; s2=$STATES
    if ok_states "$s1" && ok_states "$s2" && res=$(CHECK samples "$d/raw-1rank" "$d/raw-2ranks"); then
        record OK "simulate     (venv) jobs $j1 (1 rank) + $j2 (array 0-1): $s1 / $s2; $res"
    else
        record FAIL "simulate     (venv) jobs $j1 (1 rank) + $j2 (array 0-1): ${s1:-?} / ${s2:-?}; ${res:-not compared} (logs $SW/logs)"
        return 1
    fi
    say "data: stemdl preprocess, 1 rank and a 2-task job array (containers/jobs/slurm-preprocess.sbatch)"
    j1=$(submit pre-1rank slurm-preprocess.sbatch --export="ALL,RAW=$d/raw-1rank,PRE_OUT=$d/npz-1rank" -- --size 32)
    j2=$(submit pre-array slurm-preprocess.sbatch --array=0-1 --export="ALL,RAW=$d/raw-1rank,PRE_OUT=$d/npz-2ranks" -- --size 32)
    wait_job "$j1"; s1=$STATES; wait_job "$j2"; s2=$STATES; res=
    if ok_states "$s1" && ok_states "$s2" && res=$(CHECK files "$d/npz-1rank" "$d/npz-2ranks"); then
        record OK "preprocess   (venv) jobs $j1 (1 rank) + $j2 (array 0-1): $s1 / $s2; $res"
    else
        record FAIL "preprocess   (venv) jobs $j1 (1 rank) + $j2 (array 0-1): ${s1:-?} / ${s2:-?}; ${res:-not compared} (logs $SW/logs)"
        return 1
    fi
    DATA=$d/npz-1rank
}

train_args() {  # ResNet-18 on the tiny data, open division (the recipe is changed)
    case $1 in
        stfc) echo "epochs=$EPOCHS resnet=18 batch_size=4 progress=false division=open" ;;
        ornl) echo "--epochs $EPOCHS --resnet 18 --batch-size 4 --warmup-epochs 0 division=open" ;;
    esac
}

image_for() { [ "$MODE" = apptainer ] && echo "$WORK/$1.sif" || echo none; }

# the first epoch's validation has been logged and a checkpoint written
first_epoch_done() {
    local run=$1
    grep -q '"key": "eval_stop"' "$run/mlperf.log" 2>/dev/null || return 1
    case $2 in
        stfc) [ -s "$run/checkpoints/last.ckpt" ] ;;
        ornl) compgen -G "$run/checkpoints/*.index" >/dev/null || compgen -G "$run/checkpoints/*/*.index" >/dev/null ;;
    esac
}

evaluate_f1() {  # single-process evaluation of the saved model on the validation split
    local impl=$1 run=$2 out
    case $impl in
        stfc) OMP_NUM_THREADS=1 "$VENV_BIN/stemdl" evaluate stfc --checkpoint "$run/model.pt" --data "$DATA" \
                  --split val --workers 0 --json "$run/eval-val.json" >"$run/eval-val.log" 2>&1 || return 1
              "$VENV_BIN/python" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["macro_f1"], d["samples"])' \
                  "$run/eval-val.json" ;;
        ornl) OMP_NUM_THREADS=1 "$VENV_BIN/stemdl" evaluate ornl --run-dir "$run" --data-dir "$DATA" --split val \
                  --no-write >"$run/eval-val.log" 2>&1 || return 1
              sed -n 's/^ornl [a-z]*: macro F1 \([0-9.]*\), top-1 [0-9.]*, \([0-9]*\) samples.*/\1 \2/p' "$run/eval-val.log" | tail -1 ;;
    esac
}

train_job() {  # train_job IMPL [requeue]
    local impl=$1 fault=${2:-} id run states summary ranks f1 ev evf1 evn compl dup line requeued=no
    local image; image=$(image_for "$impl")
    say "train $impl: containers/jobs/slurm-$impl-1node.sbatch, 1 node x 2 tasks, CPU, image $image${fault:+, scontrol requeue after epoch 1}"
    # shellcheck disable=SC2046
    id=$(submit "$impl" "slurm-$impl-1node.sbatch" --nodes=1 --ntasks-per-node=2 --cpus-per-task=1 \
        --gpus-per-node=0 --time=00:40:00 \
        --export="ALL,IMAGE=$image,DATA=$DATA,OUT=$SW/runs,OMP_NUM_THREADS=1,TF_CPP_MIN_LOG_LEVEL=2" \
        -- $(train_args "$impl"))
    run=$SW/runs/$impl-$id
    if [ -n "$fault" ]; then
        local t0; t0=$(now)
        until first_epoch_done "$run" "$impl"; do
            case $(job_field "$id" JobState) in PENDING|RUNNING|CONFIGURING) ;; *) break ;; esac
            [ $(( $(now) - t0 )) -lt 1500 ] || break
            sleep 0.5
        done
        if first_epoch_done "$run" "$impl" && [ "$(job_field "$id" JobState)" = RUNNING ]; then
            scontrol requeue "$id" && requeued=yes
            echo "scontrol requeue $id after epoch 1 ($(grep -c '"key": "epoch_stop"' "$run/mlperf.log") epoch(s) logged)"
        fi
    fi
    wait_job "$id" 2400; states=$STATES
    local restarts; restarts=$(job_field "$id" Restarts)
    summary=$(CHECK mllog "$run/mlperf.log" 2>/dev/null || echo '{}')
    ranks=$(mlval "$summary" ranks); f1=$(mlval "$summary" last_eval_macro_f1); dup=$(mlval "$summary" duplicated_epochs)
    compl=FAIL; "$VENV_BIN/stemdl" compliance "$run/mlperf.log" >"$run.compliance.log" 2>&1 && compl=PASS
    ev=$(evaluate_f1 "$impl" "$run" || true); evf1=${ev% *}; evn=${ev#* }
    local match=no
    # `stemdl evaluate ornl` prints 4 decimals (STFC's --json has them all): equal to within
    # half the last printed digit (3 validation samples: macro F1 values lie >= 0.01 apart)
    [ -n "$ev" ] && [ "$f1" != None ] && "$VENV_BIN/python" -c \
        'import sys; a, b = sys.argv[1:3]; d = len(b.partition(".")[2]); tol = 0.5 * 10 ** -d if d <= 6 else 1e-9
sys.exit(abs(float(a) - float(b)) > tol)' "$f1" "$evf1" && match=yes
    local logn; logn=$(mlval "$summary" eval_samples)
    [ "$logn" = "$evn" ] || match=no
    line="$(printf '%-12s' "$impl")job $id ($MODE): $states, ranks $ranks, val macro F1 log $(f4 "$f1") / evaluate $(f4 "${evf1:-}") ($logn / ${evn:-?} samples) match=$match, compliance $compl"
    local epochs want; epochs=$(mlval "$summary" epochs); want="[$(seq -s', ' 1 "$EPOCHS")]"
    line+=", epochs $epochs"
    [ -n "$fault" ] && line+=", requeued=$requeued restarts=${restarts:-?} duplicated epochs $dup, run_start x$(mlval "$summary" run_starts)"
    if ok_states "$states" && [ "$ranks" = 2 ] && [ "$match" = yes ] && [ "$compl" = PASS ] \
        && [ "$epochs" = "$want" ] && [ "$dup" = "[]" ] && [ "$(mlval "$summary" run_starts)" = 1 ] \
        && { [ -z "$fault" ] || { [ "$requeued" = yes ] && [ "${restarts:-0}" -ge 1 ]; }; }; then
        record OK "$line"
    else
        record FAIL "$line (job log $SW/logs/$impl-$id.out, run $run)"
        sed 's/^/    /' "$run.compliance.log" 2>/dev/null | tail -5 || true
    fi
}

# ---------------------------------------------------------------------------- main
main() {
    local t_all; t_all=$(now)
    slurm_preflight
    install_slurm
    write_conf
    start_cluster
    choose_runtime
    export PATH=$SW/bin:$VENV_BIN:$PATH
    rm -rf "$SW/runs" "$SW/logs"; mkdir -p "$SW/runs" "$SW/logs"
    if data_jobs; then
        train_job stfc requeue
        train_job ornl
    fi
    say "summary (stemdl-bench SLURM smoke test, runtime $MODE, work folder $SW)"
    printf '  %s\n' "${LINES[@]}"
    echo "  total $(( $(now) - t_all )) s"
    [ "$FAILED" = 0 ] && echo "slurm-smoke: PASSED" || die "see the lines above"
}

[ "${SLURM_SMOKE_LIB:-0}" = 1 ] || main "$@"

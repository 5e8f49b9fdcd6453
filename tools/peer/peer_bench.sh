#!/usr/bin/env bash
# make peer-bench: stemdl-bench against MLCommons' upstream STEMDL code, on the same data,
# in interleaved rounds (ratios within a round). Upstream is extracted at run time from a
# git mirror into PEER_DIR (outside the project) and never copied into the project.
#
# usage: tools/peer/peer_bench.sh        (settings from the environment, as `make peer-bench`)
#   MIRROR      a (bare) git mirror of github.com/mlcommons/science           (required)
#   PEER_DIR    scratch folder outside the project: data, upstream, runs, results (required)
#   REF_VENV    the reference venv upstream runs in (tools/peer/README.md)     (required)
#   STEPS       "preprocess train" (default both), or one of them
#   ROUNDS      training rounds (default 5); PRE_ROUNDS preprocessing rounds (default 3)
#   N_RAW       raw stacks to make and preprocess (default 1000, 3.1 GB at 512 px)
#   TRAIN_TOOLS training runs per round (default: both implementations at matched threads:
#               ours-stfc-1t up-stfc-1t ours-ornl-1t up-ornl)
# Prints the per-round ratio tables and writes them to PEER_DIR/results/BATCH_ID/report.md.
# Exit: 0 all runs ended 0; 1 a run failed (named); 2 bad settings (one line, nothing run);
# 143/130 stopped by SIGTERM/SIGINT (the running step's processes are stopped first).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
PROJECT=${PROJECT:-$(cd "$HERE/../.." && pwd)}

if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
  sed -n '2,/^set -u/p' "$0" | sed -e '/^set -u/d' -e 's/^# \{0,1\}//'
  exit 0
fi
die() { echo "peer-bench: $*" >&2; exit 2; }

[ -n "${MIRROR:-}" ] || die "set MIRROR to a git mirror of github.com/mlcommons/science (e.g. make peer-bench MIRROR=/path/science.git PEER_DIR=... REF_VENV=...)"
git -C "$MIRROR" cat-file -e HEAD:benchmarks/stemdl 2>/dev/null \
  || die "MIRROR=$MIRROR is not a git mirror of github.com/mlcommons/science (no benchmarks/stemdl at HEAD)"
[ -n "${PEER_DIR:-}" ] || die "set PEER_DIR to a scratch folder outside the project (about 8 GB)"
PEER_DIR=$(realpath -m "$PEER_DIR")
case "$PEER_DIR/" in "$(realpath "$PROJECT")/"*)
  die "PEER_DIR=$PEER_DIR is inside the project: upstream code and data must stay outside it" ;;
esac
mkdir -p "$PEER_DIR" 2>/dev/null || die "cannot create PEER_DIR=$PEER_DIR"
[ -n "${REF_VENV:-}" ] || die "set REF_VENV to the reference venv (its install line is in tools/peer/README.md)"
[ -x "$REF_VENV/bin/python" ] || die "REF_VENV=$REF_VENV has no bin/python; make it as tools/peer/README.md says"
why=$("$REF_VENV/bin/python" -c "import torch, torchvision, pytorch_lightning, cv2, h5py, sklearn, yaml" 2>&1) \
  || die "REF_VENV=$REF_VENV cannot import what upstream needs ($(tail -n 1 <<< "$why")); install it as tools/peer/README.md says"
[ -x "$PROJECT/.venv/bin/stemdl" ] || die "no $PROJECT/.venv/bin/stemdl: run make install first"
STEPS=${STEPS:-preprocess train}
for s in $STEPS; do case $s in preprocess|train) ;; *) die "STEPS: unknown step '$s' (preprocess, train)" ;; esac; done
ROUNDS=${ROUNDS:-5}; PRE_ROUNDS=${PRE_ROUNDS:-3}; N_RAW=${N_RAW:-1000}
for v in ROUNDS PRE_ROUNDS N_RAW; do
  [[ ${!v} =~ ^[0-9]+$ ]] && (( ${!v} >= 1 )) || die "$v=${!v}: a whole number of at least 1"
done
(( ROUNDS <= 20 && PRE_ROUNDS <= 20 )) || die "ROUNDS and PRE_ROUNDS: at most 20 (each round is minutes)"
(( N_RAW >= 400 && N_RAW <= 8000 )) || die "N_RAW=$N_RAW: between 400 (320 training stacks are needed) and 8000 (25 GB)"
need_gb=$(( N_RAW * 3 / 1000 + 3 ))
[ -d "$PEER_DIR/raw-$N_RAW/flat" ] && need_gb=3
free_gb=$(( $(df -Pk "$PEER_DIR" | awk 'NR==2 {print $4}') / 1048576 ))
(( free_gb >= need_gb )) || die "PEER_DIR has ${free_gb} GB free; this run needs about ${need_gb} GB"
TRAIN_TOOLS=${TRAIN_TOOLS:-ours-stfc-1t up-stfc-1t ours-ornl-1t up-ornl}

# One peer-bench per PEER_DIR (a batch system may start the same job twice).
exec 9> "$PEER_DIR/.peer-bench.lock"
flock -n 9 || die "another peer-bench is running in PEER_DIR=$PEER_DIR"

export PROJECT PEER_DIR REF_VENV
export BATCH_ID=${BATCH_ID:-b$(date +%m%d%H%M%S)}
export RESULTS=$PEER_DIR/results/$BATCH_ID
mkdir -p "$RESULTS"
STATUS=$RESULTS/status.txt
echo "running since $(date -Is)" > "$STATUS"
child=""
stop() {  # stop the running step (its whole process group), record how it ended
  local sig=$1 code=$2
  [ -n "$child" ] && kill -TERM -- "-$child" 2>/dev/null
  [ -n "$child" ] && wait "$child" 2>/dev/null
  echo "stopped by SIG$sig at $(date -Is)" > "$STATUS"
  echo "peer-bench: stopped by SIG$sig; partial results in $RESULTS" >&2
  exit "$code"
}
trap 'stop TERM 143' TERM
trap 'stop INT 130' INT
step() {  # run one step in its own process group, so that a stop reaches all of it
  set -m
  "$@" &
  child=$!
  set +m
  wait "$child"
  local rc=$?
  child=""
  return $rc
}

# Upstream, fresh from the mirror (the same commit is recorded with the results).
commit=$(git -C "$MIRROR" rev-parse HEAD)
rm -rf "$PEER_DIR/upstream.partial" && mkdir -p "$PEER_DIR/upstream.partial"
git -C "$MIRROR" archive HEAD benchmarks/stemdl | tar -x -C "$PEER_DIR/upstream.partial" \
  || die "could not extract benchmarks/stemdl from MIRROR=$MIRROR"
rm -rf "$PEER_DIR/upstream" && mv "$PEER_DIR/upstream.partial" "$PEER_DIR/upstream"
{
  echo "# peer-bench $BATCH_ID, $(date -Is)"
  echo
  echo "upstream: github.com/mlcommons/science $commit (benchmarks/stemdl)"
  echo "ours: stemdl-bench $(git -C "$PROJECT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$PROJECT" diff --quiet HEAD 2>/dev/null || echo ' (uncommitted changes)')"
  echo "reference venv: $("$REF_VENV/bin/python" -c 'import torch, pytorch_lightning as pl; print(f"torch {torch.__version__}, pytorch_lightning {pl.__version__}")')"
  echo "machine: $(nproc) cores, $(uname -m), load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "settings: STEPS='$STEPS' ROUNDS=$ROUNDS PRE_ROUNDS=$PRE_ROUNDS N_RAW=$N_RAW TRAIN_TOOLS='$TRAIN_TOOLS'"
} > "$RESULTS/report.md"
cat "$RESULTS/report.md"

RAW=$PEER_DIR/raw-$N_RAW
if [ ! -d "$RAW/flat" ]; then
  echo "== making $N_RAW raw stacks (ORNL layout, 512 px) in $RAW"
  rm -rf "$RAW.partial"
  step "$PROJECT/.venv/bin/python" "$HERE/make_raw.py" "$RAW.partial" --n "$N_RAW" \
    || { echo "failed" > "$STATUS"; echo "peer-bench: make_raw.py failed" >&2; exit 1; }
  mv "$RAW.partial" "$RAW"   # split/ links to flat/ by relative path: the rename keeps them
fi

failed=0
log=$RESULTS/runs.txt
if [[ " $STEPS " == *" preprocess "* ]]; then
  step "$HERE/bench_preprocess.sh" "$N_RAW" "$PRE_ROUNDS" ours-npz upstream ours-packed floor2 > >(tee -a "$log")
  { echo; echo "## Preprocessing, raw 512 px -> 128 px, $N_RAW stacks, 2 processes"; echo
    "$PROJECT/.venv/bin/python" "$HERE/summarize_preprocess.py" "$RESULTS/preprocess.csv"; } >> "$RESULTS/report.md"
fi
if [[ " $STEPS " == *" train "* ]]; then
  NPZ=$PEER_DIR/out/ours-npz-$N_RAW
  if [ ! -d "$NPZ/train" ]; then
    step "$PROJECT/.venv/bin/stemdl" preprocess "$RAW/flat" "$NPZ" --format npz --workers 2 --no-progress \
      || { echo "failed" > "$STATUS"; echo "peer-bench: stemdl preprocess failed" >&2; exit 1; }
  fi
  # training data: its own copy of ours' npz output (both implementations read these files)
  TRAINSET=$PEER_DIR/trainset-$N_RAW
  if [ ! -d "$TRAINSET/inference" ]; then
    rm -rf "$TRAINSET.partial"
    step "$HERE/make_trainset.sh" "$NPZ" "$TRAINSET.partial" 320 32 && mv "$TRAINSET.partial" "$TRAINSET" \
      || { echo "failed" > "$STATUS"; echo "peer-bench: make_trainset.sh failed" >&2; exit 1; }
  fi
  export DATA=$TRAINSET
  # shellcheck disable=SC2086
  step "$HERE/bench_train.sh" "$ROUNDS" $TRAIN_TOOLS > >(tee -a "$log")
  { echo; echo "## Training one epoch (ResNet-50, 128 px, batch 32, float32, 320 stacks), ratios per round"; echo
    "$PROJECT/.venv/bin/python" "$HERE/ratios_train.py" "$RESULTS/train.csv"; echo
    echo "Per run:"; echo
    "$PROJECT/.venv/bin/python" "$HERE/summarize_train.py" "$RESULTS/train.csv"; } >> "$RESULTS/report.md"
fi
grep -E 'rc=[1-9]' "$log" > "$RESULTS/failed.txt" && failed=1
sed -n '/^## /,$p' "$RESULTS/report.md"
if (( failed )); then
  echo "failed: $(wc -l < "$RESULTS/failed.txt") run(s) ended non-zero ($RESULTS/failed.txt; each run's log.txt)" > "$STATUS"
  echo "peer-bench: $(cat "$STATUS")" >&2
  exit 1
fi
echo "ended 0 at $(date -Is)" > "$STATUS"
echo "peer-bench: report in $RESULTS/report.md"

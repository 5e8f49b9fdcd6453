#!/usr/bin/env bash
: "${PROJECT:?set PROJECT to the project checkout}" "${PEER_DIR:?set PEER_DIR to a scratch folder}" "${REF_VENV:?set REF_VENV to the reference venv}"
# Step 1: preprocessing raw -> 128 px on the same raw data, interleaved rounds.
# usage: bench_preprocess.sh N ROUNDS [TOOLS...]
#   N: raw data set $PEER_DIR/raw-N (made by make_raw.py); ROUNDS: interleaved rounds
#   TOOLS (default: floor1 floor2 ours-npz upstream ours-packed): run in this order in odd
#   rounds, reversed in even rounds.
# env RAW_PREFIX (default raw-): data set $PEER_DIR/${RAW_PREFIX}N, e.g. RAW_PREFIX=raw128-
#   for the 128 px scaling probe; the N column of the CSV then reads e.g. raw128-16000.
# env KEEP_OUTPUT=0: delete each run's output folder after counting it (big probes).
# Each run: `uptime`, then the whole command under /usr/bin/time-like wall clock (bash
# $EPOCHREALTIME), output folder removed before. Results appended to
# $PEER_DIR/results/preprocess.csv as: n,round,tool,seconds,samples,load1,start_time
set -u
N=$1; ROUNDS=$2; shift 2
TOOLS=("$@"); [ ${#TOOLS[@]} -eq 0 ] && TOOLS=(floor1 floor2 ours-npz upstream ours-packed)
PREFIX=${RAW_PREFIX:-raw-}
RAW=$PEER_DIR/$PREFIX$N
TAG=$N; [ "$PREFIX" != raw- ] && TAG=$PREFIX$N
OUT=$PEER_DIR/out
RES=${RESULTS:-$PEER_DIR/results}; mkdir -p "$RES" "$OUT" "$RES/logs"
CSV=$RES/preprocess.csv
[ -f "$CSV" ] || echo "n,round,tool,seconds,samples,load1,start_time" > "$CSV"
OURS=$PROJECT/.venv/bin/stemdl
PYMAIN=$PROJECT/.venv/bin/python
PYREF=$REF_VENV/bin/python
UPDIR=$PEER_DIR/upstream/benchmarks/stemdl/ornl/preprocess
HERE=$(cd "$(dirname "$0")" && pwd)

run_tool() {  # tool round
  local tool=$1 round=$2 dest log
  dest=$OUT/$tool-$TAG; log=$RES/logs/pre-$tool-$TAG-r$round.log
  rm -rf "$dest"
  sync
  local load; load=$(cut -d' ' -f1 /proc/loadavg)
  echo "== N=$TAG round=$round tool=$tool  $(uptime)"
  local t0=$EPOCHREALTIME start; start=$(date +%T)
  case $tool in
    floor1) $PYMAIN "$HERE/floor_read.py" "$RAW/flat" --workers 1 > "$log" 2>&1 ;;
    floor2) $PYMAIN "$HERE/floor_read.py" "$RAW/flat" --workers 2 > "$log" 2>&1 ;;
    ours-npz) $OURS preprocess "$RAW/flat" "$dest" --format npz --workers 2 --no-progress > "$log" 2>&1 ;;
    ours-packed) $OURS preprocess "$RAW/flat" "$dest" --format packed --workers 2 --no-progress > "$log" 2>&1 ;;
    upstream) (cd "$UPDIR" && $PYREF preprocessor_parallel.py "$RAW/split" "$dest" 2) > "$log" 2>&1 ;;
  esac
  local rc=$?
  local t1=$EPOCHREALTIME
  local secs; secs=$(python3 -c "print(f'{$t1-$t0:.3f}')")
  local samples
  case $tool in
    floor*) samples=$(grep -o 'samples=[0-9]*' "$log" | cut -d= -f2) ;;
    ours-packed) samples=$($PYMAIN -c "
import h5py,glob,sys
print(sum(int(h5py.File(p,'r').attrs['count']) for p in glob.glob('$dest/*/part-*.h5')))") ;;
    *) samples=$(find "$dest" -name '*.npz' | wc -l) ;;
  esac
  echo "   rc=$rc seconds=$secs samples=$samples rate=$(python3 -c "print(f'{$samples/$secs:.1f}')")/s"
  echo "$TAG,$round,$tool,$secs,$samples,$load,$start" >> "$CSV"
  [ "${KEEP_OUTPUT:-1}" = 0 ] && rm -rf "$dest"
}

for ((r=1; r<=ROUNDS; r++)); do
  if (( r % 2 == 1 )); then order=("${TOOLS[@]}"); else order=(); for ((i=${#TOOLS[@]}-1; i>=0; i--)); do order+=("${TOOLS[$i]}"); done; fi
  for tool in "${order[@]}"; do run_tool "$tool" "$r"; done
done

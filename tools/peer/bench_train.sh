#!/usr/bin/env bash
: "${PROJECT:?set PROJECT to the project checkout}" "${PEER_DIR:?set PEER_DIR to a scratch folder}" "${REF_VENV:?set REF_VENV to the reference venv}"
# Step 2: training throughput, ResNet-50 at 128 px, batch 32, on the same npz files.
# usage: bench_train.sh ROUNDS TOOL... [-- EXTRA]
#   TOOL: ours-stfc | up-stfc | ours-ornl | up-ornl | up-ornl-2t (upstream ORNL with its
#   torch.set_num_threads(1) neutralised, see run_upstream_ornl.py)
#   Suffix -1t (e.g. ours-stfc-1t, up-stfc-1t, ours-ornl-1t): the same run with one compute
#   thread, set from the environment only: OMP_NUM_THREADS=1 (torch, oneDNN) and
#   TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 (TensorFlow).
#   Tools run in the given order in odd rounds, reversed in even rounds.
# env: DATA (default $PEER_DIR/trainset, made by make_trainset.sh), EPOCHS (default 1),
#   ORNL_EPOCHS (default $EPOCHS)
# Each run gets a fresh folder $PEER_DIR/runs/TOOL-rROUND (upstream ORNL auto-resumes from
# checkpoints in its working directory; ours refuses a used run_dir). Wall time of the
# whole command -> $RESULTS/train.csv (RESULTS defaults to $PEER_DIR/results):
# tool,round,seconds,load1,start_time,run_dir,t0 (t0: the wall clock when the process started)
set -u
ROUNDS=$1; shift
TOOLS=("$@")
DATA=${DATA:-$PEER_DIR/trainset}
EPOCHS=${EPOCHS:-1}
ORNL_EPOCHS=${ORNL_EPOCHS:-$EPOCHS}
HERE=$(cd "$(dirname "$0")" && pwd)
BATCH_ID=${BATCH_ID:-b$(date +%H%M%S)}   # run folders of one invocation: $PEER_DIR/runs/BATCH_ID-TOOL-rROUND
RES=${RESULTS:-$PEER_DIR/results}; mkdir -p "$RES"
CSV=$RES/train.csv
[ -f "$CSV" ] || echo "tool,round,seconds,load1,start_time,run_dir,t0" > "$CSV"
UP=$PEER_DIR/upstream/benchmarks/stemdl
PYMAIN=$PROJECT/.venv/bin/python
PYREF=$REF_VENV/bin/python

run_tool() {
  local tool=$1 round=$2
  local run=$PEER_DIR/runs/$BATCH_ID-$tool-r$round
  rm -rf "$run"; mkdir -p "$run"
  local load; load=$(cut -d' ' -f1 /proc/loadavg)
  echo "== round=$round tool=$tool  $(uptime)"
  local t0=$EPOCHREALTIME start; start=$(date +%T)
  local base=${tool%-1t}
  if [ "$base" != "$tool" ]; then
    export OMP_NUM_THREADS=1 TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1
  else
    unset OMP_NUM_THREADS TF_NUM_INTRAOP_THREADS TF_NUM_INTEROP_THREADS
  fi
  case $base in
    ours-stfc)
      PEER_TIMING_JSON=$run/timing.json $PYMAIN "$HERE/run_ours_stfc.py" \
        --config $PROJECT/configs/stfc/default.yaml \
        train_dir=$DATA/training val_dir=$DATA/validation test_dir=$DATA/testing \
        inference_dir=$DATA/inference run_dir=$run/out epochs=$EPOCHS > "$run/log.txt" 2>&1 ;;
    up-stfc)
      sed -e "s#^train_dir:.*#train_dir: $DATA/training#" -e "s#^val_dir:.*#val_dir: $DATA/validation#" \
          -e "s#^test_dir:.*#test_dir: $DATA/testing#" -e "s#^inference_dir:.*#inference_dir: $DATA/inference#" \
          -e "s#^epochs:.*#epochs: $EPOCHS#" "$UP/stfc/stemdlConfig.yaml" > "$run/stemdlConfig.yaml"
      (cd "$run" && PEER_TIMING_JSON=$run/timing.json $PYREF "$HERE/run_upstream_stfc.py" \
        "$UP/stfc/stemdl_classification.py" --config "$run/stemdlConfig.yaml") > "$run/log.txt" 2>&1 ;;
    ours-ornl)
      # `--train-dir $DATA/training --val-dir $DATA/validation` (the form in docs/ORNL.md) is
      # refused by ours ("no recognised layout"): pass a folder holding only training/ and
      # validation/ (symlinks) as --data-dir instead, so no test phase runs (upstream has none).
      mkdir -p "$run/data"; ln -s $DATA/training "$run/data/training"; ln -s $DATA/validation "$run/data/validation"
      PEER_TIMING_JSON=$run/timing.json $PYMAIN "$HERE/run_ours_ornl.py" --data-dir "$run/data" \
        --run-dir $run/out --epochs $ORNL_EPOCHS --batch-size 32 > "$run/log.txt" 2>&1 ;;
    up-ornl|up-ornl-2t)
      local flag=""; [ $tool = up-ornl-2t ] && flag=--keep-threads
      mkdir -p "$run/logs"
      (cd "$run" && PEER_TIMING_JSON=$run/timing.json $PYREF "$HERE/run_upstream_ornl.py" $flag \
        "$UP/ornl/sgcl_runner.py" --train-dir $DATA/training --val-dir $DATA/validation \
        --epochs $ORNL_EPOCHS --batch-size 32 --log-dir "$run/logs" \
        --checkpoint-format "$run/checkpoint-{epoch}.pth.tar") > "$run/log.txt" 2>&1 ;;
  esac
  local rc=$?
  local t1=$EPOCHREALTIME
  local secs; secs=$(python3 -c "print(f'{$t1-$t0:.1f}')")
  echo "   rc=$rc wall=${secs}s  $(uptime | sed 's/.*load/load/')"
  echo "$tool,$round,$secs,$load,$start,$run,$t0" >> "$CSV"
}

for ((r=1; r<=ROUNDS; r++)); do
  if (( r % 2 == 1 )); then order=("${TOOLS[@]}"); else order=(); for ((i=${#TOOLS[@]}-1; i>=0; i--)); do order+=("${TOOLS[$i]}"); done; fi
  for tool in "${order[@]}"; do run_tool "$tool" "$r"; done
done

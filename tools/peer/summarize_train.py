#!/usr/bin/env python3
"""Summarise $PEER_DIR/results/train.csv and the per-run timing files.

Training samples/s, three ways:
  loop    : all training samples of epoch 1 / (end of last batch - start of first batch)
  steady  : samples of batches 3..n / (end of batch n - end of batch 2) (the time between
            batches, i.e. data loading, is included; the first 2 batches are left out)
  own     : what the implementation reports itself (ours: results.json train_samples_per_s,
            epoch_start..epoch_stop of the train loop; upstream STFC: stemdlLog
            training_per_epoch = wall time of trainer.fit incl. sanity check and validation;
            upstream ORNL: nothing, tqdm's rate is shown in its log only)
Sources of the batch times: STFC (both) pl_timing.LoopTimer callback; upstream ORNL tqdm
update() times (run_upstream_ornl.py); ours ORNL: tqdm update() times (run_ours_ornl.py).

usage: summarize_train.py [CSV]
"""
import csv
import json
import os
import re
import statistics as st
import sys
from collections import defaultdict
from pathlib import Path

path = sys.argv[1] if len(sys.argv) > 1 else os.path.expandvars("$PEER_DIR/results/train.csv")
rows = list(csv.DictReader(open(path)))
BATCH = 32


def rates_from_times(starts, ends, sizes):
    n = len(ends)
    loop = sum(sizes) / (ends[-1] - starts[0]) if n else None
    steady = sum(sizes[2:]) / (ends[-1] - ends[1]) if n > 2 else None
    return loop, steady, n


def stfc_timing(run):
    p = Path(run) / "timing.json"
    if not p.exists():
        return None
    t = json.loads(p.read_text())
    e0 = t["epoch_start"][0]
    e_end = t["epoch_end"][0] if t["epoch_end"] else None
    idx = [i for i, s in enumerate(t["batch_start"]) if s >= e0 and (e_end is None or s <= e_end)]
    starts = [t["batch_start"][i] for i in idx]
    ends = [t["batch_end"][i] for i in idx]
    sizes = [t["batch_size"][i] or BATCH for i in idx]
    return rates_from_times(starts, ends, sizes)


def tqdm_loop_timing(run, prefix):
    """Batch times of the first training bar whose desc starts with `prefix` (tqdm_timing).
    All batches are taken as full (use a training count divisible by 32)."""
    p = Path(run) / "timing.json"
    if not p.exists():
        return None
    t = json.loads(p.read_text())
    key = next((k for k in t if k.startswith(prefix)), None)
    if key is None:
        return None
    times = t[key]  # [created, after batch 1, after batch 2, ...]
    n = len(times) - 1
    loop = BATCH * n / (times[-1] - times[0]) if n else None
    steady = BATCH * (n - 2) / (times[-1] - times[2]) if n > 2 else None
    return loop, steady, n


def own(tool, run):
    run = Path(run)
    if tool.startswith("ours"):
        p = run / "out" / "results.json"
        if p.exists():
            r = json.loads(p.read_text())
            eps = r.get("epochs") or []
            per_epoch = [e.get("train_samples_per_s") for e in eps]
            return per_epoch
    if tool.startswith("up-stfc"):
        p = run / "stemdlLog"
        if p.exists():
            m = re.search(r"samples_per_gpu=([\d.]+).*training_per_epoch=([\d.]+)", p.read_text())
            if m:
                return [float(m.group(1)) / float(m.group(2))]
    return None


out = defaultdict(list)
print("| tool | round | wall s | load1 at start | batches | loop samples/s | steady samples/s | own samples/s |")
print("|---|---|---|---|---|---|---|---|")
for r in rows:
    tool, run = r["tool"], r["run_dir"]
    base = tool[:-3] if tool.endswith("-1t") else tool
    if base.endswith("stfc"):
        tm = stfc_timing(run)
    elif base.startswith("up-ornl"):
        tm = tqdm_loop_timing(run, "Train Epoch     #1#")
    elif base == "ours-ornl":
        tm = tqdm_loop_timing(run, "train epoch 1#")
    else:
        tm = None
    o = own(tool, run)
    loop, steady, n = tm if tm else (None, None, None)
    def f(v):
        return "-" if v is None else f"{v:.2f}"
    ostr = "-" if not o else ", ".join(f(v) for v in o)
    print(f"| {tool} | {r['round']} | {r['seconds']} | {r['load1']} | {n or '-'} | {f(loop)} | {f(steady)} | {ostr} |")
    out[tool].append((float(r["seconds"]), loop, steady, o, int(r["round"])))

print()
print("| tool | runs | steady samples/s best / median | loop best / median | own (epoch 1) best / median | wall s min / median |")
print("|---|---|---|---|---|---|")
for tool, v in out.items():
    def bm(xs):
        xs = [x for x in xs if x is not None]
        return "-" if not xs else f"{max(xs):.2f} / {st.median(xs):.2f}"
    walls = [x[0] for x in v]
    print(f"| {tool} | {len(v)} | {bm([x[2] for x in v])} | {bm([x[1] for x in v])} | "
          f"{bm([x[3][0] if x[3] else None for x in v])} | {min(walls):.0f} / {st.median(walls):.0f} |")

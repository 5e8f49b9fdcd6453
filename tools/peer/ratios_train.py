#!/usr/bin/env python3
"""Per-round ratios ours / upstream from a bench_train.sh CSV and the runs' timing files.

Pairs are taken within one bench_train.sh invocation (BATCH_ID, from the run folder name)
and one round. Per run, from the per-step times (pl_timing for STFC, tqdm_timing for ORNL):
  steady   samples of steps 3..n / (end of step n - end of step 2), samples/s
  loop     all training samples / (end of last step - start of first), samples/s
  start-up process start -> start of the first training step, s (needs the CSV's t0 and
           the timing file's "_clock"; "-" for runs recorded before either existed)
  first    the first training step, s
  after    end of the last training step -> process end (validation, writing, exit), s
Ratios: steady and loop ours / upstream (>1: ours faster); wall, start-up and first step
upstream / ours (>1: ours takes less time).

usage: ratios_train.py [CSV]     (default $PEER_DIR/results/train.csv)
"""
from __future__ import annotations

import csv
import json
import os
import re
import statistics as st
import sys
from pathlib import Path

BATCH = 32
PAIRS = [("ours-stfc", "up-stfc"), ("ours-stfc-1t", "up-stfc-1t"), ("ours-ornl", "up-ornl"),
         ("ours-ornl-1t", "up-ornl")]


def _wall(t: dict, perf: float | None) -> float | None:
    """A perf_counter reading of the timed process on the wall clock."""
    clock = t.get("_clock")
    return None if clock is None or perf is None else clock[1] + (perf - clock[0])


def stfc_steps(t: dict) -> tuple[list[float], list[float], list[int]]:
    """Start and end times and sizes of the first training epoch's steps (pl_timing)."""
    e0 = t["epoch_start"][0]
    e1 = t["epoch_end"][0] if t["epoch_end"] else None
    idx = [i for i, s in enumerate(t["batch_start"]) if s >= e0 and (e1 is None or s <= e1)]
    return ([t["batch_start"][i] for i in idx], [t["batch_end"][i] for i in idx],
            [t["batch_size"][i] or BATCH for i in idx])


def tqdm_steps(t: dict, prefix: str) -> tuple[list[float], list[float], list[int]]:
    """The first bar named `prefix`: step i starts when step i-1 ends (tqdm_timing)."""
    times = t[next(k for k in t if k.startswith(prefix))]  # [created, after step 1, ...]
    n = len(times) - 1
    return times[:-1], times[1:], [BATCH] * n


def run_figures(tool: str, run: str, wall: float, t0: float | None) -> dict:
    t = json.loads((Path(run) / "timing.json").read_text())
    base = tool[:-3] if tool.endswith("-1t") else tool
    if base.endswith("stfc"):
        starts, ends, sizes = stfc_steps(t)
    elif base.startswith("up-ornl"):
        starts, ends, sizes = tqdm_steps(t, "Train Epoch     #1#")
    else:
        starts, ends, sizes = tqdm_steps(t, "train epoch 1#")
    first_start = _wall(t, starts[0])
    last_end = _wall(t, ends[-1])
    return dict(
        wall=wall,
        steady=sum(sizes[2:]) / (ends[-1] - ends[1]),
        loop=sum(sizes) / (ends[-1] - starts[0]),
        first=ends[0] - starts[0],
        startup=None if t0 is None or first_start is None else first_start - t0,
        after=None if t0 is None or last_end is None else t0 + wall - last_end,
    )


def _f(v: float | None, fmt: str = ".1f") -> str:
    return "-" if v is None else format(v, fmt)


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def main(path: str) -> int:
    rows = list(csv.DictReader(open(path)))
    data = {}
    for r in rows:
        batch = re.search(r"/(b\d+)-", r["run_dir"]).group(1)
        t0 = float(r["t0"]) if r.get("t0") else None
        try:
            figs = run_figures(r["tool"], r["run_dir"], float(r["seconds"]), t0)
        except (OSError, KeyError, StopIteration, IndexError, ZeroDivisionError) as exc:
            print(f"skipped {r['tool']} round {r['round']} ({r['run_dir']}): no usable timing "
                  f"({type(exc).__name__}); see its log.txt", file=sys.stderr)
            continue
        data[(batch, int(r["round"]), r["tool"])] = dict(figs, load=float(r["load1"]))

    print("| pair | batch | round | steady ours / up (samples/s) | steady ratio | wall s ours / up "
          "| wall ratio up/ours | start-up s ours / up | first step s ours / up "
          "| after last step s ours / up |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    summary: dict = {}
    for a, b in PAIRS:
        for (batch, rnd, tool), va in sorted(data.items()):
            if tool != a or (batch, rnd, b) not in data:
                continue
            vb = data[(batch, rnd, b)]
            ratios = dict(steady=_ratio(va["steady"], vb["steady"]),
                          loop=_ratio(va["loop"], vb["loop"]),
                          wall=_ratio(vb["wall"], va["wall"]),
                          startup=_ratio(vb["startup"], va["startup"]),
                          first=_ratio(vb["first"], va["first"]))
            summary.setdefault((a, b), []).append(ratios)
            print(f"| {a} / {b} | {batch} | {rnd} | {va['steady']:.2f} / {vb['steady']:.2f} | "
                  f"{ratios['steady']:.2f} | {va['wall']:.0f} / {vb['wall']:.0f} | "
                  f"{ratios['wall']:.2f} | {_f(va['startup'])} / {_f(vb['startup'])} | "
                  f"{va['first']:.1f} / {vb['first']:.1f} | {_f(va['after'])} / {_f(vb['after'])} |")
    print()
    print("| pair | rounds | steady ratio per round | median | loop ratio median "
          "| wall ratio (up/ours) per round | median | start-up ratio median | first-step ratio median |")
    print("|---|---|---|---|---|---|---|---|---|")

    def med(v: list, key: str) -> str:
        xs = [x[key] for x in v if x[key] is not None]
        return _f(st.median(xs), ".2f") if xs else "-"

    def per_round(v: list, key: str) -> str:
        return ", ".join(_f(x[key], ".2f") for x in v)

    for (a, b), v in summary.items():
        print(f"| {a} / {b} | {len(v)} | {per_round(v, 'steady')} | "
              f"{med(v, 'steady')} | {med(v, 'loop')} | {per_round(v, 'wall')} | "
              f"{med(v, 'wall')} | {med(v, 'startup')} | {med(v, 'first')} |")
    if not summary:
        print("no pair of runs to compare", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1
                  else os.path.expandvars("$PEER_DIR/results/train.csv")))

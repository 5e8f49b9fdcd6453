#!/usr/bin/env python3
"""Summarise $PEER_DIR/results/preprocess.csv: samples/s per tool and N (min/median/max
time -> best/median rate), load averages, and ratios computed within each round (same
interleaved round), then their median.

usage: summarize_preprocess.py [CSV]
"""
import csv
import os
import statistics as st
import sys
from collections import defaultdict

path = sys.argv[1] if len(sys.argv) > 1 else os.path.expandvars("$PEER_DIR/results/preprocess.csv")
rows = list(csv.DictReader(open(path)))
by = defaultdict(list)
rounds = defaultdict(dict)
loads = defaultdict(list)
for r in rows:
    n, tool = r["n"], r["tool"]
    rate = int(r["samples"]) / float(r["seconds"])
    by[(n, tool)].append((float(r["seconds"]), rate))
    rounds[(n, int(r["round"]))][tool] = rate
    loads[n].append(float(r["load1"]))

tools = ["floor1", "floor2", "ours-npz", "ours-packed", "upstream"]
print("| N | tool | runs | seconds min / median | samples/s best / median |")
print("|---|---|---|---|---|")
def nkey(n):
    return (not n.isdigit(), len(n), n)


for n in sorted({k[0] for k in by}, key=nkey):
    for t in tools:
        v = by.get((n, t))
        if not v:
            continue
        secs = [s for s, _ in v]
        rates = [x for _, x in v]
        print(f"| {n} | {t} | {len(v)} | {min(secs):.2f} / {st.median(secs):.2f} | "
              f"{max(rates):.1f} / {st.median(rates):.1f} |")
print()
pairs = [("ours-npz", "upstream"), ("ours-packed", "upstream"), ("ours-npz", "floor2"),
         ("ours-packed", "floor2"), ("ours-npz", "floor1"), ("upstream", "floor2")]
print("| N | ratio (rate a / rate b, per round) | per round | median | load1 min..max |")
print("|---|---|---|---|---|")
for n in sorted(loads, key=nkey):
    rs = sorted(k[1] for k in rounds if k[0] == n)
    for a, b in pairs:
        vals = [rounds[(n, r)][a] / rounds[(n, r)][b] for r in rs
                if a in rounds[(n, r)] and b in rounds[(n, r)]]
        if vals:
            print(f"| {n} | {a} / {b} | {', '.join(f'{v:.2f}' for v in vals)} | "
                  f"{st.median(vals):.2f} | {min(loads[n]):.1f}..{max(loads[n]):.1f} |")

#!/usr/bin/env python3
"""Run MLCommons' STFC stemdl_classification.py unchanged, on CPU, with loop timing.

What this wrapper changes (everything else is upstream's code, executed as __main__):
  1. `pytorch_lightning.plugins.DDPPlugin` is given a placeholder when the installed
     Lightning (1.8+) no longer has it: the script imports it and never uses it.
  2. pl.Trainer keyword arguments: gpus=N -> accelerator='cpu', devices=1; precision=16 ->
     32 (Lightning refuses fp16 on CPU); strategy='ddp' -> None (single process).
  3. A timing callback (pl_timing.LoopTimer) is appended to the Trainer's callbacks; it
     writes per-batch timestamps to $PEER_TIMING_JSON.

usage: PEER_TIMING_JSON=t.json run_upstream_stfc.py UPSTREAM_SCRIPT --config CFG
"""
import os
import runpy
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import pl_timing  # noqa: E402
import pytorch_lightning.plugins as plp  # noqa: E402

CHANGES = []

if not hasattr(plp, "DDPPlugin"):
    class DDPPlugin:  # placeholder; upstream imports it but never uses it
        def __init__(self, *a, **k):
            raise RuntimeError("placeholder DDPPlugin")
    plp.DDPPlugin = DDPPlugin
    CHANGES.append("pytorch_lightning.plugins.DDPPlugin placeholder")


def cpu_kwargs(kwargs):
    before = dict(kwargs)
    if "gpus" in kwargs:
        kwargs.pop("gpus")
        kwargs["accelerator"] = "cpu"
        kwargs["devices"] = 1
    if kwargs.get("precision") in (16, "16"):
        kwargs["precision"] = 32
    if kwargs.get("strategy") == "ddp":
        kwargs["strategy"] = None
    changed = {k: (before.get(k), kwargs.get(k)) for k in set(before) | set(kwargs)
               if before.get(k) != kwargs.get(k)}
    print(f"[peer wrapper] Trainer kwargs changed: {changed}", flush=True)
    return kwargs


pl_timing.install(cpu_kwargs)

script = sys.argv[1]
sys.argv = [script] + sys.argv[2:]
print(f"[peer wrapper] torch threads: {__import__('torch').get_num_threads()}; changes: {CHANGES}",
      flush=True)
runpy.run_path(script, run_name="__main__")

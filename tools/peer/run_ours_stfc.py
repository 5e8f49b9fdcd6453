#!/usr/bin/env python3
"""Run `stemdl train stfc ...` (the project under test, unchanged) with the same loop timer
that run_upstream_stfc.py puts on upstream's Trainer (pl_timing.LoopTimer appended to the
Trainer's callbacks; no other change). Timestamps go to $PEER_TIMING_JSON.

usage: PEER_TIMING_JSON=t.json run_ours_stfc.py [stemdl train stfc arguments...]
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import pl_timing  # noqa: E402

pl_timing.install()

from stemdl.cli import main  # noqa: E402

# main() reads sys.argv, as the `stemdl` command does, so the command's exit path is
# the one measured (freeze_for_exit runs only for the command itself).
sys.argv = ["stemdl", "train", "stfc", *sys.argv[1:]]
sys.exit(main())

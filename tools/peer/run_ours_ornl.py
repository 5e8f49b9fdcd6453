#!/usr/bin/env python3
"""Run `stemdl train ornl ...` (the project under test, unchanged) with tqdm_timing installed,
so that its per-step progress updates are time-stamped into $PEER_TIMING_JSON (the same
instrument as on upstream ORNL). No other change.

usage: PEER_TIMING_JSON=t.json run_ours_ornl.py [stemdl train ornl arguments...]
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import tqdm_timing  # noqa: E402

tqdm_timing.install()
tqdm_timing.install_stemdl_lines()

from stemdl.cli import main  # noqa: E402

# main() reads sys.argv, as the `stemdl` command does, so the command's exit path is
# the one measured (freeze_for_exit runs only for the command itself).
sys.argv = ["stemdl", "train", "ornl", *sys.argv[1:]]
sys.exit(main())

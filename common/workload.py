"""The STEMDL data's fixed facts, stated once: what every sample of every task is.

A stack of 3 CBED patterns with its space group, the preprocessing transform's constants,
the input normalizations and the split names. What depends on the task (its metric,
target and recipes) lives in the task's package (common/tasks/, see common/task.py).
"""

from __future__ import annotations

# --- the samples ---------------------------------------------------------------
NUM_SPACE_GROUPS = 230
MIN_LABEL, MAX_LABEL = 1, 230  # every sample's space group (both tasks' samples carry one)
PATTERNS_PER_STACK = 3  # one CBED pattern per zone axis (per probe position in a scan)
# A scan (`stemdl simulate --scan N`, the density task's input) holds N x N probe positions
# per zone axis: 3 * N^2 patterns, axis-major, positions row-major (y, then x).
MAX_SCAN = 32  # ORNL's largest data: 32 x 32 positions
RAW_IMAGE_SIZE = 512  # pixels per side in the ORNL raw data
INPUT_IMAGE_SIZE = 128  # pixels per side after preprocessing (MLCommons/STFC layout)

# --- preprocessing (ORNL/MLCommons): max(log(x), -17) + 17, x10, clip 0..255, area-resize
LOG_FLOOR = -17.0
LOG_SCALE = 10.0
CLIP_MAX = 255.0

# --- what the network is fed (common/data/normalize.py) ----------------------------
# standardize: per pattern position, (x - mean) / std of the training split (estimated on
#   a seeded sample of at most STATS_SAMPLES stacks); unit: x / 255; none: 0..255 as is.
# The recipes keep what they fed before (STFC: 0..255 as upstream; ORNL: x / 255): our runs
# did not show standardizing to help (docs/STFC.md), so it is an open-division option.
INPUT_NORMS = ("standardize", "unit", "none")
STATS_SAMPLES = 512

# --- canonical split names ----------------------------------------------------
SPLITS = ("train", "val", "test", "inference")


def is_stack_depth(patterns: int) -> bool:
    """True for a sample's pattern count: 3 (one per zone axis) or 3 x N^2 (a scan)."""
    return patterns >= PATTERNS_PER_STACK and patterns % PATTERNS_PER_STACK == 0


def scan_positions(patterns: int) -> int:
    """Probe positions per zone axis of a sample of `patterns` patterns (1: no scan)."""
    return patterns // PATTERNS_PER_STACK


def is_valid_label(label: int) -> bool:
    """True for a space-group number the benchmark can hold (1..230)."""
    return MIN_LABEL <= int(label) <= MAX_LABEL

"""Classification's split checks: enough space groups to score a macro F1."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from stemdl.common.cli.errors import DataError
from stemdl.common.tasks.classify.facts import MIN_CLASSES
from stemdl.common.workload import PATTERNS_PER_STACK


def splits_note(readers: Mapping[str, Any]) -> str | None:
    """Space groups the validation split holds and training never shows: the network
    cannot predict them, so each scores an F1 of 0 in the macro mean."""
    if "train" not in readers or "val" not in readers:
        return None
    unseen = sorted(set(np.unique(np.asarray(readers["val"].labels())).tolist())
                    - set(np.unique(np.asarray(readers["train"].labels())).tolist()))
    if not unseen:
        return None
    shown = ", ".join(str(g) for g in unseen[:5]) + (", ..." if len(unseen) > 5 else "")
    return (f"{len(unseen)} space group(s) of the validation split never appear in training "
            f"({shown}): the network cannot predict them, and each scores F1 0 in the macro F1")


def check_split(reader: Any, where: str | Path | None, min_classes: int | None = None) -> None:
    """One-line errors for a train/val split of fewer than 2 space groups, or fewer than
    the config's `min_classes`, or of probe scans (the density task's input)."""
    if len(reader):
        depth = int(reader.image_shape()[0])
        if depth != PATTERNS_PER_STACK:
            raise DataError(f"{where}: the {reader.split} split holds probe scans ({depth} "
                            f"patterns per sample); classification takes one pattern per zone "
                            "axis: simulate without --scan, or train task=density on it")
    classes = np.unique(np.asarray(reader.labels()))
    if min_classes is not None and classes.size < min_classes:
        raise DataError(f"{where}: the {reader.split} split holds {classes.size} classes, fewer "
                        f"than the min_classes={min_classes} asked")
    if classes.size < MIN_CLASSES:
        only = f" (space group {int(classes[0])})" if classes.size else ""
        raise DataError(f"{where}: the {reader.split} split holds {classes.size} class{only}; "
                        f"training and validation need at least {MIN_CLASSES} space groups")

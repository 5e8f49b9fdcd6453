"""Opening and checking the ORNL run's splits (no TensorFlow: errors come before start-up)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stemdl.common.errors import DataError, StemdlError
from stemdl.common.samples import FirstN, SampleReader
from stemdl.common.workload import INPUT_IMAGE_SIZE, MAX_LABEL, MIN_LABEL


def open_checked(root: str | Path | None, split: str, key: str, limit: int | None = None,
                 min_classes: int | None = None) -> SampleReader:
    """A reader for `split` of `root`, with one-line errors for what cannot work."""
    from stemdl.common.readers import open_split

    if root is None:
        raise StemdlError(f"config key '{key}' (or data_dir) is required")
    reader = open_split(root, split)
    n = len(reader)
    if n == 0:
        raise DataError(f"{root}: the {split} split holds no samples")
    if limit is not None:
        if n < limit:
            raise DataError(f"{root}: the {split} split holds {n} samples, fewer than the {limit} asked")
        reader = FirstN(reader, limit)
    if reader.layout == "raw":
        size = reader.image_shape()[-1]
        if size > INPUT_IMAGE_SIZE and size % INPUT_IMAGE_SIZE:
            raise DataError(f"{root}: raw patterns of {size} px cannot be reduced to {INPUT_IMAGE_SIZE}")
    labels = reader.labels()
    bad = labels[(labels < MIN_LABEL) | (labels > MAX_LABEL)]
    if bad.size:
        raise DataError(f"{root}: label {int(bad[0])} of the {split} split is not a space group 1..230")
    classes = int(np.unique(labels).size)
    if min_classes is not None and classes < min_classes:
        raise DataError(
            f"{root}: the {split} split holds {classes} classes, fewer than the {min_classes} asked"
        )
    return reader


def open_optional(root: str | Path | None, split: str) -> SampleReader | None:
    """A checked reader for `split` if `root` holds it, else None (test/inference are optional)."""
    from stemdl.common.readers import list_splits

    if root is None or not Path(root).exists() or split not in list_splits(root):
        return None
    return open_checked(root, split, f"{split}_dir")

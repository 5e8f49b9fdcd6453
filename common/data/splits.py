"""One entry point to every layout: detect a folder's layout and open a split of it.

    open_split(root, split) -> SampleReader   (split: canonical or on-disk name)
    list_splits(root)       -> {canonical split: path}
    detect_layout(root)     -> "raw" | "npz" | "packed"

Readers yield `Sample(stack float32 (3, H, W), label, material)` and open their files
lazily per process, so they can be handed to DataLoader / tf.data worker processes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stemdl.common.data.layouts import (
    NPZ,
    PACKED,
    RAW,
    canonical_split,
    detect_layout,
    list_splits,
    npz_split_dirs,
    packed_split_dirs,
    raw_split_files,
    split_not_found,
)
from stemdl.common.data.npz import NpzReader
from stemdl.common.data.packed import PackedReader, read_manifest
from stemdl.common.data.raw import RawReader
from stemdl.common.data.samples import FirstN, Sample, SampleReader
from stemdl.common.errors import DataError, StemdlError
from stemdl.common.workload import INPUT_IMAGE_SIZE, MAX_LABEL, MIN_LABEL

__all__ = [
    "NpzReader",
    "PackedReader",
    "RawReader",
    "Sample",
    "SampleReader",
    "detect_layout",
    "list_splits",
    "open_split",
]

Reader = RawReader | NpzReader | PackedReader


def open_split(root: str | Path, split: str) -> Reader:
    """A reader for one split of a raw, npz or packed folder (layout detected)."""
    path = Path(root)
    layout = detect_layout(path)
    canon = canonical_split(split)
    if layout == RAW:
        files = raw_split_files(path)
        if canon not in files:
            raise split_not_found(path, split, list(files))
        return RawReader(files[canon][1], canon)
    if layout == NPZ:
        dirs = npz_split_dirs(path)
        if canon not in dirs:
            raise split_not_found(path, split, list(dirs))
        return NpzReader(dirs[canon], canon)
    if layout == PACKED:
        read_manifest(path)
        dirs = packed_split_dirs(path)
        if canon not in dirs:
            raise split_not_found(path, split, list(dirs))
        return PackedReader(dirs[canon], canon)
    raise DataError(f"{path}: unknown layout {layout}")  # unreachable: detect_layout checks


def open_checked(root: str | Path | None, split: str, key: str, limit: int | None = None,
                 min_classes: int | None = None) -> SampleReader:
    """A reader for `split` of `root`, with one-line errors for what cannot work."""
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
    if root is None or not Path(root).exists() or split not in list_splits(root):
        return None
    return open_checked(root, split, f"{split}_dir")

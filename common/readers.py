"""One entry point to every layout: detect a folder's layout and open a split of it.

    open_split(root, split) -> SampleReader   (split: canonical or on-disk name)
    list_splits(root)       -> {canonical split: path}
    detect_layout(root)     -> "raw" | "npz" | "packed"

Readers yield `Sample(stack float32 (3, H, W), label, material)` and open their files
lazily per process, so they can be handed to DataLoader / tf.data worker processes.
"""

from __future__ import annotations

from pathlib import Path

from stemdl.common.errors import DataError
from stemdl.common.layouts import (
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
from stemdl.common.reader_npz import NpzReader
from stemdl.common.reader_packed import PackedReader, read_manifest
from stemdl.common.reader_raw import RawReader
from stemdl.common.samples import Sample, SampleReader

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

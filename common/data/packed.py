"""The packed layout (ours, built for throughput) and its reader.

Folder: ``stemdl-packed.json`` (format name and version) and one sub-folder per split
(split names carried over from the input) holding ``part-*.h5`` files, one per
preprocessing task (up to PART_SAMPLES samples each: a few large files per split, not
one file per sample). Each part holds:

- ``images``    float32 (n, 3, S, S), contiguous (not chunked, not compressed), so the
                reader can memory-map it: a random sample is one memcpy, no HDF5 call;
- ``labels``    int16 (n,); ``materials`` UTF-8 strings (n,);
- attribute ``count``: the valid rows (bad input samples are skipped, so rows
  count..n-1 may be unused).

Images stay float32: the area mean of clipped log values is not integral, so uint8
would be lossy.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import numpy as np

from stemdl.common.cli.errors import DataError
from stemdl.common.data.layouts import PACKED, PACKED_MANIFEST, PART_GLOB, natural_key
from stemdl.common.data.raw import open_h5
from stemdl.common.data.samples import Sample
from stemdl.common.workload import MAX_LABEL, MIN_LABEL

FORMAT_NAME = "stemdl-packed"
FORMAT_VERSION = 1


def manifest(image_size: int) -> dict:
    """The manifest written at the top of a packed folder."""
    return {"format": FORMAT_NAME, "version": FORMAT_VERSION, "image_size": image_size,
            "dtype": "float32", "parts": PART_GLOB}


def read_manifest(root: Path) -> dict:
    """The manifest of a packed folder; a DataError if unreadable or of another version."""
    path = Path(root) / PACKED_MANIFEST
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: unreadable manifest ({err})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
        raise DataError(f"{path}: not a {FORMAT_NAME} manifest")
    if data.get("version") != FORMAT_VERSION:
        raise DataError(f"{path}: format version {data.get('version')} is not {FORMAT_VERSION}")
    return data


class _Part:
    """One part file: its index and (per process) a memory map of its images."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with open_h5(path) as handle:
            try:
                images = handle["images"]
                self.count = int(handle.attrs["count"])
                self.labels = np.asarray(handle["labels"][: self.count], dtype=np.int64)
                self.materials = [
                    m.decode() if isinstance(m, bytes) else str(m)
                    for m in handle["materials"][: self.count]
                ]
                self.shape = tuple(images.shape[1:])
                offset = images.id.get_offset()
                contiguous = images.chunks is None and images.compression is None
                little_f4 = images.dtype == np.dtype("<f4")
            except (KeyError, OSError, ValueError) as err:
                raise DataError(f"{path}: not a valid packed part ({err})") from None
        if len(self.shape) != 3 or self.count > images.shape[0]:
            raise DataError(f"{path}: images shape {images.shape} / count {self.count} mismatch")
        bad = (self.labels < MIN_LABEL) | (self.labels > MAX_LABEL)
        if bad.any():
            raise DataError(f"{path}: label {self.labels[bad][0]} is outside 1..230")
        self.offset = offset if (contiguous and little_f4 and offset is not None) else None
        self._images: np.ndarray | h5py.Dataset | None = None
        self._handle: h5py.File | None = None

    def images(self) -> np.ndarray | h5py.Dataset:
        """Memory map of the images (or the h5py dataset when it cannot be mapped)."""
        if self._images is None:
            if self.offset is not None:
                self._images = np.memmap(self.path, dtype="<f4", mode="r", offset=self.offset,
                                         shape=(self.count, *self.shape))
            else:
                self._handle = open_h5(self.path)
                self._images = self._handle["images"]
        return self._images

    def drop(self) -> None:
        """Forget per-process handles (after fork / before pickling)."""
        self._images = None
        self._handle = None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_images"] = None
        state["_handle"] = None
        return state


class PackedReader:
    """Random access to one split of a packed folder.

    Fast path: ``read_batch(indices)`` gathers many samples with one fancy index per part
    (what a batch sampler or a tf.data map over index batches should call).
    """

    layout = PACKED

    def __init__(self, folder: Path, split: str) -> None:
        self.folder = Path(folder)
        self.split = split
        paths = sorted(self.folder.glob(PART_GLOB), key=lambda p: natural_key(p.name))
        parts = [_Part(p) for p in paths]
        self._parts = [p for p in parts if p.count > 0]
        shapes = {p.shape for p in self._parts}
        if len(shapes) > 1:
            raise DataError(f"{self.folder}: parts hold different image shapes {sorted(shapes)}")
        counts = np.array([p.count for p in self._parts], dtype=np.int64)
        self._starts = np.concatenate([[0], np.cumsum(counts)])
        self._labels = (np.concatenate([p.labels for p in self._parts])
                        if self._parts else np.empty(0, np.int64))
        self._materials = [m for p in self._parts for m in p.materials]
        self._pid = os.getpid()

    def _check_pid(self) -> None:
        if self._pid != os.getpid():
            for part in self._parts:
                part.drop()
            self._pid = os.getpid()

    def _locate(self, index: int) -> tuple[_Part, int]:
        index = range(len(self))[index]
        k = int(np.searchsorted(self._starts, index, side="right")) - 1
        return self._parts[k], index - int(self._starts[k])

    def __len__(self) -> int:
        return int(self._starts[-1])

    def __getitem__(self, index: int) -> Sample:
        self._check_pid()
        part, row = self._locate(index)
        stack = np.array(part.images()[row], dtype=np.float32)
        if not np.isfinite(stack).all():
            raise DataError(f"{part.path}: row {row} holds NaN or Inf values")
        return Sample(stack, int(part.labels[row]), part.materials[row])

    def read_batch(self, indices: list[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Stacks (n, 3, S, S) float32 and labels (n,) of the given samples, in order."""
        self._check_pid()
        idx = np.asarray(indices, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            raise IndexError(f"index out of range 0..{len(self) - 1}")
        out = np.empty((idx.size, *self.image_shape()), dtype=np.float32)
        which = np.searchsorted(self._starts, idx, side="right") - 1
        for k in np.unique(which):
            sel = np.nonzero(which == k)[0]
            rows = idx[sel] - self._starts[k]
            images = self._parts[k].images()
            if isinstance(images, np.ndarray):
                out[sel] = images[rows]
            else:  # h5py wants increasing, unique indices
                uniq, inverse = np.unique(rows, return_inverse=True)
                out[sel] = images[uniq][inverse]
        if not np.isfinite(out).all():
            raise DataError(f"{self.folder}: a sample in this batch holds NaN or Inf values")
        return out, self._labels[idx]

    def labels(self) -> np.ndarray:
        return self._labels.copy()

    def materials(self) -> list[str]:
        return list(self._materials)

    def image_shape(self) -> tuple[int, int, int]:
        if not self._parts:
            raise DataError(f"{self.folder}: no samples")
        return self._parts[0].shape  # type: ignore[return-value]

    def dtype(self) -> np.dtype:
        return np.dtype(np.float32)

    def names(self) -> list[str]:
        return [f"{p.path.name}:{r}" for p in self._parts for r in range(p.count)]

    def close(self) -> None:
        for part in self._parts:
            if part._handle is not None and self._pid == os.getpid():
                part._handle.close()
            part.drop()

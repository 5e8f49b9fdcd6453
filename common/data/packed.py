"""The packed layout (ours, built for throughput) and its reader.

Folder: ``stemdl-packed.json`` (format name and version) and one sub-folder per split
(split names carried over from the input) holding ``part-*.h5`` files, one per
preprocessing task (up to PART_SAMPLES samples each: a few large files per split, not
one file per sample). Each part holds:

- ``images``    float32 (n, 3, S, S), contiguous (not chunked, not compressed), so the
                reader can memory-map it: a random sample is one memcpy, no HDF5 call;
- ``labels``    int16 (n,); ``materials`` UTF-8 strings (n,);
- ``targets``   float32 (n, 3, S, S) (a map per zone axis), contiguous, where the raw data had potentials:
                the density task's target maps (attribute ``target_kind``);
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
from stemdl.common.workload import MAX_LABEL, MIN_LABEL, PATTERNS_PER_STACK

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


def _map_offset(ds: h5py.Dataset) -> int | None:
    """File offset of a dataset a memory map can read (contiguous, unfiltered, <f4)."""
    offset = ds.id.get_offset()
    mappable = ds.chunks is None and ds.compression is None and ds.dtype == np.dtype("<f4")
    return offset if mappable and offset is not None else None


class _Part:
    """One part file: its index and (per process) memory maps of its images and targets."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with open_h5(path) as handle:
            try:
                images = handle["images"]
                targets = handle.get("targets")
                self.count = int(handle.attrs["count"])
                self.labels = np.asarray(handle["labels"][: self.count], dtype=np.int64)
                self.materials = [
                    m.decode() if isinstance(m, bytes) else str(m)
                    for m in handle["materials"][: self.count]
                ]
                self.shape = tuple(images.shape[1:])
                self.offset = _map_offset(images)
                self.target_kind = (str(targets.attrs.get("target_kind", "potential"))
                                    if targets is not None else None)
                self.target_offset = _map_offset(targets) if targets is not None else None
                self.target_shape = (PATTERNS_PER_STACK, *self.shape[1:])
                if targets is not None and targets.shape != (images.shape[0], *self.target_shape):
                    raise DataError(f"{path}: targets have shape {targets.shape}, images "
                                    f"{images.shape}: one target map per zone axis")
            except (KeyError, OSError, ValueError) as err:
                raise DataError(f"{path}: not a valid packed part ({err})") from None
        if len(self.shape) != 3 or self.count > images.shape[0]:
            raise DataError(f"{path}: images shape {images.shape} / count {self.count} mismatch")
        bad = (self.labels < MIN_LABEL) | (self.labels > MAX_LABEL)
        if bad.any():
            raise DataError(f"{path}: label {self.labels[bad][0]} is outside 1..230")
        self._maps: dict[str, np.ndarray | h5py.Dataset] = {}
        self._handle: h5py.File | None = None

    def _dataset(self, name: str, offset: int | None, shape: tuple[int, ...]
                 ) -> np.ndarray | h5py.Dataset:
        if name not in self._maps:
            if offset is not None:
                self._maps[name] = np.memmap(self.path, dtype="<f4", mode="r", offset=offset,
                                             shape=(self.count, *shape))
            else:
                if self._handle is None:
                    self._handle = open_h5(self.path)
                self._maps[name] = self._handle[name]
        return self._maps[name]

    def images(self) -> np.ndarray | h5py.Dataset:
        """Memory map of the images (or the h5py dataset when it cannot be mapped)."""
        return self._dataset("images", self.offset, self.shape)

    def targets(self) -> np.ndarray | h5py.Dataset:
        """Memory map of the target maps (the part must have them: `target_kind`)."""
        if self.target_kind is None:
            raise DataError(f"{self.path}: no targets (the density task needs data "
                            "preprocessed from simulated raw data with potentials)")
        return self._dataset("targets", self.target_offset, self.target_shape)

    def drop(self) -> None:
        """Forget per-process handles (after fork / before pickling)."""
        self._maps = {}
        self._handle = None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_maps"] = {}
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
        target = None
        if part.target_kind is not None:
            target = np.array(part.targets()[row], dtype=np.float32)
            if not np.isfinite(target).all():
                raise DataError(f"{part.path}: targets row {row} holds NaN or Inf values")
        return Sample(stack, int(part.labels[row]), part.materials[row], target)

    def _gather(self, idx: np.ndarray, which: str) -> np.ndarray:
        shape = self.image_shape() if which == "images" else self._parts[0].target_shape
        out = np.empty((idx.size, *shape), dtype=np.float32)
        part_of = np.searchsorted(self._starts, idx, side="right") - 1
        for k in np.unique(part_of):
            sel = np.nonzero(part_of == k)[0]
            rows = idx[sel] - self._starts[k]
            data = getattr(self._parts[k], which)()
            if isinstance(data, np.ndarray):
                out[sel] = data[rows]
            else:  # h5py wants increasing, unique indices
                uniq, inverse = np.unique(rows, return_inverse=True)
                out[sel] = data[uniq][inverse]
        if not np.isfinite(out).all():
            raise DataError(f"{self.folder}: a sample in this batch holds NaN or Inf {which}")
        return out

    def read_batch(self, indices: list[int] | np.ndarray, targets: bool = False) -> tuple:
        """Stacks (n, 3, S, S) float32 and labels (n,) of the given samples, in order, and
        with `targets` their target maps (n, 3, S, S) float32."""
        self._check_pid()
        idx = np.asarray(indices, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            raise IndexError(f"index out of range 0..{len(self) - 1}")
        if not targets:
            return self._gather(idx, "images"), self._labels[idx]
        return self._gather(idx, "images"), self._labels[idx], self._gather(idx, "targets")

    def target_kind(self) -> str | None:
        """The kind of target maps every part holds (None when a part has none)."""
        kinds = {p.target_kind for p in self._parts}
        if len(kinds) > 1 and None not in kinds:
            raise DataError(f"{self.folder}: parts hold targets of kinds {sorted(kinds)}")
        return None if (not kinds or None in kinds) else kinds.pop()

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


def write_part(path: Path, images: np.ndarray, labels: np.ndarray, materials: list[str],
               targets: np.ndarray | None = None, target_kind: str | None = None) -> None:
    """One complete part file of in-memory arrays (staging's copy; `stemdl preprocess`
    streams its parts instead), written whole or not at all; not flushed to disk (a
    staged copy lives for one run)."""
    from stemdl.common.infra.atomic import write_temp

    def write(tmp: Path) -> None:
        with h5py.File(tmp, "w") as part:
            part.create_dataset("images", data=np.ascontiguousarray(images, dtype="<f4"))
            if targets is not None:
                maps = part.create_dataset("targets", data=np.ascontiguousarray(targets, dtype="<f4"))
                maps.attrs["target_kind"] = target_kind or "potential"
            part.create_dataset("labels", data=np.asarray(labels, dtype=np.int16))
            part.create_dataset("materials", data=list(materials), dtype=h5py.string_dtype())
            part.attrs["count"] = len(labels)

    os.replace(write_temp(path, write), path)


def map_part(path: Path) -> tuple[np.ndarray | h5py.Dataset, np.ndarray | h5py.Dataset | None]:
    """Memory maps of a part's images and (where it has them) target maps, all rows."""
    part = _Part(Path(path))
    return part.images(), (part.targets() if part.target_kind is not None else None)

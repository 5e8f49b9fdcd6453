"""One entry point to every layout: detect a folder's layout and open a split of it.

    open_split(root, split)     -> SampleReader   (split: canonical or on-disk name)
    open_split_dir(path, split) -> SampleReader   (a data folder or one split's folder)
    open_run_splits(config)     -> {split: reader} (what both trainers call: opened, checked)
    list_splits(root)           -> {canonical split: path}
    detect_layout(root)         -> "raw" | "npz" | "packed"

Readers yield `Sample(stack float32 (3, H, W), label, material)` and open their files
lazily per process, so they can be handed to DataLoader / tf.data worker processes.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from stemdl.common.cli.errors import DataError, StemdlError
from stemdl.common.data.layouts import (
    NPZ,
    PACKED,
    PACKED_MANIFEST,
    RAW,
    canonical_split,
    check_folder,
    detect_layout,
    list_splits,
    npz_split_dirs,
    packed_split_dirs,
    raw_split_files,
    split_not_found,
)
from stemdl.common.data.npz import UNKNOWN_MATERIAL, NpzReader
from stemdl.common.data.packed import PackedReader, read_manifest
from stemdl.common.data.raw import RawReader
from stemdl.common.data.samples import Sample, SampleReader, Subset
from stemdl.common.workload import INPUT_IMAGE_SIZE, MAX_LABEL, MIN_LABEL

__all__ = [
    "NpzReader",
    "PackedReader",
    "RawReader",
    "Sample",
    "SampleReader",
    "Subset",
    "detect_layout",
    "list_splits",
    "open_run_splits",
    "open_split",
    "open_split_dir",
    "select_indices",
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


def open_split_dir(path: str | Path, split: str) -> SampleReader:
    """A reader for `split` of `path`, which may be a data folder holding splits (any
    layout) or one split's own folder: `sample-*.npz` files (upstream run.sh passes
    `--train-dir $DATA_DIR/train`), `part-*.h5` files of a packed split, or a raw folder of
    `batch_*` files (its `split` files, else the one split it holds)."""
    folder = check_folder(path)
    canon = canonical_split(split)
    if next(folder.glob("*.npz"), None) is not None:
        return NpzReader(folder, canon)
    if next(folder.glob("part-*.h5"), None) is not None and not (folder / PACKED_MANIFEST).exists():
        return PackedReader(folder, canon)
    files = raw_split_files(folder)
    if files and canon not in files and len(files) == 1:
        (_, paths), = files.values()  # a raw folder of one split's files, given as its *_dir
        return RawReader(paths, canon)
    return open_split(folder, canon)


def select_indices(reader: SampleReader, fraction: float = 1.0, samples: int | None = None,
                   seed: int = 0, key: str = "train_samples") -> np.ndarray:
    """Sorted indices of the samples a run uses: a seeded share `fraction` of the
    *materials* (no material is split), then, if `samples` is set, a seeded random subset
    of exactly that many (an error if fewer are there). The meaning of train_samples /
    eval_samples in both implementations: a subset that covers the whole split, not its
    first N files (which, in a file order sorted by material, would hold few classes)."""
    n = len(reader)
    indices = np.arange(n)
    rng = np.random.default_rng(seed)
    if fraction < 1.0:
        materials = np.asarray(reader.materials(), dtype=object)
        unique = sorted(set(materials.tolist()))
        keep_n = max(1, int(round(fraction * len(unique))))
        keep = set(rng.permutation(np.array(unique, dtype=object))[:keep_n].tolist())
        indices = np.array([i for i in indices if materials[i] in keep], dtype=np.int64)
    if samples is not None:
        if samples > len(indices):
            raise DataError(f"{reader_where(reader)}: config asks for {key}={samples}, the {reader.split} "
                            f"split holds {len(indices)}")
        indices = np.sort(rng.permutation(indices)[:samples])
    return indices


def reader_where(reader: SampleReader) -> str:
    """How an error names a reader's data: its folder, else its split."""
    return str(getattr(reader, "folder", None) or f"the {reader.split} split")


def check_reader(reader: SampleReader, where: str | Path) -> None:
    """One-line errors for a split that no task can train on or score."""
    split = reader.split
    if len(reader) == 0:
        raise DataError(f"{where}: the {split} split holds no samples")
    if reader.layout == RAW:
        size = reader.image_shape()[-1]
        if size > INPUT_IMAGE_SIZE and size % INPUT_IMAGE_SIZE:
            raise DataError(f"{where}: raw patterns of {size} px cannot be reduced to {INPUT_IMAGE_SIZE}")
    labels = np.asarray(reader.labels())
    bad = labels[(labels < MIN_LABEL) | (labels > MAX_LABEL)]
    if bad.size:
        raise DataError(f"{where}: label {int(bad[0])} of the {split} split is not a space group 1..230")


RUN_SPLITS = ("train", "val", "test", "inference")


def open_run_splits(config: Any, need_val: bool = True, note: bool = True) -> dict[str, SampleReader]:
    """The checked readers of a run's splits, as both implementations open them.

    Each split's folder is its `*_dir` key, else `data_dir` (see `open_split_dir` for what
    a folder may be). train (and val, unless `need_val` is False) are required; test and
    inference are optional: a data_dir without them skips those phases with a one-line
    note. train_fraction (STFC's upstream train_split) and train_samples / eval_samples
    pick seeded subsets (`select_indices`); every split must hold labels 1..230 and images
    of one shape; train and val pass the run's task's checks (classification: at least 2
    space groups, and `min_classes` in the training subset).
    """
    task = config.task_spec
    if getattr(config, "data_source", "files") == "synthetic":
        from stemdl.common.data.staging import synthetic_readers

        return synthetic_readers(config.train_samples, config.eval_samples, config.seed,
                                 targets=task.target_kind == "array")
    readers: dict[str, SampleReader] = {}
    for split in RUN_SPLITS:
        folder = config.split_dir(split)
        explicit = getattr(config, f"{split}_dir", None)
        required = split == "train" or (split == "val" and need_val)
        if folder is None:
            if required:
                raise StemdlError(f"config: no {split} data (set data_dir or {split}_dir)")
            if note:
                print(f"stemdl: note: no {split} data given ({split}_dir or data_dir); the "
                      f"{split} phase is skipped", file=sys.stderr)
            continue
        if not required and not explicit and _lacks_split(folder, split):
            if note:
                print(f"stemdl: note: {folder} holds no {split} split; the {split} phase is "
                      f"skipped", file=sys.stderr)
            continue
        reader = open_split_dir(folder, split)
        check_reader(reader, folder)
        if split == "train":
            fraction = float(getattr(config, "train_fraction", 1.0))
            indices = select_indices(reader, fraction, config.train_samples, config.seed)
            if len(indices) < len(reader):
                reader = Subset(reader, indices)
        elif split == "val" and config.eval_samples is not None:
            indices = select_indices(reader, 1.0, config.eval_samples, config.seed, "eval_samples")
            if len(indices) < len(reader):
                reader = Subset(reader, indices)
        if split in ("train", "val"):
            task.check_split(reader, folder, config.min_classes if split == "train" else None)
        readers[split] = reader
    shapes = {s: tuple(r.image_shape()) for s, r in readers.items()}
    if len(set(shapes.values())) > 1:
        raise DataError(f"the splits differ in image shape: {shapes}")
    message = task.splits_note(readers) if note and task.splits_note is not None else None
    if message:
        print(f"stemdl: note: {message}", file=sys.stderr)
    leaks = shared_materials(readers)
    if leaks and note:
        material, splits = next(iter(leaks.items()))
        print(f"stemdl: warning: {len(leaks)} material(s) appear in more than one split (e.g. "
              f"{material}: {', '.join(splits)}); validation scores then measure recall of seen "
              "materials, not generalisation (`stemdl inspect` lists them)", file=sys.stderr)
    return readers


def shared_materials(readers: dict[str, SampleReader]) -> dict[str, list[str]]:
    """Material id -> the splits it appears in, for materials in more than one split.
    Samples without a material id (upstream npz files) are left out: nothing to check."""
    seen: dict[str, list[str]] = {}
    for split, reader in readers.items():
        for material in sorted(set(reader.materials()) - {UNKNOWN_MATERIAL}):
            seen.setdefault(material, []).append(split)
    return {m: s for m, s in sorted(seen.items()) if len(s) > 1}


def _lacks_split(folder: Path, split: str) -> bool:
    """True when data folder `folder` (not given as this split's own *_dir) has no `split`."""
    if any(next(folder.glob(pattern), None) is not None for pattern in ("*.npz", "part-*.h5")):
        return not (folder / PACKED_MANIFEST).exists()  # one split's own folder
    try:
        return split not in list_splits(folder)
    except DataError:
        return False  # let open_split_dir say what is wrong with the folder

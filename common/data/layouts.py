"""Folder layouts: split names on disk, and which layout (raw / npz / packed) a folder holds.

- raw:    ``batch_{split}_{rank}.h5`` files in the folder (ORNL generator layout).
- npz:    split sub-folders of ``*.npz`` files, named ``training/validation/testing/
          inference`` (MLCommons/STFC) or ``train/dev/test`` (ORNL preprocessor).
- packed: ``stemdl-packed.json`` in the folder and split sub-folders of ``part-*.h5``.
"""

from __future__ import annotations

import re
from pathlib import Path

from stemdl.common.cli.errors import DataError, StemdlError, unknown_name

RAW, NPZ, PACKED = "raw", "npz", "packed"
LAYOUTS = (RAW, NPZ, PACKED)
PACKED_MANIFEST = "stemdl-packed.json"
RAW_GLOB = "batch_*.h5"  # the raw layout's files (ORNL generator, `stemdl simulate`)
PART_GLOB = "part-*.h5"  # the packed layout's files in a split folder

# on-disk split name -> canonical split name (workload.SPLITS)
SPLIT_ALIASES: dict[str, str] = {
    "train": "train",
    "training": "train",
    "val": "val",
    "dev": "val",
    "validation": "val",
    "test": "test",
    "testing": "test",
    "inference": "inference",
}

RAW_FILE_RE = re.compile(r"^batch_(?P<split>[A-Za-z]+)(?:_(?P<rank>\d+))?\.h5$")


def raw_file_name(split: str, rank: int) -> str:
    """The raw layout's file of one split written by one rank (matches RAW_FILE_RE)."""
    return f"batch_{split}_{rank}.h5"


def canonical_split(name: str) -> str:
    """The canonical split name (train/val/test/inference) of a canonical or on-disk name."""
    try:
        return SPLIT_ALIASES[name.lower()]
    except KeyError:
        raise unknown_name("split", name, SPLIT_ALIASES) from None


def natural_key(text: str) -> list:
    """Sort key that orders 'sample_2' before 'sample_10'."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def check_folder(root: str | Path) -> Path:
    """The folder as a Path; a one-line error if it is missing or not a folder."""
    path = Path(root)
    if not path.exists():
        raise DataError(f"{path}: no such folder")
    if not path.is_dir():
        raise DataError(f"{path}: not a folder")
    return path


def raw_split_files(root: str | Path) -> dict[str, tuple[str, list[Path]]]:
    """canonical split -> (on-disk split name, sorted batch files) of a raw folder."""
    root = Path(root)
    found: dict[str, tuple[str, list[Path]]] = {}
    for path in sorted(root.glob(RAW_GLOB), key=lambda p: natural_key(p.name)):
        match = RAW_FILE_RE.match(path.name)
        if not match or match["split"].lower() not in SPLIT_ALIASES:
            continue
        disk = match["split"]
        canon = SPLIT_ALIASES[disk.lower()]
        if canon in found and found[canon][0] != disk:
            raise DataError(
                f"{root}: both batch_{found[canon][0]}_* and batch_{disk}_* files hold split {canon}"
            )
        found.setdefault(canon, (disk, []))[1].append(path)
    return found


def _split_dirs(root: Path, pattern: str) -> dict[str, Path]:
    """canonical split -> sub-folder holding files matching pattern."""
    found: dict[str, Path] = {}
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        canon = SPLIT_ALIASES.get(sub.name.lower())
        if canon is None or next(sub.glob(pattern), None) is None:
            continue
        if canon in found:
            raise DataError(f"{root}: both {found[canon].name}/ and {sub.name}/ hold split {canon}")
        found[canon] = sub
    return found


def npz_split_dirs(root: str | Path) -> dict[str, Path]:
    """canonical split -> sub-folder of *.npz files (either naming)."""
    return _split_dirs(Path(root), "*.npz")


def packed_split_dirs(root: str | Path) -> dict[str, Path]:
    """canonical split -> sub-folder of part-*.h5 files of a packed folder."""
    return _split_dirs(Path(root), PART_GLOB)


def detect_layout(root: str | Path) -> str:
    """'raw', 'npz' or 'packed'; a one-line DataError for a missing/empty/unknown folder."""
    path = check_folder(root)
    if (path / PACKED_MANIFEST).is_file():
        return PACKED
    if raw_split_files(path):
        return RAW
    if npz_split_dirs(path):
        return NPZ
    if next(path.iterdir(), None) is None:
        raise DataError(f"{path}: folder is empty")
    raise DataError(
        f"{path}: no recognised layout (expected batch_<split>_<rank>.h5 files, split folders "
        f"of *.npz files, or {PACKED_MANIFEST})"
    )


def list_splits(root: str | Path) -> dict[str, Path]:
    """canonical split -> its path, in canonical order.

    npz/packed: the split's sub-folder. raw: a glob pattern path
    ``root/batch_<split>_*.h5`` naming the split's files.
    """
    path = Path(root)
    layout = detect_layout(path)
    if layout == RAW:
        found = {c: path / f"batch_{disk}_*.h5" for c, (disk, _) in raw_split_files(path).items()}
    elif layout == NPZ:
        found = npz_split_dirs(path)
    else:
        found = packed_split_dirs(path)
    order = list(dict.fromkeys(SPLIT_ALIASES.values()))
    return {c: found[c] for c in order if c in found}


def split_not_found(root: Path, split: str, available: list[str]) -> StemdlError:
    """Error for a split the folder does not hold."""
    have = ", ".join(available) or "none"
    return DataError(f"{root}: no split '{split}' (available: {have})")

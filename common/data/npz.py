"""Reader for the NPZ-per-sample layout (MLCommons/STFC download, ORNL preprocessor output).

Each ``*.npz`` holds ``data`` float32 (3, 128, 128) and ``label`` (an int array of
length 1). Files written by ``stemdl preprocess`` also hold ``material`` (a 1-element
string array); upstream files do not, and then the material is ``""`` (unknown), which
`stemdl inspect` reports as "split cannot be checked". Files preprocessed from raw data
with potentials also hold ``target`` float32 (3, H, W) (the density task's maps) and
``target_kind`` (a 1-element string array: potential or patterson).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from stemdl.common.cli.errors import DataError
from stemdl.common.data.layouts import NPZ, natural_key
from stemdl.common.data.raw import SampleProblem, parse_space_group
from stemdl.common.data.samples import Sample
from stemdl.common.workload import PATTERNS_PER_STACK, is_stack_depth

UNKNOWN_MATERIAL = ""
_ERRORS = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile)


def _label(path: Path, value: np.ndarray) -> int:
    try:
        return parse_space_group(np.asarray(value))
    except SampleProblem as err:
        raise DataError(f"{path}: label: {err}") from None


def _material(archive: np.lib.npyio.NpzFile) -> str:
    if "material" not in archive.files:
        return UNKNOWN_MATERIAL
    value = archive["material"]
    return str(value.reshape(-1)[0]) if value.size else UNKNOWN_MATERIAL


def _target_kind(archive: np.lib.npyio.NpzFile) -> str | None:
    if "target" not in archive.files:
        return None
    kind = archive["target_kind"].reshape(-1) if "target_kind" in archive.files else []
    return str(kind[0]) if len(kind) else "potential"


def check_target(where: str, target: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A sample's target maps (one per zone axis, of the stack's pixels) as float32; a
    one-line DataError else."""
    want = (PATTERNS_PER_STACK, *shape[1:])
    if target.dtype.kind not in "fiu" or tuple(target.shape) != want:
        raise DataError(f"{where}: target has shape {tuple(target.shape)} ({target.dtype}), "
                        f"expected {want} float32: a map per zone axis, of the data's pixels")
    target = np.ascontiguousarray(target, dtype=np.float32)
    if not np.isfinite(target).all():
        raise DataError(f"{where}: target holds NaN or Inf values")
    return target


def load_npz(path: Path) -> Sample:
    """One validated sample from an .npz file; a one-line DataError naming the file."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            data = archive["data"]
            label = _label(path, archive["label"])
            material = _material(archive)
            target = archive["target"] if "target" in archive.files else None
    except DataError:
        raise
    except _ERRORS as err:
        raise DataError(f"{path}: unreadable npz file ({type(err).__name__}: {err})") from None
    if data.dtype.kind not in "fiu":
        raise DataError(f"{path}: data has dtype {data.dtype}, expected numbers (float32)")
    if data.ndim != 3 or not is_stack_depth(data.shape[0]):
        raise DataError(f"{path}: data has shape {data.shape}, expected (3, H, W) or a "
                        "scan's (3 x positions, H, W)")
    stack = np.ascontiguousarray(data, dtype=np.float32)
    if not np.isfinite(stack).all():
        raise DataError(f"{path}: data holds NaN or Inf values")
    if target is not None:
        target = check_target(str(path), target, stack.shape)
    return Sample(stack, label, material, target)


class NpzReader:
    """Random access to one split folder of ``*.npz`` files (natural file-name order)."""

    layout = NPZ

    def __init__(self, folder: Path, split: str) -> None:
        self.folder = Path(folder)
        self.split = split
        self.files = sorted(self.folder.glob("*.npz"), key=lambda p: natural_key(p.name))
        self._meta: tuple[np.ndarray, list[str]] | None = None
        self._shape: tuple[int, int, int] | None = None
        self._kind: tuple[str | None] | None = None

    def _index(self) -> tuple[np.ndarray, list[str]]:
        """Labels and materials of all files (opens each archive; never reads `data`)."""
        if self._meta is None:
            labels = np.empty(len(self.files), dtype=np.int64)
            materials: list[str] = []
            for i, path in enumerate(self.files):
                try:
                    with np.load(path, allow_pickle=False) as archive:
                        labels[i] = _label(path, archive["label"])
                        materials.append(_material(archive))
                except DataError:
                    raise
                except _ERRORS as err:
                    raise DataError(
                        f"{path}: unreadable npz file ({type(err).__name__}: {err})"
                    ) from None
            self._meta = (labels, materials)
        return self._meta

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> Sample:
        sample = load_npz(self.files[index])
        if sample.stack.shape != self.image_shape():
            raise DataError(
                f"{self.files[index]}: data has shape {sample.stack.shape}, the split's first "
                f"sample {self.files[0].name} has {self.image_shape()}: one split, one shape"
            )
        return sample

    def labels(self) -> np.ndarray:
        return self._index()[0].copy()

    def materials(self) -> list[str]:
        return list(self._index()[1])

    def image_shape(self) -> tuple[int, int, int]:
        if not self.files:
            raise DataError(f"{self.folder}: no samples")
        if self._shape is None:
            self._shape = tuple(load_npz(self.files[0]).stack.shape)  # type: ignore[assignment]
        return self._shape  # type: ignore[return-value]

    def dtype(self) -> np.dtype:
        return np.dtype(np.float32)

    def names(self) -> list[str]:
        return [p.name for p in self.files]

    def target_kind(self) -> str | None:
        """The kind of target maps the split's files hold (judged by the first), or None."""
        if not self.files:
            return None
        if self._kind is None:
            try:
                with np.load(self.files[0], allow_pickle=False) as archive:
                    self._kind = (_target_kind(archive),)
            except _ERRORS as err:
                raise DataError(f"{self.files[0]}: unreadable npz file "
                                f"({type(err).__name__}: {err})") from None
        return self._kind[0]

    def read_batch(self, indices: list[int] | np.ndarray, targets: bool = False) -> tuple:
        """Stacks (n, 3, H, W) float32 and labels (n,) of several samples, and with
        `targets` their target maps (n, 3, H, W) float32 (a DataError for a file without)."""
        samples = [self[int(i)] for i in indices]
        stacks, labels = np.stack([s.stack for s in samples]), np.array([s.label for s in samples])
        if not targets:
            return stacks, labels
        for index, s in zip(indices, samples, strict=True):
            if s.target is None:
                raise DataError(f"{self.files[int(index)]}: no target (the density task needs "
                                "data preprocessed from simulated raw data with potentials)")
        return stacks, labels, np.stack([s.target for s in samples])

"""Reader for the NPZ-per-sample layout (MLCommons/STFC download, ORNL preprocessor output).

Each ``*.npz`` holds ``data`` float32 (3, 128, 128) and ``label`` (an int array of
length 1). Files written by ``stemdl preprocess`` also hold ``material`` (a 1-element
string array); upstream files do not, and then the material is ``""`` (unknown), which
`stemdl inspect` reports as "split cannot be checked".
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from stemdl.common.cli.errors import DataError
from stemdl.common.data.layouts import NPZ, natural_key
from stemdl.common.data.raw import SampleProblem, parse_space_group
from stemdl.common.data.samples import Sample
from stemdl.common.workload import PATTERNS_PER_STACK

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


def load_npz(path: Path) -> Sample:
    """One validated sample from an .npz file; a one-line DataError naming the file."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            data = archive["data"]
            label = _label(path, archive["label"])
            material = _material(archive)
    except DataError:
        raise
    except _ERRORS as err:
        raise DataError(f"{path}: unreadable npz file ({type(err).__name__}: {err})") from None
    if data.dtype.kind not in "fiu":
        raise DataError(f"{path}: data has dtype {data.dtype}, expected numbers (float32)")
    if data.ndim != 3 or data.shape[0] != PATTERNS_PER_STACK:
        raise DataError(f"{path}: data has shape {data.shape}, expected (3, H, W)")
    stack = np.ascontiguousarray(data, dtype=np.float32)
    if not np.isfinite(stack).all():
        raise DataError(f"{path}: data holds NaN or Inf values")
    return Sample(stack, label, material)


class NpzReader:
    """Random access to one split folder of ``*.npz`` files (natural file-name order)."""

    layout = NPZ

    def __init__(self, folder: Path, split: str) -> None:
        self.folder = Path(folder)
        self.split = split
        self.files = sorted(self.folder.glob("*.npz"), key=lambda p: natural_key(p.name))
        self._meta: tuple[np.ndarray, list[str]] | None = None
        self._shape: tuple[int, int, int] | None = None

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

    def read_batch(self, indices: list[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Stacks (n, 3, H, W) float32 and labels (n,) of several samples."""
        samples = [self[int(i)] for i in indices]
        return np.stack([s.stack for s in samples]), np.array([s.label for s in samples])

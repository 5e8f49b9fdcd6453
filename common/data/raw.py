"""Reader for the raw ORNL layout: ``batch_{split}_{rank}.h5``, one group per sample.

Indexing reads group names and attributes only (one pass per file, O(N)); image data is
read in ``__getitem__``. HDF5 files are opened lazily per process, so a reader built in
the parent can be used in DataLoader / tf.data worker processes (forked or spawned).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from stemdl.common.cli.errors import DataError
from stemdl.common.data.layouts import RAW, natural_key
from stemdl.common.data.samples import Sample
from stemdl.common.workload import MAX_LABEL, MIN_LABEL, PATTERNS_PER_STACK, is_stack_depth

STACK = "cbed_stack"  # the dataset of one sample group
POTENTIAL = "potential"  # ours, beside it: the projected potential of each zone axis
POTENTIAL_UNITS = "eV*Angstrom"
SPACE_GROUP_ATTR = "space_group"  # attributes of a sample group
MATERIAL_ATTR = "material"
GROUP_RE = re.compile(r"^sample_(?P<material>[^_]+)_(?P<energy>[^_]+)$")


class SampleProblem(Exception):
    """One sample that cannot be used; ``reason`` is a short key for counting skips."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def parse_space_group(value: object) -> int:
    """The space group from an attribute stored as bytes, np.bytes_, str or int (1..230)."""
    item = value
    if isinstance(item, np.ndarray):
        if item.size != 1:
            raise SampleProblem("bad_space_group", f"space_group {value!r} is not a scalar")
        item = item.reshape(()).item()
    if isinstance(item, bytes | np.bytes_):
        item = item.decode("ascii", "replace")
    if isinstance(item, bool | np.bool_):
        raise SampleProblem("bad_space_group", f"space_group {value!r} is not an integer")
    if isinstance(item, str):
        text = item.strip()
        if not re.fullmatch(r"[+-]?\d+", text):
            raise SampleProblem("bad_space_group", f"space_group {item!r} is not an integer")
        label = int(text)
    elif isinstance(item, int | np.integer):
        label = int(item)
    elif isinstance(item, float | np.floating) and float(item).is_integer():
        label = int(item)
    else:
        raise SampleProblem("bad_space_group", f"space_group {value!r} is not an integer")
    if not MIN_LABEL <= label <= MAX_LABEL:
        raise SampleProblem(
            "label_out_of_range", f"space_group {label} is outside {MIN_LABEL}..{MAX_LABEL}"
        )
    return label


def attr_text(value: object) -> str:
    """An HDF5 attribute as text: bytes, numpy bytes, 1-element arrays or anything else."""
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(()).item()
    if isinstance(value, bytes | np.bytes_):
        return value.decode("utf-8", "replace")
    return str(value)


def material_of(name: str, attrs: h5py.AttributeManager) -> str:
    """The `material` attribute if present, else the {m} of ``sample_{m}_{e}``.

    Not prefixed by file: ORNL material indices are global across ranks, so the same
    material in two split files must compare equal for the split check.
    """
    if MATERIAL_ATTR in attrs:
        return attr_text(attrs[MATERIAL_ATTR])
    match = GROUP_RE.match(name)
    return match["material"] if match else name


@dataclass(frozen=True)
class GroupInfo:
    """What indexing learns about one sample group (no image data read)."""

    name: str
    label: int
    material: str
    shape: tuple[int, ...]


def check_group(name: str, obj: object) -> GroupInfo:
    """Validate one sample group from metadata only; SampleProblem if it is unusable."""
    if not isinstance(obj, h5py.Group):
        raise SampleProblem("not_a_group", f"{name} is not a group")
    ds = obj.get(STACK)
    if not isinstance(ds, h5py.Dataset):
        raise SampleProblem("no_cbed_stack", f"group {name} has no {STACK} dataset")
    if SPACE_GROUP_ATTR not in obj.attrs:
        raise SampleProblem("no_space_group", f"group {name} has no space_group attribute")
    try:
        label = parse_space_group(obj.attrs[SPACE_GROUP_ATTR])
    except SampleProblem as err:
        raise SampleProblem(err.reason, f"group {name}: {err}") from None
    shape = tuple(ds.shape)
    if len(shape) != 3 or not is_stack_depth(shape[0]) or min(shape) < 1:
        raise SampleProblem(
            "wrong_shape", f"group {name}: {STACK} has shape {shape}, expected (3, H, W) "
            "or a scan's (3 x positions, H, W)"
        )
    if not np.issubdtype(ds.dtype, np.number):
        raise SampleProblem("wrong_dtype", f"group {name}: {STACK} has dtype {ds.dtype}")
    return GroupInfo(name, label, material_of(name, obj.attrs), shape)


def read_potential(group: h5py.Group, where: str) -> np.ndarray | None:
    """The group's potential maps as float32 (3, M, M), None when it has none; a
    SampleProblem (reason bad_target) for another shape or NaN/Inf values."""
    ds = group.get(POTENTIAL)
    if ds is None:
        return None
    if not isinstance(ds, h5py.Dataset) or not np.issubdtype(ds.dtype, np.number):
        raise SampleProblem("bad_target", f"{where}: {POTENTIAL} is not a numeric dataset")
    shape = tuple(ds.shape)
    if len(shape) != 3 or shape[0] != PATTERNS_PER_STACK or shape[1] != shape[2] or shape[1] < 2:
        raise SampleProblem("bad_target", f"{where}: {POTENTIAL} has shape {shape}, "
                            f"expected ({PATTERNS_PER_STACK}, M, M)")
    maps = np.asarray(ds[()], dtype=np.float32)
    if not np.isfinite(maps).all():
        raise SampleProblem("bad_target", f"{where}: {POTENTIAL} holds NaN or Inf values")
    return maps


def open_h5(path: Path) -> h5py.File:
    """Open an HDF5 file read-only; a one-line DataError if it is not readable HDF5."""
    try:
        return h5py.File(path, "r")
    except (OSError, ValueError) as err:
        reason = str(err).split("(")[0].strip().rstrip(",") or type(err).__name__
        raise DataError(f"{path}: not a readable HDF5 file ({reason})") from None


def sample_names(handle: h5py.File) -> list[str]:
    """Top-level names of a raw file in natural order."""
    return sorted(handle.keys(), key=natural_key)


def read_stack(ds: h5py.Dataset, where: str, out: np.ndarray | None = None) -> np.ndarray:
    """Read a stack as float32 and reject NaN/Inf (DataError naming ``where``)."""
    if out is None or out.shape != ds.shape:
        out = np.empty(ds.shape, dtype=np.float32)
    ds.read_direct(out)
    if not np.isfinite(out).all():
        raise SampleProblem("non_finite", f"{where}: {STACK} holds NaN or Inf values")
    return out


# --- the low-level read path (preprocessing) ---------------------------------------
# h5py's high-level objects (File[name], Group.attrs, Dataset.read_direct) cost about
# 1 ms per sample in Python; the same metadata through h5py's low-level API costs about a
# tenth of that, and a contiguous little-endian float32 stack is read with one pread at
# its file offset. Anything unusual (a missing attribute, a chunked or compressed stack,
# another dtype) falls back to the high-level path, which also produces the error
# messages: one definition of "valid". (pread, not a memory map: read and checked from
# the page cache, a 3 MB stack took 0.26 ms by pread and 0.31 ms through a mapping, and
# a mapping's first touch far more: its page faults.)
_TYPES: list[tuple[h5py.h5t.TypeID, np.dtype, h5py.h5t.TypeID]] = []  # per process
MAX_TYPES = 16  # HDF5 file types remembered with their numpy dtype and memory type


def _types(obj: h5py.h5a.AttrID | h5py.h5d.DatasetID) -> tuple[np.dtype, h5py.h5t.TypeID]:
    """numpy dtype and HDF5 memory type of an attribute or dataset: h5py builds them anew
    for every object (more than an attribute's read costs), and every sample's objects
    have the same few file types."""
    ftype = obj.get_type()
    for known, dtype, mtype in _TYPES:
        if known == ftype:
            return dtype, mtype
    dtype = obj.dtype
    mtype = h5py.h5t.py_create(dtype)
    if not ftype.committed() and len(_TYPES) < MAX_TYPES:  # not tied to an open file
        _TYPES.append((ftype, dtype, mtype))
    return dtype, mtype


def _attr(gid: h5py.h5g.GroupID, name: bytes) -> object:
    aid = h5py.h5a.open(gid, name)
    if aid.get_space().get_simple_extent_npoints() != 1:
        raise TypeError("not one value: take the high-level path")
    dtype, mtype = _types(aid)
    if dtype.kind not in "iufS":
        raise TypeError("unusual attribute: take the high-level path")
    value = np.empty((), dtype)
    aid.read(value, mtype=mtype)
    return value.item() if dtype.kind != "S" else value[()]


def _fast_info(handle: h5py.File, name: str,
               ) -> tuple[GroupInfo, h5py.h5d.DatasetID, np.dtype]:
    gid = h5py.h5g.open(handle.id, name.encode())
    dsid = h5py.h5d.open(gid, STACK.encode())
    shape = dsid.shape
    if len(shape) != 3 or not is_stack_depth(shape[0]) or min(shape) < 1:
        raise ValueError("wrong shape: take the high-level path")
    dtype, _ = _types(dsid)
    if dtype.kind not in "iuf":
        raise TypeError("not a number: take the high-level path")
    label = parse_space_group(_attr(gid, b"space_group"))
    if h5py.h5a.exists(gid, b"material"):
        material = attr_text(_attr(gid, b"material"))
    else:
        match = GROUP_RE.match(name)
        material = match["material"] if match else name
    return GroupInfo(name, label, material, shape), dsid, dtype


def _contiguous_f4_offset(dsid: h5py.h5d.DatasetID, dtype: np.dtype, nbytes: int) -> int | None:
    """File offset of a stack stored contiguous (HDF5 gives no offset for chunked, hence
    filtered, or compact storage), fully allocated, little-endian float32."""
    if dtype != np.dtype("<f4") or dsid.get_storage_size() != nbytes:
        return None
    return dsid.get_offset()


def read_sample(handle: h5py.File, name: str, fd: int | None = None,
                out: np.ndarray | None = None, check_finite: bool = True,
                ) -> tuple[GroupInfo, np.ndarray]:
    """Metadata and float32 stack of one sample group, read into ``out`` (reused when
    it fits, else a new array).

    ``fd``: a file descriptor of the same file opened read-only (`open_raw_fd`); a
    contiguous little-endian float32 stack is then read with one pread at its offset.
    Otherwise, or for any other storage, HDF5 reads it. Raises SampleProblem as
    `check_group`/`read_stack` do; ``check_finite=False`` leaves the NaN/Inf check of a
    stack read here to the caller (preprocessing's transform makes it in its own pass).
    """
    try:
        info, dsid, dtype = _fast_info(handle, name)
    except Exception:  # noqa: BLE001 - anything unusual or bad: the checked high-level path
        grp = handle.get(name)
        info = check_group(name, grp)
        return info, read_stack(grp[STACK], f"{Path(handle.filename).name}:{name}", out)
    if out is None or out.shape != info.shape or out.dtype != np.float32:
        out = np.empty(info.shape, dtype=np.float32)
    offset = _contiguous_f4_offset(dsid, dtype, out.nbytes) if fd is not None else None
    if offset is None or os.preadv(fd, [out], offset) != out.nbytes:
        dsid.read(h5py.h5s.ALL, h5py.h5s.ALL, out)
    # all finite <=> min and max finite (both propagate NaN): 2 reductions, no bool array
    if check_finite and not (np.isfinite(out.max()) and np.isfinite(out.min())):
        raise SampleProblem("non_finite", f"{Path(handle.filename).name}:{name}: {STACK} "
                            "holds NaN or Inf values")
    return info, out


def open_raw_fd(path: Path) -> int:
    """A read-only file descriptor of ``path`` for `read_sample` (the caller closes it)."""
    return os.open(path, os.O_RDONLY)


class RawReader:
    """Random access to one split of a raw ORNL folder (a list of batch files)."""

    layout = RAW

    def __init__(self, files: list[Path], split: str) -> None:
        self.split = split
        self.files = [Path(f) for f in files]
        file_ids: list[int] = []
        names: list[str] = []
        labels: list[int] = []
        materials: list[str] = []
        shape: tuple[int, ...] | None = None
        for fid, path in enumerate(self.files):
            with open_h5(path) as handle:
                for name in sample_names(handle):
                    try:
                        info = check_group(name, handle[name])
                    except SampleProblem as err:
                        raise DataError(f"{path}: {err}") from None
                    if shape is None:
                        shape = info.shape
                    elif info.shape != shape:
                        raise DataError(
                            f"{path}: group {name}: {STACK} has shape {info.shape}, "
                            f"the split's other samples have {shape}"
                        )
                    file_ids.append(fid)
                    names.append(name)
                    labels.append(info.label)
                    materials.append(info.material)
        self._file_ids = np.asarray(file_ids, dtype=np.int32)
        self._names = names
        self._labels = np.asarray(labels, dtype=np.int64)
        self._materials = materials
        self._shape = shape
        self._handles: dict[int, h5py.File] = {}
        self._pid = os.getpid()

    # -- per-process file handles ------------------------------------------------
    def _handle(self, fid: int) -> h5py.File:
        if self._pid != os.getpid():  # forked: never reuse the parent's HDF5 handles
            self._handles = {}
            self._pid = os.getpid()
        handle = self._handles.get(fid)
        if handle is None:
            handle = self._handles[fid] = open_h5(self.files[fid])
        return handle

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_handles"] = {}
        return state

    def close(self) -> None:
        """Close the files this process opened."""
        if self._pid == os.getpid():
            for handle in self._handles.values():
                handle.close()
        self._handles = {}

    # -- SampleReader ------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._names)

    def __getitem__(self, index: int) -> Sample:
        index = range(len(self))[index]  # bounds check, negative indices
        fid = int(self._file_ids[index])
        name = self._names[index]
        where = f"{self.files[fid]}: group {name}"
        try:
            stack = read_stack(self._handle(fid)[name][STACK], where)
        except SampleProblem as err:
            raise DataError(str(err)) from None
        except (OSError, KeyError) as err:
            raise DataError(f"{where}: cannot read {STACK} ({err})") from None
        return Sample(stack, int(self._labels[index]), self._materials[index])

    def labels(self) -> np.ndarray:
        return self._labels.copy()

    def materials(self) -> list[str]:
        return list(self._materials)

    def image_shape(self) -> tuple[int, int, int]:
        if self._shape is None:
            raise DataError(f"split {self.split}: no samples")
        return tuple(self._shape)  # type: ignore[return-value]

    def dtype(self) -> np.dtype:
        """dtype of the samples as returned (stacks are converted to float32)."""
        return np.dtype(np.float32)

    def names(self) -> list[str]:
        """'<file>:<group>' of every sample, in index order."""
        return [f"{self.files[f].name}:{n}" for f, n in zip(self._file_ids, self._names, strict=True)]

    def target_kind(self) -> str | None:
        """"raw" when the first sample carries potential maps (preprocessing makes targets
        of them), else None."""
        if not len(self):
            return None
        return "raw" if POTENTIAL in self._handle(int(self._file_ids[0]))[self._names[0]] else None

    def potential(self, index: int) -> np.ndarray | None:
        """The potential maps (3, M, M) float32 of one sample (None: it has none)."""
        index = range(len(self))[index]
        fid = int(self._file_ids[index])
        where = f"{self.files[fid]}: group {self._names[index]}"
        try:
            return read_potential(self._handle(fid)[self._names[index]], where)
        except SampleProblem as err:
            raise DataError(str(err)) from None

    def read_batch(self, indices: list[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Stacks (n, 3, H, W) float32 and labels (n,) of several samples."""
        stacks = np.stack([self[int(i)].stack for i in indices])
        return stacks, self._labels[np.asarray(indices, dtype=np.int64)]

"""Baseline only: the packed preprocessing path as of commit 7774e00 (before issue 14).

Kept here, not in the package, so `make bench` can measure the new path against the old
one on the same data in the same run. Per sample: high-level h5py metadata (File[name],
Group.attrs), Dataset.read_direct, a full-size isfinite check, the float64-accumulated
transform, one HDF5 write per sample. Planning (which samples go to which part) is the
package's, unchanged.
"""

from __future__ import annotations

import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import h5py
import numpy as np

from stemdl.common.data.layouts import PACKED_MANIFEST
from stemdl.common.data.packed import manifest
from stemdl.common.data.preprocess import Task, plan
from stemdl.common.data.raw import STACK, SampleProblem, check_group, open_h5, read_stack
from stemdl.common.workload import CLIP_MAX, LOG_FLOOR, LOG_SCALE


def _log_scale(stack: np.ndarray, out: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        np.log(stack, out=out, dtype=np.float32)
    out *= np.float32(LOG_SCALE)
    out += np.float32(-LOG_FLOOR * LOG_SCALE)
    np.clip(out, np.float32(0.0), np.float32(CLIP_MAX), out=out)
    return out


def _block_mean(stack: np.ndarray, size: int) -> np.ndarray:
    c, h, w = stack.shape
    fy, fx = h // size, w // size
    cols = stack[..., 0::fx].astype(np.float64)
    for k in range(1, fx):
        cols += stack[..., k::fx]
    cols = cols.reshape(c, size, fy, size)
    summed = cols[:, :, 0, :].copy()
    for k in range(1, fy):
        summed += cols[:, :, k, :]
    summed *= 1.0 / (fy * fx)
    return summed.astype(np.float32)


def old_transform(stack: np.ndarray, size: int, work: np.ndarray) -> np.ndarray:
    small = _block_mean(_log_scale(stack, work), size)
    if np.isnan(small).any():
        small = _block_mean(np.nan_to_num(_log_scale(stack, work), nan=0.0), size)
    return small


def _run_task(task: Task) -> int:
    n, s = len(task.names), task.size
    task.split_dir.mkdir(parents=True, exist_ok=True)
    labels: list[int] = []
    materials: list[str] = []
    buf = work = None
    with open_h5(task.src) as handle, h5py.File(task.part_path, "w") as part:
        images = part.create_dataset("images", shape=(n, 3, s, s), dtype="<f4")
        for name in task.names:
            grp = handle[name]
            try:
                info = check_group(name, grp)
                buf = read_stack(grp[STACK], name, buf)
            except SampleProblem:
                continue
            if work is None or work.shape != buf.shape:
                work = np.empty(buf.shape, np.float32)
            images.write_direct(old_transform(buf, s, work), dest_sel=np.s_[len(labels)])
            labels.append(info.label)
            materials.append(info.material)
        count = len(labels)
        part.create_dataset("labels", data=np.array(labels + [0] * (n - count), dtype=np.int16))
        part.create_dataset("materials", data=materials + [""] * (n - count),
                            dtype=h5py.string_dtype())
        part.attrs["count"] = count
    return count


def old_preprocess_packed(raw: Path, out: Path, size: int, workers: int) -> int:
    """Samples written by the old packed path (all ranks' tasks, ``workers`` processes)."""
    tasks, _ = plan(Path(raw), Path(out), "packed", size)
    Path(out).mkdir(parents=True, exist_ok=True)
    (Path(out) / PACKED_MANIFEST).write_text(json.dumps(manifest(size)))
    with ProcessPoolExecutor(max_workers=min(workers, len(tasks))) as pool:
        return sum(pool.map(_run_task, tasks))

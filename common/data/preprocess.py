"""Raw ORNL HDF5 -> NPZ-per-sample or packed: the documented transform, in parallel.

The transform itself is `stemdl.common.data.transform.transform_stack` (strict): a
sample with NaN/Inf *input* values is skipped and counted.

Pipeline: the parent lists the sample names of every input file once (metadata only);
the work is cut into tasks of up to PART_SAMPLES consecutive samples of one file (the
same cut on every run, so output names are stable); tasks are shared among --rank/
--world and run in --workers processes. Every task opens its file once and reads each
sample once: O(N) overall.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from stemdl.common.cli.errors import DataError, StemdlError
from stemdl.common.data.layouts import (
    PACKED_MANIFEST,
    RAW,
    RAW_FILE_RE,
    detect_layout,
    raw_split_files,
)
from stemdl.common.data.packed import manifest
from stemdl.common.data.raw import (
    GROUP_RE,
    STACK,
    SampleProblem,
    open_h5,
    open_raw_fd,
    read_potential,
    read_sample,
    sample_names,
)
from stemdl.common.data.transform import NonFiniteInput, transform_stack
from stemdl.common.infra.atomic import (
    BackgroundCommits,
    remove_temps_of,
    write_atomic,
    write_temp,
)
from stemdl.common.infra.lock import LOCK_PREFIX, locked_folder
from stemdl.common.infra.progress import progress as progress_bar
from stemdl.common.infra.workers import ordered_map
from stemdl.common.run.bounds import check_workers
from stemdl.common.workload import INPUT_IMAGE_SIZE, PATTERNS_PER_STACK

FORMATS = ("npz", "packed")
PART_SAMPLES = 512  # samples per task (and per packed part file); fixed => stable names
PARAMS_FILE = "stemdl-preprocess.json"  # the parameters the outputs in OUT were made with
TRANSFORM_VERSION = 1  # bump when the transform's output changes beyond 1e-4
WRITE_ROWS = 64  # packed rows buffered per HDF5 write (64 x 3 x 128 x 128 float32: 12.6 MB)
MAX_LISTED_FILES = 20  # unreadable input files listed by name; the rest counted
MAX_EXAMPLES = 3  # sample names shown per skip reason in the summary
# outputs flushed to disk at once: a file system commits concurrent fsyncs of many small
# npz files together (one journal commit for many), where one at a time pays each
COMMIT_THREADS = 8


# --- planning -----------------------------------------------------------------
@dataclass(frozen=True)
class Task:
    """Samples [start, stop) of one raw file, written to one split folder."""

    src: Path
    split_dir: Path
    rank_tag: str
    part: int
    names: tuple[str, ...]
    fmt: str
    size: int
    target: str = "potential"  # the density task's target kind (where raw has potentials)

    @property
    def part_path(self) -> Path:
        return self.split_dir / f"part-{self.src.stem}-{self.part:04d}.h5"


@dataclass
class Summary:
    """What a preprocessing run did: written, skipped (already done / bad), bad files."""

    written: int = 0
    skipped_existing: int = 0
    skipped_bad: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    bad_files: list[str] = field(default_factory=list)
    samples: int = 0  # samples in the tasks of this rank
    uncommitted: list[tuple[Path, Path]] = field(default_factory=list)  # (temp, final) files

    def bad(self, reason: str, where: str) -> None:
        self.skipped_bad[reason] += 1
        shown = self.examples.setdefault(reason, [])
        if len(shown) < MAX_EXAMPLES:
            shown.append(where)

    def merge(self, other: Summary) -> None:
        self.written += other.written
        self.skipped_existing += other.skipped_existing
        self.skipped_bad.update(other.skipped_bad)
        for reason, shown in other.examples.items():
            mine = self.examples.setdefault(reason, [])
            mine.extend(shown[: MAX_EXAMPLES - len(mine)])
        self.bad_files.extend(other.bad_files)
        self.samples += other.samples

    def lines(self) -> list[str]:
        total_bad = sum(self.skipped_bad.values())
        out = [f"written: {self.written}", f"skipped (already done): {self.skipped_existing}",
               f"skipped (bad sample): {total_bad}"]
        for reason, count in sorted(self.skipped_bad.items()):
            out.append(f"  {reason}: {count}  e.g. {', '.join(self.examples.get(reason, []))}")
        out.append(f"unreadable input files: {len(self.bad_files)}")
        out.extend(f"  {line}" for line in self.bad_files[:MAX_LISTED_FILES])
        if len(self.bad_files) > MAX_LISTED_FILES:  # 10,000 bad files are not 10,000 lines
            reasons = Counter(line.partition(": ")[2] or line for line in self.bad_files)
            common = ", ".join(f"{why} ({n})" for why, n in reasons.most_common(3))
            out.append(f"  ... and {len(self.bad_files) - MAX_LISTED_FILES} more; "
                       f"most common: {common}")
        return out


MIN_SIZE = 8  # the smallest output the ResNets train on (8 px -> 1 px after stride 4)


def plan(raw: Path, out: Path, fmt: str, size: int,
         target: str = "potential") -> tuple[list[Task], list[str]]:
    """All tasks of a raw folder (every rank's) and the input files that cannot be read."""
    tasks: list[Task] = []
    bad_files: list[str] = []
    for _canon, (disk, files) in raw_split_files(raw).items():
        seen: dict[tuple[str, str], Path] = {}  # (rank tag, group) -> the file that has it
        for src in files:
            try:
                with open_h5(src) as handle:
                    names = sample_names(handle)
            except DataError as err:
                bad_files.append(str(err))
                continue
            match = RAW_FILE_RE.match(src.name)
            rank_tag = (match["rank"] if match and match["rank"] else "0")
            for name in names:
                other = seen.setdefault((rank_tag, name), src)
                if other != src:
                    raise DataError(
                        f"{other.name} and {src.name} both hold sample {name} of rank {rank_tag}: "
                        "their outputs would collide; move one of the files out of the folder"
                    )
            for part, start in enumerate(range(0, len(names), PART_SAMPLES)):
                chunk = tuple(names[start : start + PART_SAMPLES])
                tasks.append(Task(src, out / disk, rank_tag, part, chunk, fmt, size, target))
    return tasks, bad_files


def npz_name(task: Task, group: str) -> str:
    """Stable output name of one sample: sample-<rank>-<material>_<energy>.npz."""
    match = GROUP_RE.match(group)
    tag = f"{match['material']}_{match['energy']}" if match else re.sub(r"[^\w.-]", "_", group)
    return f"sample-{task.rank_tag}-{tag}.npz"


def _complete_npz(path: Path) -> bool:
    """An npz output that a rerun may keep: non-empty and a whole zip archive."""
    try:
        return path.stat().st_size > 0 and zipfile.is_zipfile(path)
    except OSError:
        return False


def _save_npz(path: Path, data: np.ndarray, label: int, material: str,
              target: np.ndarray | None = None, kind: str = "potential") -> Path:
    """One sample's npz, written under its temporary name (returned; the caller commits)."""
    extra = {} if target is None else {"target": target, "target_kind": np.array([kind])}

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:  # a file object: np.savez would append .npz to a name
            np.savez(fh, data=data, label=np.array([label], dtype=np.int64),
                     material=np.array([material]), **extra)

    return write_temp(path, write)


def _target(task: Task, handle: h5py.File, name: str, where: str) -> np.ndarray | None:
    """The sample's target maps (3, S, S), None when the raw sample has no potential."""
    from stemdl.common.data.targets import target_maps

    potential = read_potential(handle[name], where)
    return None if potential is None else target_maps(potential, task.size, task.target)


def _samples(task: Task, handle: h5py.File, fd: int | None, summary: Summary, names):
    """Yield (name, GroupInfo, transformed stack, target maps or None) of the good
    samples; count the bad ones. The first good sample decides whether the task's
    samples carry targets: a later one that differs is bad (one layout per part)."""
    buf: np.ndarray | None = None
    with_targets: bool | None = None
    depth: int | None = None  # patterns per sample: the first good sample decides
    for name in names:
        where = f"{task.src.name}:{name}"
        try:
            info, stack = read_sample(handle, name, fd, buf, check_finite=False)
            buf = stack  # reused for the next sample
            if info.shape[1] < task.size or info.shape[2] < task.size:
                raise SampleProblem("too_small", f"{STACK} {info.shape} smaller than {task.size}")
            if depth is not None and info.shape[0] != depth:
                raise SampleProblem("wrong_shape", f"{STACK} {info.shape}: {info.shape[0]} "
                                    f"patterns, unlike the {depth} of the samples before it")
        except SampleProblem as err:
            summary.bad(err.reason, where)
            continue
        except (OSError, KeyError, ValueError, RuntimeError) as err:
            summary.bad("read_error", f"{where} ({type(err).__name__})")
            continue
        try:
            small = transform_stack(stack, task.size, strict=True)
        except NonFiniteInput:
            summary.bad("non_finite", where)
            continue
        try:
            target = _target(task, handle, name, where)
        except SampleProblem as err:
            summary.bad(err.reason, where)
            continue
        if with_targets is None:
            with_targets = target is not None
        elif with_targets != (target is not None):
            summary.bad("bad_target", f"{where} ({'no' if target is None else 'a'} potential, "
                        f"unlike the samples before it)")
            continue
        depth = info.shape[0]
        yield name, info, small, target


def run_task(task: Task) -> Summary:
    """Process one task; returns its summary (never raises for bad samples). Its outputs
    (npz files or a packed part) come back written under their temporary names, in
    ``summary.uncommitted``: the caller commits them (`_run_tasks` does, in the
    background, while the workers go on)."""
    summary = Summary(samples=len(task.names))
    task.split_dir.mkdir(parents=True, exist_ok=True)
    if task.fmt == "packed" and task.part_path.exists():
        try:
            with h5py.File(task.part_path, "r") as done:
                summary.skipped_existing = int(done.attrs["count"])
            return summary
        except (OSError, KeyError):
            pass  # not a complete part: rewrite it
    todo = list(task.names)
    if task.fmt == "npz":
        todo = []
        for name in task.names:
            if _complete_npz(task.split_dir / npz_name(task, name)):
                summary.skipped_existing += 1
            else:
                todo.append(name)
        if not todo:
            return summary
    try:
        handle = open_h5(task.src)
    except DataError as err:
        summary.bad_files.append(str(err))
        return summary
    try:
        fd = open_raw_fd(task.src)  # contiguous float32 stacks: one pread each
    except OSError:
        fd = None  # read through HDF5 instead
    try:
        with handle:
            if task.fmt == "npz":
                try:
                    for name, info, data, target in _samples(task, handle, fd, summary, todo):
                        final = task.split_dir / npz_name(task, name)
                        summary.uncommitted.append((_save_npz(
                            final, data, info.label, info.material, target, task.target), final))
                        summary.written += 1
                except BaseException:  # stopped mid-task: its outputs will not be committed
                    for tmp, _ in summary.uncommitted:
                        tmp.unlink(missing_ok=True)
                    raise
            else:
                tmp = write_temp(task.part_path,
                                 lambda tmp: _write_part(tmp, task, handle, fd, summary))
                summary.uncommitted.append((tmp, task.part_path))
    finally:
        if fd is not None:
            os.close(fd)
    return summary


def _write_part(tmp: Path, task: Task, handle: h5py.File, fd: int | None,
                summary: Summary) -> None:
    """One part file; images go to disk in blocks of WRITE_ROWS rows (one HDF5 write
    each, not one per sample)."""
    n, s = len(task.names), task.size
    labels: list[int] = []
    materials: list[str] = []
    rows_per_block = min(n, WRITE_ROWS)
    block = np.empty((0,), np.float32)  # (rows, patterns, s, s) once the first sample is read
    tblock = np.empty((rows_per_block, PATTERNS_PER_STACK, s, s), np.float32)
    with h5py.File(tmp, "w") as part:
        images = None
        targets = None
        row = 0

        def flush(rows: int) -> None:
            sel = np.s_[row - rows : row]
            images.write_direct(block[:rows], dest_sel=sel)
            if targets is not None:
                targets.write_direct(tblock[:rows], dest_sel=sel)

        for _name, info, data, target in _samples(task, handle, fd, summary, task.names):
            if images is None:  # the first sample decides the depth and whether targets exist
                block = np.empty((rows_per_block, *data.shape), np.float32)
                images = part.create_dataset("images", shape=(n, *data.shape), dtype="<f4")
            if target is not None and targets is None:
                targets = part.create_dataset("targets", shape=(n, PATTERNS_PER_STACK, s, s),
                                              dtype="<f4")
                targets.attrs["target_kind"] = task.target
            block[row % len(block)] = data
            if target is not None:
                tblock[row % len(block)] = target
            row += 1
            if row % len(block) == 0:
                flush(len(block))
            labels.append(info.label)
            materials.append(info.material)
        if images is None:  # no good sample: an empty part of the classification shape
            images = part.create_dataset("images", shape=(n, PATTERNS_PER_STACK, s, s),
                                         dtype="<f4")
        elif row % len(block):
            flush(row % len(block))
        count = len(labels)
        part.create_dataset("labels", data=np.array(labels + [0] * (n - count), dtype=np.int16))
        part.create_dataset("materials", data=materials + [""] * (n - count),
                            dtype=h5py.string_dtype())
        part.attrs["count"] = count
        part.attrs["source"] = task.src.name
        part.attrs["image_size"] = s
    summary.written += count


# --- the run ------------------------------------------------------------------
def run_params(raw: Path, fmt: str, size: int, target: str = "potential") -> dict:
    """What the outputs depend on: a rerun into the same OUT may reuse only outputs made
    with these same values."""
    return {"source": str(raw.resolve()), "format": fmt, "size": size, "target": target,
            "transform_version": TRANSFORM_VERSION}


def _ours(out: Path, raw: Path) -> list[Path]:
    """The entries of OUT that preprocessing writes (split folders, manifests)."""
    splits = {disk for disk, _ in raw_split_files(raw).values()}
    return [p for p in out.iterdir()
            if p.name in splits or p.name in (PARAMS_FILE, PACKED_MANIFEST)]


def check_params(out: Path, raw: Path, params: dict, overwrite: bool) -> None:
    """Refuse to mix outputs made with other parameters (or of unknown origin) into OUT;
    with `overwrite`, remove them first."""
    path = out / PARAMS_FILE
    others = [p for p in out.iterdir() if not p.name.startswith(LOCK_PREFIX)]
    if not others:
        return
    try:
        old = json.loads(path.read_text())
    except FileNotFoundError:
        old = None
    except (OSError, ValueError):
        old = {"unreadable": str(path)}
    if old == params:
        return
    if overwrite:
        for entry in _ours(out, raw):
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        return
    if old is None:
        what = f"files not made by `stemdl preprocess` ({', '.join(sorted(p.name for p in others)[:3])})"
    else:
        diff = [f"{k} {old.get(k)!r} (now {v!r})" for k, v in params.items() if old.get(k) != v]
        what = "outputs made with " + ", ".join(diff or ["other parameters"])
    raise StemdlError(f"{out}: holds {what}; use --overwrite to replace them, or a new OUT")


def preprocess(
    raw: str | Path,
    out: str | Path,
    fmt: str = "npz",
    size: int = INPUT_IMAGE_SIZE,
    workers: int = 1,
    rank: int = 0,
    world: int = 1,
    progress: bool | None = None,
    overwrite: bool = False,
    target: str = "potential",
) -> Summary:
    """Preprocess this rank's share of a raw folder into ``out``; returns the summary.

    Bad samples are skipped and counted; unreadable input files are listed in
    ``summary.bad_files`` (the command turns them into exit code 2 after the summary).
    OUT is locked for this rank while it is written; a rerun reuses only outputs made with
    the same parameters.
    """
    raw, out = Path(raw), Path(out)
    if fmt not in FORMATS:
        raise StemdlError(f"unknown format '{fmt}' (choose from {', '.join(FORMATS)})")
    if size < MIN_SIZE:
        raise StemdlError(f"--size must be at least {MIN_SIZE} px, got {size} (below it the "
                          "ResNets' stride-2 stem and pooling leave no image)")
    check_workers("--workers", workers, minimum=1)
    from stemdl.common.data.targets import check_kind

    check_kind(target)
    layout = detect_layout(raw)
    if layout != RAW:
        raise DataError(f"{raw}: is a {layout} folder; preprocess needs a raw folder "
                        "of batch_<split>_<rank>.h5 files")
    if out.exists() and not out.is_dir():
        raise StemdlError(f"{out}: exists and is not a folder")
    if out.resolve() == raw.resolve():
        raise StemdlError(f"{out}: the output folder must differ from the input folder")
    if overwrite and world > 1:
        raise StemdlError("--overwrite with several ranks would delete the other ranks' "
                          "outputs: empty OUT once, then start the ranks")
    tasks, bad_files = plan(raw, out, fmt, size, target)
    params = run_params(raw, fmt, size, target)
    with locked_folder(out, "stemdl preprocess", rank, world):
        check_params(out, raw, params, overwrite)
        write_atomic(out / PARAMS_FILE, lambda tmp: tmp.write_text(json.dumps(params, indent=1)))
        if fmt == "packed":
            write_atomic(out / PACKED_MANIFEST,
                         lambda tmp: tmp.write_text(json.dumps(manifest(size), indent=1)))
        _remove_stale_temps(tasks[rank::world])
        summary = _run_tasks(tasks[rank::world], workers, progress)
    summary.bad_files[:0] = bad_files
    return summary


def _remove_stale_temps(mine: list[Task]) -> None:
    """The temporary outputs a stopped run of this rank left (a worker stopped mid-task
    leaves its files unfinished or uncommitted): removed once, before the tasks run. Only
    this rank's outputs: other ranks may be writing theirs into the same folders."""
    names: dict[Path, set[str]] = {}
    for task in mine:
        mine_here = names.setdefault(task.split_dir, set())
        if task.fmt == "packed":
            mine_here.add(task.part_path.name)
        else:
            mine_here.update(npz_name(task, name) for name in task.names)
    for folder, finals in names.items():
        remove_temps_of(folder, finals)


def _run_tasks(mine: list[Task], workers: int, progress: bool | None) -> Summary:
    """Every task of this rank, in `workers` processes (stopped with the command)."""
    from stemdl.common.data.kernels import warm_up  # numba: imported only when used

    summary = Summary()
    warm_up()  # compile (or load) the transform's loop once, before the workers fork
    # largest tasks first: a big task started last would leave the other workers idle
    mine = sorted(mine, key=lambda task: len(task.names), reverse=True)
    bar = progress_bar(sum(len(t.names) for t in mine), "preprocess", "sample",
                       enabled=False if progress is False else None)
    commits = BackgroundCommits(COMMIT_THREADS)  # the disk flushes while workers go on
    try:
        for done in ordered_map(run_task, mine, workers, ordered=False, start_method="fork"):
            for tmp, path in done.uncommitted:
                commits.submit(tmp, path)
            done.uncommitted.clear()
            summary.merge(done)
            bar.update(done.samples)
        commits.wait()
    except BaseException:
        commits.finish()  # the parts finished before the error are whole: keep them
        raise
    finally:
        bar.close()
    return summary

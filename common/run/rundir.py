"""The run folder: its default name, and the one resume policy of both implementations.

- No output folder given: `runs/<impl>-<SLURM/LSF job id, else a timestamp>`, the same
  for every rank of a launch (the first rank's choice is passed on in the environment to
  the processes it starts; launcher ranks share the job id).
- A run folder holding an earlier run (results.json, the MLPerf log or a checkpoint) is
  refused without --resume; --resume with no checkpoint to continue is refused too.
  Nothing is ever overwritten silently, and nothing resumes silently. One exception, said
  in a note: an earlier run of the same implementation that stopped before its first
  checkpoint (a data error, a SIGTERM in epoch 1) has nothing to continue, so a rerun, or
  a --resume, starts it over, its outputs kept in `earlier-N/` beside.
- Rank 0 holds the run folder's lock (common/infra/lock.py) for the whole run, so two copies of
  one run (a second terminal, a requeue racing the old job) never write one folder; the
  other ranks of the launch (Lightning's re-executed children, SLURM's other tasks) share it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from stemdl.common.cli.errors import StemdlError
from stemdl.common.infra.lock import FolderLock, locked_folder

RUN_DIR_ENV = "STEMDL_RUN_DIR"  # shared by the ranks a launcher re-executes
RUNS = "runs"


def default_run_dir(impl: str) -> Path:
    """runs/<impl>-<job id or timestamp>; the same path for all ranks of this launch."""
    if os.environ.get(RUN_DIR_ENV):
        return Path(os.environ[RUN_DIR_ENV])
    job = os.environ.get("SLURM_JOB_ID") or os.environ.get("LSB_JOBID")
    name = f"{impl}-{job}" if job else time.strftime(f"{impl}-%Y%m%d-%H%M%S")
    path = Path(RUNS) / name
    os.environ[RUN_DIR_ENV] = str(path)  # children started by Lightning/launchers inherit it
    return path


EARLIER = "earlier-{}"  # where a restarted run's outputs are kept
# what a run may have written before its first checkpoint, besides `outputs`
EARLY_OUTPUTS = ("predictions", "tensorboard")


def check_run_dir(run_dir: str | Path, resume: bool, checkpoint: bool,
                  outputs: Iterable[str] = ("results.json", "mlperf.log"), rank: int = 0,
                  impl: str | None = None, dry_run: bool = False) -> bool:
    """Refuse an earlier run's folder without --resume, and --resume with nothing to
    resume; returns whether the run resumes from a checkpoint.

    `checkpoint`: whether the folder holds this implementation's checkpoint; `outputs`:
    the file names (relative to run_dir) that only a run writes. Only rank 0 looks for
    earlier outputs: the other ranks of a launch may start after rank 0 began writing.
    With `impl`, an earlier run of it that stopped before its first checkpoint starts
    over (`restartable`), its outputs set aside (not with `dry_run`: said only).
    """
    run_dir = Path(run_dir)
    outputs = tuple(outputs)
    if resume:
        if checkpoint:
            return True
        status = restartable(run_dir, impl, outputs) if impl and rank == 0 else None
        if rank != 0:  # rank 0 decides (and would have refused)
            return False
        if status is None:
            raise StemdlError(f"{run_dir}: --resume given but there is no checkpoint to resume")
        _start_over(run_dir, outputs, status, dry_run, "--resume starts it from epoch 1")
        return False
    if rank != 0:
        return False
    found = [name for name in outputs if (run_dir / name).exists()]
    if checkpoint:
        found.insert(0, "a checkpoint")
    if found:
        status = None if checkpoint or not impl else restartable(run_dir, impl, outputs)
        if status is None:
            raise StemdlError(
                f"{run_dir}: holds an earlier run ({', '.join(found)}); use --resume to continue "
                "it, or another run folder"
            )
        _start_over(run_dir, outputs, status, dry_run, "this run starts it over")
    return False


def restartable(run_dir: Path, impl: str | None, outputs: Iterable[str]) -> str | None:
    """The status of an earlier run in `run_dir` that can start over: one of `impl`'s (by
    its results.json) that did not succeed and left no checkpoint (the caller knows); None
    for anything else (another implementation's run, an unreadable results.json, only a
    log: nothing says whose it is)."""
    try:
        result = json.loads((run_dir / "results.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(result, dict) or result.get("implementation") != impl:
        return None
    status = str(result.get("status"))
    return None if status == "success" else status


def _start_over(run_dir: Path, outputs: tuple[str, ...], status: str, dry_run: bool,
                what: str) -> None:
    n = 1
    while (run_dir / EARLIER.format(n)).exists():
        n += 1
    keep = run_dir / EARLIER.format(n)
    verb = "would be kept" if dry_run else "are kept"
    print(f"stemdl: note: {run_dir}: the earlier run there stopped before its first "
          f"checkpoint (status {status}): nothing to continue, so {what}; its outputs "
          f"{verb} in {keep}", file=sys.stderr)
    if dry_run:
        return
    keep.mkdir()
    for name in (*outputs, *EARLY_OUTPUTS):
        if (run_dir / name).exists():
            os.replace(run_dir / name, keep / Path(name).name)


def check_is_folder(path: str | Path, what: str = "run folder") -> Path:
    """A one-line error (exit 2) when `path` exists and is not a folder."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise StemdlError(f"{path}: exists and is not a folder (the {what} must be a folder)")
    return path


@contextlib.contextmanager
def run_dir_lock(run_dir: str | Path, command: str, rank: int) -> Iterator[FolderLock | None]:
    """`with run_dir_lock(run_dir, "stemdl train stfc", rank):` the whole run.

    Rank 0 takes the folder's lock (FolderLocked, one line naming the holder, if another
    live process has it); the other ranks of the launch take nothing. A folder this call
    created and nothing was written to is removed again (a run refused at its checks).
    """
    run_dir = check_is_folder(run_dir)
    if rank != 0:
        yield None
        return
    existed = run_dir.exists()
    try:
        with locked_folder(run_dir, command) as lock:
            yield lock
    finally:
        if not existed:
            with contextlib.suppress(OSError):
                run_dir.rmdir()  # only if empty

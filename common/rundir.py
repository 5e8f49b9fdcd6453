"""The run folder: its default name, and the one resume policy of both implementations.

- No output folder given: `runs/<impl>-<SLURM/LSF job id, else a timestamp>`, the same
  for every rank of a launch (the first rank's choice is passed on in the environment to
  the processes it starts; launcher ranks share the job id).
- A run folder holding an earlier run (results.json, the MLPerf log or a checkpoint) is
  refused without --resume; --resume with no checkpoint to continue is refused too.
  Nothing is ever overwritten silently, and nothing resumes silently.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from pathlib import Path

from stemdl.common.errors import StemdlError

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


def check_run_dir(run_dir: str | Path, resume: bool, checkpoint: bool,
                  outputs: Iterable[str] = ("results.json", "mlperf.log"), rank: int = 0) -> None:
    """Refuse an earlier run's folder without --resume, and --resume with nothing to resume.

    `checkpoint`: whether the folder holds this implementation's checkpoint; `outputs`:
    the file names (relative to run_dir) that only a run writes. Only rank 0 looks for
    earlier outputs: the other ranks of a launch may start after rank 0 began writing.
    """
    run_dir = Path(run_dir)
    if resume:
        if not checkpoint:
            raise StemdlError(f"{run_dir}: --resume given but there is no checkpoint to resume")
        return
    if rank != 0:
        return
    found = [name for name in outputs if (run_dir / name).exists()]
    if checkpoint:
        found.insert(0, "a checkpoint")
    if found:
        raise StemdlError(
            f"{run_dir}: holds an earlier run ({', '.join(found)}); use --resume to continue "
            "it, or another run folder"
        )

"""What a submission names about the code that ran: stemdl-bench's version and the
commit of its source, for the log's submission_version and
submission_github_commit_version (the Science working group's policy).

The version is the installed distribution's; the commit is STEMDL_COMMIT when set (an
image or a wheel built from a known commit sets it), else git's HEAD of the checkout the
code runs from, else "unknown": never an error, since a run must not fail for lack of git.
"""

from __future__ import annotations

import functools
import os
import shlex
import subprocess
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

DISTRIBUTION = "stemdl-bench"
COMMIT_ENV = "STEMDL_COMMIT"
UNKNOWN = "unknown"
REPOSITORY = "https://github.com/stemdl-bench/stemdl-bench"  # the source, as the images label it


@functools.cache
def code_version() -> str:
    """stemdl-bench's installed version, or "unknown"."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return UNKNOWN


@functools.cache
def code_commit() -> str:
    """The commit of the code that runs: STEMDL_COMMIT, else git HEAD of this checkout
    (with "-dirty" when tracked files differ from it), else "unknown"."""
    given = os.environ.get(COMMIT_ENV, "").strip()
    if given:
        return given
    here = Path(__file__).resolve().parent
    if not any((p / ".git").exists() for p in (here, *here.parents)):
        return UNKNOWN
    try:
        head = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain",
                                "--untracked-files=no"], capture_output=True, text=True,
                               timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return UNKNOWN
    if len(head) != 40:
        return UNKNOWN
    return f"{head}-dirty" if dirty else head


# -- how the run was started ---------------------------------------------------------------
JOB_SCRIPT_ENV = "STEMDL_JOB_SCRIPT"  # the job templates set it to their own (spooled) copy
JOB_SCRIPT_FILE = "job-script.sh"  # the copy in the run folder
MAX_JOB_SCRIPT_BYTES = 1 << 20  # a job script, not a data file
_command: list[str] = []


def set_command(words: Sequence[str]) -> None:
    """Record the command line this process runs (the `stemdl` entry points call it)."""
    _command[:] = [str(w) for w in words]


def command_line() -> str:
    """The command this process runs, shell-quoted: as the entry point recorded it, else
    this process's argv."""
    words = _command or [Path(sys.argv[0]).name, *sys.argv[1:]]
    return shlex.join(words)


def job_identity() -> dict[str, str]:
    """The batch job this process runs in (Slurm, LSF or PBS), or {}."""
    for scheduler, key in (("slurm", "SLURM_JOB_ID"), ("lsf", "LSB_JOBID"), ("pbs", "PBS_JOBID")):
        if os.environ.get(key):
            return {"scheduler": scheduler, "id": os.environ[key]}
    return {}


def job_script() -> str | None:
    """The text of the job script that started this run: $STEMDL_JOB_SCRIPT, else Slurm's
    copy (`scontrol write batch_script`), else None."""
    given = os.environ.get(JOB_SCRIPT_ENV, "")
    if given:
        path = Path(given)
        try:
            if path.is_file() and path.stat().st_size <= MAX_JOB_SCRIPT_BYTES:
                return path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            pass
    job = os.environ.get("SLURM_JOB_ID", "")
    if job:
        try:
            out = subprocess.run(["scontrol", "write", "batch_script", job, "-"],
                                 capture_output=True, text=True, timeout=10, check=True).stdout
        except (OSError, subprocess.SubprocessError):
            return None
        return out if out.strip() and len(out) <= MAX_JOB_SCRIPT_BYTES else None
    return None

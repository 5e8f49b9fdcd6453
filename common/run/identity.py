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
import subprocess
from importlib import metadata
from pathlib import Path

DISTRIBUTION = "stemdl-bench"
COMMIT_ENV = "STEMDL_COMMIT"
UNKNOWN = "unknown"


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

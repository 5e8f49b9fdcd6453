"""Atomic file writes: a temporary name in the same folder, then a rename.

A run killed mid-write leaves either the previous file or none, never a truncated file
that looks complete; a failed write removes its temporary file. The data is flushed to
disk (fsync) before the rename, and the rename itself after it, so a node that crashes
right after a write cannot leave a complete-looking name over empty blocks.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

TEMP_MARK = ".tmp-"  # a temporary name: <final name>.tmp-<pid>


def temp_path(path: Path) -> Path:
    """The temporary name `write_atomic` uses for `path` (unique per process)."""
    return path.with_name(f"{path.name}{TEMP_MARK}{os.getpid()}")


def remove_stale_temps(folder: str | os.PathLike[str], name: str = "*") -> None:
    """Remove the temporary files a killed run left for the files of `folder` matching the
    glob `name`; only where no other process may be writing them (a lock is held)."""
    for stale in Path(folder).glob(f"{name}{TEMP_MARK}*"):
        stale.unlink(missing_ok=True)


def remove_temps_of(folder: str | os.PathLike[str], names: Collection[str]) -> None:
    """Remove the temporary files a killed run left for the files `names` of `folder`, in
    one listing of the folder however many names; only where no other process may be
    writing them (a lock is held)."""
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return
    for entry in entries:
        target, sep, _pid = entry.name.rpartition(TEMP_MARK)
        if sep and target in names:
            Path(entry.path).unlink(missing_ok=True)


def write_atomic(path: str | os.PathLike[str], write: Callable[[Path], object]) -> Path:
    """Call write(tmp), then rename tmp to `path` (parent folders created); returns `path`."""
    path = Path(path)
    return commit(write_temp(path, write), path)


def write_temp(path: str | os.PathLike[str], write: Callable[[Path], object]) -> Path:
    """The first half of `write_atomic`: write(tmp) under `path`'s temporary name (parent
    folders created) and return tmp; a failed write removes it. `commit` finishes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        write(tmp)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def commit(tmp: Path, path: str | os.PathLike[str]) -> Path:
    """The second half of `write_atomic`: flush tmp to disk, rename it to `path`, flush the
    folder; on failure tmp is removed and `path` keeps what it had."""
    path = Path(path)
    try:
        _fsync(tmp)
        os.replace(tmp, path)
        _fsync(path.parent, folder=True)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


class BackgroundCommits:
    """`commit`s in background threads, so a process that writes many files computes the
    next while the disk takes the last (an fsync waits for the disk, not the CPU).
    `wait` raises the first failure; after an error or a signal, `finish` commits what
    was submitted (whole files) and raises nothing."""

    def __init__(self, threads: int = 1) -> None:
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="commit")
        self._pending: list[Future[Path]] = []

    def submit(self, tmp: Path, path: str | os.PathLike[str]) -> None:
        self._pending.append(self._pool.submit(commit, Path(tmp), path))

    def wait(self) -> list[Path]:
        """Block until every submitted file is committed; their final paths."""
        done = [future.result() for future in self._pending]
        self._pool.shutdown()
        return done

    def finish(self) -> None:
        """Commit what was submitted, ignoring failures (each removed its temporary)."""
        self._pool.shutdown(wait=True)


def _fsync(path: Path, folder: bool = False) -> None:
    """Flush a file's data (or a folder's entries) to disk; a file's failure is an error."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:
        if not folder:
            raise
        # some file systems refuse fsync on folders; the file's data was flushed already
    finally:
        os.close(fd)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically."""
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))

"""Atomic file writes: a temporary name in the same folder, then a rename.

A run killed mid-write leaves either the previous file or none, never a truncated file
that looks complete; a failed write removes its temporary file. The data is flushed to
disk (fsync) before the rename, and the rename itself after it, so a node that crashes
right after a write cannot leave a complete-looking name over empty blocks.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def temp_path(path: Path) -> Path:
    """The temporary name `write_atomic` uses for `path` (unique per process)."""
    return path.with_name(f"{path.name}.tmp-{os.getpid()}")


def write_atomic(path: str | os.PathLike[str], write: Callable[[Path], object]) -> Path:
    """Call write(tmp), then rename tmp to `path` (parent folders created); returns `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        write(tmp)
        _fsync(tmp)
        os.replace(tmp, path)
        _fsync(path.parent, folder=True)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


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

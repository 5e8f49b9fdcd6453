"""An exclusive lock on an output folder, so two writers never share one.

A batch system may start the same job twice (a requeue while the first copy still runs,
two terminals, two demos): every command that writes a folder holds this lock while it
writes. The lock is a small JSON file in the folder, created with O_EXCL (atomic on local
and parallel file systems) and naming its holder (host, pid, command, SLURM job), plus an
advisory flock on it. A second writer gets a one-line error naming the holder; a lock left
by a dead process (same host, pid gone; or the same SLURM job restarted) is taken over.

Hand-written because the libraries that lock files (filelock, fasteners) neither name the
holder nor tell a dead holder from a live one on another host.

Multi-rank tools (simulate, preprocess) lock one name per rank (`lock_name(rank, world)`),
so the ranks of one job share the folder while two copies of one rank cannot.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from stemdl.common.cli.errors import StemdlError
from stemdl.common.infra.signals import signals_deferred

LOCK_PREFIX = ".stemdl-lock"
# A lock file being written by its creator may be empty for an instant: wait this long.
_SETTLE_S = 0.5


@dataclass(frozen=True)
class Holder:
    """Who holds a lock: enough to name it in an error and to tell if it is gone."""

    host: str
    pid: int
    command: str
    started: float
    token: str
    slurm_job: str | None = None
    slurm_restart: int = 0
    extra: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        job = f", SLURM job {self.slurm_job}" if self.slurm_job else ""
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started))
        return f"{self.host} pid {self.pid}{job} ({self.command}, since {since})"


class FolderLocked(StemdlError):
    """Another live writer holds the folder."""


def lock_name(rank: int = 0, world: int = 1) -> str:
    """The lock file name: one per folder, or one per rank for multi-rank writers."""
    return LOCK_PREFIX if world <= 1 else f"{LOCK_PREFIX}-rank{rank}-of-{world}"


def _me(command: str) -> Holder:
    env = os.environ
    return Holder(
        host=socket.gethostname(), pid=os.getpid(), command=command, started=time.time(),
        token=uuid.uuid4().hex, slurm_job=env.get("SLURM_JOB_ID"),
        slurm_restart=int(env.get("SLURM_RESTART_COUNT", "0") or 0),
    )


def _read(path: Path) -> Holder | None:
    """The holder recorded in `path`; None if the file is gone or not (yet) readable."""
    deadline = time.monotonic() + _SETTLE_S
    while True:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return Holder(**data)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError):
            if time.monotonic() >= deadline:
                return None  # unreadable for longer than a write takes: treat as abandoned
            time.sleep(0.05)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def _flock_free(path: Path) -> bool:
    """True if nobody holds the advisory flock of `path` (the holder died or never had it)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    finally:
        os.close(fd)  # closing releases a flock we may have just taken
    return True


def is_stale(holder: Holder | None, path: Path, me: Holder) -> bool:
    """Whether the recorded holder is certainly gone, so its lock may be taken over."""
    if holder is None:
        return True
    if holder.slurm_job and holder.slurm_job == me.slurm_job and holder.slurm_restart < me.slurm_restart:
        return True  # this job was requeued: the earlier run of it is over
    if holder.host == me.host:
        return not _pid_alive(holder.pid) or (holder.pid != me.pid and _flock_free(path))
    return False  # another host: its pid cannot be checked from here


class FolderLock:
    """Hold `folder/name` exclusively while writing the folder (a context manager)."""

    def __init__(self, folder: str | os.PathLike[str], command: str,
                 name: str = LOCK_PREFIX) -> None:
        self.folder = Path(folder)
        self.path = self.folder / name
        self.command = command
        self.holder: Holder | None = None
        self.took_over: Holder | None = None
        self._fd: int | None = None

    def acquire(self) -> FolderLock:
        """Take the lock; FolderLocked (one line, exit 2) if a live writer holds it."""
        with signals_deferred():  # never a lock file without a holder that will release it
            return self._acquire()

    def _acquire(self) -> FolderLock:
        if self.folder.exists() and not self.folder.is_dir():
            raise StemdlError(f"{self.folder}: exists and is not a folder")
        self.folder.mkdir(parents=True, exist_ok=True)
        me = _me(self.command)
        for _ in range(3):
            if self._create(me):
                return self
            current = _read(self.path)
            if not is_stale(current, self.path, me):
                raise FolderLocked(
                    f"{self.folder}: in use by another writer, {current.describe()}; "  # type: ignore[union-attr]
                    f"wait for it, or remove {self.path} if that process is gone"
                )
            if self._take_over(me, current):
                return self
        raise FolderLocked(f"{self.folder}: could not take the lock {self.path} (contended)")

    def _create(self, me: Holder) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        self._hold(fd, me)
        return True

    def _take_over(self, me: Holder, stale: Holder | None) -> bool:
        """Replace a stale lock atomically, then check that ours is the one that stayed."""
        tmp = self.path.with_name(f"{self.path.name}.{me.token}")
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        self._hold(fd, me)
        os.replace(tmp, self.path)
        time.sleep(0.05)  # let a racing taker's rename land before we check
        current = _read(self.path)
        if current is None or current.token != me.token:
            self._close()
            self.holder = None
            return False
        self.took_over = stale
        if stale is not None:
            print(f"stemdl: note: {self.folder}: took over the lock of a stopped run "
                  f"({stale.describe()})", file=sys.stderr)
        return True

    def _hold(self, fd: int, me: Holder) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(fd, json.dumps(asdict(me)).encode())
        os.fsync(fd)
        self._fd, self.holder = fd, me

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def release(self) -> None:
        """Remove the lock if it is still ours (idempotent)."""
        if self.holder is None:
            return
        with signals_deferred():  # a second signal mid-release must not leave the file behind
            self._release()

    def _release(self) -> None:
        assert self.holder is not None
        current = _read(self.path)
        if current is not None and current.token == self.holder.token:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        self._close()
        self.holder = None

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


@contextlib.contextmanager
def locked_folder(folder: str | os.PathLike[str], command: str, rank: int = 0,
                  world: int = 1) -> Iterator[FolderLock]:
    """`with locked_folder(out, "stemdl simulate"):` the folder (this rank's share) is ours."""
    with FolderLock(folder, command, lock_name(rank, world)) as lock:
        yield lock

"""The one argument parser and the one top-level error handler of every `stemdl` entry.

`stemdl` itself and `python -m stemdl.stfc.train` / `python -m stemdl.ornl.train` share
them, so a usage error or a user error looks the same everywhere: one line
`stemdl: error: ...` and exit 2 (an environment error such as a full disk: exit 1; Ctrl-C:
130; SIGTERM from a batch system: 143, after every `finally` has run; a closed pipe: quiet).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from stemdl.common.cli.errors import StemdlError
from stemdl.common.cli.extras import install_hint
from stemdl.common.infra.signals import Terminated, terminate_on_signals


class UsageError(StemdlError):
    """A command-line usage error; `run_main` prints the usage before the one error line."""

    def __init__(self, message: str, usage: str) -> None:
        super().__init__(message)
        self.usage = usage


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose usage errors raise `UsageError`: under `run_main`, the usage, then
    `stemdl: error: <command>: <message>`, exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        where = self.prog.removeprefix("stemdl").strip()
        raise UsageError(f"{where + ': ' if where else ''}{message}", self.format_usage())


class StoreOnce(argparse.Action):
    """An option that may be given once: `--config A --config B` is a usage error, not B
    silently in place of A."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        if getattr(namespace, self.dest, None) is not None:
            parser.error(f"{option_string} given twice ({getattr(namespace, self.dest)} and "
                         f"{values}); give one file")
        setattr(namespace, self.dest, values)


def not_a_folder(err: NotADirectoryError) -> str:
    """'PATH: FILE is a file, not a folder' for a path that runs through a file."""
    path = Path(str(err.filename)) if err.filename else None
    if path is not None:
        for parent in (path, *path.parents):
            if parent.is_file():
                return f"{path}: {parent} is a file, not a folder"
    return f"{err.filename or ''}: {err.strerror}"


def run_main(func: Callable[[], int | None]) -> int:
    """`func()`'s exit code; user errors become one line on stderr and their exit code."""
    try:
        with terminate_on_signals():
            return int(func() or 0)
    except Terminated as err:  # scancel, timeout, docker stop: workers already stopped
        print(f"stemdl: {err}", file=sys.stderr)
        return err.exit_code
    except StemdlError as err:
        if isinstance(err, UsageError):
            print(err.usage, end="", file=sys.stderr)
        print(f"stemdl: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("stemdl: interrupted", file=sys.stderr)
        return 130
    except ModuleNotFoundError as err:  # an optional extra missing: its install line
        missing = install_hint(err)
        if missing is None or os.environ.get("STEMDL_DEBUG"):
            raise
        print(f"stemdl: error: {missing}", file=sys.stderr)
        return missing.exit_code
    except BrokenPipeError:  # `stemdl ... | head`: the reader left; say nothing
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115  (no flush error at exit)
        except OSError:
            pass
        return 0
    except NotADirectoryError as err:  # an output under a file: the user's path, exit 2
        print(f"stemdl: error: {not_a_folder(err)}", file=sys.stderr)
        return 2
    except OSError as err:  # the environment (a full disk, a permission): one line
        if os.environ.get("STEMDL_DEBUG"):
            raise
        print(f"stemdl: error: {err} (STEMDL_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 1


def module_main(main: Callable[[Sequence[str] | None], int | None]) -> None:
    """`python -m stemdl.<impl>.<phase>`: run `main(sys.argv[1:])` under `run_main`, exit."""
    from stemdl.common.run.identity import set_command

    set_command(["python", "-m", getattr(main, "__module__", "stemdl"), *sys.argv[1:]])
    raise SystemExit(run_main(lambda: main(sys.argv[1:])))


def freeze_for_exit() -> None:
    """Once a command has written and closed everything, keep the interpreter's exit from
    collecting its objects one by one (`gc.freeze`): a finished ORNL run holds some 23,000
    objects in reference cycles, among them every traced TensorFlow function, whose
    finalizers (`AtomicFunction.__del__` -> `Context.remove_function`) and tf.data
    iterator teardowns ran in the final collection, 1.4 to 4 s between results.json and the
    process's exit (measured; docs/BENCH.md). Nothing is left to write by then: the logs,
    results and checkpoints are closed, and objects that module teardown releases (not in
    cycles) are still finalized."""
    import gc

    gc.freeze()

"""The one argument parser and the one top-level error handler of every `stemdl` entry.

`stemdl` itself and `python -m stemdl.stfc.train` / `python -m stemdl.ornl.train` share
them, so a usage error or a user error looks the same everywhere: one line
`stemdl: error: ...` and exit 2 (an environment error such as a full disk: exit 1; Ctrl-C:
130; a closed pipe: quiet).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from stemdl.common.errors import StemdlError


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose usage errors print the usage, then `stemdl: error: ...`, exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        where = self.prog.removeprefix("stemdl").strip()
        print(f"stemdl: error: {where + ': ' if where else ''}{message}", file=sys.stderr)
        raise SystemExit(2)


def run_main(func: Callable[[], int | None]) -> int:
    """`func()`'s exit code; user errors become one line on stderr and their exit code."""
    try:
        return int(func() or 0)
    except StemdlError as err:
        print(f"stemdl: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("stemdl: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `stemdl ... | head`: the reader left; say nothing
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115  (no flush error at exit)
        except OSError:
            pass
        return 0
    except OSError as err:  # the environment (a full disk, a permission): one line
        if os.environ.get("STEMDL_DEBUG"):
            raise
        print(f"stemdl: error: {err} (STEMDL_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 1


def module_main(main: Callable[[Sequence[str] | None], int | None]) -> None:
    """`python -m stemdl.<impl>.<phase>`: run `main(sys.argv[1:])` under `run_main`, exit."""
    raise SystemExit(run_main(lambda: main(sys.argv[1:])))

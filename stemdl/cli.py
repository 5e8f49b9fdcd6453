"""The `stemdl` command: one sub-command per module in `stemdl.commands`."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from stemdl import __version__
from stemdl.common.errors import StemdlError
from stemdl.common.signals import Terminated, terminate_on_signals

# Each module defines `register(subparsers)`, which adds its parser and sets
# `func=run` on it. Modules must stay light at import (no torch/tensorflow/abtem):
# heavy imports go inside `run`.
COMMAND_MODULES: tuple[str, ...] = (
    "preprocess",
    "inspect",
    "train",
    "evaluate",
    "simulate",
    "show",
    "compliance",
    "score",
    "compare",
    "demo",
)


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors say `stemdl: error:` in one line and exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="stemdl",
        description="STEMDL benchmark suite: classify a crystal's space group (1..230) "
        "from a stack of 3 CBED patterns.",
    )
    parser.add_argument("--version", action="version", version=f"stemdl-bench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(f"stemdl.commands.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    args = build_parser().parse_args(argv)
    try:
        with terminate_on_signals():
            return int(args.func(args) or 0)
    except Terminated as err:  # SIGTERM (scancel, timeout, docker stop): workers already stopped
        print(f"stemdl: {err}", file=sys.stderr)
        return err.exit_code
    except StemdlError as err:
        print(f"stemdl: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("stemdl: interrupted", file=sys.stderr)
        return 130
    except OSError as err:  # the environment (a full disk, a permission): one line, not a traceback
        if os.environ.get("STEMDL_DEBUG"):
            raise
        print(f"stemdl: error: {err} (STEMDL_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())

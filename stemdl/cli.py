"""The `stemdl` command: one sub-command per module in `stemdl.commands`."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from stemdl import __version__
from stemdl.common.cli.entry import ArgumentParser, freeze_for_exit, run_main

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
    "package",
    "check_package",
    "demo",
)


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="stemdl",
        description="STEMDL benchmark suite: classify a crystal's space group (1..230) "
        "from a stack of 3 CBED patterns, or reconstruct its projected potential.",
    )
    parser.add_argument("--version", action="version", version=f"stemdl-bench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(f"stemdl.commands.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit code."""

    def run() -> int:
        from stemdl.common.run.identity import set_command

        words = list(sys.argv[1:] if argv is None else argv)
        set_command(["stemdl", *words])  # what results.json and a package's README repeat
        args = build_parser().parse_args(words)
        return int(args.func(args) or 0)

    code = run_main(run)
    if argv is None:  # the command itself: the process exits next
        freeze_for_exit()
    return code


if __name__ == "__main__":
    raise SystemExit(main())

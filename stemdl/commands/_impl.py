"""Shared shell of `stemdl train` and `stemdl evaluate`: one sub-parser per implementation.

Both implementations are treated alike: every argument after `stfc`/`ornl` (--help
included) goes unchanged to `stemdl.<impl>.<phase>.main(argv)`, whose parser owns that
implementation's options, so `stemdl train stfc --help` and `stemdl train ornl --help`
each list their own. The modules import torch/tensorflow only inside their run functions.
"""

from __future__ import annotations

import argparse
import importlib

from stemdl.common.cli import extras
from stemdl.common.cli.errors import StemdlError

IMPLEMENTATIONS = {
    "stfc": "STFC recipe on PyTorch Lightning (ResNet-50, the 3 patterns as 3 channels)",
    "ornl": "ORNL recipe on TensorFlow/Keras (ResNet-50, one pattern per sample in training)",
}
# what each implementation imports: a missing one gives the extra's install line up front
FRAMEWORK_MODULES = {"stfc": ("torch", "pytorch_lightning"), "ornl": ("tensorflow", "keras")}


def add_implementations(parser: argparse.ArgumentParser, phase: str) -> None:
    impls = parser.add_subparsers(dest="implementation", metavar="IMPLEMENTATION",
                                  parser_class=type(parser))
    impls.required = True
    for impl, text in IMPLEMENTATIONS.items():
        # prefix_chars="+": this parser treats every "-..." word as data, so all of them
        # (--help too) reach the implementation's own parser untouched.
        sub = impls.add_parser(impl, help=text, add_help=False, prefix_chars="+",
                               usage=f"stemdl {phase} {impl} [OPTIONS ...]",
                               description=f"stemdl {phase} {impl}: {text}.")
        sub.add_argument("argv", nargs=argparse.REMAINDER,
                         help=f"the {impl} {phase} options; see `stemdl {phase} {impl} --help`")
        sub.set_defaults(func=lambda a, impl=impl: run(impl, phase, a))


def _import(impl: str, phase: str):
    try:
        return importlib.import_module(f"stemdl.{impl}.{phase}")
    except ModuleNotFoundError as err:
        if err.name and err.name.startswith(f"stemdl.{impl}"):
            raise StemdlError(f"`stemdl {phase} {impl}` is not available in this version") from None
        raise extras.hint(f"stemdl {phase} {impl}", err.name or impl) from None


def run(impl: str, phase: str, args: argparse.Namespace) -> int:
    """`stemdl.<impl>.<phase>.main(argv)`: the same entry for both implementations."""
    argv = list(args.argv)
    if not {"-h", "--help"} & set(argv):  # the help needs no framework
        extras.require(f"stemdl {phase} {impl}", FRAMEWORK_MODULES[impl])
    return int(_import(impl, phase).main(argv) or 0)

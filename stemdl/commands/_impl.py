"""Shared shell of `stemdl train` and `stemdl evaluate`: one sub-parser per implementation.

stfc: its options are declared here (from the light `stemdl.stfc.config`), so
`stemdl train stfc --help` lists them. ornl: every argument after `ornl` (--help included)
goes unchanged to `stemdl.ornl.<phase>.main(argv)`, whose parser owns the upstream flags.
Heavy imports (torch, tensorflow) happen only in `run`.
"""

from __future__ import annotations

import argparse
import importlib

from stemdl.common.errors import StemdlError

IMPLEMENTATIONS = {
    "stfc": "STFC recipe on PyTorch Lightning (ResNet-50, the 3 patterns as 3 channels)",
    "ornl": "ORNL recipe on TensorFlow/Keras (ResNet-50, one pattern per sample in training)",
}
EXTRAS = {"stfc": "stfc", "ornl": "ornl-cpu"}


def add_implementations(parser: argparse.ArgumentParser, phase: str) -> None:
    impls = parser.add_subparsers(dest="implementation", metavar="IMPLEMENTATION",
                                  parser_class=type(parser))
    impls.required = True
    stfc = impls.add_parser("stfc", help=IMPLEMENTATIONS["stfc"],
                            description=f"stemdl {phase} stfc: {IMPLEMENTATIONS['stfc']}.")
    from stemdl.stfc import config as stfc_args

    getattr(stfc_args, f"add_{phase}_arguments")(stfc)
    stfc.set_defaults(func=lambda a: _run_stfc(phase, a))
    # prefix_chars="+": this parser treats every "-..." word as data, so all of them
    # (--help too) reach the ORNL parser untouched.
    ornl = impls.add_parser("ornl", help=IMPLEMENTATIONS["ornl"], add_help=False,
                            prefix_chars="+", usage=f"stemdl {phase} ornl [ORNL OPTIONS ...]",
                            description=f"stemdl {phase} ornl: {IMPLEMENTATIONS['ornl']}.")
    ornl.add_argument("argv", nargs=argparse.REMAINDER,
                      help=f"the ORNL {phase} options; see `stemdl {phase} ornl --help`")
    ornl.set_defaults(func=lambda a: _run_ornl(phase, a))


def _import(impl: str, phase: str):
    try:
        return importlib.import_module(f"stemdl.{impl}.{phase}")
    except ModuleNotFoundError as err:
        if err.name and err.name.startswith(f"stemdl.{impl}"):
            raise StemdlError(f"`stemdl {phase} {impl}` is not available in this version") from None
        raise StemdlError(
            f"`stemdl {phase} {impl}` needs {err.name}: pip install 'stemdl-bench[{EXTRAS[impl]}]'"
        ) from None


def _run_stfc(phase: str, args: argparse.Namespace) -> int:
    return int(_import("stfc", phase).run_args(args) or 0)


def _run_ornl(phase: str, args: argparse.Namespace) -> int:
    return int(_import("ornl", phase).main(list(args.argv)) or 0)

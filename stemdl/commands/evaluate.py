"""`stemdl evaluate {stfc,ornl}`: macro F1, top-1 and latency of a trained model on a split."""

from __future__ import annotations

import argparse

from stemdl.commands._impl import add_implementations


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="evaluate a checkpoint on a data split: stfc or ornl",
        description="Macro F1 (the benchmark metric), top-1 and inference latency of a trained "
        "model on one split. `stemdl evaluate stfc --help` lists the options.",
    )
    add_implementations(parser, "evaluate")

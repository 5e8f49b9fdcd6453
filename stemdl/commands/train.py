"""`stemdl train {stfc,ornl}`: train one of the two reference implementations."""

from __future__ import annotations

import argparse

from stemdl.commands._impl import add_implementations


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a model: stfc (PyTorch Lightning) or ornl (TensorFlow)",
        description="Train, validate every epoch, test and time inference; writes a run folder "
        "with the MLPerf log, results.json, checkpoint and TensorBoard scalars. "
        "`stemdl train stfc --help` and `stemdl train ornl --help` list each one's options.",
    )
    add_implementations(parser, "train")

"""Command-line arguments of `stemdl train stfc` and `stemdl evaluate stfc`.

Kept free of torch/Lightning imports so `stemdl --help` stays fast.
"""

from __future__ import annotations

import argparse


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", metavar="FILE",
        help="YAML config: ours (configs/stfc/default.yaml) or the upstream stemdlConfig.yaml",
    )
    parser.add_argument(
        "--resume", action="store_true",
        help="continue the run in run_dir from its last checkpoint (a run_dir that holds one "
        "is refused without this flag)",
    )
    parser.add_argument(
        "overrides", nargs="*", metavar="key=value",
        help="config overrides, e.g. resnet=18 epochs=2 data_dir=DIR run_dir=DIR devices=2",
    )


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, metavar="CKPT",
                        help="a Lightning checkpoint (run_dir/checkpoints/last.ckpt) or model_file")
    parser.add_argument("--data", required=True, metavar="DIR",
                        help="a data folder holding splits (any layout), or one split's npz folder")
    parser.add_argument("--split", default="val",
                        help="split to evaluate: val (default), test, inference, train")
    parser.add_argument("--batch-size", type=int, default=64, help="evaluation batch size")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader worker processes")
    parser.add_argument("--precision", default="32", choices=["32", "bf16-mixed", "16-mixed"])
    parser.add_argument("--json", metavar="FILE", help="also write the metrics to FILE as JSON")

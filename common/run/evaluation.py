"""`stemdl evaluate`: one option set for both implementations, and how it is resolved.

Both take a run folder (`--run-dir`: its checkpoint, and its data when `--data` is not
given) or a checkpoint (`--checkpoint`), a data folder (`--data`, spelled `--data-dir`
too), a split (default val: the split the primary metric is scored on), a batch size, and
where to write the figures (`--json`; `--no-write` keeps results.json as it is).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from stemdl.common.cli.errors import StemdlError
from stemdl.common.data.layouts import canonical_split
from stemdl.common.run.bounds import check_workers
from stemdl.common.run.results import RESULTS_FILE, RunResult

PRECISIONS = ("32", "bf16-mixed", "16-mixed")


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `stemdl evaluate stfc` and `stemdl evaluate ornl`."""
    parser.add_argument("--run-dir", metavar="DIR",
                        help="a training run's folder: its checkpoint, and its data unless --data")
    parser.add_argument("--checkpoint", metavar="CKPT",
                        help="a checkpoint or model file (stfc: checkpoints/last.ckpt or "
                        "model_file; ornl: the run's checkpoints folder); default: the run's")
    parser.add_argument("--data", "--data-dir", dest="data", metavar="DIR",
                        help="a data folder holding splits (any layout), or one split's folder; "
                        "default: the run's own")
    parser.add_argument("--split", default="val",
                        help="split to evaluate: val (default), test, inference, train")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="stacks per batch (default: the run's evaluation batch, else 64)")
    parser.add_argument("--workers", type=int, default=None,
                        help="loader worker processes (stfc; default 2)")
    parser.add_argument("--precision", default=None, choices=PRECISIONS,
                        help="stfc: autocast precision (default 32)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures to FILE as JSON")
    parser.add_argument("--no-write", action="store_true",
                        help="do not write the test split's figures back into results.json")


@dataclass
class EvaluateRequest:
    """What to evaluate, resolved: the run (if any), the checkpoint, the data and the split."""

    run_dir: Path | None
    checkpoint: Path | None
    data: Path
    split: str
    batch_size: int | None
    workers: int | None  # None: the implementation's default
    precision: str | None
    json: Path | None
    write_back: bool
    result: RunResult | None  # the run's results.json, when there is a run folder


def resolve_request(args: argparse.Namespace) -> EvaluateRequest:
    """One-line errors for what cannot be evaluated; the run's own data as the default."""
    if args.run_dir is None and args.checkpoint is None:
        raise StemdlError("give --run-dir (a training run's folder) or --checkpoint")
    if args.batch_size is not None and args.batch_size < 1:
        raise StemdlError(f"--batch-size: must be >= 1, got {args.batch_size}")
    check_workers("--workers", args.workers)
    split = canonical_split(args.split)
    run_dir = Path(args.run_dir) if args.run_dir else None
    result = None
    if run_dir is not None:
        if not (run_dir / RESULTS_FILE).is_file():
            raise StemdlError(f"{run_dir}: not a run folder (no {RESULTS_FILE})")
        result = RunResult.read(run_dir)
    data = Path(args.data) if args.data else _run_data(result, split, run_dir)
    return EvaluateRequest(run_dir, Path(args.checkpoint) if args.checkpoint else None, data,
                           split, args.batch_size, args.workers, args.precision,
                           Path(args.json) if args.json else None, not args.no_write, result)


def _run_data(result: RunResult | None, split: str, run_dir: Path | None) -> Path:
    """The folder of `split` in the run's config: its `<split>_dir`, else its data_dir."""
    config = result.config if result is not None else {}
    folder = config.get(f"{split}_dir") or config.get("data_dir")
    if not folder:
        where = run_dir if run_dir is not None else "the checkpoint"
        raise StemdlError(f"no {split} data in the config of {where}: pass --data")
    return Path(folder)

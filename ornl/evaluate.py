"""`stemdl evaluate ornl`: score a trained ORNL run's checkpoint on a split.

Rebuilds the network from `checkpoints/model.json` (depth, classes, dropout, and the
input normalization training fed; the config in results.json only for older runs),
restores the latest checkpoint, evaluates (logits averaged over the 3 patterns, whole-set macro F1 and
top-1) and times inference per batch. For the test split the figures are written back
into results.json (test_macro_f1, test_top1, inference).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from stemdl.common.config import build
from stemdl.common.entry import ArgumentParser, module_main
from stemdl.common.errors import StemdlError
from stemdl.common.results import RunResult
from stemdl.common.timing import LatencyMeter
from stemdl.ornl.config import ALIASES, OrnlConfig


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="stemdl evaluate ornl",
                     description="Evaluate a trained ORNL run on a split (default: test).")
    parser.add_argument("--run-dir", required=True, help="the training run's folder")
    parser.add_argument("--split", default="test", help="val or test (default test)")
    parser.add_argument("--data-dir", help="folder holding the split (default: the run's config)")
    parser.add_argument("--batch-size", type=int, default=None, help="stacks per batch")
    parser.add_argument("--no-write", action="store_true", help="do not update results.json")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    from stemdl.common.data.layouts import canonical_split
    from stemdl.common.data.splits import check_reader, open_split_dir
    from stemdl.ornl.checkpoint import has_checkpoint

    run_dir = Path(args.run_dir)
    result = RunResult.read(run_dir)
    if result.implementation != "ornl":
        raise StemdlError(f"{run_dir}: a '{result.implementation}' run, not an ornl one")
    known = set(OrnlConfig.__dataclass_fields__)
    cfg = build(OrnlConfig, {k: v for k, v in result.config.items() if k in known}, ALIASES)
    split = canonical_split(args.split)
    root = Path(args.data_dir) if args.data_dir else cfg.split_dir(split)
    if root is None:
        raise StemdlError(f"no {split} data: pass --data-dir")
    reader = open_split_dir(root, split)
    check_reader(reader, root)
    if not has_checkpoint(run_dir):
        raise StemdlError(f"{run_dir}: no checkpoint to evaluate")
    if args.batch_size is not None and args.batch_size < 1:
        raise StemdlError(f"--batch-size: must be >= 1, got {args.batch_size}")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    f1, top1, latency = _evaluate(cfg, run_dir, reader, args.batch_size or cfg.eval_batch_size
                                  or cfg.batch_size)
    print(f"ornl {split}: macro F1 {f1:.4f}, top-1 {top1:.4f}, {len(reader)} samples, "
          f"{latency.get('samples_per_second', 0):.1f} samples/s")
    if split == "test" and not args.no_write:
        result.test_macro_f1, result.test_top1, result.inference = f1, top1, latency
        result.write(run_dir)
    return 0


def _evaluate(cfg: OrnlConfig, run_dir: Path, reader, batch: int):
    from stemdl.ornl.quiet import import_tensorflow

    tf = import_tensorflow()  # without its start-up banner

    from stemdl.ornl import data as pipeline
    from stemdl.ornl.checkpoint import checkpoint_dir
    from stemdl.ornl.distributed import worker_info
    from stemdl.ornl.loop import Trainer
    from stemdl.ornl.resnet import build_resnet

    strategy = tf.distribute.get_strategy()
    net = network_of(cfg, run_dir)
    model = build_resnet(net["resnet"], net["in_channels"], net["num_classes"],
                         dropout=net["dropout"], image_size=pipeline.image_size(reader))
    path = tf.train.latest_checkpoint(str(checkpoint_dir(run_dir)))
    try:
        tf.train.Checkpoint(model=model).restore(path).expect_partial().assert_existing_objects_matched()
    except (tf.errors.OpError, ValueError, AssertionError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise StemdlError(f"{path}: corrupt or incompatible checkpoint ({first[:200]})") from None
    trainer = Trainer(strategy, worker_info(strategy), model, None, seed=cfg.seed,
                      per_replica_batch=batch, eval_batch=batch, progress=False,
                      input_norm=net["input_norm"])
    return time_inference(trainer, reader, batch, cfg.seed)


def network_of(cfg: OrnlConfig, run_dir: Path) -> dict:
    """Build arguments of the run's network and its input normalization: from
    `checkpoints/model.json` (written when training starts, so a killed run has it),
    else from the config in results.json (runs from before model.json; fed x / 255)."""
    from stemdl.common.data.normalize import InputNorm, fixed_norm
    from stemdl.common.workload import NUM_LOGITS
    from stemdl.ornl.checkpoint import read_model_spec

    spec = read_model_spec(run_dir) or {}
    saved = spec.get("input_norm")
    return {
        "resnet": int(spec.get("resnet", cfg.resnet)),
        "in_channels": int(spec.get("in_channels", 1)),
        "num_classes": int(spec.get("num_classes", NUM_LOGITS)),
        "dropout": float(spec.get("dropout", cfg.dropout)),
        "input_norm": InputNorm.from_dict(saved) if saved else fixed_norm("unit", 3),
    }


def time_inference(trainer, reader, batch: int, seed: int):
    """(macro F1, top-1, latency summary) of `reader` on this process, timing each forward
    pass of a batch of stacks (3 patterns each, logits averaged): the inference figures of
    results.json. Data loading is not timed; one untimed batch traces the graph first."""
    from stemdl.common.data.samples import FirstN
    from stemdl.common.metrics import ConfusionMatrix
    from stemdl.ornl import data as pipeline

    trainer.evaluate(FirstN(reader, min(len(reader), batch)))  # trace once, untimed
    meter = LatencyMeter()
    opts = pipeline.PipelineOptions(seed=seed, per_replica_batch=batch, norm=trainer.input_norm)
    confusion = ConfusionMatrix()
    for _, stacks, labels in pipeline.eval_dataset(reader, opts):
        t0 = time.perf_counter()
        logits = trainer._forward(stacks).numpy()
        meter.add(int(stacks.shape[0]), time.perf_counter() - t0)
        confusion.update(labels.numpy(), logits.argmax(-1))
    return confusion.macro_f1(), confusion.top1(), meter.summary()


if __name__ == "__main__":
    module_main(main)

"""`stemdl evaluate ornl`: score a trained ORNL run's checkpoint on a split.

Rebuilds the network from `checkpoints/model.json` (depth, classes, dropout, and the
input normalization training fed; the config in results.json only for older runs),
restores the latest checkpoint, evaluates (logits averaged over the 3 patterns, whole-set macro F1 and
top-1) and times inference per batch. For the test split the figures are written back
into results.json (test_macro_f1, test_top1, inference).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from stemdl.common.cli.entry import ArgumentParser, module_main
from stemdl.common.cli.errors import StemdlError
from stemdl.common.data.transform import reader_input_size
from stemdl.common.infra.atomic import write_text_atomic
from stemdl.common.run.config import build
from stemdl.common.run.evaluation import add_evaluate_arguments, resolve_request
from stemdl.common.run.runpolicy import time_batches
from stemdl.common.run.runrecorder import metrics_text
from stemdl.common.task import get_task
from stemdl.ornl.config import ALIASES, OrnlConfig


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="stemdl evaluate ornl",
                            description="Evaluate a trained ORNL run on a split (default: val).")
    add_evaluate_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    from stemdl.common.data.splits import check_reader, open_split_dir
    from stemdl.ornl.checkpoint import has_checkpoint

    if args.run_dir is None and args.checkpoint is not None:  # its checkpoints/ or the run
        ckpt = Path(args.checkpoint)
        args.run_dir = str(ckpt.parent if ckpt.name == "checkpoints" else ckpt)
    req = resolve_request(args)
    for flag, value in (("--workers", req.workers), ("--precision", req.precision)):
        if value is not None:  # accepted as the shared option set has it; said, not silent
            print(f"stemdl: note: {flag} has no effect for ornl evaluate (float32, tf.data's "
                  "own parallel reads)", file=sys.stderr)
    run_dir, result = req.run_dir, req.result
    if result.implementation != "ornl":
        raise StemdlError(f"{run_dir}: a '{result.implementation}' run, not an ornl one")
    known = set(OrnlConfig.__dataclass_fields__)
    cfg = build(OrnlConfig, {k: v for k, v in result.config.items() if k in known}, ALIASES)
    reader = open_split_dir(req.data, req.split)
    check_reader(reader, req.data)
    if not has_checkpoint(run_dir):
        raise StemdlError(f"{run_dir}: no checkpoint to evaluate")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from stemdl.ornl.errors import data_errors

    with data_errors():
        metric, latency = _evaluate(cfg, run_dir, reader,
                                    req.batch_size or cfg.eval_batch_size or cfg.batch_size)
    task = get_task(result.task)
    values = metric.result()
    print(f"ornl {req.split}: {metrics_text(values, task, '')}, {len(reader)} samples, "
          f"{latency.get('samples_per_second', 0):.1f} samples/s")
    if req.json:
        out = {"run_dir": str(run_dir), "data": str(req.data), "split": req.split,
               "task": task.name, "samples": metric.samples, **values, "inference": latency}
        write_text_atomic(req.json, json.dumps(out, indent=2) + "\n")
    if req.split == "test" and req.write_back:
        result.test, result.inference = values, {**latency, "split": req.split}
        result.write(run_dir)
    return 0


def _evaluate(cfg: OrnlConfig, run_dir: Path, reader, batch: int):
    from stemdl.ornl.quiet import import_tensorflow

    tf = import_tensorflow()  # without its start-up banner

    from stemdl.ornl.checkpoint import checkpoint_dir
    from stemdl.ornl.distributed import worker_info
    from stemdl.ornl.loop import Trainer
    from stemdl.ornl.tasks import hooks

    strategy = tf.distribute.get_strategy()
    net = network_of(cfg, run_dir)
    task = hooks(net["task"])
    from types import SimpleNamespace

    from stemdl.common.data.splits import reader_where

    size = reader_input_size(reader)
    if task.task.target_kind == "array":
        task.task.check_split(reader, reader_where(reader), None)
    spec = get_task(net["task"]).model_spec(SimpleNamespace(**net), size)
    model = task.build_model(spec, net["in_channels"], net["dropout"], size)
    path = tf.train.latest_checkpoint(str(checkpoint_dir(run_dir)))
    try:
        tf.train.Checkpoint(model=model).restore(path).expect_partial().assert_existing_objects_matched()
    except (tf.errors.OpError, ValueError, AssertionError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise StemdlError(f"{path}: corrupt or incompatible checkpoint ({first[:200]})") from None
    trainer = Trainer(strategy, worker_info(strategy), model, None, seed=cfg.seed,
                      per_replica_batch=batch, eval_batch=batch, progress=False,
                      input_norm=net["input_norm"], task=net["task"])
    return time_inference(trainer, reader, batch, cfg.seed)


def network_of(cfg: OrnlConfig, run_dir: Path) -> dict:
    """Build arguments of the run's network and its input normalization: from
    `checkpoints/model.json` (written when training starts, so a killed run has it),
    else from the config in results.json (runs from before model.json; fed x / 255)."""
    from stemdl.common.data.normalize import InputNorm, fixed_norm
    from stemdl.ornl.checkpoint import read_model_spec

    spec = read_model_spec(run_dir) or {}
    saved = spec.get("input_norm")
    return {
        "task": spec.get("task", cfg.task),
        "resnet": int(spec.get("resnet", cfg.resnet)),
        "unet_depth": int(spec.get("unet_depth", cfg.unet_depth)),
        "unet_width": int(spec.get("unet_width", cfg.unet_width)),
        "density_net": str(spec.get("density_net", "unet")),
        "fcd_growth": int(spec.get("fcd_growth", cfg.fcd_growth)),
        "fcd_kernel": int(spec.get("fcd_kernel", cfg.fcd_kernel)),
        "in_channels": int(spec.get("in_channels", 1)),
        "dropout": float(spec.get("dropout", cfg.dropout)),
        "input_norm": InputNorm.from_dict(saved) if saved else fixed_norm("unit", 3),
    }


def time_inference(trainer, reader, batch: int, seed: int):
    """(the metric, latency summary) of `reader` on this process alone (no collective),
    timing each forward pass of a batch of stacks (3 patterns each, logits averaged) and
    its prediction: the inference figures of results.json. Data loading is not timed; the
    first batch runs once untimed, to trace the graph."""
    from stemdl.ornl import data as pipeline

    opts = pipeline.PipelineOptions(seed=seed, per_replica_batch=batch, norm=trainer.input_norm,
                                    all_patterns=trainer.hooks.all_patterns)
    metric = trainer.hooks.task.new_metric()
    def batches():
        traced = False
        for _, stacks, labels in pipeline.eval_dataset(reader, opts):
            if not traced:  # before the clock starts: the first call traces the graph
                trainer._forward(stacks)
                traced = True
            yield stacks, labels

    def forward(item):
        return trainer.hooks.predict(trainer._forward(item[0])).numpy()

    view = trainer.hooks.host_view
    meter = time_batches(batches(), forward, size=lambda item: int(item[0].shape[0]),
                         each=lambda item, preds: metric.update(view(item[1].numpy()), view(preds)))
    return metric, meter.summary()


if __name__ == "__main__":
    module_main(main)

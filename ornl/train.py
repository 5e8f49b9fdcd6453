"""`stemdl train ornl`: the ORNL recipe on TensorFlow/Keras under tf.distribute.

Flags (upstream ORNL names), a YAML config (--config) and `key=value` overrides all map
onto `OrnlConfig`; precedence: defaults < YAML < key=value < flags.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stemdl.common.atomic import write_atomic
from stemdl.common.config import to_dict
from stemdl.common.errors import StemdlError
from stemdl.common.mllog import Keys
from stemdl.common.results import RunResult, host_info
from stemdl.common.runconfig import load_run_config
from stemdl.common.workload import ORNL
from stemdl.ornl.config import ALIASES, OrnlConfig

# test-only fault injection: SIGKILL this process right after the checkpoint of epoch N
KILL_AFTER_EPOCH_ENV = "STEMDL_ORNL_KILL_AFTER_EPOCH"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise StemdlError(f"{self.prog}: {message}")


# flag -> (config field, type)
FLAGS: dict[str, tuple[str, Any, str]] = {
    "--train-dir": ("train_dir", str, "training split folder (raw, npz or packed layout)"),
    "--val-dir": ("val_dir", str, "validation split folder"),
    "--test-dir": ("test_dir", str, "test split folder"),
    "--data-dir": ("data_dir", str, "a folder holding all splits"),
    "--run-dir": ("run_dir", str, "output folder: mlperf.log, results.json, checkpoints, tensorboard"),
    "--epochs": ("epochs", int, "epochs to train (the maximum in mode=target)"),
    "--batch-size": ("batch_size", int, "batch size per replica (ORNL: 32)"),
    "--base-lr": ("learning_rate", float, "AdamW lr per replica, scaled by replicas (ORNL: 1e-3)"),
    "--wd": ("weight_decay", float, "AdamW weight decay (ORNL: 5e-5)"),
    "--warmup-epochs": ("warmup_epochs", int, "linear warm-up epochs (ORNL: 5)"),
    "--seed": ("seed", int, "random seed"),
    "--resnet": ("resnet", int, "ResNet depth 18/34/50/101 (ORNL: 50)"),
    "--mixup": ("mixup_alpha", float, "mixup alpha, 0 disables (ORNL: 0)"),
    "--workers": ("num_workers", int, "parallel reads per input pipeline (0 = autotune)"),
    "--mode": ("mode", str, "epochs (fixed) or target (stop at target_f1)"),
    "--target-f1": ("target_f1", float, "macro F1 that ends a mode=target run"),
    "--precision": ("precision", str, "32, 16-mixed (GPU) or bf16-mixed"),
    "--strategy": ("strategy", str, "auto, default, mirrored or multi_worker"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="stemdl train ornl",
                     description="Train the ORNL recipe (TensorFlow/Keras, tf.distribute).")
    parser.add_argument("--config", help="YAML config (keys of OrnlConfig; upstream names accepted)")
    for flag, (dest, kind, text) in FLAGS.items():
        parser.add_argument(flag, dest=dest, type=kind, default=None, help=text)
    parser.add_argument("--resume", action="store_true", default=None,
                        help="continue the run in --run-dir from its latest checkpoint")
    parser.add_argument("--xla", action="store_true", default=None, help="jit-compile the steps")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides")
    return parser


def parse_config(argv: Sequence[str]) -> OrnlConfig:
    """The run's config from argv (defaults < YAML < key=value < flags)."""
    args = build_parser().parse_intermixed_args(list(argv))
    flags: dict[str, Any] = {}
    for dest, _, _ in FLAGS.values():
        if getattr(args, dest) is not None:
            flags[dest] = getattr(args, dest)
    for dest in ("resume", "xla"):
        if getattr(args, dest):
            flags[dest] = True
    cfg = load_run_config(OrnlConfig, args.config, args.overrides, ALIASES, recipe=ORNL,
                          flags=flags)
    if not cfg.run_dir:
        raise StemdlError("config key 'run_dir' (--run-dir) is required")
    return cfg


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `stemdl train ornl ARGS...`; user errors raise StemdlError."""
    cfg = parse_config(sys.argv[1:] if argv is None else argv)
    result = run(cfg)
    print(
        f"ornl: {len(result.epochs)} epoch(s), best val macro F1 {result.best_val_macro_f1:.4f}, "
        f"top-1 {result.best_val_top1:.4f}, status {result.status}; results in "
        f"{Path(cfg.run_dir) / 'results.json'}",
        file=sys.stderr,
    )
    return 0


def run(cfg: OrnlConfig) -> RunResult:
    """Train (and validate every epoch) as `cfg` says; returns the run's result."""
    from stemdl.common.data.splits import open_checked
    from stemdl.ornl.checkpoint import check_resume

    # everything that can fail on user input is checked before TensorFlow starts
    train = open_checked(cfg.split_dir("train"), "train", "train_dir", cfg.train_samples,
                         cfg.min_classes)
    val = open_checked(cfg.split_dir("val"), "val", "val_dir", cfg.eval_samples)
    check_resume(cfg.run_dir, cfg.resume)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return _train(cfg, train, val)


def _train(cfg: OrnlConfig, train, val) -> RunResult:
    import keras
    import numpy as np
    import tensorflow as tf

    from stemdl.common.runrecorder import RunRecorder
    from stemdl.common.workload import NUM_LOGITS
    from stemdl.ornl import data as pipeline
    from stemdl.ornl.checkpoint import Checkpointer, run_input_norm, write_model_spec
    from stemdl.ornl.distributed import barrier, make_strategy, worker_info
    from stemdl.ornl.loop import Trainer, make_optimizer
    from stemdl.ornl.resnet import build_resnet, trainable_parameters

    strategy = make_strategy(cfg.strategy, cfg.devices, cfg.accelerator, cfg.slurm_port_base)
    info = worker_info(strategy)
    on_gpu = bool(tf.config.list_logical_devices("GPU")) and cfg.accelerator != "cpu"
    if cfg.mixed_policy == "mixed_float16" and not on_gpu:
        raise StemdlError("config key 'precision': 16-mixed needs a GPU; use 32 or bf16-mixed")
    keras.mixed_precision.set_global_policy(cfg.mixed_policy)
    if cfg.deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(cfg.seed)

    global_batch = cfg.batch_size * info.replicas
    if global_batch > len(train):
        raise StemdlError(
            f"config key 'batch_size': global batch {global_batch} ({cfg.batch_size} x "
            f"{info.replicas} replicas) is larger than the {len(train)} training samples"
        )
    steps = len(train) // global_batch
    base_lr = cfg.learning_rate * (info.replicas if cfg.scale_lr_by_replicas else 1)
    size = pipeline.image_size(train)

    recorder = RunRecorder(
        cfg.run_dir, "ornl", division=cfg.division, target_f1=cfg.target_f1,
        stop_at_target=cfg.mode == "target", rank=lambda: info.task_id,
        barrier=lambda: barrier(strategy), resume=cfg.resume,
    )
    recorder.init_start(org=cfg.organisation, division=cfg.division, status=cfg.status,
                        platform=cfg.platform or host_info()["hostname"])
    norm = run_input_norm(cfg.input_norm, train, cfg.seed, cfg.run_dir if cfg.resume else None)
    if info.is_chief:
        write_model_spec(cfg.run_dir, {"resnet": cfg.resnet, "in_channels": 1,
                                       "num_classes": NUM_LOGITS, "dropout": cfg.dropout,
                                       "image_size": size, "input_norm": norm.as_dict()})
    with strategy.scope():
        model = build_resnet(cfg.resnet, 1, dropout=cfg.dropout, image_size=size)
        optimizer = make_optimizer(base_lr, cfg.weight_decay, cfg.warmup_epochs * steps,
                                   cfg.warmup_epochs, cfg.mixed_policy == "mixed_float16",
                                   cfg.lr_schedule, steps * cfg.epochs)
        optimizer.build(model.trainable_variables)
        ckpt = Checkpointer(cfg.run_dir, model, optimizer, is_chief=info.is_chief,
                            task_id=info.task_id, keep=cfg.checkpoint_keep)
    done = ckpt.restore() if cfg.resume else 0
    trainer = Trainer(strategy, info, model, optimizer, seed=cfg.seed,
                      per_replica_batch=cfg.batch_size, eval_batch=cfg.eval_batch_size,
                      random_erasing_p=cfg.random_erasing_p, mixup_alpha=cfg.mixup_alpha,
                      xla=cfg.xla, input_norm=norm, label_smoothing=cfg.label_smoothing)
    model_name = f"resnet{cfg.resnet}"
    recorder.hyperparameters({
        Keys.SEED: cfg.seed,
        Keys.GLOBAL_BATCH_SIZE: global_batch,
        Keys.TRAIN_SAMPLES: steps * global_batch,
        Keys.EVAL_SAMPLES: len(val),
        Keys.OPT_NAME: "adamw",
        Keys.OPT_BASE_LR: base_lr,
        Keys.OPT_WEIGHT_DECAY: cfg.weight_decay,
        Keys.OPT_LR_WARMUP_EPOCHS: cfg.warmup_epochs,
        Keys.NUMBER_OF_NODES: info.num_workers,
        Keys.ACCELERATORS_PER_NODE: info.local_replicas,
        Keys.RECIPE: "ornl",
        Keys.MODEL_NAME: model_name,
        Keys.TARGET_F1: cfg.target_f1,
        Keys.INPUT_NORM: norm.as_dict(),
    })
    recorder.init_stop()
    recorder.run_start()
    writer = tf.summary.create_file_writer(str(Path(cfg.run_dir) / "tensorboard")) if info.is_chief else None
    kill_after = int(os.environ.get(KILL_AFTER_EPOCH_ENV, "0") or 0)
    stop = recorder.result.reached_target and cfg.mode == "target"
    epoch = done
    while not stop and epoch < cfg.epochs:
        epoch += 1
        recorder.epoch_start(epoch)
        loss, samples = trainer.train_epoch(train, epoch - 1)
        recorder.epoch_stop(epoch, samples, loss)
        recorder.eval_start(epoch)
        out = trainer.evaluate(val, keep_predictions=cfg.save_predictions)
        stop = recorder.eval_stop(epoch, out.confusion)
        ckpt.save(epoch)
        if writer is not None:
            with writer.as_default(step=epoch):
                tf.summary.scalar("train_loss", loss)
                tf.summary.scalar("val_macro_f1", out.confusion.macro_f1())
                tf.summary.scalar("val_top1", out.confusion.top1())
                lr = optimizer.learning_rate
                tf.summary.scalar("learning_rate", float(lr.numpy() if hasattr(lr, "numpy") else lr))
            writer.flush()
        if cfg.save_predictions:
            _save_predictions(Path(cfg.run_dir), info.task_id, out)
        if kill_after and epoch == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)
    recorder.run_stop()
    after = _test_and_inference(cfg, trainer, info)
    latest = ckpt.latest()
    variables = model.weights
    result = recorder.finish(
        frameworks={"tensorflow": tf.__version__, "keras": keras.__version__},
        hardware={**host_info(), "devices": [d.name for d in tf.config.list_logical_devices()],
                  "replicas": info.replicas, "workers": info.num_workers,
                  "precision": cfg.mixed_policy, "xla": cfg.xla},
        config=to_dict(cfg),
        world_size=info.replicas,
        model_name=model_name,
        parameters=trainable_parameters(model),
        model_size_bytes=int(sum(np.prod(v.shape) * np.dtype(v.dtype).itemsize for v in variables)),
        checkpoint=os.path.relpath(latest, cfg.run_dir) if latest else None,
        **after,
    )
    barrier(strategy)
    return result


def _test_and_inference(cfg: OrnlConfig, trainer, info) -> dict:
    """After training, as upstream: whole-set F1/top-1 of the test split (all workers), and
    inference latency on the inference split, else the test split (chief only)."""
    from stemdl.common.data.splits import open_optional
    from stemdl.ornl.evaluate import time_inference

    fields: dict = {}
    test = open_optional(cfg.split_dir("test"), "test")
    if test is not None:
        confusion = trainer.evaluate(test).confusion
        fields.update(test_macro_f1=confusion.macro_f1(), test_top1=confusion.top1())
    timed = open_optional(cfg.split_dir("inference"), "inference") or test
    if timed is not None and info.is_chief and info.num_workers == 1:
        batch = cfg.eval_batch_size or cfg.batch_size
        fields["inference"] = time_inference(trainer, timed, batch, cfg.seed)[2]
    return fields


def _save_predictions(run_dir: Path, task_id: int, out) -> None:
    """This worker's validation predictions (indices, labels, preds), written atomically."""
    import numpy as np

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:  # a file object: np.savez would append .npz to a name
            np.savez(fh, indices=out.indices, labels=out.labels, preds=out.preds)

    write_atomic(run_dir / "predictions" / f"val-worker{task_id}.npz", write)


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except StemdlError as err:
        print(f"stemdl: error: {err}", file=sys.stderr)
        raise SystemExit(err.exit_code) from None

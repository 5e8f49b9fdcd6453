"""`stemdl train ornl`: the ORNL recipe on TensorFlow/Keras under tf.distribute.

Flags (upstream ORNL names), a YAML config (--config) and `key=value` overrides all map
onto `OrnlConfig`; precedence: defaults < YAML < key=value < flags.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stemdl.common.cli.entry import ArgumentParser, StoreOnce, module_main
from stemdl.common.cli.errors import StemdlError
from stemdl.common.data.staging import DEVICE, check_run_fits, parse_staging
from stemdl.common.data.transform import reader_input_size
from stemdl.common.infra import faults
from stemdl.common.infra.ranks import launch_rank
from stemdl.common.infra.signals import raise_if_stopped, signals_at_safe_points
from stemdl.common.run.config import to_dict
from stemdl.common.run.dryrun import add_dry_run
from stemdl.common.run.mllog import Keys
from stemdl.common.run.results import RunResult, host_info
from stemdl.common.run.runconfig import load_run_config
from stemdl.common.run.runpolicy import (
    bounded_eval_batch,
    check_global_batch,
    check_same_data,
    check_same_settings,
    data_fingerprint,
    inference_split,
    start_line,
    summary_line,
    weights_bytes,
    write_predictions,
)
from stemdl.common.run.threads import local_processes
from stemdl.ornl.config import ALIASES, ORNL, OrnlConfig

# the resume tests' fault injection (common/infra/faults.py): a signal right after the
# checkpoint of epoch N
KILL_AFTER_EPOCH_ENV = faults.KILL_AFTER_EPOCH_ENV


# flag -> (config field, type, help); upstream sgcl_runner.py spellings included
FLAGS: dict[str, tuple[str, Any, str]] = {
    "--train-dir": ("train_dir", str, "training split folder: one split's sample-*.npz files "
                    "(upstream), a packed split, a raw batch_* folder, or a data folder"),
    "--val-dir": ("val_dir", str, "validation split folder (upstream run.sh passes DATA/test)"),
    "--test-dir": ("test_dir", str, "test split folder (optional)"),
    "--inference-dir": ("inference_dir", str, "inference split folder (optional)"),
    "--data-dir": ("data_dir", str, "a folder holding all splits"),
    "--run-dir": ("run_dir", str, "output folder (default runs/ornl-<job id or time>)"),
    "--log-dir": ("run_dir", str, "upstream name of --run-dir"),
    "--epochs": ("epochs", int, "epochs to train (the maximum in mode=target)"),
    "--batch-size": ("batch_size", int, "batch size per replica (ORNL: 32)"),
    "--val-batch-size": ("eval_batch_size", int, "evaluation batch size per replica "
                         "(default: --batch-size)"),
    "--base-lr": ("learning_rate", float, "AdamW lr per replica, scaled by replicas (ORNL: 1e-3)"),
    "--wd": ("weight_decay", float, "AdamW weight decay (ORNL: 5e-5)"),
    "--warmup-epochs": ("warmup_epochs", float, "linear warm-up epochs (ORNL: 5; whole epochs)"),
    "--seed": ("seed", int, "random seed"),
    "--resnet": ("resnet", int, "ResNet depth 18/34/50/101 (ORNL: 50)"),
    "--arch": ("resnet", str, "upstream name of --resnet: resnet18/34/50/101"),
    "--alpha": ("mixup_alpha", float, "mixup interpolation coefficient with --mixup (default 1.0)"),
    "--workers": ("num_workers", int, "parallel reads per input pipeline (0 = autotune)"),
    "--mode": ("mode", str, "epochs (fixed) or target (stop at target_f1)"),
    "--target-f1": ("target_f1", float, "macro F1 that ends a mode=target run"),
    "--precision": ("precision", str, "32, 16-mixed (GPU) or bf16-mixed"),
    "--strategy": ("strategy", str, "auto, default, mirrored or multi_worker"),
    "--submission_org": ("organisation", str, "MLPerf submission organisation"),
    "--submission_division": ("division", str, "MLPerf division: closed or open"),
    "--submission_status": ("status", str, "MLPerf status: onprem, cloud, preview, research"),
    "--submission_platform": ("platform", str, "MLPerf platform (default: host name)"),
}
UPSTREAM_MIXUP_ALPHA = 1.0  # sgcl_runner.py's --alpha default

# upstream flags that have no equivalent here: accepted, with a one-line note each
NOT_APPLICABLE: dict[str, tuple[Any, str]] = {
    "--momentum": (float, "the ORNL recipe's optimizer is AdamW, which has no momentum "
                   "(upstream ignores it too)"),
    "--checkpoint-format": (str, "checkpoints are written to RUN_DIR/checkpoints "
                            "(tf.train.CheckpointManager) and resumed with --resume"),
    "--fp16-allreduce": (None, "a Horovod option; tf.distribute all-reduces in the "
                         "gradients' own precision"),
    "--batches-per-allreduce": (int, "a Horovod option; every step all-reduces here (raise "
                                "--batch-size for a larger global batch)"),
    "--use-adasum": (None, "a Horovod option; tf.distribute all-reduces by averaging"),
}


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="stemdl train ornl",
                            description="Train the ORNL recipe (TensorFlow/Keras, tf.distribute). "
                            "Accepts upstream sgcl_runner.py flags.")
    parser.add_argument("--config", action=StoreOnce, help="YAML config (keys of OrnlConfig; upstream names accepted)")
    for flag, (dest, kind, text) in FLAGS.items():
        parser.add_argument(flag, dest=dest, type=kind, default=None, help=text)
    parser.add_argument("--mixup", action="store_true", default=None,
                        help="mixup augmentation with --alpha (upstream switch)")
    parser.add_argument("--no-cuda", action="store_true", default=None,
                        help="train on the CPU even where a GPU is visible")
    parser.add_argument("--resume", action="store_true", default=None,
                        help="continue the run in the run folder from its latest checkpoint")
    parser.add_argument("--xla", action="store_true", default=None, help="jit-compile the steps")
    add_dry_run(parser)
    for flag, (kind, text) in NOT_APPLICABLE.items():
        dest = "na_" + flag.lstrip("-").replace("-", "_")
        if kind is None:
            parser.add_argument(flag, dest=dest, action="store_true", default=None,
                                help=f"accepted, no effect: {text}")
        else:
            parser.add_argument(flag, dest=dest, type=kind, default=None,
                                metavar=flag.lstrip("-").split("-")[-1].upper(),
                                help=f"accepted, no effect: {text}")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides")
    return parser


def parse_config(argv: Sequence[str]) -> OrnlConfig:
    """The run's config from argv (defaults < YAML < key=value < flags)."""
    return parse_args_and_config(argv)[1]


def parse_args_and_config(argv: Sequence[str]) -> tuple[argparse.Namespace, OrnlConfig]:
    """The parsed arguments and the run's config (defaults < YAML < key=value < flags)."""
    args = build_parser().parse_intermixed_args(list(argv))
    flags: dict[str, Any] = {}
    for dest, _, _ in FLAGS.values():
        if getattr(args, dest) is not None:
            flags[dest] = getattr(args, dest)
    for dest in ("resume", "xla"):
        if getattr(args, dest):
            flags[dest] = True
    if args.no_cuda:
        flags["accelerator"] = "cpu"
    if args.mixup:
        flags.setdefault("mixup_alpha", UPSTREAM_MIXUP_ALPHA)
    elif "mixup_alpha" in flags:
        print("stemdl: note: --alpha has no effect without --mixup", file=sys.stderr)
        del flags["mixup_alpha"]
    for flag, (_, text) in NOT_APPLICABLE.items():
        if getattr(args, "na_" + flag.lstrip("-").replace("-", "_")) is not None:
            print(f"stemdl: note: {flag} is accepted but has no effect: {text}", file=sys.stderr)
    return args, load_run_config(OrnlConfig, args.config, args.overrides, ALIASES, recipe=ORNL,
                                 flags=flags)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `stemdl train ornl ARGS...`; user errors raise StemdlError."""
    args, cfg = parse_args_and_config(sys.argv[1:] if argv is None else argv)
    if args.dry_run:
        return dry_run(cfg)
    from stemdl.ornl.errors import data_errors

    with data_errors():
        result = run(cfg)
    if launch_rank() == 0:
        print(summary_line(result, cfg.run_dir), flush=True)
    return 0


def check_inputs(cfg: OrnlConfig, dry_run: bool = False) -> tuple[dict, int]:
    """Everything user input can get wrong, before TensorFlow starts: the run folder and
    resume policy, and the splits. Returns the readers and this worker's rank."""
    from stemdl.common.data.splits import open_run_splits
    from stemdl.common.run.rundir import check_run_dir
    from stemdl.ornl.checkpoint import (
        MODEL_SPEC_FILE,
        checkpoint_dir,
        has_checkpoint,
        read_model_spec,
    )

    cfg.run_dir = str(cfg.resolved_run_dir("ornl"))
    rank = launch_rank()
    # a --resume of a run stopped before its first checkpoint starts over
    cfg.resume = check_run_dir(cfg.run_dir, cfg.resume, has_checkpoint(cfg.run_dir), rank=rank,
                               impl="ornl", dry_run=dry_run)
    spec = (read_model_spec(cfg.run_dir) or {}) if cfg.resume else {}
    spec_file = checkpoint_dir(cfg.run_dir) / MODEL_SPEC_FILE
    if cfg.resume:
        check_same_settings(spec_file, spec.get("fingerprint"), cfg.fingerprint())
    if parse_staging(cfg.staging).mode == DEVICE:
        raise StemdlError("config key 'staging': device is not available in the ORNL (TensorFlow) "
                          "implementation: tf.data reads through host callbacks and cannot hold "
                          "a random-access dataset in GPU memory; use staging=memory")
    readers = open_run_splits(cfg, note=rank == 0)
    if cfg.resume:
        check_same_data(spec_file, spec.get("data"), data_fingerprint(readers))
    # one replica at least (the replicas are known once the strategy exists: setup checks again)
    check_global_batch(cfg.batch_size, 1, len(readers["train"]))
    check_run_fits(readers, cfg.staging, rank, 1, local_processes(),  # the ranks: not known yet
                   cfg.task_spec.target_kind == "array")
    cfg.model_spec(reader_input_size(readers["train"]))  # e.g. a U-Net depth that does not fit
    cfg.eval_batch_size = bounded_eval_batch(cfg.eval_batch_size, cfg.batch_size, readers,
                                             note=rank == 0)
    return readers, rank


def dry_run(cfg: OrnlConfig) -> int:
    """`--dry-run`: every check made before TensorFlow starts, then the plan."""
    from stemdl.common.run.dryrun import train_plan
    from stemdl.ornl.checkpoint import has_checkpoint

    readers, _ = check_inputs(cfg, dry_run=True)
    resume_from = Path(cfg.run_dir) / "checkpoints" if cfg.resume and has_checkpoint(
        cfg.run_dir) else None
    devices = ("cpu" if cfg.accelerator == "cpu" else
               f"{cfg.accelerator} (local GPUs if any, else the CPU; strategy {cfg.strategy})")
    print(train_plan("ornl", cfg, Path(cfg.run_dir), readers, processes=None, devices=devices,
                     resume_from=resume_from,
                     extra={"warm-up": f"{cfg.warmup_epochs} epochs; lr scaled by replicas: "
                            f"{cfg.scale_lr_by_replicas}"}))
    return 0


def run(cfg: OrnlConfig) -> RunResult:
    """Train (and validate every epoch) as `cfg` says; returns the run's result."""
    # everything that can fail on user input is checked before TensorFlow starts
    from stemdl.common.run.rundir import run_dir_lock

    cfg.run_dir = str(cfg.resolved_run_dir("ornl"))
    with run_dir_lock(cfg.run_dir, "stemdl train ornl", launch_rank()):  # rank 0, whole run
        readers, rank = check_inputs(cfg)
        if rank == 0:
            print(start_line("ornl", cfg, cfg.run_dir), flush=True)
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        return _train(cfg, readers)


@dataclass
class Setup:
    """Everything a run needs once built: strategy, data, model, optimizer, recorder."""

    cfg: OrnlConfig
    readers: dict
    strategy: Any
    info: Any
    model: Any
    optimizer: Any
    checkpointer: Any
    trainer: Any
    recorder: Any
    done: int  # epochs finished before this launch (resumed)
    on_gpu: bool
    threads: dict  # the thread counts applied (results.json hardware)


def _train(cfg: OrnlConfig, readers: dict) -> RunResult:
    """setup, then the epoch loop, then finish (test, inference, results); an error or
    signal after run_start ends the log and results.json both as aborted."""
    # TensorFlow may swallow an exception a signal handler raises in its callbacks:
    # signals are recorded and raised between steps instead (common/infra/signals.py)
    with signals_at_safe_points():
        run = setup(cfg, readers)
        raise_if_stopped()
        with run.recorder.recording():
            loop(run)
            return finish(run)


def setup(cfg: OrnlConfig, readers: dict) -> Setup:
    """Strategy, precision, seeds, model and optimizer, checkpoint, recorder (init phase)."""
    from stemdl.ornl.quiet import import_tensorflow

    import_tensorflow()  # first: without its start-up banner
    import keras
    import tensorflow as tf

    from stemdl.common.run.runrecorder import RunRecorder
    from stemdl.ornl.checkpoint import (
        Checkpointer,
        checkpointed_epoch,
        run_input_norm,
        write_model_spec,
    )
    from stemdl.ornl.distributed import barrier, make_strategy, worker_info
    from stemdl.ornl.loop import Trainer, make_optimizer
    from stemdl.ornl.tasks import hooks
    from stemdl.ornl.threads import apply_threads

    threads = apply_threads(cfg)  # before TensorFlow starts
    train, val = readers["train"], readers["val"]
    strategy = make_strategy(cfg.strategy, cfg.devices, cfg.accelerator, cfg.slurm_port_base)
    info = worker_info(strategy)
    on_gpu = bool(tf.config.list_logical_devices("GPU")) and cfg.accelerator != "cpu"
    if cfg.mixed_policy == "mixed_float16" and not on_gpu:
        raise StemdlError("config key 'precision': 16-mixed needs a GPU; use 32 or bf16-mixed")
    keras.mixed_precision.set_global_policy(cfg.mixed_policy)
    if cfg.deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(cfg.seed)

    check_global_batch(cfg.batch_size, info.replicas, len(train))
    global_batch = cfg.batch_size * info.replicas
    task = hooks(cfg.task)
    steps = len(train) // global_batch
    base_lr = cfg.learning_rate * (info.replicas if cfg.scale_lr_by_replicas else 1)
    size = reader_input_size(train)
    spec = cfg.model_spec(size)
    # classification: one pattern; density: every pattern of the sample (3, or a scan's)
    in_channels = int(train.image_shape()[0]) if task.all_patterns else cfg.recipe.in_channels

    recorder = RunRecorder(
        cfg.run_dir, "ornl", task=cfg.task_spec, division=cfg.division, target=cfg.target,
        stop_at_target=cfg.mode == "target", rank=lambda: info.task_id,
        barrier=lambda: barrier(strategy), resume=cfg.resume,
        resume_epoch=checkpointed_epoch(cfg.run_dir) if cfg.resume else None,
    )
    recorder.init_start(org=cfg.organisation, division=cfg.division, status=cfg.status,
                        platform=cfg.platform or host_info()["hostname"],
                        user=cfg.submitter_user, email=cfg.submitter_email)
    norm = run_input_norm(cfg.input_norm, train, cfg.seed, cfg.run_dir if cfg.resume else None)
    if info.is_chief:
        write_model_spec(cfg.run_dir, {"task": cfg.task, "resnet": cfg.resnet,
                                       "unet_depth": cfg.unet_depth, "unet_width": cfg.unet_width,
                                       "density_net": cfg.density_net,
                                       "fcd_growth": cfg.fcd_growth, "fcd_kernel": cfg.fcd_kernel,
                                       "in_channels": in_channels,
                                       "num_classes": task.outputs, "dropout": cfg.dropout,
                                       "image_size": size, "input_norm": norm.as_dict(),
                                       "fingerprint": cfg.fingerprint(),
                                       "data": data_fingerprint(readers)})
    with strategy.scope():
        model = task.build_model(spec, in_channels, cfg.dropout, size)
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
                      xla=cfg.xla, input_norm=norm, label_smoothing=cfg.label_smoothing,
                      parallel_reads=cfg.num_workers, epochs=cfg.epochs, task=cfg.task,
                      loss=cfg.loss)
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
        Keys.ACCELERATORS_PER_NODE: info.local_replicas if on_gpu else 0,  # 0: a CPU run
        Keys.WORLD_SIZE: info.replicas,  # the ranks, also on CPU where no accelerator is logged
        Keys.RECIPE: "ornl",
        Keys.MODEL_NAME: spec.name,
        cfg.task_spec.target_log_key: cfg.target,
        Keys.INPUT_NORM: norm.as_dict(),
        Keys.DATA: cfg.data_source,
        Keys.STAGING: cfg.staging,
    })
    recorder.baseline(readers)
    recorder.init_stop()
    return Setup(cfg, readers, strategy, info, model, optimizer, ckpt, trainer, recorder, done,
                 on_gpu, threads)


def loop(run: Setup) -> None:
    """Train and validate epoch by epoch, checkpointing each; stop at the target in
    mode=target. TensorBoard scalars on the chief."""
    import tensorflow as tf

    cfg, recorder, trainer = run.cfg, run.recorder, run.trainer
    recorder.run_start()
    staged = recorder.stage({s: r for s, r in run.readers.items() if s in ("train", "val")},
                            parse_staging(cfg.staging), rank=run.info.task_id,
                            world=run.info.num_workers, local_processes=local_processes(),
                            targets=cfg.task_spec.target_kind == "array")
    run.readers = {**run.readers, **staged}
    writer = (tf.summary.create_file_writer(str(Path(cfg.run_dir) / "tensorboard"))
              if run.info.is_chief else None)
    stop = recorder.result.reached_target and cfg.mode == "target"
    epoch = run.done
    while not stop and epoch < cfg.epochs:
        epoch += 1
        recorder.epoch_start(epoch)
        loss, samples = trainer.train_epoch(run.readers["train"], epoch - 1)
        recorder.epoch_stop(epoch, samples, loss)
        recorder.eval_start(epoch)
        out = trainer.evaluate(run.readers["val"], keep_predictions=cfg.save_predictions)
        stop = recorder.eval_stop(epoch, out.metric)
        run.checkpointer.save(epoch)
        if writer is not None:
            with writer.as_default(step=epoch):
                tf.summary.scalar("train_loss", loss)
                for name, value in out.metric.result().items():
                    tf.summary.scalar(f"val_{name}", value)
                lr = run.optimizer.learning_rate
                tf.summary.scalar("learning_rate", float(lr.numpy() if hasattr(lr, "numpy") else lr))
            writer.flush()
        if cfg.save_predictions:
            write_predictions(cfg.run_dir, "val", run.info.task_id, out.indices, out.labels,
                              out.preds)
        faults.fault_after_epoch(epoch)
    recorder.run_stop()


def finish(run: Setup) -> RunResult:
    """Test and time inference (as upstream), then write results.json and the log's end."""
    import keras
    import tensorflow as tf

    from stemdl.ornl.distributed import barrier, device_name, gpu_libraries
    from stemdl.ornl.resnet import trainable_parameters

    cfg, info = run.cfg, run.info
    after = _test_and_inference(cfg, run.trainer, info, run.readers)
    latest = run.checkpointer.latest()
    variables = run.model.weights
    result = run.recorder.finish(
        frameworks={"tensorflow": tf.__version__, "keras": keras.__version__, **gpu_libraries()},
        framework="tensorflow", framework_version=tf.__version__, precision=cfg.precision,
        device=device_name(run.strategy), device_count=info.replicas,
        hardware={**host_info(), "devices": [d.name for d in tf.config.list_logical_devices()],
                  "replicas": info.replicas, "workers": info.num_workers,
                  "precision": cfg.mixed_policy, "xla": cfg.xla, **run.threads},
        config=to_dict(cfg),
        world_size=info.replicas,
        model_name=run.recorder.result.model_name,
        parameters=trainable_parameters(run.model),
        model_size_bytes=weights_bytes((v.shape, tf.as_dtype(v.dtype).size) for v in variables),
        checkpoint=os.path.relpath(latest, cfg.run_dir) if latest else None,
        startup={**run.recorder.result.startup, **run.trainer.startup},
        **after,
    )
    barrier(run.strategy)
    return result


def _test_and_inference(cfg: OrnlConfig, trainer, info, readers: dict) -> dict:
    """After training, as upstream: the test split's metrics (all workers), and inference
    latency on the inference split, else the test split (the chief alone: no collective)."""
    from stemdl.ornl.evaluate import time_inference

    fields: dict = {}
    test = readers.get("test")
    if test is not None:
        fields["test"] = trainer.evaluate(test).metric.result()
    timed = inference_split(readers, note=info.is_chief)
    if timed is not None and info.is_chief:
        batch = cfg.eval_batch_size or cfg.batch_size
        fields["inference"] = {**time_inference(trainer, readers[timed], batch, cfg.seed)[1],
                               "split": timed}
    return fields


if __name__ == "__main__":
    module_main(main)

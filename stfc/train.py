"""`stemdl train stfc`: train (validating every epoch), test, time inference, write the run.

One process or many: under Lightning's DDP each rank runs this same function (Lightning
re-executes the command for its local children; SLURM/LSF/torchrun/MPI start the ranks
themselves). Rank 0 alone writes the MLPerf log, results.json, the model file and the text
log; every rank takes part in the collectives (epoch loss, confusion counts).
"""

from __future__ import annotations

import argparse
import logging
import platform as _platform
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stemdl.common.atomic import write_atomic, write_text_atomic
from stemdl.common.errors import DataError, StemdlError
from stemdl.common.mllog import Keys
from stemdl.common.results import RunResult, host_info
from stemdl.common.runrecorder import RunRecorder
from stemdl.common.timing import LatencyMeter
from stemdl.stfc.config import StfcConfig, add_train_arguments, load_stfc_config

CHECKPOINT_DIR = "checkpoints"
LAST_CHECKPOINT = "last.ckpt"


@dataclass
class TrainOutcome:
    result: RunResult
    run_dir: Path
    rank: int


# -- checks before anything runs ------------------------------------------------------------
def checkpoint_path(run_dir: Path) -> Path:
    return run_dir / CHECKPOINT_DIR / LAST_CHECKPOINT


def check_run_dir(run_dir: Path, resume: bool) -> Path | None:
    """The checkpoint to resume from, or None for a fresh run; refuses the ambiguous cases."""
    ckpt = checkpoint_path(run_dir)
    if resume:
        if not ckpt.is_file():
            raise StemdlError(f"{run_dir}: --resume given but there is no {CHECKPOINT_DIR}/{LAST_CHECKPOINT}")
        return ckpt
    if ckpt.exists() or (run_dir / "results.json").exists():
        raise StemdlError(
            f"{run_dir}: holds an earlier run (checkpoint or results.json); use --resume or a new run dir"
        )
    return None


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint as a dict; a one-line error if it is not a readable checkpoint."""
    import torch

    try:
        data = torch.load(path, map_location="cpu", weights_only=False)
    except FileNotFoundError:
        raise StemdlError(f"{path}: no such checkpoint") from None
    except Exception as err:  # torch raises many types for a damaged file
        first = (str(err).splitlines() or [type(err).__name__])[0][:160]
        raise StemdlError(f"{path}: corrupt or unreadable checkpoint ({first})") from None
    if not isinstance(data, dict):
        raise StemdlError(f"{path}: not a checkpoint (no state dict inside)")
    return data


def check_resume_matches(ckpt: Path, config: StfcConfig) -> None:
    """A checkpoint written with other settings never resumes silently."""
    data = load_checkpoint(ckpt)
    if "state_dict" not in data or "hyper_parameters" not in data:
        raise StemdlError(f"{ckpt}: not a Lightning checkpoint of `stemdl train stfc`")
    saved = data["hyper_parameters"].get("fingerprint") or {}
    current = config.fingerprint()
    diff = [f"{k}: {saved.get(k)!r} in checkpoint, {v!r} now" for k, v in current.items()
            if k in saved and saved[k] != v]
    if diff or not saved:
        what = "; ".join(diff) if diff else "no settings recorded"
        raise StemdlError(f"{ckpt}: stale checkpoint ({what}); use a new run dir")


def open_readers(config: StfcConfig, need_val: bool = True) -> dict[str, Any]:
    """Readers of the configured splits; train (and val) must exist."""
    from stemdl.stfc.data import open_split_dir

    readers: dict[str, Any] = {}
    for split in ("train", "val", "test", "inference"):
        folder = config.split_dir(split)
        required = split == "train" or (split == "val" and need_val)
        if folder is None:
            if required:
                raise StemdlError(f"config: no {split} data (set data_dir or {split}_dir)")
            continue
        explicit = getattr(config, f"{split}_dir")
        try:
            reader = open_split_dir(folder, split)
        except DataError as err:
            if required or explicit:
                raise
            if "no split" in str(err):
                continue  # data_dir simply has no such split: that phase is skipped
            raise
        if len(reader) == 0:
            raise DataError(f"{folder}: the {split} split holds no samples")
        readers[split] = reader
    shapes = {s: tuple(r.image_shape()) for s, r in readers.items()}
    if len(set(shapes.values())) > 1:
        raise DataError(f"splits differ in image shape: {shapes}")
    return readers


def check_sizes(config: StfcConfig, readers: dict[str, Any], train_indices: Any, world: int) -> None:
    import numpy as np

    n = len(train_indices)
    per_rank = -(-n // world)
    if config.batch_size > per_rank:
        raise StemdlError(
            f"config key 'batch_size': {config.batch_size} is larger than the training data per "
            f"process ({n} samples over {world} process{'es' if world > 1 else ''})"
        )
    if config.min_classes is not None:
        labels = np.asarray(readers["train"].labels())[np.asarray(train_indices)]
        have = len(np.unique(labels))
        if have < config.min_classes:
            raise DataError(
                f"{config.split_dir('train')}: the training data holds {have} classes, "
                f"config asks for min_classes={config.min_classes}"
            )


# -- the run -------------------------------------------------------------------------------
def _tensorboard_without_tensorflow() -> None:
    """Make TensorBoard use its TensorFlow stub: its `compat.tf` imports the real TensorFlow
    when installed unless `tensorboard.compat.notf` exists (seconds and GBs, and stfc/ must
    not import TensorFlow)."""
    import sys
    import types

    sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("tensorboard.compat.notf"))


def _quiet_lightning() -> None:
    for name in ("pytorch_lightning", "lightning_fabric", "lightning.pytorch"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*sync_dist=True.*")
    warnings.filterwarnings("ignore", message=".*number of training batches.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")


def versions() -> dict[str, str]:
    import numpy
    import pytorch_lightning
    import torch

    import stemdl

    return {"stemdl-bench": stemdl.__version__, "torch": torch.__version__,
            "pytorch-lightning": pytorch_lightning.__version__, "numpy": numpy.__version__,
            "python": _platform.python_version()}


def hardware(accelerator: str, world: int, nodes: int) -> dict[str, Any]:
    import torch

    info = host_info()
    info.update({"accelerator": accelerator, "processes": world, "nodes": nodes,
                 "torch_threads": torch.get_num_threads()})
    if accelerator == "gpu":
        info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return info


def time_inference(module: Any, loader: Any, device: Any, precision: str,
                   max_batches: int | None) -> LatencyMeter:
    """Latency of the model's forward pass (plus arg-max and the copy back) per batch."""
    import torch

    meter = LatencyMeter()
    model = module.model.eval()
    cuda = device.type == "cuda"
    dtype = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(precision)
    with torch.no_grad(), torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
        for i, (x, _) in enumerate(loader):
            if max_batches is not None and i >= max_batches:
                break
            x = x.to(device, non_blocking=True)
            if cuda:
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            model(x).argmax(dim=1).cpu()
            meter.add(int(x.shape[0]), time.perf_counter() - t0)
    return meter


def save_model_file(module: Any, path: Path) -> int:
    """The trained weights with what rebuilds their network (`state_dict` and
    `hyper_parameters`: depth, channels, classes, input normalization), written
    atomically; returns the size in bytes."""
    import torch

    data = {"state_dict": module.model.state_dict(), "hyper_parameters": dict(module.hparams)}
    write_atomic(path, lambda tmp: torch.save(data, tmp))
    return path.stat().st_size


def summary_line(result: RunResult, run_dir: Path) -> str:
    last = result.epochs[-1] if result.epochs else None
    f1 = f"{last.val_macro_f1:.4f}" if last and last.val_macro_f1 is not None else "n/a"
    top1 = f"{last.val_top1:.4f}" if last and last.val_top1 is not None else "n/a"
    test = (f", test F1 {result.test_macro_f1:.4f} top-1 {result.test_top1:.4f}"
            if result.test_macro_f1 is not None else "")
    rate = f", {result.train_samples_per_s:.1f} samples/s" if result.train_samples_per_s else ""
    ttt = f", time to target {result.time_to_target_s:.1f} s" if result.reached_target else ""
    run_time = result.run_time_s or 0.0
    return (f"stfc: {len(result.epochs)} epochs, val macro F1 {f1}, top-1 {top1}{test}, "
            f"{run_time:.1f} s{rate}{ttt}, status {result.status}; run folder {run_dir}")


def write_text_log(path: Path, result: RunResult, line: str) -> None:
    """Upstream's plain-text log (log_file): time per epoch and per inference, and the summary."""
    lines = [line]
    for e in result.epochs:
        lines.append(f"epoch {e.epoch}: loss {e.train_loss}, val macro F1 {e.val_macro_f1}, "
                     f"top-1 {e.val_top1}, epoch time {e.epoch_time_s} s")
    if result.inference:
        lines.append(f"inference: {result.inference}")
    write_text_atomic(path, "\n".join(lines) + "\n")


def train(config: StfcConfig, resume: bool = False) -> TrainOutcome:
    """Run the STFC benchmark as configured; returns the result (complete on rank 0)."""
    _quiet_lightning()
    import pytorch_lightning as pl
    import torch
    from pytorch_lightning.callbacks import ModelCheckpoint, TQDMProgressBar
    from pytorch_lightning.loggers import TensorBoardLogger

    from stemdl.stfc.callbacks import AtomicCheckpointIO, RecorderCallback
    from stemdl.stfc.data import StemdlDataModule, run_input_norm, select_training
    from stemdl.stfc.distributed import env_rank, resolve_layout
    from stemdl.stfc.module import StfcModule
    from stemdl.stfc.resnet import count_trainable

    resume = resume or config.resume
    run_dir = config.resolved_run_dir()
    ckpt = check_run_dir(run_dir, resume)
    if ckpt is not None:
        check_resume_matches(ckpt, config)
    layout = resolve_layout(config.accelerator, config.devices, config.nodes)
    if config.precision == "16-mixed" and layout.accelerator != "gpu":
        raise StemdlError("config key 'precision': 16-mixed needs a GPU; use 32 or bf16-mixed on CPU")

    readers = open_readers(config)
    train_indices = select_training(readers["train"], config.train_fraction, config.train_samples,
                                    config.seed)
    check_sizes(config, readers, train_indices, layout.world_size)

    pl.seed_everything(config.seed, workers=True, verbose=False)
    callbacks: list[pl.Callback] = []
    trainer_box: dict[str, pl.Trainer] = {}
    pre_rank = env_rank(layout.devices)

    def rank() -> int:
        trainer = trainer_box.get("t")
        if trainer is not None and torch.distributed.is_available() and torch.distributed.is_initialized():
            return trainer.global_rank
        return pre_rank

    def barrier() -> None:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.barrier()

    sync = torch.cuda.synchronize if layout.accelerator == "gpu" else None
    recorder = RunRecorder(
        run_dir, "stfc", division=config.division, target_f1=config.target_f1,
        stop_at_target=config.mode == "target", rank=rank, barrier=barrier, sync=sync,
        resume=resume, log_name=config.mlperf_log,
    )
    recorder.init_start(org=config.organisation, division=config.division, status=config.status,
                        platform=config.platform or _platform.node())

    norm = run_input_norm(config.input_norm, readers["train"], train_indices, config.seed,
                          load_checkpoint(ckpt) if ckpt else None)
    dm = StemdlDataModule(
        readers, batch_size=config.batch_size, eval_batch_size=config.eval_batch_size,
        num_workers=config.num_workers, seed=config.seed, train_indices=train_indices,
        pin_memory=layout.accelerator == "gpu", limit_train_batches=config.limit_train_batches,
        input_norm=norm,
    )
    world = layout.world_size
    module = StfcModule(
        resnet=config.resnet, optimizer=config.optimizer, learning_rate=config.learning_rate,
        weight_decay=config.weight_decay, momentum=config.momentum,
        in_channels=readers["train"].image_shape()[0], keep_predictions=config.save_predictions,
        fingerprint=config.fingerprint(), loss=config.loss,
        label_smoothing=config.label_smoothing, lr_schedule=config.lr_schedule,
        total_steps=dm.steps_per_epoch(world) * config.epochs, input_norm=norm.as_dict(),
    )
    recorder.hyperparameters({
        Keys.SEED: config.seed,
        Keys.GLOBAL_BATCH_SIZE: config.batch_size * world,
        Keys.TRAIN_SAMPLES: dm.train_samples_per_epoch(world),
        Keys.EVAL_SAMPLES: len(readers["val"]),
        Keys.OPT_NAME: config.optimizer,
        Keys.OPT_BASE_LR: config.learning_rate,
        Keys.OPT_WEIGHT_DECAY: config.weight_decay,
        Keys.NUMBER_OF_NODES: layout.nodes,
        Keys.ACCELERATORS_PER_NODE: config.accelerators_per_node or layout.devices,
        Keys.RECIPE: "stfc",
        Keys.MODEL_NAME: f"resnet{config.resnet}",
        Keys.TARGET_F1: config.target_f1,
        Keys.INPUT_NORM: norm.as_dict(),
    })

    predictions_dir = run_dir / "predictions" if config.save_predictions else None
    recorder_cb = RecorderCallback(recorder, predictions_dir)
    callbacks += [
        recorder_cb,
        # monitor=None + save_top_k=1: the latest epoch only, always under the same name
        ModelCheckpoint(dirpath=run_dir / CHECKPOINT_DIR, filename=Path(LAST_CHECKPOINT).stem,
                        save_top_k=1, save_last=False, enable_version_counter=False),
    ]
    if config.progress:
        callbacks.append(TQDMProgressBar())
    logger: Any = False
    if config.tensorboard:
        _tensorboard_without_tensorflow()
        logger = TensorBoardLogger(save_dir=str(run_dir), name="tensorboard", version="",
                                   default_hp_metric=False)
    steps = dm.steps_per_epoch(world)
    trainer = pl.Trainer(
        accelerator=layout.accelerator, devices=layout.devices, num_nodes=layout.nodes,
        strategy=layout.strategy, precision=config.precision, max_epochs=config.epochs,
        callbacks=callbacks, logger=logger, num_sanity_val_steps=0,
        enable_progress_bar=config.progress, enable_model_summary=False,
        use_distributed_sampler=False, deterministic=config.deterministic or None,
        limit_train_batches=config.limit_train_batches, log_every_n_steps=max(1, min(50, steps)),
        plugins=[AtomicCheckpointIO()], default_root_dir=str(run_dir),
    )
    trainer_box["t"] = trainer
    trainer.fit(module, datamodule=dm, ckpt_path=str(ckpt) if ckpt else None)

    test_f1 = test_top1 = None
    if "test" in readers:
        trainer.test(module, datamodule=dm, verbose=False)
        if module.test_confusion is not None:
            test_f1, test_top1 = module.test_confusion.macro_f1(), module.test_confusion.top1()

    is_rank0 = trainer.global_rank == 0
    inference: dict[str, Any] = {}
    model_size = None
    model_path = run_dir / config.model_file
    if is_rank0:
        device = module.device
        meter = time_inference(module, dm.inference_dataloader(), device, config.precision,
                               config.max_inference_batches)
        inference = dict(meter.summary())
        inference["split"] = "inference" if "inference" in readers else "test" if "test" in readers else "val"
        model_size = save_model_file(module, model_path)
    barrier()

    result = recorder.finish(
        frameworks=versions(), hardware=hardware(layout.accelerator, world, layout.nodes),
        config=config_to_dict(config), world_size=world, test_macro_f1=test_f1,
        test_top1=test_top1, inference=inference, parameters=count_trainable(module.model),
        model_size_bytes=model_size, checkpoint=f"{CHECKPOINT_DIR}/{LAST_CHECKPOINT}",
    )
    if is_rank0:
        line = summary_line(result, run_dir)
        write_text_log(run_dir / config.log_file, result, line)
        print(line, flush=True)
    return TrainOutcome(result, run_dir, trainer.global_rank)


def config_to_dict(config: StfcConfig) -> dict[str, Any]:
    from stemdl.stfc.config import config_dict

    return config_dict(config)


def build_parser(prog: str = "stemdl train stfc") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    add_train_arguments(parser)
    return parser


def run_args(args: argparse.Namespace) -> int:
    config = load_stfc_config(args.config, args.overrides)
    train(config, resume=args.resume)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point with its own argv (used by `stemdl train stfc`)."""
    return run_args(build_parser().parse_args(argv))


def cli_main(argv: Sequence[str] | None = None) -> int:
    """`python -m stemdl.stfc.train ...`: like `stemdl train stfc`, errors as one line, exit 2."""
    import sys

    try:
        return main(argv)
    except StemdlError as err:
        print(f"stemdl: error: {err}", file=sys.stderr)
        return err.exit_code


if __name__ == "__main__":
    raise SystemExit(cli_main())

"""`stemdl train stfc`: train (validating every epoch), test, time inference, write the run.

One process or many: under Lightning's DDP each rank runs this same function (Lightning
re-executes the command for its local children; SLURM/LSF/torchrun/MPI start the ranks
themselves). Rank 0 alone writes the MLPerf log, results.json, the model file and the text
log; every rank takes part in the collectives (epoch loss, confusion counts).
"""

from __future__ import annotations

import contextlib
import logging
import platform as _platform
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stemdl.common.cli.entry import ArgumentParser, module_main, run_main
from stemdl.common.cli.errors import StemdlError
from stemdl.common.data.staging import DEVICE, NONE, check_run_fits, parse_staging
from stemdl.common.data.transform import reader_input_size
from stemdl.common.infra.atomic import write_atomic, write_text_atomic
from stemdl.common.run.mllog import Keys
from stemdl.common.run.results import CHECKPOINT_DIR, CPU_DEVICE, RunResult, host_info
from stemdl.common.run.rundir import check_run_dir, run_dir_lock
from stemdl.common.run.runpolicy import (
    bounded_eval_batch,
    check_global_batch,
    check_same_data,
    check_same_settings,
    data_fingerprint,
    inference_split,
    start_line,
    summary_line,
    time_batches,
    weights_bytes,
)
from stemdl.common.run.runrecorder import RunRecorder, metrics_text
from stemdl.common.run.threads import local_processes, resolve_threads
from stemdl.common.run.timing import LatencyMeter
from stemdl.common.task import get_task
from stemdl.stfc.config import StfcConfig, add_train_arguments, load_stfc_config

LAST_CHECKPOINT = "last.ckpt"


@dataclass
class TrainOutcome:
    result: RunResult
    run_dir: Path
    rank: int


# -- checks before anything runs ------------------------------------------------------------
def checkpoint_path(run_dir: Path) -> Path:
    return run_dir / CHECKPOINT_DIR / LAST_CHECKPOINT


def resume_checkpoint(run_dir: Path, resume: bool, config: StfcConfig, rank: int = 0,
                      dry_run: bool = False) -> Path | None:
    """The checkpoint to resume from, or None for a fresh run (the common resume policy)."""
    ckpt = checkpoint_path(run_dir)
    resuming = check_run_dir(run_dir, resume, ckpt.is_file(),
                             outputs=("results.json", config.mlperf_log), rank=rank,
                             impl="stfc", dry_run=dry_run)
    return ckpt if resuming else None


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


def checkpoint_epochs(ckpt: Path) -> int:
    """The epochs a Lightning checkpoint of this run holds (it is saved at an epoch's end;
    Lightning's `epoch` is 0-based)."""
    epoch = load_checkpoint(ckpt).get("epoch")
    if not isinstance(epoch, int):
        raise StemdlError(f"{ckpt}: not a Lightning checkpoint of `stemdl train stfc` (no epoch)")
    return epoch + 1


def check_resume_matches(ckpt: Path, config: StfcConfig) -> dict[str, Any]:
    """A checkpoint written with other settings never resumes silently (common policy);
    returns its hyper-parameters (the data fingerprint is checked once the splits are open)."""
    data = load_checkpoint(ckpt)
    if "state_dict" not in data or "hyper_parameters" not in data:
        raise StemdlError(f"{ckpt}: not a Lightning checkpoint of `stemdl train stfc`")
    check_same_settings(ckpt, data["hyper_parameters"].get("fingerprint"), config.fingerprint())
    return data["hyper_parameters"]


# -- the run -------------------------------------------------------------------------------
def _tensorboard_without_tensorflow() -> None:
    """Make TensorBoard use its TensorFlow stub: its `compat.tf` imports the real TensorFlow
    when installed unless `tensorboard.compat.notf` exists (seconds and GBs, and stfc/ must
    not import TensorFlow)."""
    import types

    sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("tensorboard.compat.notf"))


def _quiet_lightning() -> None:
    """Lightning's start-up lines a user cannot act on (GPU/TPU available, the litlogger and
    litmodels advertisements) are INFO: keep WARNING and above. Lightning sets its loggers
    to INFO when first imported, so import it before setting the level."""
    import lightning_fabric  # noqa: F401
    import pytorch_lightning  # noqa: F401

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

    found = {"stemdl-bench": stemdl.__version__, "torch": torch.__version__,
             "pytorch-lightning": pytorch_lightning.__version__, "numpy": numpy.__version__,
             "python": _platform.python_version()}
    return {**found, **gpu_libraries()}


def gpu_libraries() -> dict[str, str]:
    """The CUDA, cuDNN and NCCL versions torch was built with, where it has them."""
    import torch

    found: dict[str, str] = {}
    if torch.version.cuda:
        found["cuda"] = str(torch.version.cuda)
    if torch.cuda.is_available():
        with contextlib.suppress(Exception):  # a broken cuDNN/NCCL must not fail a finished run
            if torch.backends.cudnn.version():
                found["cudnn"] = str(torch.backends.cudnn.version())
            found["nccl"] = ".".join(str(v) for v in torch.cuda.nccl.version())
    return found


def hardware(accelerator: str, world: int, nodes: int) -> dict[str, Any]:
    import torch

    info = host_info()
    info.update({"accelerator": accelerator, "processes": world, "nodes": nodes,
                 "torch_threads": torch.get_num_threads()})
    if accelerator == "gpu":
        info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        info["accelerator_memory_bytes"] = torch.cuda.get_device_properties(0).total_memory
        info["accelerator_peak_memory_bytes"] = torch.cuda.max_memory_allocated()  # this rank
    return info


def run_identity(accelerator: str, world: int, precision: str) -> dict[str, Any]:
    """RunResult's explicit framework and device fields (one process per device)."""
    import torch

    device = torch.cuda.get_device_name() if accelerator == "gpu" else CPU_DEVICE
    return {"framework": "torch", "framework_version": torch.__version__, "device": device,
            "device_count": world, "precision": precision}


def time_inference(module: Any, loader: Any, device: Any, precision: str,
                   max_batches: int | None) -> LatencyMeter:
    """Latency of the model's forward pass (plus the prediction and the copy back) per batch."""
    import torch

    model = module.model.eval()
    sync = torch.cuda.synchronize if device.type == "cuda" else None
    dtype = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(precision)
    with torch.no_grad(), torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
        return time_batches(
            ((x.to(device, non_blocking=True), y) for x, y in loader),
            lambda batch: module.hooks.predict(model(batch[0])).cpu(),
            size=lambda batch: int(batch[0].shape[0]), sync=sync, max_batches=max_batches)


def save_model_file(module: Any, path: Path) -> int:
    """The trained weights with what rebuilds their network (`state_dict` and
    `hyper_parameters`: depth, channels, classes, input normalization), written
    atomically; returns model_size_bytes (the weights' bytes, `common.run.runpolicy`)."""
    import torch

    state = module.model.state_dict()
    data = {"state_dict": state, "hyper_parameters": dict(module.hparams)}
    write_atomic(path, lambda tmp: torch.save(data, tmp))
    return weights_bytes((t.shape, t.element_size()) for t in state.values())


def write_text_log(path: Path, result: RunResult, line: str) -> None:
    """Upstream's plain-text log (log_file): time per epoch and per inference, and the summary."""
    lines = [line]
    task = get_task(result.task)
    for e in result.epochs:
        lines.append(f"epoch {e.epoch}: loss {e.train_loss}, {metrics_text(e.val, task)}, "
                     f"epoch time {e.epoch_time_s} s")
    if result.inference:
        lines.append(f"inference: {result.inference}")
    write_text_atomic(path, "\n".join(lines) + "\n")


@dataclass
class Setup:
    """Everything a run needs once checked: folder, layout, data, model, recorder, trainer."""

    config: StfcConfig
    run_dir: Path
    ckpt: Path | None
    layout: Any
    readers: dict[str, Any]
    recorder: RunRecorder
    datamodule: Any
    module: Any
    trainer: Any


def check_inputs(config: StfcConfig, resume: bool, dry_run: bool = False
                 ) -> tuple[Path, Path | None, Any, dict[str, Any]]:
    """Everything user input can get wrong, checked before a model is built: the run
    folder and resume policy, the device layout, and the splits."""
    from stemdl.common.data.splits import open_run_splits
    from stemdl.stfc.distributed import env_rank, resolve_layout

    run_dir = config.resolved_run_dir("stfc")
    layout = resolve_layout(config.accelerator, config.devices, config.nodes)
    rank = env_rank(layout.devices)
    ckpt = resume_checkpoint(run_dir, resume, config, rank=rank, dry_run=dry_run)
    saved = check_resume_matches(ckpt, config) if ckpt is not None else {}
    if parse_staging(config.staging).mode == DEVICE and layout.accelerator != "gpu":
        raise StemdlError("config key 'staging': device needs a GPU (accelerator gpu); on the "
                          "CPU use staging=memory")
    if config.precision == "16-mixed" and layout.accelerator != "gpu":
        raise StemdlError("config key 'precision': 16-mixed needs a GPU; use 32 or bf16-mixed on CPU")
    readers = open_run_splits(config, note=rank == 0)
    if ckpt is not None:  # the hyper-parameters read above: one load of the checkpoint
        check_same_data(ckpt, saved.get("data_fingerprint"), data_fingerprint(readers))
    check_global_batch(config.batch_size, layout.world_size, len(readers["train"]))
    check_run_fits(readers, config.staging, rank, layout.world_size,
                   local_processes(layout.devices), config.task_spec.target_kind == "array")
    config.model_spec(reader_input_size(readers["train"]))  # e.g. a U-Net depth that does not fit
    config.eval_batch_size = bounded_eval_batch(config.eval_batch_size, config.batch_size,
                                                readers, note=rank == 0)
    return run_dir, ckpt, layout, readers


def accelerators_logged(config: StfcConfig, layout: Any) -> int:
    """accelerators_per_node of the MLPerf log: 0 on the CPU, else the config's or the used."""
    if layout.accelerator == "cpu":
        return 0
    return config.accelerators_per_node or layout.devices


def setup(config: StfcConfig, resume: bool) -> Setup:
    """Check the inputs, then build the recorder, data, model and Lightning trainer."""
    _quiet_lightning()
    import pytorch_lightning as pl
    import torch
    from pytorch_lightning.callbacks import ModelCheckpoint, TQDMProgressBar
    from pytorch_lightning.loggers import TensorBoardLogger

    from stemdl.stfc.callbacks import AtomicCheckpointIO, RecorderCallback
    from stemdl.stfc.data import StemdlDataModule, run_input_norm
    from stemdl.stfc.distributed import env_rank
    from stemdl.stfc.module import StfcModule
    from stemdl.stfc.speed import speed_callbacks

    run_dir, ckpt, layout, readers = check_inputs(config, resume)
    resume = ckpt is not None  # a --resume of a run stopped before its first checkpoint starts over
    config.num_threads = resolve_threads(
        config.num_threads, config.num_workers, local_processes(layout.devices),
        reproducible=config.deterministic and layout.accelerator == "cpu")
    torch.set_num_threads(config.num_threads)  # see stemdl.common.run.threads
    pre_rank = env_rank(layout.devices)
    if pre_rank == 0:
        print(start_line("stfc", config, run_dir), flush=True)
    pl.seed_everything(config.seed, workers=True, verbose=False)
    trainer_box: dict[str, pl.Trainer] = {}

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
        run_dir, "stfc", task=config.task_spec, division=config.division, target=config.target,
        stop_at_target=config.mode == "target", rank=rank, barrier=barrier, sync=sync,
        resume=resume, log_name=config.mlperf_log,
        resume_epoch=checkpoint_epochs(ckpt) if ckpt is not None else None,
    )
    recorder.init_start(org=config.organisation, division=config.division, status=config.status,
                        platform=config.platform or _platform.node(),
                        user=config.submitter_user, email=config.submitter_email)

    # readers["train"] is already the run's training subset (open_run_splits)
    norm = run_input_norm(config.input_norm, readers["train"], range(len(readers["train"])),
                          config.seed, load_checkpoint(ckpt) if ckpt else None)
    dm = StemdlDataModule(
        readers, batch_size=config.batch_size, eval_batch_size=config.eval_batch_size,
        num_workers=config.num_workers, seed=config.seed,
        pin_memory=layout.accelerator == "gpu", limit_train_batches=config.limit_train_batches,
        input_norm=norm, targets=config.task_spec.target_kind == "array",
        on_device=parse_staging(config.staging).mode == DEVICE,
    )
    world = layout.world_size
    module = StfcModule(
        resnet=config.resnet, optimizer=config.optimizer, learning_rate=config.learning_rate,
        weight_decay=config.weight_decay, momentum=config.momentum,
        in_channels=readers["train"].image_shape()[0], keep_predictions=config.save_predictions,
        fingerprint=config.fingerprint(), loss=config.loss,
        label_smoothing=config.label_smoothing, lr_schedule=config.lr_schedule,
        total_steps=dm.steps_per_epoch(world) * config.epochs, input_norm=norm.as_dict(),
        task=config.task, data_fingerprint=data_fingerprint(readers),
        unet_depth=config.unet_depth, unet_width=config.unet_width,
        density_net=config.density_net, fcd_growth=config.fcd_growth, fcd_kernel=config.fcd_kernel,
        image_size=reader_input_size(readers["train"]),
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
        Keys.ACCELERATORS_PER_NODE: accelerators_logged(config, layout),
        Keys.WORLD_SIZE: world,  # the ranks, also on CPU where no accelerator is logged
        Keys.RECIPE: "stfc",
        Keys.MODEL_NAME: module.spec.name,
        config.task_spec.target_log_key: config.target,
        Keys.INPUT_NORM: norm.as_dict(),
        Keys.DATA: config.data_source,
        Keys.STAGING: config.staging,
    })
    recorder.baseline(readers)

    callbacks: list[pl.Callback] = [
        RecorderCallback(recorder, run_dir if config.save_predictions else None,
                         stage=stager(config, layout, recorder, readers, dm, norm)),
        # monitor=None + save_top_k=1: the latest epoch only, always under the same name
        ModelCheckpoint(dirpath=run_dir / CHECKPOINT_DIR, filename=Path(LAST_CHECKPOINT).stem,
                        save_top_k=1, save_last=False, enable_version_counter=False),
    ]
    if config.progress:
        callbacks.append(TQDMProgressBar())
    callbacks += speed_callbacks(config.precision, layout.accelerator,  # stemdl.stfc.speed
                                 config.channels_last)
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
    return Setup(config, run_dir, ckpt, layout, readers, recorder, dm, module, trainer)


def stager(config: StfcConfig, layout: Any, recorder: RunRecorder, readers: dict[str, Any],
           dm: Any, norm: Any) -> Any:
    """What the recorder callback calls after run_start: the training and validation splits
    staged as config key `staging` says (None: read in place), then read from there."""
    staging = parse_staging(config.staging)
    if staging.mode == NONE:
        return None

    def stage(trainer: Any) -> None:
        from stemdl.stfc.staging import to_device

        move = ((lambda staged: to_device(staged, trainer.strategy.root_device, norm))
                if staging.mode == DEVICE else None)
        dm.use_readers(recorder.stage(
            {s: r for s, r in readers.items() if s in ("train", "val")}, staging,
            rank=trainer.global_rank, world=trainer.world_size,
            local_processes=local_processes(layout.devices),
            targets=config.task_spec.target_kind == "array", move=move))

    return stage


def loop(run: Setup) -> None:
    """Train, validating every epoch (the recorder callback logs and stops at target)."""
    if run.config.compile:  # the network in place (nn.Module.compile): its state_dict keys stay
        run.module.model.compile()
    try:
        run.trainer.fit(run.module, datamodule=run.datamodule,
                        ckpt_path=str(run.ckpt) if run.ckpt else None)
    except SystemExit:
        if run.trainer.interrupted:  # Lightning turns Ctrl-C into exit 1: keep it Ctrl-C (130)
            raise KeyboardInterrupt from None
        raise


def finish(run: Setup) -> TrainOutcome:
    """Test, time inference and save the model (rank 0), then write the run's results."""
    import torch

    from stemdl.stfc.resnet import count_trainable  # any torch module

    config, module, trainer, readers = run.config, run.module, run.trainer, run.readers
    test: dict[str, float] = {}
    if "test" in readers:
        trainer.test(module, datamodule=run.datamodule, verbose=False)
        if module.test_metric is not None:
            test = module.test_metric.result()

    is_rank0 = trainer.global_rank == 0
    inference: dict[str, Any] = {}
    model_size = None
    timed = inference_split(readers, note=is_rank0)
    if is_rank0 and timed is not None:  # as upstream: the inference split, else the test split
        meter = time_inference(module, run.datamodule.inference_dataloader(), module.device,
                               config.precision, config.max_inference_batches)
        inference = dict(meter.summary())
        inference["split"] = timed
    if is_rank0:
        model_size = save_model_file(module, run.run_dir / config.model_file)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()

    layout = run.layout
    result = run.recorder.finish(
        frameworks=versions(), hardware=hardware(layout.accelerator, layout.world_size, layout.nodes),
        **run_identity(layout.accelerator, layout.world_size, config.precision),
        config=config_to_dict(config), world_size=layout.world_size, test=test,
        inference=inference, parameters=count_trainable(module.model),
        model_size_bytes=model_size, checkpoint=f"{CHECKPOINT_DIR}/{LAST_CHECKPOINT}",
    )
    if is_rank0:
        line = summary_line(result, run.run_dir)
        write_text_log(run.run_dir / config.log_file, result, line)
        print(line, flush=True)
    return TrainOutcome(result, run.run_dir, trainer.global_rank)


def train(config: StfcConfig, resume: bool = False) -> TrainOutcome:
    """Run the STFC benchmark as configured: setup, loop, finish (complete on rank 0).

    Rank 0 holds the run folder's lock throughout; an error or signal after run_start ends
    the MLPerf log and results.json both as aborted (`RunRecorder.recording`)."""
    from stemdl.stfc.data import worker_errors
    from stemdl.stfc.distributed import env_rank, resolve_layout

    layout = resolve_layout(config.accelerator, config.devices, config.nodes)
    with run_dir_lock(config.resolved_run_dir("stfc"), "stemdl train stfc",
                      env_rank(layout.devices)):
        run = setup(config, resume or config.resume)
        with run.recorder.recording(), worker_errors():
            loop(run)
            return finish(run)


def config_to_dict(config: StfcConfig) -> dict[str, Any]:
    from stemdl.stfc.config import config_dict

    return config_dict(config)


def build_parser(prog: str = "stemdl train stfc") -> ArgumentParser:
    parser = ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    add_train_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point with its own argv (`stemdl train stfc ARGS`); user errors raise StemdlError."""

    # intermixed: `data_dir=D --dry-run run_dir=R` as ORNL takes it
    args = build_parser().parse_intermixed_args(sys.argv[1:] if argv is None else list(argv))
    config = load_stfc_config(args.config, args.overrides)
    if args.dry_run:
        return dry_run(config, args.resume)
    train(config, resume=args.resume)
    return 0


def dry_run(config: StfcConfig, resume: bool) -> int:
    """`--dry-run`: every check of a run (folder, resume, devices, data), then the plan."""
    from stemdl.common.run.dryrun import train_plan

    run_dir, ckpt, layout, readers = check_inputs(config, resume or config.resume, dry_run=True)
    print(train_plan("stfc", config, run_dir, readers, processes=layout.world_size,
                     devices=f"{layout.accelerator}, {layout.world_size} process(es) on "
                     f"{layout.nodes} node(s)", resume_from=ckpt))
    return 0


def cli_main(argv: Sequence[str] | None = None) -> int:
    """`python -m stemdl.stfc.train ...`: like `stemdl train stfc`, errors as one line."""
    return run_main(lambda: main(argv))


if __name__ == "__main__":
    module_main(main)

"""`stemdl evaluate stfc`: the task's metrics (macro F1 and top-1; NMSE, MAE, ...) and
latency of a trained model on one split.

Accepts the Lightning checkpoint of a run (run_dir/checkpoints/last.ckpt) or its model
file (run_dir/model.pt); both carry the hyper-parameters that rebuild the network (depth,
channels, classes) and the input normalization training used, so the network is fed
exactly what it was trained on. A bare state_dict (older model files) is recognised from
its keys and fed 0..255. One process; the confusion matrix is the common one, so the F1
is the training run's.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stemdl.common.cli.entry import ArgumentParser, module_main
from stemdl.common.cli.errors import StemdlError
from stemdl.common.data.normalize import InputNorm, fixed_norm
from stemdl.common.infra.atomic import write_text_atomic
from stemdl.common.infra.progress import progress
from stemdl.common.modelspec import RESNET_DEPTHS
from stemdl.common.run.bounds import check_workers
from stemdl.common.run.evaluation import add_evaluate_arguments, resolve_request
from stemdl.common.run.runpolicy import time_batches
from stemdl.common.run.runrecorder import metrics_text
from stemdl.common.task import get_task
from stemdl.stfc.train import checkpoint_path


def _strip(state: dict[str, Any]) -> dict[str, Any]:
    """Model weights from a LightningModule state_dict ("model." prefix) or a bare one."""
    if any(k.startswith("model.") for k in state):
        return {k[len("model."):]: v for k, v in state.items() if k.startswith("model.")}
    return state


def checkpoint_norm(data: dict[str, Any]) -> InputNorm:
    """The input normalization a checkpoint or model file recorded; none recorded means a
    file from before normalization existed, whose network was fed 0..255 (mode none)."""
    saved = (data.get("hyper_parameters") or {}).get("input_norm")
    return InputNorm.from_dict(saved) if saved else fixed_norm("none", 3)


def _task_model(path: Path, data: dict[str, Any], state: dict[str, Any]):
    """(network, its name, InputNorm) of a checkpoint whose hyper-parameters name a task
    other than classification (the density U-Net)."""
    from types import SimpleNamespace

    from stemdl.stfc.tasks import hooks

    hp = data["hyper_parameters"]
    task = str(hp["task"])
    config = SimpleNamespace(**{k: hp.get(k) for k in ("resnet", *get_task(task).network_keys)})
    spec = get_task(task).model_spec(config, int(hp.get("image_size") or 0))
    model = hooks(task).build_model(spec, int(hp.get("in_channels", 3)))
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise StemdlError(f"{path}: weights do not fit {spec.name} ({str(err).splitlines()[0]})") from None
    return model.eval(), spec.name, checkpoint_norm(data)


def model_from_checkpoint(path: Path):
    """(network, its name, InputNorm) stored in `path`; one-line errors for anything else."""
    from stemdl.stfc.resnet import build_resnet
    from stemdl.stfc.train import load_checkpoint

    data = load_checkpoint(path)
    state = _strip(data.get("state_dict", data))
    if str((data.get("hyper_parameters") or {}).get("task", "classify")) != "classify":
        return _task_model(path, data, state)
    try:
        in_channels = int(state["stem.0.weight"].shape[1])
        num_classes = int(state["fc.weight"].shape[0])
    except (KeyError, AttributeError, IndexError):
        raise StemdlError(f"{path}: not an stfc ResNet checkpoint (no stem/fc weights)") from None
    depths = [int(data["hyper_parameters"]["resnet"])] if "hyper_parameters" in data else RESNET_DEPTHS
    for depth in depths:
        model = build_resnet(depth, in_channels, num_classes)
        if set(model.state_dict()) == set(state):
            try:
                model.load_state_dict(state)
            except RuntimeError as err:
                raise StemdlError(f"{path}: weights do not fit resnet{depth} ({str(err).splitlines()[0]})") from None
            norm = checkpoint_norm(data)
            if len(norm.mean) != in_channels:
                norm = fixed_norm(norm.mode, in_channels) if norm.mode != "standardize" else norm
            return model.eval(), f"resnet{depth}", norm
    raise StemdlError(f"{path}: weights match none of resnet{', resnet'.join(map(str, RESNET_DEPTHS))}")


def evaluate(checkpoint: str | Path, data: str | Path, split: str = "val", batch_size: int = 64,
             workers: int = 2, precision: str = "32", task: str = "classify") -> dict[str, Any]:
    """Metrics of the checkpoint on `split` of `data`."""
    import torch

    from stemdl.common.data.splits import open_split_dir
    from stemdl.stfc.data import ReaderDataset, collate, worker_errors
    from stemdl.stfc.tasks import hooks

    if batch_size < 1:
        raise StemdlError(f"--batch-size: must be >= 1, got {batch_size}")
    check_workers("--workers", workers)
    model, name, norm = model_from_checkpoint(Path(checkpoint))
    reader = open_split_dir(data, split)
    if len(reader) == 0:
        raise StemdlError(f"{data}: the {split} split holds no samples")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if precision == "16-mixed" and device.type != "cuda":
        raise StemdlError("--precision 16-mixed needs a GPU")
    dtype = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(precision)
    model.to(device)
    task_hooks = hooks(task)
    if task_hooks.task.target_kind == "array":
        task_hooks.task.check_split(reader, data, None)
    dataset = ReaderDataset(reader, norm=norm, targets=task_hooks.task.target_kind == "array")
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, num_workers=workers,
                                         collate_fn=collate)
    metric = task_hooks.task.new_metric()
    t_start = time.perf_counter()
    bar = progress(len(reader), f"evaluate {split}", "sample")

    def each(batch: Any, pred: Any) -> None:
        metric.update(batch[1].numpy(), pred.numpy())
        bar.update(int(batch[1].shape[0]))

    with bar, worker_errors(), torch.no_grad(), torch.autocast(device.type, dtype=dtype,
                                              enabled=dtype is not None):
        meter = time_batches(((x.to(device), y) for x, y in loader),
                             lambda batch: task_hooks.predict(model(batch[0])).cpu(),
                             size=lambda batch: int(batch[0].shape[0]),
                             sync=torch.cuda.synchronize if device.type == "cuda" else None,
                             each=each)
    return {
        "checkpoint": str(checkpoint), "data": str(data), "split": split, "task": task,
        "model": name, "input_norm": norm.mode, "samples": metric.samples,
        **metric.result(), "seconds": time.perf_counter() - t_start,
        "inference": meter.summary(),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point with its own argv (`stemdl evaluate stfc ARGS`)."""
    args = build_parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    req = resolve_request(args)
    checkpoint = req.checkpoint or checkpoint_path(req.run_dir)
    task = req.result.task if req.result is not None else "classify"
    out = evaluate(checkpoint, req.data, req.split, req.batch_size or 64,
                   2 if req.workers is None else req.workers, req.precision or "32", task)
    if req.json:
        write_text_atomic(req.json, json.dumps(out, indent=2) + "\n")
    names = get_task(task).metric_log_keys
    values = {k: out[k] for k in names}
    if req.result is not None and req.split == "test" and req.write_back:
        req.result.test, req.result.inference = values, {**out["inference"], "split": "test"}
        req.result.write(req.run_dir)
    inf = out["inference"]
    print(f"stfc evaluate: {out['model']} on {out['samples']} {out['split']} samples: "
          f"{metrics_text(values, get_task(task), '')}, {out['seconds']:.1f} s "
          f"({inf.get('samples_per_second', 0):.1f} samples/s inference)")
    return 0


def build_parser(prog: str = "stemdl evaluate stfc") -> ArgumentParser:
    parser = ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    add_evaluate_arguments(parser)
    return parser


if __name__ == "__main__":
    module_main(main)

"""The run policy both implementations call: one rule each, framework-free.

What a run checks before it starts (the global batch against the data, a checkpoint's
settings against the config), what it records at the end (the model's size, the
predictions file, which split inference is timed on, the summary line) and how inference
latency is measured. Each was once written in `stfc/` and again in `ornl/`, with
differences; here each is written once.
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from stemdl.common.cli.errors import StemdlError
from stemdl.common.infra.atomic import write_atomic
from stemdl.common.run.results import RunResult
from stemdl.common.run.runrecorder import fmt, metrics_text
from stemdl.common.run.timing import LatencyMeter
from stemdl.common.task import get_task

PREDICTIONS_DIR = "predictions"


# -- before the run -------------------------------------------------------------------------
def check_global_batch(batch_size: int, replicas: int, train_samples: int,
                       key: str = "batch_size") -> None:
    """The one batch rule: one global batch (`batch_size` per process or replica, times the
    replicas) must fit the training data, else no step can run."""
    global_batch = batch_size * max(1, replicas)
    if global_batch > train_samples:
        per = f" ({batch_size} x {replicas} replicas)" if replicas > 1 else ""
        raise StemdlError(f"config key '{key}': global batch {global_batch}{per} is larger than "
                          f"the {train_samples} training samples")


def bounded_eval_batch(eval_batch: int | None, batch: int, readers: Mapping[str, Any],
                       note: bool = True) -> int | None:
    """eval_batch_size (None: batch_size's) bounded by the largest evaluation split: a
    larger batch holds no more samples, and one of 2**31 once hung tf.data beyond the reach
    of SIGTERM. Above the bound it is clamped with a note; else returned as given."""
    want = int(eval_batch or batch)
    sizes = [len(r) for split, r in readers.items() if split != "train"]
    largest = max(sizes) if sizes else want
    if want <= largest:
        return eval_batch
    if note:
        print(f"stemdl: note: eval_batch_size {want} is larger than the largest evaluation "
              f"split ({largest} samples); evaluating in batches of {largest}",
              file=sys.stderr, flush=True)
    return largest


def check_same_settings(where: str | Path, saved: Mapping[str, Any] | None,
                        current: Mapping[str, Any]) -> None:
    """A checkpoint written with other settings (or with none recorded) never resumes."""
    saved = dict(saved or {})
    diff = [f"{k}: {saved.get(k)!r} in checkpoint, {v!r} now" for k, v in current.items()
            if k in saved and saved[k] != v]
    if diff or not saved:
        what = "; ".join(diff) if diff else "no settings recorded"
        raise StemdlError(f"{where}: stale checkpoint ({what}); use a new run dir")


def data_fingerprint(readers: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """What a checkpoint records of the data it was trained on: per training and validation
    split, the sample count, the stack shape and a digest of the labels and material ids in
    order (cheap: the readers hold them already). A moved copy of the same data matches."""
    out = {}
    for split in ("train", "val"):
        reader = readers.get(split)
        if reader is None:
            continue
        digest = hashlib.sha256(np.asarray(reader.labels(), np.int64).tobytes())
        digest.update("\n".join(map(str, reader.materials())).encode())
        out[split] = {"samples": len(reader), "shape": list(reader.image_shape()),
                      "digest": digest.hexdigest()[:16]}
    return out


def check_same_data(where: str | Path, saved: Mapping[str, Any] | None,
                    current: Mapping[str, Any]) -> None:
    """A checkpoint trained on other data never resumes (a one-line error). A checkpoint
    from before data fingerprints (none recorded) resumes with a note."""
    if not saved:
        print(f"stemdl: note: {where} records no fingerprint of its data (an older run); "
              "the data of this resume is not checked", file=sys.stderr, flush=True)
        return
    diff = []
    for split, now in current.items():
        then = saved.get(split)
        if then is not None and then != now:
            diff.append(f"{split}: {then.get('samples')} samples, digest {then.get('digest')} "
                        f"in checkpoint; {now['samples']} samples, digest {now['digest']} now")
    if diff:
        raise StemdlError(f"{where}: trained on other data ({'; '.join(diff)}); resume with "
                          "the run's own data, or use a new run dir")


# -- after the run ---------------------------------------------------------------------------
def weights_bytes(arrays: Iterable[tuple[Iterable[int], int]]) -> int:
    """model_size_bytes: the bytes of the trained model's weights (parameters and buffers or
    variables), from (shape, item size) pairs; the same definition in both frameworks, so
    it does not depend on a file format's overhead."""
    return int(sum(int(np.prod(tuple(shape), dtype=np.int64)) * int(size) for shape, size in arrays))


def inference_split(readers: Mapping[str, Any], note: bool = True) -> str | None:
    """The split inference is timed on, as upstream: inference, else test; None (with a
    one-line note) when the run has neither."""
    for split in ("inference", "test"):
        if split in readers:
            return split
    if note:
        print("stemdl: note: no inference or test data; inference timing is skipped",
              file=sys.stderr, flush=True)
    return None


def write_predictions(run_dir: str | Path, split: str, rank: int, indices: np.ndarray,
                      targets: np.ndarray, preds: np.ndarray) -> Path:
    """One rank's predictions of a split: `predictions/<split>-rank<r>.npz` with the
    samples' indices in the split, their targets and the predictions, written atomically."""
    path = Path(run_dir) / PREDICTIONS_DIR / f"{split}-rank{rank}.npz"

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:  # a file object: np.savez would append .npz to a name
            np.savez(fh, indices=np.asarray(indices, np.int64), labels=np.asarray(targets),
                     preds=np.asarray(preds))

    return write_atomic(path, write)


def time_batches(batches: Iterable[Any], forward: Callable[[Any], Any],
                 size: Callable[[Any], int], sync: Callable[[], None] | None = None,
                 max_batches: int | None = None,
                 each: Callable[[Any, Any], None] | None = None) -> LatencyMeter:
    """Inference latency: the seconds of `forward(batch)` (the model, the prediction and its
    copy back) per batch, loading excluded; `sync` waits for the device before each clock
    reading; `each(batch, output)` sees every output (a metric, a progress bar)."""
    meter = LatencyMeter()
    for i, batch in enumerate(batches):
        if max_batches is not None and i >= max_batches:
            break
        if sync is not None:
            sync()
        t0 = time.perf_counter()
        out = forward(batch)
        if sync is not None:
            sync()
        meter.add(size(batch), time.perf_counter() - t0)
        if each is not None:
            each(batch, out)
    return meter


def summary_line(result: RunResult, run_dir: str | Path) -> str:
    """The run's last line on stdout (both implementations): the last epoch's validation
    metrics, the best primary value, test, time, rate, time to target, status, folder."""
    task = get_task(result.task)
    last = result.epochs[-1].val if result.epochs else {}
    best = f" (best {task.label(result.primary_metric)} {fmt(result.best(), '.4f')})"
    if result.baseline.get(result.primary_metric) is not None:  # what learning nothing scores
        best += (f", baseline {task.label(result.primary_metric)} "
                 f"{result.baseline[result.primary_metric]:.4f}")
    test = f", {metrics_text(result.test, task, 'test ')}" if result.test else ""
    rate = f", {result.train_samples_per_s:.1f} samples/s" if result.train_samples_per_s else ""
    ttt = f", time to target {result.time_to_target_s:.1f} s" if result.reached_target else ""
    return (f"{result.implementation}: {len(result.epochs)} epoch(s), "
            f"{metrics_text(last, task)}{best}{test}, {result.run_time_s or 0.0:.1f} s{rate}"
            f"{ttt}, status {result.status}; run folder {run_dir}")


def start_line(implementation: str, config: Any, run_dir: str | Path) -> str:
    """The run's first line on stdout: its folder, and every output file the config placed
    elsewhere (upstream's `./mlperf_stemdl.log` in the working folder)."""
    outside = config.outputs_outside(run_dir) if hasattr(config, "outputs_outside") else {}
    where = "".join(f"; {key} {path}" for key, path in outside.items())
    return f"{implementation}: run folder {run_dir}{where}"

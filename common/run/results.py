"""`results.json`: the one record of a run that `stemdl compare` reads.

Both implementations write the same schema; `SCHEMA_VERSION` changes whenever a field
changes meaning, and readers refuse versions they do not know.

Version 3 made the record task-neutral: `task`, `primary_metric`, `higher_is_better` and
`target`; each epoch's validation metrics as one dict (`val`), the best of each
(`best_val`), the test split's (`test`), and the task's own `detail` (classification: F1
per space group and the confusion matrix). Version 2 added the explicit `framework`,
`framework_version`, `device`, `device_count` and `precision`. Files of versions 1 and 2
(classification, with `val_macro_f1`, `best_val_macro_f1`, `test_macro_f1`, ...) are
still read, as classification results, and written back as version 3.
"""

from __future__ import annotations

import json
import os
import platform
import socket
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stemdl.common.cli.errors import DataError
from stemdl.common.infra.atomic import write_text_atomic

SCHEMA_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)  # 1: before the explicit framework/device fields; 1, 2: classification only
CPU_DEVICE = "cpu"  # `RunResult.device` of a run on the host CPU
# names inside a run folder, shared by both implementations and the tools that read runs
RESULTS_FILE = "results.json"
MLPERF_LOG_FILE = "mlperf.log"
CHECKPOINT_DIR = "checkpoints"


@dataclass
class EpochRecord:
    """One training epoch and the validation that followed it."""

    epoch: int
    train_loss: float | None = None
    val: dict[str, float] = field(default_factory=dict)  # the task's metrics, by name
    epoch_time_s: float | None = None
    eval_time_s: float | None = None
    train_samples_per_s: float | None = None
    wall_time_s: float | None = None  # seconds since run_start at the end of this eval


@dataclass
class RunResult:
    """Everything measured in one run of one implementation."""

    implementation: str  # "stfc" or "ornl"
    task: str = "classify"  # common/task.py
    primary_metric: str = "macro_f1"  # the key of `val`/`best_val`/`test` that decides the run
    higher_is_better: bool = True  # the direction of the primary metric
    division: str = "closed"
    framework: str | None = None  # the one the model runs on: "torch" or "tensorflow"
    framework_version: str | None = None
    device: str | None = None  # CPU_DEVICE or the accelerator's name, e.g. "NVIDIA H100 ..."
    device_count: int | None = None  # devices that trained, all nodes together
    precision: str | None = None  # "32", "bf16-mixed" or "16-mixed"
    frameworks: dict[str, str] = field(default_factory=dict)  # name -> version (detail)
    hardware: dict[str, Any] = field(default_factory=dict)  # host and device detail
    config: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    world_size: int = 1
    global_batch_size: int | None = None
    train_samples: int | None = None
    eval_samples: int | None = None
    epochs: list[EpochRecord] = field(default_factory=list)
    target: float | None = None  # the primary metric's target
    reached_target: bool = False
    time_to_target_s: float | None = None
    run_start_unix: float | None = None  # wall clock at run_start (kept across --resume)
    init_time_s: float | None = None
    run_time_s: float | None = None
    mean_epoch_time_s: float | None = None
    train_samples_per_s: float | None = None
    eval_samples_per_s: float | None = None
    best_val: dict[str, float] = field(default_factory=dict)  # each metric's best over the epochs
    baseline: dict[str, float] = field(default_factory=dict)  # what learning nothing scores on val
    detail: dict[str, Any] = field(default_factory=dict)  # Metric.detail() of the best epoch
    test: dict[str, float] = field(default_factory=dict)  # the test split's metrics
    inference: dict[str, Any] = field(default_factory=dict)  # LatencyMeter.summary()
    startup: dict[str, float] = field(default_factory=dict)  # one-off costs, e.g. tracing (s)
    model_name: str | None = None
    input_norm: dict[str, Any] | None = None  # InputNorm.as_dict(): what the network was fed
    parameters: int | None = None
    model_size_bytes: int | None = None
    mlperf_log: str = MLPERF_LOG_FILE  # relative to the run folder
    checkpoint: str | None = None
    status: str = "aborted"  # "success" only if the target was reached
    code_version: str | None = None  # stemdl-bench's version (the log's submission_version)
    code_commit: str | None = None  # the code's commit (submission_github_commit_version)
    commands: list[str] = field(default_factory=list)  # the command of each part (--resume adds one)
    job: dict[str, str] = field(default_factory=dict)  # the batch job: scheduler, id, script
    stop_reason: str | None = None  # why a run ended early (an error, a signal), else None
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    schema_version: int = SCHEMA_VERSION

    def add_epoch(self, record: EpochRecord) -> None:
        self.epochs.append(record)
        from stemdl.common.task import get_task

        task = get_task(self.task)
        names = dict.fromkeys(k for e in self.epochs for k in e.val)
        self.best_val = {
            k: (max if task.metric_higher_is_better(k) else min)(
                e.val[k] for e in self.epochs if e.val.get(k) is not None)
            for k in names if any(e.val.get(k) is not None for e in self.epochs)}
        times = [e.epoch_time_s for e in self.epochs if e.epoch_time_s is not None]
        self.mean_epoch_time_s = sum(times) / len(times) if times else None

    # -- the primary metric, read the same way for every task --------------------------
    def best(self, name: str | None = None) -> float | None:
        """The best validation value of metric `name` (default: the primary one)."""
        return self.best_val.get(name or self.primary_metric)

    def test_value(self, name: str | None = None) -> float | None:
        return self.test.get(name or self.primary_metric)

    def last(self, name: str | None = None) -> float | None:
        """The last epoch's validation value of `name` (default: the primary metric)."""
        return self.epochs[-1].val.get(name or self.primary_metric) if self.epochs else None

    def curve(self, name: str | None = None) -> list[float]:
        """Validation values of `name` (default: primary) of the epochs that have one."""
        key = name or self.primary_metric
        return [e.val[key] for e in self.epochs if e.val.get(key) is not None]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def write(self, run_dir: str | os.PathLike[str]) -> Path:
        """Write `run_dir/results.json` atomically; returns its path."""
        return write_text_atomic(Path(run_dir) / RESULTS_FILE,
                                 json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunResult:
        version = data.get("schema_version")
        if version not in READABLE_VERSIONS:
            newer = isinstance(version, int) and version > SCHEMA_VERSION
            raise DataError(
                f"results schema version {version!r} is not one this stemdl-bench reads "
                f"({', '.join(map(str, READABLE_VERSIONS))})"
                + ("; it was written by a newer stemdl-bench" if newer else ""))
        if version < 3:
            data = _classification_v2_to_v3(data)
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        kwargs["epochs"] = [EpochRecord(**e) for e in data.get("epochs", [])]
        kwargs["schema_version"] = SCHEMA_VERSION  # older files: the new fields stay None
        return cls(**kwargs)

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> RunResult:
        """Read a results.json (or the one inside a run folder)."""
        path = Path(path)
        if path.is_dir():
            path = path / RESULTS_FILE
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise DataError(f"{path}: no such results file") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise DataError(f"{path}: not a readable results file ({err})") from None
        if not isinstance(data, dict):
            raise DataError(f"{path}: not a results file (a JSON {type(data).__name__}, "
                            "not an object)")
        try:
            return cls.from_dict(data)
        except DataError as err:
            raise DataError(f"{path}: {err}") from None
        except TypeError as err:
            raise DataError(f"{path}: malformed results ({err})") from None


# schema 1/2 field -> (schema 3 dict, metric name): those files are classification runs
_V2_METRICS = {"val_macro_f1": "macro_f1", "val_top1": "top1"}
_V2_RESULT = {"best_val_macro_f1": ("best_val", "macro_f1"), "best_val_top1": ("best_val", "top1"),
              "test_macro_f1": ("test", "macro_f1"), "test_top1": ("test", "top1")}


def _classification_v2_to_v3(data: dict[str, Any]) -> dict[str, Any]:
    """A schema 1 or 2 record (classification's named fields) in schema 3's terms."""
    data = dict(data)
    epochs = []
    for e in data.get("epochs", []):
        e = dict(e)
        val = {name: e.pop(old) for old, name in _V2_METRICS.items() if old in e}
        e["val"] = {k: v for k, v in val.items() if v is not None}
        epochs.append(e)
    data["epochs"] = epochs
    for old, (group, name) in _V2_RESULT.items():
        value = data.pop(old, None)
        if value is not None:
            data.setdefault(group, {})[name] = value
    detail = {}
    if data.get("val_per_class_f1"):
        detail["per_class_f1"] = data["val_per_class_f1"]
    if data.get("val_confusion"):
        detail["confusion"] = data["val_confusion"]
    data["detail"] = detail
    data["target"] = data.pop("target_f1", None)
    data.update(task="classify", primary_metric="macro_f1", higher_is_better=True)
    return data


def host_info() -> dict[str, Any]:
    """Framework-neutral hardware facts; implementations add their accelerators."""
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }

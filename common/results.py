"""`results.json`: the one record of a run that `stemdl compare` reads.

Both implementations write the same schema; `SCHEMA_VERSION` changes whenever a field
changes meaning, and readers refuse versions they do not know.

Version 2 added the explicit `framework`, `framework_version`, `device`, `device_count`
and `precision`, so readers never guess among `hardware` keys. A version-1 file is still
read, with those fields None ("not recorded"), and written back as version 2.
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

from stemdl.common.atomic import write_text_atomic
from stemdl.common.errors import DataError

SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)  # 1: before the explicit framework/device fields
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
    val_macro_f1: float | None = None
    val_top1: float | None = None
    epoch_time_s: float | None = None
    eval_time_s: float | None = None
    train_samples_per_s: float | None = None
    wall_time_s: float | None = None  # seconds since run_start at the end of this eval


@dataclass
class RunResult:
    """Everything measured in one run of one implementation."""

    implementation: str  # "stfc" or "ornl"
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
    target_f1: float | None = None
    reached_target: bool = False
    time_to_target_s: float | None = None
    run_start_unix: float | None = None  # wall clock at run_start (kept across --resume)
    init_time_s: float | None = None
    run_time_s: float | None = None
    mean_epoch_time_s: float | None = None
    train_samples_per_s: float | None = None
    eval_samples_per_s: float | None = None
    best_val_macro_f1: float | None = None
    best_val_top1: float | None = None
    val_per_class_f1: dict[str, float] = field(default_factory=dict)  # label -> F1
    val_confusion: dict[str, Any] | None = None  # ConfusionMatrix.to_dict()
    test_macro_f1: float | None = None
    test_top1: float | None = None
    inference: dict[str, Any] = field(default_factory=dict)  # LatencyMeter.summary()
    startup: dict[str, float] = field(default_factory=dict)  # one-off costs, e.g. tracing (s)
    model_name: str | None = None
    input_norm: dict[str, Any] | None = None  # InputNorm.as_dict(): what the network was fed
    parameters: int | None = None
    model_size_bytes: int | None = None
    mlperf_log: str = MLPERF_LOG_FILE  # relative to the run folder
    checkpoint: str | None = None
    status: str = "aborted"  # "success" only if the target was reached
    stop_reason: str | None = None  # why a run ended early (an error, a signal), else None
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    schema_version: int = SCHEMA_VERSION

    def add_epoch(self, record: EpochRecord) -> None:
        self.epochs.append(record)
        f1s = [e.val_macro_f1 for e in self.epochs if e.val_macro_f1 is not None]
        top1s = [e.val_top1 for e in self.epochs if e.val_top1 is not None]
        self.best_val_macro_f1 = max(f1s) if f1s else None
        self.best_val_top1 = max(top1s) if top1s else None
        times = [e.epoch_time_s for e in self.epochs if e.epoch_time_s is not None]
        self.mean_epoch_time_s = sum(times) / len(times) if times else None

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


def host_info() -> dict[str, Any]:
    """Framework-neutral hardware facts; implementations add their accelerators."""
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }

"""The task contract: what a STEMDL task asks, stated once, and the registry that finds it.

STEMDL poses two tasks on the same CBED stacks (classify the space group; reconstruct the
projected potential). A `Task` holds what differs between them and nothing else: the
target's kind, the primary metric and its direction, the target value, the metric's MLPerf
keys, a new metric, the split checks and the recipes. The run lifecycle (recorder, log,
results) is shared and asks the task only these questions. Each task's package in
`common/tasks/` defines one `TASK`; `get_task` imports it on first use, so a run pays only
for the task it runs, and only this module imports a task's package (the framework halves
in `stfc/tasks/` and `ornl/tasks/` aside).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stemdl.common.cli.errors import StemdlError, unknown_name
from stemdl.common.metrics import Metric

DEFAULT_TASK = "classify"
# task name -> the package that defines its TASK (imported lazily)
TASK_PACKAGES: dict[str, str] = {
    "classify": "stemdl.common.tasks.classify",
    "density": "stemdl.common.tasks.density",
}
TARGET_KINDS = ("label", "array")


@dataclass(frozen=True)
class Task:
    """One STEMDL task's facts; implementations and the run lifecycle read them."""

    name: str  # the config's `task:` value, e.g. "classify"
    benchmark: str  # MLPerf submission_benchmark, e.g. "stemdl"
    target_kind: str  # "label" (one int per sample) or "array" (a map per sample)
    primary_metric: str  # the key of `Metric.result()` that decides the run
    higher_is_better: bool  # direction of the primary metric (and of the others but `reversed_metrics`)
    target: float  # the primary metric's value that ends a mode=target run
    target_key: str  # the config key that sets the target (and its MLPerf key's suffix)
    metric_log_keys: Mapping[str, str]  # result name -> MLPerf key, in log order
    metric_labels: Mapping[str, str]  # result name -> how a person reads it ("macro F1")
    new_metric: Callable[[], Metric]  # an empty evaluation state
    metric_from_detail: Callable[[Mapping[str, Any]], Metric | None]  # results.json detail -> state
    check_split: Callable[[Any, str | Path | None, int | None], None]  # (reader, where, min_classes)
    model_spec: Callable[[Any, int], Any]  # (config, image size) -> the network's spec (its .name)
    network_keys: tuple[str, ...]  # the config keys model_spec reads (no effect in another task)
    recipes: Mapping[str, Any] = field(default_factory=dict)  # implementation -> recipe
    # (train reader, val reader) -> the metric of a model that learned nothing, or None
    baseline: Callable[[Any, Any], Mapping[str, float]] | None = None
    metric_definition: str = ""  # one line: what the primary metric is (the log's `result`)
    reversed_metrics: tuple[str, ...] = ()  # scored the other way (density: Pearson r, higher)
    # the opened splits (name -> reader) -> a note on how they fit together, or None
    splits_note: Callable[[Mapping[str, Any]], str | None] | None = None

    def __post_init__(self) -> None:
        if self.target_kind not in TARGET_KINDS:
            raise ValueError(f"target_kind must be one of {TARGET_KINDS}, got {self.target_kind!r}")
        if self.primary_metric not in self.metric_log_keys:
            raise ValueError(f"primary metric {self.primary_metric!r} has no MLPerf key")

    @property
    def baseline_log_key(self) -> str:
        """The MLPerf key of the baseline's primary metric, e.g. stemdl_baseline_nmse."""
        return f"stemdl_baseline_{self.primary_metric}"

    @property
    def target_log_key(self) -> str:
        """The MLPerf key that logs the target, e.g. stemdl_target_f1."""
        return f"stemdl_{self.target_key}"

    def metric_higher_is_better(self, metric: str) -> bool:
        """The direction of `metric` (a key of the metric's result)."""
        return self.higher_is_better != (metric in self.reversed_metrics)

    def reached(self, value: float | None, target: float) -> bool:
        """True when `value` of the primary metric meets `target` in this task's direction."""
        if value is None:
            return False
        return value >= target if self.higher_is_better else value <= target

    def best(self, values: list[float]) -> float | None:
        """The best of `values` in this task's direction (None for none)."""
        if not values:
            return None
        return max(values) if self.higher_is_better else min(values)

    def label(self, metric: str) -> str:
        return self.metric_labels.get(metric, metric)


def task_names() -> tuple[str, ...]:
    return tuple(TASK_PACKAGES)


def get_task(name: str | None = None) -> Task:
    """The task called `name` (default: classify); a one-line error for an unknown name."""
    name = DEFAULT_TASK if name is None else str(name)
    package = TASK_PACKAGES.get(name)
    if package is None:
        raise unknown_name("task", name, TASK_PACKAGES)
    task = importlib.import_module(package).TASK
    if not isinstance(task, Task) or task.name != name:
        raise StemdlError(f"{package}: does not define TASK for task '{name}'")
    return task


def task_of_benchmark(benchmark: str) -> Task | None:
    """The task whose MLPerf benchmark name is `benchmark`, or None."""
    for name in TASK_PACKAGES:
        task = get_task(name)
        if task.benchmark == benchmark:
            return task
    return None

"""The Metric protocol: an evaluation state that batches update and ranks sum.

A metric's whole state is one numpy vector (`state`); ranks sum it (an all-reduce of the
vector in the framework, or `merge` in numpy), and every number is derived from the
summed state in one place (`result`), so neither framework knows what the numbers mean,
and no number is ever a mean of per-batch values. Each task's metric implements this
(classification: the confusion matrix in `common/tasks/classify/metric.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Metric(Protocol):
    """What the run lifecycle and the frameworks need of a task's evaluation state."""

    @property
    def state(self) -> np.ndarray:
        """The whole state as one 1-D vector; the state of several ranks is their sum."""

    def with_state(self, state: np.ndarray) -> Metric:
        """A metric of the same kind holding `state` (e.g. after an all-reduce)."""

    def update(self, target: Any, prediction: Any) -> Metric:
        """Add a batch of targets and predictions; returns self."""

    def merge(self, other: Metric) -> Metric:
        """Add another state (another rank's, another batch's); returns self."""

    @property
    def samples(self) -> int:
        """Samples the state holds."""

    def result(self) -> dict[str, float]:
        """Every number of the task's metric, by name (the primary one among them)."""

    def detail(self) -> dict[str, Any]:
        """Task-specific detail for results.json (e.g. the confusion matrix), JSON-ready."""


def summed(metrics: list[Metric]) -> Metric:
    """The metric of the union of the samples of `metrics` (at least one)."""
    if not metrics:
        raise ValueError("summed() needs at least one metric")
    total = metrics[0].with_state(np.zeros_like(metrics[0].state))
    for m in metrics:
        total.merge(m)
    return total


def results_equal(a: Mapping[str, float], b: Mapping[str, float], tol: float = 1e-9) -> bool:
    """Same names and values within `tol` (tests and the evaluate-equals-training check)."""
    return set(a) == set(b) and all(abs(float(a[k]) - float(b[k])) <= tol for k in a)

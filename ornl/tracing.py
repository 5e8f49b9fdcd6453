"""Trace a step function once, from the distributed dataset's element spec, and time it.

A `tf.function` without a signature traces again for every new input shape: the last,
partial evaluation batch traced the whole forward pass a second time. Traced from the
dataset's `element_spec` (batch dimension None where batches may be short), one trace
serves every batch, and the trace's cost is measured on its own, apart from the first
step's execution (results.json `startup`, and one line on stdout).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import tensorflow as tf


def trace_once(fn: Callable[[Any], Any], element_spec: Any) -> tuple[Callable[[Any], Any], float]:
    """``fn`` as a tf.function of one argument with ``element_spec``, traced now; returns it
    and the seconds the tracing took."""
    step = tf.function(fn, input_signature=[element_spec])
    start = time.perf_counter()
    step.get_concrete_function()
    return step, time.perf_counter() - start


class FirstStep:
    """Times the first call of a step (graph optimisation and first execution)."""

    def __init__(self) -> None:
        self.seconds: float | None = None

    def __call__(self, step: Callable[[Any], Any], batch: Any) -> Any:
        if self.seconds is not None:
            return step(batch)
        start = time.perf_counter()
        out = step(batch)
        tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, "numpy") else t, out)
        self.seconds = time.perf_counter() - start
        return out

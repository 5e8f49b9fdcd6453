"""Framework-neutral timers shared by both implementations.

Wall-clock phases with an optional device-synchronise hook (e.g.
`torch.cuda.synchronize`), throughput meters, time to target and inference latency.
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

Clock = Callable[[], float]


class PhaseTimer:
    """Durations (s) of named phases: init, run, epoch, eval, inference, ...

    `sync` runs before each reading of the clock so asynchronous device work is counted.
    """

    def __init__(self, sync: Callable[[], None] | None = None, clock: Clock = time.perf_counter):
        self._sync = sync or (lambda: None)
        self._clock = clock
        self._open: dict[str, float] = {}
        self.durations: dict[str, list[float]] = defaultdict(list)

    def now(self) -> float:
        self._sync()
        return self._clock()

    def start(self, name: str) -> None:
        if name in self._open:
            raise RuntimeError(f"phase '{name}' already started")
        self._open[name] = self.now()

    def stop(self, name: str) -> float:
        """Close phase `name` and return its duration in seconds."""
        if name not in self._open:
            raise RuntimeError(f"phase '{name}' was not started")
        elapsed = self.now() - self._open.pop(name)
        self.durations[name].append(elapsed)
        return elapsed

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        self.start(name)
        try:
            yield
        finally:
            self.stop(name)

    def is_running(self, name: str) -> bool:
        return name in self._open

    def last(self, name: str) -> float | None:
        values = self.durations.get(name)
        return values[-1] if values else None

    def total(self, name: str) -> float:
        return float(sum(self.durations.get(name, ())))

    def mean(self, name: str) -> float | None:
        values = self.durations.get(name)
        return statistics.fmean(values) if values else None


@dataclass
class Throughput:
    """Samples per second over everything recorded."""

    samples: int = 0
    seconds: float = 0.0

    def add(self, samples: int, seconds: float) -> None:
        self.samples += int(samples)
        self.seconds += float(seconds)

    @property
    def per_second(self) -> float | None:
        return self.samples / self.seconds if self.seconds > 0 else None


@dataclass
class TimeToTarget:
    """Seconds from run start to the first evaluation whose metric reaches the target
    (at or above it where higher is better, at or below it where lower is)."""

    target: float
    run_start: float
    reached_at: float | None = None
    reached_epoch: int | None = None
    higher_is_better: bool = True

    def meets(self, metric: float) -> bool:
        return metric >= self.target if self.higher_is_better else metric <= self.target

    def observe(self, epoch: int, metric: float, now: float) -> bool:
        """Record an evaluation; returns True the first time the target is reached."""
        if self.reached_at is None and self.meets(metric):
            self.reached_at, self.reached_epoch = now, epoch
            return True
        return False

    @property
    def reached(self) -> bool:
        return self.reached_at is not None

    @property
    def seconds(self) -> float | None:
        return None if self.reached_at is None else self.reached_at - self.run_start


@dataclass
class LatencyMeter:
    """Inference latency per batch and per sample (seconds), with percentiles."""

    batch_seconds: list[float] = field(default_factory=list)
    batch_sizes: list[int] = field(default_factory=list)

    def add(self, batch_size: int, seconds: float) -> None:
        self.batch_sizes.append(int(batch_size))
        self.batch_seconds.append(float(seconds))

    @property
    def samples(self) -> int:
        return sum(self.batch_sizes)

    def summary(self) -> dict[str, float | int]:
        """Mean/median/p90 per batch, mean per sample and samples/s; {} if nothing recorded."""
        if not self.batch_seconds:
            return {}
        total = sum(self.batch_seconds)
        ordered = sorted(self.batch_seconds)
        p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
        return {
            "batches": len(self.batch_seconds),
            "samples": self.samples,
            "batch_latency_mean_s": total / len(self.batch_seconds),
            "batch_latency_median_s": statistics.median(ordered),
            "batch_latency_p90_s": p90,
            "sample_latency_mean_s": total / self.samples,
            "samples_per_second": self.samples / total if total > 0 else 0.0,
        }


def timed(fn: Callable[[], object], clock: Clock = time.perf_counter) -> float:
    """Seconds taken by one call of `fn`."""
    t0 = clock()
    fn()
    return clock() - t0

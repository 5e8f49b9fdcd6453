"""The numeric settings of both run configs, checked once: finite, and in their range.

A NaN or infinite learning rate (`learning_rate=nan`, `--base-lr inf`), a negative weight
decay (`--wd -1`) or a momentum of 1 would reach the framework and train to NaN, or fail
there with a traceback; here each is one line and exit 2. Every float field of a config is
checked for finiteness (new fields included, without listing them); `RANGES` holds the
allowed interval of each numeric key either implementation has (a key a config lacks is
skipped, so one table serves both).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from stemdl.common.cli.errors import StemdlError

INF = math.inf


@dataclass(frozen=True)
class Range:
    """An interval; `low_open`/`high_open`: the bound itself is excluded."""

    low: float = -INF
    high: float = INF
    low_open: bool = False
    high_open: bool = False
    integer: bool = False  # an integer key: said as such

    def __contains__(self, value: float) -> bool:
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    def describe(self) -> str:
        if self.integer:
            return f"an integer in [{int(self.low)}, {int(self.high)}]"
        if self.high == INF:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        if self.low == -INF:
            return f"{'<' if self.high_open else '<='} {self.high:g}"
        return (f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}"
                f"{')' if self.high_open else ']'}")


SEED_MAX = 2**32 - 1
SEED_RANGE = Range(0, SEED_MAX, integer=True)
POSITIVE = Range(0.0, INF, low_open=True)
NON_NEGATIVE = Range(0.0)
PROBABILITY = Range(0.0, 1.0)
FRACTION_BELOW_ONE = Range(0.0, 1.0, high_open=True)

# config key -> allowed values (integer keys with their own checks are not repeated here)
RANGES: dict[str, Range] = {
    "learning_rate": POSITIVE,
    "weight_decay": NON_NEGATIVE,
    "momentum": FRACTION_BELOW_ONE,
    "dropout": FRACTION_BELOW_ONE,
    "label_smoothing": FRACTION_BELOW_ONE,
    "random_erasing_p": PROBABILITY,
    "mixup_alpha": NON_NEGATIVE,
    "warmup_epochs": NON_NEGATIVE,
    "target_f1": Range(0.0, 1.0, low_open=True),
    "target_nmse": Range(0.0, 1.0, low_open=True),  # 1.0: the zero map's score
    "unet_depth": Range(1, 6, integer=True),  # common/tasks/density/model.py MAX_DEPTH
    "unet_width": Range(1, 256, integer=True),  # MAX_WIDTH
    "fcd_growth": Range(1, 512, integer=True),  # common/tasks/density/fcdensenet.py MAX_GROWTH
    "fcd_kernel": Range(1, 7, integer=True),
    # numpy's and the frameworks' generators take a seed in [0, 2**32 - 1]
    "seed": SEED_RANGE,
}


def check_number(key: str, value: object, allowed: Range | None = None) -> None:
    """A one-line error (exit 2) unless `value` is a finite number within `allowed`."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return
    if not math.isfinite(value):
        raise StemdlError(f"config key '{key}': must be a finite number, got {value}")
    if allowed is not None and value not in allowed:
        raise StemdlError(f"config key '{key}': must be {allowed.describe()}, got {value}")


def check_numbers(config: object, ranges: dict[str, Range] | None = None) -> None:
    """Every numeric field of the dataclass `config`: finite, and in `ranges` (default RANGES)."""
    ranges = RANGES if ranges is None else ranges
    for f in dataclasses.fields(config):  # type: ignore[arg-type]
        check_number(f.name, getattr(config, f.name), ranges.get(f.name))

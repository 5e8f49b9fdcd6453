"""Training options both implementations share: learning-rate schedule, loss, smoothing.

The schedule is one framework-free function of the step (`lr_factors` tabulates it), so
the torch and the Keras runs follow the same curve: a linear warm-up from
`start_factor` to 1 over `warmup_steps`, then

- ``constant``: 1 (both closed recipes);
- ``cosine``: 0.5 (1 + cos(pi t)), t going from 0 to 1 over the remaining steps, so the
  learning rate decays to 0 by the last step (open division; the demo uses it).
"""

from __future__ import annotations

import math

import numpy as np

from stemdl.common.cli.errors import StemdlError
from stemdl.common.workload import INPUT_NORMS

LR_SCHEDULES = ("constant", "cosine")
LOSSES = ("cross_entropy", "mse")  # mse: upstream STFC's, on one-hot targets (STFC only)


def lr_factor(schedule: str, step: int, total_steps: int, warmup_steps: int = 0,
              start_factor: float = 1.0) -> float:
    """Multiplier of the base learning rate at (0-based) optimizer step `step`."""
    if warmup_steps > 0 and step < warmup_steps:
        return start_factor + (1.0 - start_factor) * (step / warmup_steps)
    if schedule == "constant":
        return 1.0
    if schedule == "cosine":
        span = max(1, total_steps - warmup_steps)
        t = min(1.0, max(0.0, (step - warmup_steps) / span))
        return 0.5 * (1.0 + math.cos(math.pi * t))
    raise StemdlError(f"config key 'lr_schedule': '{schedule}' is not one of {', '.join(LR_SCHEDULES)}")


def lr_factors(schedule: str, total_steps: int, warmup_steps: int = 0,
               start_factor: float = 1.0) -> np.ndarray:
    """float32 table of `lr_factor` for steps 0..total_steps-1 (at least one entry)."""
    n = max(1, int(total_steps))
    return np.array([lr_factor(schedule, s, n, warmup_steps, start_factor) for s in range(n)],
                    dtype=np.float32)


def check_options(config: object, losses: tuple[str, ...] = ("cross_entropy",)) -> None:
    """One-line errors for input_norm, lr_schedule, label_smoothing and loss of a config."""
    norm = getattr(config, "input_norm", "standardize")
    if norm not in INPUT_NORMS:
        raise StemdlError(f"config key 'input_norm': '{norm}' is not one of {', '.join(INPUT_NORMS)}")
    schedule = getattr(config, "lr_schedule", "constant")
    if schedule not in LR_SCHEDULES:
        raise StemdlError(
            f"config key 'lr_schedule': '{schedule}' is not one of {', '.join(LR_SCHEDULES)}")
    smoothing = getattr(config, "label_smoothing", 0.0)
    if not 0.0 <= smoothing < 1.0:
        raise StemdlError(f"config key 'label_smoothing': must be in [0, 1), got {smoothing}")
    loss = getattr(config, "loss", "cross_entropy")
    if loss not in losses:
        raise StemdlError(f"config key 'loss': '{loss}' is not one of {', '.join(losses)}")
    if loss != "cross_entropy" and smoothing:
        raise StemdlError(f"config key 'label_smoothing': applies to cross_entropy, not to loss {loss}")

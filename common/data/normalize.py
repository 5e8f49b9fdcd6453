"""Input normalization of the network: one definition for both implementations.

The preprocessed stacks hold values in [0, 255] (the documented transform). What the
network is then fed is a recipe setting (`input_norm`, see `stemdl.common.workload`):

- ``standardize`` (open division): per pattern position (channel of the stack),
  (x - mean) / std with mean and std of the *training* split, estimated on a seeded,
  bounded sample of its stacks (`STATS_SAMPLES`). Measured in docs/STFC.md: it speeds
  up STFC's first epochs but did not raise or steady the plateau in our runs.
- ``unit``: x / 255 (the ORNL recipe).
- ``none``: x unchanged, 0..255 (the STFC recipe; what upstream STFC and ORNL feed).

Every mode is a per-channel affine map, so an `InputNorm` is (mode, mean, std) and the
frameworks apply `(x - mean) / std` (numpy here, in the input pipelines). The run logs
it, and the checkpoint keeps it, so evaluation and resume feed exactly what training fed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from stemdl.common.cli.errors import StemdlError
from stemdl.common.workload import CLIP_MAX, INPUT_NORMS, STATS_SAMPLES

MIN_STD = 1e-3  # a constant channel (blank patterns) must not divide by ~0


@dataclass(frozen=True)
class InputNorm:
    """Per-channel (x - mean) / std of the network input, and where it came from."""

    mode: str  # one of workload.INPUT_NORMS
    mean: tuple[float, ...]
    std: tuple[float, ...]
    samples: int = 0  # training stacks the statistics were estimated on (0: fixed map)

    def __post_init__(self) -> None:
        if self.mode not in INPUT_NORMS:
            raise StemdlError(
                f"config key 'input_norm': '{self.mode}' is not one of {', '.join(INPUT_NORMS)}")
        if len(self.mean) != len(self.std) or not self.mean:
            raise StemdlError(f"input normalization: {len(self.mean)} means, {len(self.std)} stds")

    def apply(self, stacks: np.ndarray) -> np.ndarray:
        """float32 (x - mean) / std of (C, H, W) or (N, C, H, W) stacks, per channel C."""
        x = np.asarray(stacks, dtype=np.float32)
        channels = x.shape[-3]
        if channels != len(self.mean):
            raise StemdlError(
                f"input normalization holds {len(self.mean)} channels, the data {channels}")
        mean = np.asarray(self.mean, np.float32).reshape(-1, 1, 1)
        inv = (1.0 / np.asarray(self.std, np.float64)).astype(np.float32).reshape(-1, 1, 1)
        return (x - mean) * inv

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (MLPerf log, results.json, checkpoints)."""
        d = asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InputNorm:
        try:
            return cls(str(data["mode"]), tuple(float(v) for v in data["mean"]),
                       tuple(float(v) for v in data["std"]), int(data.get("samples", 0)))
        except (KeyError, TypeError, ValueError) as err:
            raise StemdlError(f"input normalization record is damaged ({err})") from None


def fixed_norm(mode: str, channels: int) -> InputNorm:
    """The data-independent maps: none (identity) and unit (x / 255)."""
    scale = {"none": 1.0, "unit": CLIP_MAX}.get(mode)
    if scale is None:
        raise StemdlError(f"input normalization '{mode}' needs statistics of the training split")
    return InputNorm(mode, (0.0,) * channels, (scale,) * channels)


def channel_stats(stacks: Sequence[np.ndarray] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std (float64) over all pixels of (C, H, W) stacks."""
    total = count = sq = None
    for stack in stacks:
        s = np.asarray(stack, np.float64)
        pixels = s.reshape(s.shape[0], -1)
        t, q = pixels.sum(axis=1), np.square(pixels).sum(axis=1)
        total = t if total is None else total + t
        sq = q if sq is None else sq + q
        count = pixels.shape[1] + (count or 0)
    if total is None:
        raise StemdlError("input normalization: no training stacks to estimate statistics on")
    mean = total / count
    var = np.maximum(sq / count - np.square(mean), 0.0)
    return mean, np.sqrt(var)


def sample_indices(n: int, max_samples: int = STATS_SAMPLES, seed: int = 0) -> np.ndarray:
    """Sorted, seeded choice of at most `max_samples` of range(n) (all of them if fewer)."""
    if n <= max_samples:
        return np.arange(n)
    rng = np.random.default_rng([int(seed), 0x5747])
    return np.sort(rng.choice(n, size=max_samples, replace=False))


def compute_norm(mode: str, reader: Any, indices: Sequence[int] | None = None,
                 max_samples: int = STATS_SAMPLES, seed: int = 0) -> InputNorm:
    """The `mode` normalization for training on `reader` (restricted to `indices`).

    ``standardize`` reads a seeded sample of at most `max_samples` training stacks
    through the documented transform (`model_input`), so the statistics are those of
    what the network would otherwise see, whatever the layout.
    """
    from stemdl.common.data.transform import model_input

    channels = int(reader.image_shape()[0])
    if mode != "standardize":
        return fixed_norm(mode, channels)
    pool = np.arange(len(reader)) if indices is None else np.asarray(indices, np.int64)
    chosen = pool[sample_indices(len(pool), max_samples, seed)]
    stacks = (model_input(reader[int(i)].stack, reader.layout) for i in chosen)
    mean, std = channel_stats(stacks)
    std = np.maximum(std, MIN_STD)
    return InputNorm(mode, tuple(float(v) for v in mean), tuple(float(v) for v in std),
                     int(len(chosen)))

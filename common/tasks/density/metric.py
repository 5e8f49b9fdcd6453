"""The density task's metric: sums over target maps that batches add and ranks sum.

State: [maps, pixels, sum sq. error, sum sq. target, sum abs. error, sum of per-map
relative L2, sum of per-map Pearson r]. Every number is a ratio of the whole set's sums
(NMSE, MAE) or a mean over all maps (relative L2, Pearson r): never a mean of per-batch
values. Hand-written (not torchmetrics) because `common/` must not import a framework.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from stemdl.common.workload import PATTERNS_PER_STACK

FIELDS = ("maps", "pixels", "sse", "sst", "sae", "rel_l2", "pearson")
TINY = 1e-12


def batch_sums(target: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """The state increment of a batch of maps (..., H, W): every leading axis is a map."""
    t = np.asarray(target, np.float64)
    p = np.asarray(prediction, np.float64)
    if t.shape != p.shape:
        raise ValueError(f"target and prediction differ in shape: {t.shape} vs {p.shape}")
    if t.ndim < 2:
        raise ValueError(f"maps need 2 dimensions at least, got shape {t.shape}")
    t = t.reshape(-1, t.shape[-2] * t.shape[-1])
    p = p.reshape(t.shape)
    err = p - t
    sse_map = (err**2).sum(axis=1)
    sst_map = (t**2).sum(axis=1)
    rel = np.sqrt(sse_map / np.maximum(sst_map, TINY))
    tc = t - t.mean(axis=1, keepdims=True)
    pc = p - p.mean(axis=1, keepdims=True)
    denom = np.sqrt((tc**2).sum(axis=1) * (pc**2).sum(axis=1))
    r = np.where(denom > TINY, (tc * pc).sum(axis=1) / np.maximum(denom, TINY), 0.0)
    return np.array([t.shape[0], t.size, sse_map.sum(), sst_map.sum(), np.abs(err).sum(),
                     rel.sum(), r.sum()], np.float64)


class MapErrors:
    """The Metric (common/metrics.py) of the density task."""

    def __init__(self, state: np.ndarray | None = None) -> None:
        state = np.zeros(len(FIELDS)) if state is None else np.asarray(state, np.float64)
        if state.shape != (len(FIELDS),):
            raise ValueError(f"a density state holds {len(FIELDS)} sums, got shape {state.shape}")
        self._state = state.astype(np.float64, copy=True)

    @property
    def state(self) -> np.ndarray:
        return self._state

    def with_state(self, state: np.ndarray) -> MapErrors:
        return MapErrors(state)

    def update(self, target: Any, prediction: Any) -> MapErrors:
        self._state += batch_sums(target, prediction)
        return self

    def merge(self, other: MapErrors) -> MapErrors:
        self._state += other.state
        return self

    def __getitem__(self, name: str) -> float:
        return float(self._state[FIELDS.index(name)])

    @property
    def samples(self) -> int:
        """Samples scored (each sample has one map per pattern)."""
        return int(round(self["maps"])) // PATTERNS_PER_STACK

    def result(self) -> dict[str, float]:
        """nmse (primary, lower is better), mae, rel_l2 and pearson_r of the whole set."""
        maps, pixels = max(self["maps"], 1.0), max(self["pixels"], 1.0)
        return {"nmse": self["sse"] / max(self["sst"], TINY), "mae": self["sae"] / pixels,
                "rel_l2": self["rel_l2"] / maps, "pearson_r": self["pearson"] / maps}

    def detail(self) -> dict[str, Any]:
        return {"sums": {name: float(v) for name, v in zip(FIELDS, self._state, strict=True)}}

    @classmethod
    def from_detail(cls, detail: dict) -> MapErrors | None:
        sums = (detail or {}).get("sums")
        return cls(np.array([sums[name] for name in FIELDS])) if sums else None


CHUNK = 256  # samples read at once by the baseline (bounded memory for any split size)


def _target_chunks(reader: Any):
    for start in range(0, len(reader), CHUNK):
        yield reader.read_batch(np.arange(start, min(start + CHUNK, len(reader))), targets=True)[2]


def mean_map_baseline(train: Any, val: Any) -> dict[str, float]:
    """The metric of predicting the training split's mean map (per pattern position) for
    every validation map: what a model that learned nothing about the input scores.
    Both readers are read in chunks of CHUNK samples."""
    total, count = None, 0
    for maps in _target_chunks(train):
        part = maps.astype(np.float64).sum(axis=0)
        total = part if total is None else total + part
        count += len(maps)
    if total is None:
        return {}
    mean = total / count
    metric = MapErrors()
    for maps in _target_chunks(val):
        metric.update(maps, np.broadcast_to(mean, maps.shape))
    return metric.result()

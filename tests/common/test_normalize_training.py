"""Input normalization (common/data/normalize.py) and the shared lr schedule (common/run/training.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stemdl.common.cli.errors import StemdlError
from stemdl.common.data.normalize import InputNorm, compute_norm, fixed_norm, sample_indices
from stemdl.common.run.training import check_options, lr_factor, lr_factors


class _Reader:
    layout = "packed"

    def __init__(self, stacks: np.ndarray) -> None:
        self.stacks = stacks

    def __len__(self) -> int:
        return len(self.stacks)

    def __getitem__(self, i: int):
        from stemdl.common.data.samples import Sample

        return Sample(self.stacks[i], 1, f"m{i}")

    def image_shape(self):
        return self.stacks.shape[1:]


def test_standardize_uses_training_statistics_per_channel():
    rng = np.random.default_rng(0)
    stacks = np.stack([rng.normal([[[10.0]], [[50.0]], [[200.0]]], [[[2.0]], [[5.0]], [[20.0]]],
                                  (3, 8, 8)) for _ in range(40)]).astype(np.float32)
    norm = compute_norm("standardize", _Reader(stacks))
    assert norm.samples == 40
    np.testing.assert_allclose(norm.mean, stacks.mean(axis=(0, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(norm.std, stacks.std(axis=(0, 2, 3)), rtol=1e-4)
    out = norm.apply(stacks)
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0.0, atol=1e-4)
    np.testing.assert_allclose(out.std(axis=(0, 2, 3)), 1.0, atol=1e-3)
    # a subset of indices: the statistics of those samples only
    sub = compute_norm("standardize", _Reader(stacks), indices=[0, 1, 2])
    np.testing.assert_allclose(sub.mean, stacks[:3].mean(axis=(0, 2, 3)), rtol=1e-5)
    # round trip through the record the run logs and the checkpoint keeps
    assert InputNorm.from_dict(norm.as_dict()) == norm


def test_bounded_seeded_sample_and_fixed_maps():
    idx = sample_indices(10_000, 512, seed=3)
    assert len(idx) == 512 and np.all(np.diff(idx) > 0)
    assert np.array_equal(idx, sample_indices(10_000, 512, seed=3))
    assert len(sample_indices(7, 512)) == 7
    x = np.full((3, 2, 2), 51.0, np.float32)
    assert np.allclose(fixed_norm("unit", 3).apply(x), 0.2)
    assert np.array_equal(fixed_norm("none", 3).apply(x), x)
    with pytest.raises(StemdlError, match="input_norm"):
        InputNorm("zscore", (0.0,), (1.0,))
    with pytest.raises(StemdlError, match="channels"):
        fixed_norm("unit", 1).apply(x)


def test_lr_schedule_warm_up_then_cosine_to_zero():
    table = lr_factors("cosine", 100, warmup_steps=10, start_factor=0.5)
    assert table[0] == pytest.approx(0.5) and table[10] == pytest.approx(1.0)
    assert np.all(np.diff(table[10:]) <= 1e-7) and table[-1] < 0.001
    assert lr_factor("cosine", 55, 100, 10) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))
    assert np.all(lr_factors("constant", 20) == 1.0)


def test_option_errors_are_one_line():
    class C:
        input_norm, lr_schedule, label_smoothing, loss = "standardize", "constant", 0.0, "mse"

    check_options(C(), ("cross_entropy", "mse"))
    with pytest.raises(StemdlError, match="'loss'"):
        check_options(C())  # ORNL offers cross_entropy only
    C.lr_schedule = "step"
    with pytest.raises(StemdlError, match="lr_schedule"):
        check_options(C(), ("cross_entropy", "mse"))

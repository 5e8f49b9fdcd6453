"""The density metric: one summable state, every number of the whole set, and the same
numbers from numpy, torch and TensorFlow."""

from __future__ import annotations

import numpy as np
import pytest

from stemdl.common.metrics import summed
from stemdl.common.task import get_task
from stemdl.common.tasks.density.metric import MapErrors, batch_sums, mean_map_baseline
from tests.ornl.memreader import MemoryReader


def maps(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 3, 8, 8))


def test_the_zero_map_scores_one_and_a_perfect_one_zero():
    t = maps(4, 0)
    zero = MapErrors().update(t, np.zeros_like(t)).result()
    assert zero["nmse"] == pytest.approx(1.0) and zero["rel_l2"] == pytest.approx(1.0)
    perfect = MapErrors().update(t, t).result()
    assert perfect["nmse"] == 0 and perfect["mae"] == 0 and perfect["pearson_r"] == pytest.approx(1)


def test_batches_and_ranks_sum_to_the_whole_set():
    t, p = maps(10, 1), maps(10, 2)
    whole = MapErrors().update(t, p)
    parts = [MapErrors().update(t[i:i + 3], p[i:i + 3]) for i in range(0, 10, 3)]
    assert summed(parts).result() == pytest.approx(whole.result(), abs=1e-12)
    assert whole.samples == 10
    err = p - t
    assert whole.result()["nmse"] == pytest.approx((err**2).sum() / (t**2).sum())
    assert whole.result()["mae"] == pytest.approx(np.abs(err).mean())
    r = [np.corrcoef(t[i, c].ravel(), p[i, c].ravel())[0, 1] for i in range(10) for c in range(3)]
    assert whole.result()["pearson_r"] == pytest.approx(np.mean(r))
    back = MapErrors.from_detail(whole.detail())
    assert back.result() == whole.result()


def test_the_task_reads_lower_as_better():
    task = get_task("density")
    assert task.reached(0.4, task.target) and not task.reached(0.6, task.target)
    assert task.best([0.9, 0.7, 0.8]) == 0.7


def test_the_baseline_is_the_training_mean_map():
    train, val = MemoryReader(24, seed=0), MemoryReader(12, seed=1, split="val")

    class WithBatches:
        def __init__(self, reader):
            self.reader = reader

        def __len__(self):
            return len(self.reader)

        def read_batch(self, idx, targets=False):
            s = [self.reader[int(i)] for i in idx]
            return None, None, np.stack([x.target for x in s])

    mean = np.mean([train[i].target for i in range(24)], axis=0)
    want = MapErrors().update(np.stack([val[i].target for i in range(12)]),
                              np.broadcast_to(mean, (12, *mean.shape))).result()
    assert mean_map_baseline(WithBatches(train), WithBatches(val)) == pytest.approx(want)


def test_torch_sums_equal_numpys():
    torch = pytest.importorskip("torch", reason="the stfc extra (make test installs it)")
    from stemdl.stfc.tasks.density import batch_sums as torch_sums

    t, p = maps(5, 3), maps(5, 4)
    got = torch_sums(torch.from_numpy(p), torch.from_numpy(t)).numpy()
    np.testing.assert_allclose(got, batch_sums(t, p), rtol=1e-12)


def test_tensorflow_sums_equal_numpys():
    pytest.importorskip("tensorflow", reason="the ornl-cpu extra (make test installs it)")
    from stemdl.ornl.tasks.density import batch_sums as tf_sums

    t, p = maps(5, 5), maps(5, 6)
    got = tf_sums(t.transpose(0, 2, 3, 1), p.transpose(0, 2, 3, 1)).numpy()  # channels last
    np.testing.assert_allclose(got, batch_sums(t, p), rtol=1e-12)


def test_best_val_takes_each_metric_in_its_own_direction():
    """NMSE, MAE and relative L2 are best when lowest, Pearson r when highest."""
    from stemdl.common.run.results import EpochRecord, RunResult

    result = RunResult("stfc", task="density", primary_metric="nmse", higher_is_better=False)
    result.add_epoch(EpochRecord(1, val={"nmse": 0.9, "mae": 0.8, "pearson_r": 0.2}))
    result.add_epoch(EpochRecord(2, val={"nmse": 0.7, "mae": 0.6, "pearson_r": 0.5}))
    result.add_epoch(EpochRecord(3, val={"nmse": 0.8, "mae": 0.7, "pearson_r": 0.4}))
    assert result.best_val == {"nmse": 0.7, "mae": 0.6, "pearson_r": 0.5}

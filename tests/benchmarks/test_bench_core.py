"""Microbenchmarks of the shared core: confusion-matrix updates and MLPerf log events.

Run with `make bench` (skipped in `make test`). extra_info["samples"] is the number of
items per call, so the report can print samples (or events) per second.
"""

from __future__ import annotations

import numpy as np
import pytest

from stemdl.common.run.mllog import Keys, MLPerfLogger
from stemdl.common.tasks.classify.facts import NUM_LOGITS
from stemdl.common.tasks.classify.metric import ConfusionMatrix

BATCH = 256  # a validation batch (8 ranks x 32)


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(0)
    y_true = rng.integers(1, NUM_LOGITS, size=BATCH)
    y_pred = np.where(rng.random(BATCH) < 0.5, y_true, rng.integers(1, NUM_LOGITS, size=BATCH))
    logits = rng.standard_normal((BATCH, NUM_LOGITS)).astype(np.float32)
    return y_true, y_pred, logits


def test_bench_confusion_update(benchmark, batch):
    y_true, y_pred, _ = batch
    cm = ConfusionMatrix()
    benchmark.extra_info.update(samples=BATCH, baseline="test_bench_confusion_update_sklearn",
                                target=">= 1x")
    benchmark(cm.update, y_true, y_pred)
    assert cm.total % BATCH == 0 and cm.total > 0


def test_bench_confusion_update_sklearn(benchmark, batch):
    """Baseline: scikit-learn's confusion_matrix of the same batch, added to a matrix."""
    from sklearn.metrics import confusion_matrix

    y_true, y_pred, _ = batch
    counts = np.zeros((NUM_LOGITS, NUM_LOGITS), np.int64)
    labels = np.arange(NUM_LOGITS)

    def update():
        counts.__iadd__(confusion_matrix(y_true, y_pred, labels=labels))

    benchmark.extra_info.update(samples=BATCH)
    benchmark(update)
    assert np.array_equal(counts // (counts.sum() // BATCH),
                          ConfusionMatrix().update(y_true, y_pred).counts)


def test_bench_confusion_update_from_logits(benchmark, batch):
    y_true, _, logits = batch
    cm = ConfusionMatrix()
    benchmark.extra_info.update(samples=BATCH)
    benchmark(cm.update_from_logits, y_true, logits)
    assert cm.total > 0


def test_bench_macro_f1(benchmark, batch):
    """Deriving macro F1 from the whole-set matrix (once per evaluation)."""
    y_true, y_pred, _ = batch
    cm = ConfusionMatrix().update(y_true, y_pred)
    benchmark.extra_info.update(samples=1)
    f1 = benchmark(cm.macro_f1)
    assert 0.0 < f1 < 1.0


def test_bench_logger_event(benchmark, tmp_path):
    """One `:::MLLOG` line with metadata written to the log file (rank 0)."""
    logger = MLPerfLogger()
    logger.configure(tmp_path / "mlperf.log")
    benchmark.extra_info.update(samples=2)  # two events per call
    benchmark(logger.eval_metrics, 3, 0.5, 0.6)
    logger.close()
    lines = (tmp_path / "mlperf.log").read_text().splitlines()
    assert lines and all(line.startswith(":::MLLOG") for line in lines)


def test_bench_logger_event_other_rank(benchmark, tmp_path):
    """The same call on a rank that does not write: should cost next to nothing."""
    logger = MLPerfLogger(rank=lambda: 1)
    logger.configure(tmp_path / "mlperf.log")
    benchmark.extra_info.update(samples=2, baseline="test_bench_logger_event")
    benchmark(logger.eval_metrics, 3, 0.5, 0.6)
    logger.close()
    assert not (tmp_path / "mlperf.log").exists()
    assert Keys.EVAL_F1 == "eval_macro_f1"

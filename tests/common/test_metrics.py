"""ConfusionMatrix: macro F1/top-1 equal scikit-learn's however the data is split."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score, f1_score

from stemdl.common.tasks.classify.metric import ConfusionMatrix

labels = st.integers(min_value=1, max_value=230)
pairs = st.lists(st.tuples(labels, labels), min_size=1, max_size=300)


@settings(max_examples=150, deadline=None)
@given(pairs=pairs, batch=st.integers(1, 64), ranks=st.integers(1, 5))
def test_macro_f1_equals_sklearn_whatever_the_batching(pairs, batch, ranks):
    y_true = np.array([t for t, _ in pairs])
    y_pred = np.array([p for _, p in pairs])
    per_rank = [ConfusionMatrix() for _ in range(ranks)]
    for i, start in enumerate(range(0, len(y_true), batch)):
        per_rank[i % ranks].update(y_true[start : start + batch], y_pred[start : start + batch])
    total = ConfusionMatrix.sum(per_rank)
    assert total.total == len(y_true)
    assert total.macro_f1() == pytest.approx(f1_score(y_true, y_pred, average="macro"), abs=1e-12)
    assert total.top1() == pytest.approx(accuracy_score(y_true, y_pred), abs=1e-12)


def test_mean_of_batch_f1_differs_from_set_f1():
    """The upstream defect this object exists to avoid: averaging per-batch F1s."""
    y_true = np.array([1, 1, 2, 2, 3, 3, 4, 4])
    y_pred = np.array([1, 2, 2, 2, 3, 1, 4, 3])
    halves = [ConfusionMatrix().update(y_true[:4], y_pred[:4]), ConfusionMatrix().update(y_true[4:], y_pred[4:])]
    mean_of_batches = np.mean([m.macro_f1() for m in halves])
    whole = ConfusionMatrix.sum(halves).macro_f1()
    assert whole == pytest.approx(f1_score(y_true, y_pred, average="macro"))
    assert abs(mean_of_batches - whole) > 1e-3


def test_per_class_f1_matches_sklearn_and_logits_path():
    rng = np.random.default_rng(0)
    y_true = rng.integers(1, 20, size=500)
    logits = rng.normal(size=(500, 231))
    cm = ConfusionMatrix().update_from_logits(y_true, logits)
    y_pred = logits.argmax(1)
    present = sorted(set(y_true) | set(y_pred))
    expected = f1_score(y_true, y_pred, labels=present, average=None)
    np.testing.assert_allclose(cm.per_class_f1()[present], expected)


def test_round_trip_merge_and_errors():
    cm = ConfusionMatrix().update([5, 6, 6], [5, 6, 7])
    again = ConfusionMatrix.from_dict(cm.to_dict())
    np.testing.assert_array_equal(again.counts, cm.counts)
    assert (cm + again).total == 6
    assert cm.total == 3  # `+` does not mutate
    with pytest.raises(ValueError):
        cm.update([1, 2], [1])
    with pytest.raises(ValueError):
        cm.update([231], [1])
    assert ConfusionMatrix().macro_f1() == 0.0 and ConfusionMatrix().top1() == 0.0

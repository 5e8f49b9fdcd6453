"""Classification's metric: one confusion matrix (the task's `Metric`).

Batches `update` it and ranks sum it (`merge`/`+`, or an all-reduce of `.counts`);
macro F1, top-1 and per-class F1 are derived from the whole evaluation set, never
averaged over batches. Macro F1 follows scikit-learn's `f1_score(average="macro")`:
the mean over labels present in the truth or the predictions, with 0/0 counted as 0.
Hand-written (not torchmetrics) because `common/` must not import a framework.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from stemdl.common.tasks.classify.facts import NUM_LOGITS


class ConfusionMatrix:
    """counts[t, p] = number of samples of true class t predicted as p (int64)."""

    def __init__(self, num_classes: int = NUM_LOGITS, counts: np.ndarray | None = None) -> None:
        self.num_classes = int(num_classes)
        if counts is None:
            counts = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)
        counts = np.asarray(counts)
        if counts.shape != (self.num_classes, self.num_classes):
            raise ValueError(f"counts must be {self.num_classes}x{self.num_classes}, got {counts.shape}")
        self.counts = counts.astype(np.int64, copy=True)

    # -- accumulation ------------------------------------------------------------
    def update(self, y_true: Iterable[int], y_pred: Iterable[int]) -> ConfusionMatrix:
        """Add a batch of (true, predicted) class indices; returns self."""
        t = np.asarray(y_true, dtype=np.int64).ravel()
        p = np.asarray(y_pred, dtype=np.int64).ravel()
        if t.shape != p.shape:
            raise ValueError(f"y_true and y_pred differ in length: {t.size} vs {p.size}")
        if t.size:
            lo, hi = min(t.min(), p.min()), max(t.max(), p.max())
            if lo < 0 or hi >= self.num_classes:
                raise ValueError(f"class index out of 0..{self.num_classes - 1}: {lo if lo < 0 else hi}")
        flat = np.bincount(t * self.num_classes + p, minlength=self.num_classes**2)
        self.counts += flat.reshape(self.num_classes, self.num_classes)
        return self

    def update_from_logits(self, y_true: Iterable[int], logits: np.ndarray) -> ConfusionMatrix:
        """Add a batch given logits (N, num_classes): the prediction is the arg-max."""
        return self.update(y_true, np.asarray(logits).argmax(axis=-1))

    def merge(self, other: ConfusionMatrix) -> ConfusionMatrix:
        """Add another matrix's counts (e.g. another rank's) into this one; returns self."""
        if other.num_classes != self.num_classes:
            raise ValueError("cannot merge confusion matrices of different sizes")
        self.counts += other.counts
        return self

    def __add__(self, other: ConfusionMatrix) -> ConfusionMatrix:
        return ConfusionMatrix(self.num_classes, self.counts).merge(other)

    def reset(self) -> None:
        self.counts[:] = 0

    # -- the Metric protocol (common/metrics.py) --------------------------------------
    @property
    def state(self) -> np.ndarray:
        """The counts as one int64 vector (what the frameworks all-reduce)."""
        return self.counts.ravel()

    def with_state(self, state: np.ndarray) -> ConfusionMatrix:
        state = np.asarray(state)
        if state.size != self.num_classes**2:
            raise ValueError(f"a state of {state.size} values is not a "
                             f"{self.num_classes}x{self.num_classes} confusion matrix")
        return ConfusionMatrix(self.num_classes, state.reshape(self.num_classes, self.num_classes))

    @property
    def samples(self) -> int:
        return self.total

    def result(self) -> dict[str, float]:
        """macro_f1 (the primary metric) and top1 of the whole set."""
        return {"macro_f1": self.macro_f1(), "top1": self.top1()}

    def detail(self) -> dict:
        """F1 per space group present, and the sparse confusion matrix (results.json)."""
        per_class, present = self.per_class_f1(), self.present()
        return {"per_class_f1": {str(i): float(per_class[i]) for i in range(len(per_class))
                                 if present[i]},
                "confusion": self.to_dict()}

    @classmethod
    def sum(cls, matrices: Iterable[ConfusionMatrix]) -> ConfusionMatrix:
        """The matrix of the union of all samples (e.g. over ranks)."""
        matrices = list(matrices)
        if not matrices:
            return cls()
        total = cls(matrices[0].num_classes)
        for m in matrices:
            total.merge(m)
        return total

    # -- derived metrics -------------------------------------------------------------
    @property
    def total(self) -> int:
        return int(self.counts.sum())

    def present(self) -> np.ndarray:
        """Boolean mask of classes present in the truth or in the predictions."""
        return (self.counts.sum(axis=0) + self.counts.sum(axis=1)) > 0

    def per_class_f1(self) -> np.ndarray:
        """F1 per class index (0 where the class has no true or predicted sample)."""
        tp = np.diag(self.counts).astype(np.float64)
        denom = self.counts.sum(axis=0) + self.counts.sum(axis=1)  # 2TP + FP + FN
        with np.errstate(divide="ignore", invalid="ignore"):
            f1 = np.where(denom > 0, 2.0 * tp / denom, 0.0)
        return f1

    def macro_f1(self) -> float:
        """Mean F1 over classes present in truth or predictions (scikit-learn's macro F1)."""
        mask = self.present()
        if not mask.any():
            return 0.0
        return float(self.per_class_f1()[mask].mean())

    def top1(self) -> float:
        """Fraction of samples whose arg-max prediction is the true class."""
        n = self.total
        return float(np.trace(self.counts) / n) if n else 0.0

    def to_dict(self) -> dict:
        """Sparse JSON-friendly form: [[true, pred, count], ...]."""
        t, p = np.nonzero(self.counts)
        return {
            "num_classes": self.num_classes,
            "entries": [[int(a), int(b), int(self.counts[a, b])] for a, b in zip(t, p)],
        }

    @classmethod
    def from_dict(cls, data: dict) -> ConfusionMatrix:
        cm = cls(int(data["num_classes"]))
        for a, b, c in data["entries"]:
            cm.counts[a, b] = c
        return cm

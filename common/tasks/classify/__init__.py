"""Classification: the crystal's space group (1..230) from a stack of 3 CBED patterns.

The primary metric is the macro F1 of the whole validation set (one confusion matrix
summed over batches and ranks), target 0.9; the recipes are STFC's and ORNL's ResNets.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stemdl.common.modelspec import resnet_spec
from stemdl.common.task import Task
from stemdl.common.tasks.classify.checks import check_split, splits_note
from stemdl.common.tasks.classify.facts import NUM_LOGITS, PRIMARY_METRIC, TARGET_F1
from stemdl.common.tasks.classify.metric import ConfusionMatrix
from stemdl.common.tasks.classify.recipes import RECIPES


def _from_detail(detail: Mapping[str, Any]) -> ConfusionMatrix | None:
    confusion = (detail or {}).get("confusion")
    return ConfusionMatrix.from_dict(confusion) if confusion else None


TASK = Task(
    name="classify",
    benchmark="stemdl",
    target_kind="label",
    primary_metric=PRIMARY_METRIC,
    higher_is_better=True,
    target=TARGET_F1,
    target_key="target_f1",
    metric_log_keys={"macro_f1": "eval_macro_f1", "top1": "eval_accuracy"},
    metric_labels={"macro_f1": "macro F1", "top1": "top-1"},
    new_metric=lambda: ConfusionMatrix(NUM_LOGITS),
    metric_from_detail=_from_detail,
    check_split=check_split,
    splits_note=splits_note,
    metric_definition=("macro F1 of the whole validation set: the mean over space groups of "
                       "each group's F1, from one confusion matrix summed over all batches and "
                       "ranks (higher is better)"),
    network_keys=("resnet",),
    model_spec=lambda config, image_size: resnet_spec(config.resnet),
    recipes=RECIPES,
)

"""Reconstruction: the projected potential of each zone axis from its CBED pattern.

The primary metric is the NMSE of the z-scored target maps over the whole validation
set (lower is better; the zero map scores 1.0), with MAE (ORNL's), relative L2 and
Pearson r; the recipes train a U-Net in both frameworks (docs/DENSITY.md).
"""

from __future__ import annotations

from stemdl.common.task import Task
from stemdl.common.tasks.density.checks import check_split
from stemdl.common.tasks.density.facts import PRIMARY_METRIC, TARGET_NMSE
from stemdl.common.tasks.density.metric import MapErrors, mean_map_baseline
from stemdl.common.tasks.density.model import density_model_spec
from stemdl.common.tasks.density.recipes import RECIPES

TASK = Task(
    name="density",
    benchmark="stemdl_density",
    target_kind="array",
    primary_metric=PRIMARY_METRIC,
    higher_is_better=False,
    target=TARGET_NMSE,
    target_key="target_nmse",
    metric_log_keys={"nmse": "eval_nmse", "mae": "eval_mae", "rel_l2": "eval_rel_l2",
                     "pearson_r": "eval_pearson_r"},
    metric_labels={"nmse": "NMSE", "mae": "MAE", "rel_l2": "relative L2",
                   "pearson_r": "Pearson r"},
    new_metric=MapErrors,
    metric_from_detail=MapErrors.from_detail,
    check_split=check_split,
    network_keys=("unet_depth", "unet_width", "density_net", "fcd_growth", "fcd_kernel"),
    model_spec=density_model_spec,
    recipes=RECIPES,
    baseline=mean_map_baseline,
    reversed_metrics=("pearson_r",),
    metric_definition=("NMSE of the z-scored target maps over the whole validation set: the "
                       "sum of squared errors over the sum of squared targets (the zero map "
                       "scores 1.0; lower is better)"),
)

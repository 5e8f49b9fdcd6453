"""The rule files state the recipes in YAML; they must equal common/workload.py."""

from __future__ import annotations

import math

import pytest
import yaml

from stemdl.common.tasks.classify import facts
from stemdl.common.tasks.classify import recipes as workload
from stemdl.common.tasks.density import facts as density_facts
from stemdl.common.tasks.density import recipes as density_recipes
from stemdl.compliance.checker import rules_file, rulesets


def begin_state(name: str) -> dict:
    """The rule state `s` after a rule file's BEGIN block, as the checker builds it."""
    records = yaml.load(rules_file(name).read_text(), Loader=yaml.BaseLoader)
    (begin,) = [r["BEGIN"] for r in records if "BEGIN" in r]
    s: dict = {}
    exec(begin["CODE"], {"s": s, "math": math})
    return s


def _model_name(task: str, r) -> str:
    return f"resnet{r.resnet}" if task == "classify" else f"unet{r.unet_depth}x{r.unet_width}"


@pytest.mark.parametrize(("task", "rules", "recipe_module"), [
    ("classify", "closed_stemdl", workload), ("density", "closed_stemdl_density", density_recipes)])
def test_closed_recipes_equal_the_workload_dataclasses(task, rules, recipe_module):
    recipes = begin_state(rules)["recipes"]
    assert set(recipes) == set(recipe_module.RECIPES)
    for name, r in recipe_module.RECIPES.items():
        assert recipes[name] == {
            "stemdl_model": _model_name(task, r),
            "opt_name": r.optimizer,
            "lr_per_replica": r.learning_rate,
            "scale_lr_by_replicas": getattr(r, "scale_lr_by_replicas", False),
            "opt_weight_decay": r.weight_decay,
            "opt_learning_rate_warmup_epochs": getattr(r, "warmup_epochs", 0),
            "batch_per_replica": r.batch_size,
        }, (task, name)


def test_density_division_targets_equal_the_task_target():
    for name in ("closed_stemdl_density", "open_stemdl_density"):
        assert begin_state(name)["benchmark_target_nmse"] == density_facts.TARGET_NMSE


def test_division_targets_equal_the_workload_target():
    for name in ("closed_stemdl", "open_stemdl"):
        assert begin_state(name)["benchmark_target_f1"] == facts.TARGET_F1


def test_the_rule_set_is_packaged():
    assert "1.0.0" in rulesets()
    for name in ("common", "stemdl", "closed_stemdl", "open_stemdl"):
        assert rules_file(name).is_absolute()


def test_every_task_has_its_rule_files_and_common_accepts_its_benchmark():
    """One rule file per task and per division of it, chosen from submission_benchmark;
    common.yaml's list of benchmarks is the registry's."""
    from stemdl.common.task import get_task, task_names

    benchmarks = sorted(get_task(name).benchmark for name in task_names())
    text = rules_file("common").read_text()
    assert f"v['value'] in {benchmarks}" in text
    for benchmark in benchmarks:
        for name in (benchmark, f"closed_{benchmark}", f"open_{benchmark}"):
            assert rules_file(name).is_file()
    # the lifecycle file names no task's metric
    assert "eval_macro_f1" not in text.split("# ---- submission")[1].replace(
        "'stemdl': classification", "")

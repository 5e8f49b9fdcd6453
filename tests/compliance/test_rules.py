"""The STEMDL rules, run by the installed mlperf-logging checker, on hand-made logs."""

from __future__ import annotations

import pytest

from stemdl.compliance.checker import check_log, short_reason
from tests.compliance.logs import write_log


def reasons(result) -> str:
    return "\n".join(short_reason(r) for r in result.reasons)


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({}, id="stfc-closed-1-replica"),
        pytest.param({"replicas": 2, "hyper": {"opt_weight_decay": 0.0}}, id="stfc-closed-2"),
        pytest.param({"recipe": "ornl", "replicas": 4}, id="ornl-closed-4-replicas"),
        pytest.param(
            {"recipe": "ornl", "replicas": 2, "hyper": {"accelerators_per_node": 0}},
            id="ornl-closed-cpu",
        ),
        pytest.param({"f1s": (0.2, 0.4), "reached": False}, id="aborted-run"),
        pytest.param(
            {
                "division": "open",
                "hyper": {
                    "opt_name": "sgd",
                    "global_batch_size": 10,
                    "opt_base_learning_rate": 0.1,
                    "stemdl_model": "resnet18",
                },
            },
            id="open-free-hyperparameters",
        ),
    ],
)
def test_good_logs_pass(tmp_path, options):
    result = check_log(write_log(tmp_path / "mlperf.log", **options))
    assert result.passed, reasons(result)
    assert result.division == options.get("division", "closed")


FAULTS = [
    ({"faults": ["missing_run_stop"]}, "Required EXACTLY_ONE occurrence of 'run_stop' but found 0"),
    ({"faults": ["two_run_starts"]}, "only one run_start"),
    ({"faults": ["eval_without_epoch_num"]}, "eval_start has metadata epoch_num"),
    ({"faults": ["f1_missing"]}, "an eval_macro_f1 event (the primary metric) in this eval"),
    ({"faults": ["epochs_out_of_order"]}, "epochs in order"),
    ({"faults": ["long_init"]}, "takes at most 30 minutes"),
    (
        {"f1s": (0.3, 0.6, 0.8), "reached": True},
        "status 'success' only after an eval_macro_f1 >= stemdl_target_f1",
    ),
    ({"hyper": {"opt_name": "sgd"}}, "opt_name is the recipe's optimizer"),
    (
        {"replicas": 2, "hyper": {"opt_base_learning_rate": 2e-3}},
        "opt_base_learning_rate is the recipe's",
    ),
    (
        {"recipe": "ornl", "replicas": 2, "hyper": {"opt_base_learning_rate": 1e-3}},
        "opt_base_learning_rate is the recipe's",
    ),
    ({"recipe": "ornl", "hyper": {"opt_weight_decay": 1e-4}}, "opt_weight_decay is the recipe's"),
    (
        {"recipe": "ornl", "hyper": {"opt_learning_rate_warmup_epochs": 0}},
        "opt_learning_rate_warmup_epochs is the recipe's",
    ),
    ({"hyper": {"stemdl_model": "resnet18"}}, "stemdl_model is the recipe's model"),
    (
        {"hyper": {"global_batch_size": 48}},
        "global_batch_size is a multiple of the recipe's per-replica batch",
    ),
    (
        {"replicas": 2, "hyper": {"accelerators_per_node": 4}},
        "one replica of 32 samples per accelerator",
    ),
    ({"hyper": {"stemdl_recipe": "mine"}}, "stemdl_recipe is one of the reference recipes"),
    (
        {"hyper": {"stemdl_target_f1": 0.5}, "f1s": (0.6,)},
        "stemdl_target_f1 is the benchmark's target",
    ),
    (
        {"division": "open", "hyper": {"stemdl_target_f1": 0.5}, "f1s": (0.6,)},
        "stemdl_target_f1 is the benchmark's target",
    ),
    ({"faults": ["duplicated_lines"]}, "not a repeat of the line before (duplicated lines"),
    ({"faults": ["other_benchmark"]}, "submission_benchmark names a STEMDL task's benchmark"),
    # the Science working group's identity and result (issue 23)
    ({"faults": ["no_version"]}, "the log names the code's version (submission_version"),
    ({"faults": ["no_commit"]},
     "Required EXACTLY_ONE occurrence of 'submission_github_commit_version' but found 0"),
    ({"faults": ["no_result"]}, "Required EXACTLY_ONE occurrence of 'result' but found 0"),
    ({"faults": ["result_before_run_stop"]}, "result comes after run_stop"),
    ({"faults": ["result_not_described"]}, "result is a dict holding metric, value"),
]


def test_the_policys_spelling_of_the_version_key_passes(tmp_path):
    """policy.adoc v0.5 writes `submissiom_version`: a log that uses it is accepted."""
    result = check_log(write_log(tmp_path / "mlperf.log", faults=["policy_spelling"]))
    assert result.passed, reasons(result)


@pytest.mark.parametrize(("options", "reason"), FAULTS, ids=[r for _, r in FAULTS])
def test_faults_fail_with_a_reason_that_names_them(tmp_path, options, reason):
    result = check_log(write_log(tmp_path / "mlperf.log", **options))
    assert not result.passed
    assert reason in reasons(result)


def test_closed_rules_can_be_forced_on_an_open_log(tmp_path):
    log = write_log(tmp_path / "mlperf.log", division="open", hyper={"opt_name": "sgd"})
    assert check_log(log).passed
    forced = check_log(log, division="closed")
    assert forced.division == "closed" and "opt_name is the recipe's optimizer" in reasons(forced)


def test_a_run_folder_is_read_through_its_mlperf_log(tmp_path):
    write_log(tmp_path / "mlperf.log")
    assert check_log(tmp_path).log == tmp_path / "mlperf.log"


def test_unparsable_and_empty_logs_fail(tmp_path):
    empty = tmp_path / "empty.log"
    empty.write_text("no mllog lines here\n")
    assert "No log lines detected" in reasons(check_log(empty))
    broken = write_log(tmp_path / "broken.log")
    broken.write_text(broken.read_text() + ':::MLLOG {"key": "run_stop"\n')
    assert "parsing error" in reasons(check_log(broken))

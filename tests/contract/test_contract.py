"""The run contract: each property every run must have, tested once, for every task and
both implementations (the policy lives once in common/run/runpolicy.py and common/)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stemdl.common.run.results import RunResult
from stemdl.common.task import get_task
from tests.contract.conftest import CASES, run_cli, train_args

pytestmark = pytest.mark.parametrize(("task", "impl"), CASES)


def test_the_summary_line_and_the_start_line(task, impl, tiny_run):
    run_dir, out = tiny_run
    lines = out.strip().splitlines()
    assert lines[0] == f"{impl}: run folder {run_dir}"  # stdout, both implementations
    result = RunResult.read(run_dir)
    t = get_task(task)
    last = result.epochs[-1].val[t.primary_metric]
    assert lines[-1].startswith(f"{impl}: 1 epoch(s), val {t.label(t.primary_metric)} {last:.4f}")
    assert f"(best {t.label(t.primary_metric)} {result.best():.4f})" in lines[-1]
    assert f"status {result.status}; run folder {run_dir}" in lines[-1]


def test_results_follow_the_task(task, impl, tiny_run):
    run_dir, _ = tiny_run
    result = RunResult.read(run_dir)
    t = get_task(task)
    assert (result.task, result.primary_metric, result.target) == (task, t.primary_metric, t.target)
    assert set(result.epochs[-1].val) == set(t.metric_log_keys)
    assert set(result.test) == set(t.metric_log_keys)  # the data has a test split
    assert result.inference["split"] == "test" and result.inference["samples"] == 8
    # model_size_bytes: the weights' bytes in both frameworks (float32 parameters and the
    # normalization statistics, a few per cent more than the parameters alone)
    assert 4 * result.parameters <= result.model_size_bytes < 4.05 * result.parameters
    log = (run_dir / result.mlperf_log).read_text()
    for key in t.metric_log_keys.values():
        assert f'"key": "{key}"' in log
    assert f'"key": "{t.target_log_key}", "value": {t.target}' in log
    assert f'"key": "submission_benchmark", "value": "{t.benchmark}"' in log


def test_the_log_names_the_code_and_ends_with_the_result(task, impl, tiny_run):
    """The Science working group's identity (issue 23): the code's version and commit
    in the log and results.json, and a final `result` that says what the number means."""
    from stemdl.common.run.identity import code_commit, code_version

    run_dir, _ = tiny_run
    events = [json.loads(line[len(":::MLLOG "):])
              for line in (run_dir / "mlperf.log").read_text().splitlines()
              if line.startswith(":::MLLOG ")]
    value = {e["key"]: e["value"] for e in events}
    assert value["submission_version"] == code_version() != "unknown"  # installed here
    assert value["submission_github_commit_version"] == code_commit()
    assert [e["key"] for e in events][-2:] == ["run_stop", "result"]
    result, t = RunResult.read(run_dir), get_task(task)
    said = value["result"]
    assert said["metric"] == t.primary_metric and said["definition"] == t.metric_definition
    assert said["value"] == pytest.approx(result.epochs[-1].val[t.primary_metric])
    assert said["status"] == result.status and said["epochs"] == len(result.epochs)
    assert said["time_to_train_min"] == pytest.approx(result.run_time_s / 60)
    assert (result.code_version, result.code_commit) == (code_version(), code_commit())
    assert len(result.commands) == 1 and result.commands[0].startswith(f"stemdl train {impl} ")
    assert f"run_dir={run_dir}" in result.commands[0] or str(run_dir) in result.commands[0]


def test_a_system_description_beside_the_results(task, impl, tiny_run):
    """system.json (issue 23): mlperf-logging's system description checker accepts it, it
    was read from this machine, and what could not be read is named, not guessed."""
    import os

    from mlperf_logging.system_desc_checker.system_desc_checker import check_system_desc

    from stemdl.common.run.system import NOTES, SYSTEM_FIELDS, UNREADABLE_KEY, read_system

    run_dir, _ = tiny_run
    desc = read_system(run_dir)
    valid, name, _, _ = check_system_desc(str(run_dir / "system.json"), "hpc", "1.0.0")
    assert valid and name == desc["system_name"]
    assert desc["number_of_nodes"] == "1" and desc["accelerators_per_node"] == "0"  # a CPU run
    assert desc["host_processor_vcpu_count"] == str(os.cpu_count())
    assert desc["host_processor_model_name"] and desc["host_memory_capacity"].endswith("GiB")
    framework = {"stfc": "PyTorch ", "ornl": "TensorFlow "}[impl]
    assert desc["framework"].startswith(framework)
    assert desc["status"] == "Available on-premise"  # the config's status onprem
    assert desc[UNREADABLE_KEY] == [k for k in SYSTEM_FIELDS if desc[k] == "" and k not in NOTES]
    assert "cooling" in desc[UNREADABLE_KEY]  # nothing on a host says how it is cooled


def test_the_predictions_file(task, impl, tiny_run):
    run_dir, _ = tiny_run
    preds = np.load(run_dir / "predictions" / "val-rank0.npz")
    assert sorted(preds["indices"].tolist()) == list(range(12))  # every sample once
    metric = get_task(task).new_metric().update(preds["labels"], preds["preds"])
    result = RunResult.read(run_dir)
    assert metric.result() == pytest.approx(result.epochs[-1].val, abs=1e-12)


def test_evaluate_equals_the_last_epochs_validation(task, impl, tiny_run, capsys, tmp_path):
    run_dir, _ = tiny_run
    out = tmp_path / "eval.json"
    # one option set for both: --run-dir (its checkpoint and data), split val by default
    workers = ["--workers", "0"] if impl == "stfc" else []  # ornl's reads are tf.data's
    code, _, err = run_cli(["evaluate", impl, "--run-dir", str(run_dir), "--json", str(out),
                            *workers], capsys)
    assert code == 0, err
    got = json.loads(out.read_text())
    result = RunResult.read(run_dir)
    assert got["split"] == "val" and got["samples"] == 12
    for name, value in result.epochs[-1].val.items():
        assert got[name] == pytest.approx(value, abs=1e-6), name


def test_a_used_run_folder_is_refused(task, impl, tiny_run, contract_data, capsys):
    run_dir, _ = tiny_run
    code, _, err = run_cli(train_args(task, impl, contract_data, run_dir), capsys)
    assert code == 2 and "holds an earlier run" in err and "Traceback" not in err


def test_a_stale_checkpoint_is_refused(task, impl, tiny_run, contract_data, capsys):
    run_dir, _ = tiny_run
    before = (run_dir / "results.json").read_text()
    code, _, err = run_cli(train_args(task, impl, contract_data, run_dir, "seed=6", "--resume"),
                           capsys)
    errors = [line for line in err.splitlines() if line.startswith("stemdl: error:")]
    assert code == 2 and len(errors) == 1, err
    assert "stale checkpoint (seed: 5 in checkpoint, 6 now)" in errors[0]
    assert (run_dir / "results.json").read_text() == before  # nothing written


def test_dry_run_checks_and_plans(task, impl, contract_data, capsys, tmp_path):
    run_dir = tmp_path / "new"
    code, out, err = run_cli([*train_args(task, impl, contract_data, run_dir), "--dry-run"], capsys)
    assert code == 0, err
    model = "resnet18" if task == "classify" else "unet3x8"
    assert f"task: {task}; model: {model}" in out and not run_dir.exists()


def test_a_huge_evaluation_batch_is_clamped_before_the_run(task, impl, contract_data, capsys,
                                                          tmp_path):
    """Issue 26 item 2: eval_batch_size=2**31 hung ORNL's evaluation past SIGTERM; every
    run now bounds it by the largest evaluation split, with a note, before it starts."""
    args = train_args(task, impl, contract_data, tmp_path / "r", "eval_batch_size=2147483648")
    code, _, err = run_cli([*args, "--dry-run"], capsys)
    assert code == 0, err
    assert "eval_batch_size 2147483648 is larger than the largest evaluation split (12 samples)" in err


@pytest.fixture(scope="module")
def other_data(tmp_path_factory):
    """The contract data's shape and classes, with other training samples."""
    from tests.contract.conftest import write_split
    from tests.ornl.memreader import MemoryReader

    root = tmp_path_factory.mktemp("contract-other")
    write_split(root / "training", MemoryReader(24, seed=7))
    write_split(root / "validation", MemoryReader(12, seed=1, split="val"))
    return root


def test_a_resume_on_other_data_is_refused(task, impl, tiny_run, other_data, capsys):
    """Issue 26 item 3: the checkpoint records a fingerprint of its data; a resume that
    would train on other data is one line, exit 2, nothing written."""
    run_dir, _ = tiny_run
    before = (run_dir / "results.json").read_text()
    code, _, err = run_cli(train_args(task, impl, other_data, run_dir, "--resume"), capsys)
    errors = [line for line in err.splitlines() if line.startswith("stemdl: error:")]
    assert code == 2 and len(errors) == 1, err
    assert "trained on other data (train: 32 samples" in errors[0] and "24 samples" in errors[0]
    assert (run_dir / "results.json").read_text() == before


def test_compliance_fails_a_log_that_its_results_contradict(task, impl, tiny_run, capsys,
                                                            tmp_path):
    """Issue 26 item 3: a run whose log and results.json disagree never passes compliance."""
    import shutil

    run_dir, _ = tiny_run
    copy = tmp_path / "run"
    copy.mkdir()
    for name in ("mlperf.log", "results.json"):
        shutil.copy(run_dir / name, copy / name)
    assert run_cli(["compliance", str(copy)], capsys)[0] == 0
    data = json.loads((copy / "results.json").read_text())
    data["train_samples"] = data["train_samples"] - 8
    (copy / "results.json").write_text(json.dumps(data))
    code, out, _ = run_cli(["compliance", str(copy)], capsys)
    assert code == 1 and "FAIL" in out
    assert "results.json disagrees with the log: train_samples 24 in results.json, 32 in the log" in out


def test_the_first_step_is_timed_apart(task, impl, tiny_run):
    """results.json startup.first_step_s (its input, first-call allocation, tracing or
    compilation), in both implementations, so start-up and steady speed are read apart."""
    run_dir, _ = tiny_run
    startup = RunResult.read(run_dir).startup
    assert 0 < startup["first_step_s"] < RunResult.read(run_dir).run_time_s

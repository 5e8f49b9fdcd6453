"""Staging (config key `staging`) and synthetic data (`data_source`), per task x implementation
(issue 24): a staged run trains on the same batches as reading in place, so its losses and
scores equal the shared tiny run's; staging is logged inside the run and passes
compliance; a synthetic run is logged as such and never passes as a result."""

from __future__ import annotations

import json

import pytest

from stemdl.common.data import staging as staging_module
from stemdl.common.run.results import RunResult
from tests.contract.conftest import CASES, run_cli, train_args

each_run = pytest.mark.parametrize(("task", "impl"), CASES)
# local:DIR is memory's copy read back from disk: classification shows it for both frameworks
LOCAL_CASES = [c for c in CASES if c.values[0] == "classify"]


def _events(run_dir) -> list[dict]:
    return [json.loads(line[len(":::MLLOG "):]) for line in
            (run_dir / "mlperf.log").read_text().splitlines() if line.startswith(":::MLLOG ")]


def _learned(run_dir) -> list[tuple]:
    return [(e.train_loss, e.val) for e in RunResult.read(run_dir).epochs]


@each_run
def test_a_memory_staged_run_equals_reading_in_place(task, impl, tiny_run, contract_data,
                                                     tmp_path, capsys):
    _check_staged_run(task, impl, "memory", tiny_run, contract_data, tmp_path, capsys)


@pytest.mark.parametrize(("task", "impl"), LOCAL_CASES)
def test_a_locally_staged_run_equals_reading_in_place(task, impl, tiny_run, contract_data,
                                                      tmp_path, capsys):
    _check_staged_run(task, impl, "local", tiny_run, contract_data, tmp_path, capsys)


def _check_staged_run(task, impl, mode, tiny_run, contract_data, tmp_path, capsys) -> None:
    run_dir, _ = tiny_run
    where = f"local:{tmp_path / 'node-local'}" if mode == "local" else mode
    staged = tmp_path / "staged"
    code, out, err = run_cli(train_args(task, impl, contract_data, staged, f"staging={where}"),
                             capsys)
    assert code == 0, err[-3000:]
    assert _learned(staged) == _learned(run_dir)  # the same batches, the same numbers
    keys = [e["key"] for e in _events(staged)]
    assert keys.index("run_start") < keys.index("staging_start") < keys.index("staging_stop") \
        < keys.index("epoch_start")
    assert {e["key"]: e["value"] for e in _events(staged)}["stemdl_staging"] == where
    assert RunResult.read(staged).startup["staging_s"] >= 0
    assert run_cli(["compliance", str(staged / "mlperf.log")], capsys)[0] == 0
    if mode == "local":  # the node-local copy is gone once the run ends
        assert not any((tmp_path / "node-local").iterdir())


@each_run
def test_a_share_that_does_not_fit_is_refused_before_anything_is_copied(
        task, impl, contract_data, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(staging_module, "_free_bytes", lambda staging: (1000, "available memory"))
    run_dir = tmp_path / "run"
    code, _, err = run_cli(train_args(task, impl, contract_data, run_dir, "staging=memory"), capsys)
    errors = [line for line in err.splitlines() if line.startswith("stemdl: error:")]
    assert code == 2 and len(errors) == 1 and "Traceback" not in err, err
    assert "'staging': memory needs" in errors[0] and "available memory is 0.00 GiB" in errors[0]
    assert not (run_dir / "mlperf.log").exists()


@each_run
def test_device_staging_needs_a_gpu(task, impl, contract_data, tmp_path, capsys):
    code, _, err = run_cli(train_args(task, impl, contract_data, tmp_path / "run",
                                      "staging=device"), capsys)
    assert code == 2 and "Traceback" not in err
    assert {"stfc": "device needs a GPU", "ornl": "device is not available in the ORNL"}[impl] in err


@each_run
def test_a_synthetic_run_is_logged_as_such_and_is_never_a_result(task, impl, tmp_path, capsys):
    run_dir = tmp_path / "run"
    args = [a for a in train_args(task, impl, tmp_path / "unused", run_dir)
            if "data_dir" not in a and a != "--data-dir" and a != str(tmp_path / "unused")]
    code, _, err = run_cli([*args, "data_source=synthetic", "train_samples=16", "eval_samples=8",
                            "save_predictions=false"], capsys)
    assert code == 0, err[-3000:]
    result = RunResult.read(run_dir)
    assert result.train_samples == 16 and result.config["data_source"] == "synthetic"
    assert {e["key"]: e["value"] for e in _events(run_dir)}["stemdl_data"] == "synthetic"
    code, out, _ = run_cli(["compliance", str(run_dir / "mlperf.log")], capsys)
    assert code == 1 and "synthetic data" in out

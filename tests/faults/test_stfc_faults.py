"""`stemdl train stfc` under faults (issue 13 items 1, 2, 3, 5, 8): Ctrl-C mid-run then
--resume, only train and validation data, a NaN loss. Two copies of one run and SIGTERM:
tests/contract/test_faults.py, for both implementations."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from stemdl.cli import main
from stemdl.common.run.results import RunResult
from tests.faults.procs import (
    alive,
    descendants,
    epochs_recorded,
    log_events,
    run_stemdl,
    run_stops,
    stemdl,
    wait_for,
)
from tests.stfc.conftest import TINY, write_separable

pytest.importorskip("pytorch_lightning", reason="the stfc extra: pip install 'stemdl-bench[stfc]'")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_splits(tmp_path_factory) -> Path:
    """Training and validation only (no test, no inference); 20 steps of 8 per epoch."""
    return write_separable(tmp_path_factory.mktemp("two-splits"), {"training": 160,
                                                                   "validation": 21})


def test_ctrl_c_twice_then_resume_gives_one_compliant_log(two_splits, tmp_path):
    """Ctrl-C during epoch 2 (DataLoader workers stop with it), refused without --resume,
    resumed, Ctrl-C again, resumed to the end: one log, one run_start, compliant. A second
    copy and SIGTERM: tests/contract/test_faults.py, for both implementations."""
    run_dir = tmp_path / "run"
    args = ["train", "stfc", f"data_dir={two_splits}", f"run_dir={run_dir}", *TINY, "epochs=3",
            "num_workers=1"]
    first = stemdl(args)
    wait_for(lambda: (run_dir / "checkpoints" / "last.ckpt").exists(), first, 600, "epoch 1")
    workers = descendants(first.pid)
    assert workers, "no DataLoader worker started"
    first.send_signal(signal.SIGINT)
    _, err = first.communicate(timeout=120)
    assert first.returncode == 130, err[-3000:]
    assert "Traceback" not in err
    assert not [w for w in workers if alive(w)], "DataLoader workers outlived the command"
    result = RunResult.read(run_dir)
    assert result.status == "aborted" and result.stop_reason == "interrupted (SIGINT)"
    assert [e.epoch for e in result.epochs] == [1]
    assert run_stops(run_dir / "mlperf.log") == ["aborted"]
    assert not (run_dir / ".stemdl-lock").exists()

    # without --resume the folder is refused; with it the run continues; Ctrl-C there
    refused = run_stemdl(args, timeout=300)
    assert refused.returncode == 2 and "use --resume" in refused.stderr
    resumed = stemdl([*args, "--resume"])
    wait_for(lambda: epochs_recorded(run_dir) >= 2, resumed, 600, "epoch 2 of the resumed run")
    resumed.send_signal(signal.SIGINT)
    _, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 130, err[-3000:]
    assert "Traceback" not in err
    result = RunResult.read(run_dir)
    assert result.status == "aborted" and result.stop_reason == "interrupted (SIGINT)"
    assert run_stops(run_dir / "mlperf.log") == ["aborted"]

    done = run_stemdl([*args, "--resume"])
    assert done.returncode == 0, done.stderr[-3000:]
    result = RunResult.read(run_dir)
    assert [e.epoch for e in result.epochs] == [1, 2, 3] and result.stop_reason is None
    events = log_events(run_dir / "mlperf.log")
    keys = [e["key"] for e in events]
    assert keys.count("run_start") == 1 and keys.count("run_stop") == 1 and keys[-2:] == ["run_stop", "result"]
    assert [e["metadata"]["epoch_num"] for e in events if e["key"] == "epoch_start"] == [1, 2, 3]
    assert run_stops(run_dir / "mlperf.log") == [result.status]
    check = run_stemdl(["compliance", str(run_dir / "mlperf.log")], timeout=120)
    assert check.returncode == 0 and "PASS" in check.stdout, check.stdout + check.stderr


def test_upstream_style_config_with_train_and_validation_only(two_splits, tmp_path):
    """Upstream stemdlConfig.yaml keys, train_dir and val_dir only: trains, skips test and
    inference with a note, and results.json says what the log's run_stop says."""
    config = tmp_path / "stemdlConfig.yaml"
    config.write_text(
        "benchmark: STEMDL\norganisation: STFC\ndivision: SciML\nstatus: research\n"
        f"train_dir: {two_splits / 'training'}\nval_dir: {two_splits / 'validation'}\n"
        "mlperf_logfile: ./mlperf_stemdl.log\nlog_file: ./stemdlLog\nmodel_file : ./model.pt\n"
        "seed: 1234\nlearning_rate: 0.001\nepochs: 1\nbatchsize: 8\nresnet: resnet18\n"
        "nodes: 1\ngpu: 0\naccelerators_per_node: 0\n")
    run_dir = tmp_path / "run"
    proc = run_stemdl(["train", "stfc", "--config", str(config), f"run_dir={run_dir}",
                       "num_workers=0", "progress=false", "limit_train_batches=4"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "no test data given" in proc.stderr and "inference timing is skipped" in proc.stderr
    for banner in ("litlogger", "litmodels", "GPU available", "TPU available"):  # item 8
        assert banner not in proc.stdout + proc.stderr, banner
    result = RunResult.read(run_dir)
    assert run_stops(run_dir / "mlperf_stemdl.log") == [result.status]
    assert result.status in ("success", "aborted") and result.stop_reason is None
    assert result.test == {} and result.inference == {}
    assert (run_dir / "model.pt").is_file()


def test_nan_loss_stops_the_run_as_aborted(two_splits, tmp_path, capsys, monkeypatch):
    import torch

    real = torch.nn.CrossEntropyLoss.forward
    monkeypatch.setattr(torch.nn.CrossEntropyLoss, "forward",
                        lambda self, x, y: real(self, x, y) * float("nan"))
    run_dir = tmp_path / "run"
    code = main(["train", "stfc", f"data_dir={two_splits}", f"run_dir={run_dir}", *TINY,
                 "epochs=2", "limit_train_batches=2", "tensorboard=false"])
    err = capsys.readouterr().err
    assert code == 1, err
    errors = [line for line in err.splitlines() if line.startswith("stemdl: error:")]
    assert errors == ["stemdl: error: training loss is nan in epoch 1: the run is stopped as "
                      "aborted (lower learning_rate, or check the data)"], err
    assert "Traceback" not in err
    result = json.loads((run_dir / "results.json").read_text())
    assert result["status"] == "aborted" and "training loss is nan" in result["stop_reason"]
    assert result["epochs"] == [] and "NaN" not in (run_dir / "results.json").read_text()
    assert run_stops(run_dir / "mlperf.log") == ["aborted"]


@pytest.mark.parametrize("impl", ["stfc", "ornl"])
def test_run_folder_that_is_a_file_is_a_usage_error(impl, tmp_path, capsys):
    path = tmp_path / "run"
    path.write_text("not a folder")
    data = ["--data-dir", str(tmp_path)] if impl == "ornl" else [f"data_dir={tmp_path}"]
    where = ["--run-dir", str(path)] if impl == "ornl" else [f"run_dir={path}"]
    code = main(["train", impl, *data, *where, "epochs=1", "division=open", "resnet=18"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.strip().splitlines()[-1] == (f"stemdl: error: {path}: exists and is not a folder "
                                            "(the run folder must be a folder)")

"""Issue 11 behaviour of `stemdl train stfc`: the worker bound (defect 4), CPU configs
(defect 3), the common run-folder policy (defect 5) and the shared entry (`main(argv)`)."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
from pathlib import Path

import pytest

import stemdl.cli as cli
from stemdl.common.run.bounds import worker_limit
from stemdl.stfc.config import load_stfc_config
from tests.stfc.conftest import TINY


def _no_fork(*_a, **_k):
    raise AssertionError("a process was started")


def test_huge_num_workers_fails_fast_and_forks_nothing(tiny_data, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(os, "fork", _no_fork)
    monkeypatch.setattr(subprocess.Popen, "__init__", _no_fork)
    monkeypatch.setattr(multiprocessing.Process, "start", _no_fork)
    code = cli.main(["train", "stfc", f"data_dir={tiny_data}", f"run_dir={tmp_path / 'r'}",
                     *TINY, "num_workers=100000"])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert err == (f"stemdl: error: config key 'num_workers': 100000 is above the limit of "
                   f"{worker_limit()} on this machine (4 x {os.cpu_count()} CPU cores, at least 8)")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("key", ["devices", "gpu", "accelerators_per_node"])
def test_zero_accelerators_means_cpu(key):
    config = load_stfc_config(None, [f"{key}=0"])
    assert (config.accelerator, config.devices) == ("cpu", None)


def test_zero_accelerators_with_gpu_asked_is_an_error(capsys):
    assert cli.main(["train", "stfc", "gpu=0", "accelerator=gpu"]) == 2
    assert "0 devices with accelerator=gpu" in capsys.readouterr().err


@pytest.mark.parametrize("earlier", ["results.json", "mlperf.log"])
def test_earlier_run_is_refused_without_resume(tiny_data, tmp_path, capsys, earlier):
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    (run_dir / earlier).write_text("x\n")
    assert cli.main(["train", "stfc", f"data_dir={tiny_data}", f"run_dir={run_dir}", *TINY]) == 2
    err = capsys.readouterr().err
    assert f"holds an earlier run ({earlier})" in err and (run_dir / earlier).read_text() == "x\n"


def test_resume_with_nothing_to_resume(tiny_data, tmp_path, capsys):
    code = cli.main(["train", "stfc", "--resume", f"data_dir={tiny_data}",
                     f"run_dir={tmp_path / 'r'}", *TINY])
    assert code == 2 and "no checkpoint to resume" in capsys.readouterr().err


def test_help_lists_the_options(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["train", "stfc", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "--config" in out and "--resume" in out and "key=value" in out


def test_both_implementations_share_the_entry() -> None:
    import stemdl.ornl.evaluate as oe
    import stemdl.ornl.train as ot
    import stemdl.stfc.evaluate as se
    import stemdl.stfc.train as st

    for module in (ot, oe, st, se):
        assert callable(module.main) and not hasattr(module, "run_args")


def test_eval_samples_is_shared(tmp_path: Path):
    assert load_stfc_config(None, ["eval_samples=5"]).eval_samples == 5

"""`stemdl train ornl` accepts every upstream sgcl_runner.py flag (issue 11, defect 2):
mapped where we have the equivalent, else accepted with a one-line note."""

from __future__ import annotations

import pytest

from stemdl.cli import main as cli
from stemdl.common.run.rundir import RUN_DIR_ENV
from stemdl.ornl.train import NOT_APPLICABLE, parse_config

UPSTREAM = [
    "--train-dir", "T", "--val-dir", "V", "--log-dir", "L", "--arch", "resnet18",
    "--checkpoint-format", "./checkpoint-{epoch}.pth.tar", "--fp16-allreduce",
    "--batches-per-allreduce", "1", "--use-adasum", "--batch-size", "16", "--val-batch-size", "8",
    "--epochs", "3", "--base-lr", "0.002", "--warmup-epochs", "2", "--momentum", "0.9",
    "--wd", "0.0001", "--mixup", "--alpha", "0.4", "--no-cuda", "--seed", "42",
    "--submission_org", "ORNL", "--submission_division", "open", "--submission_status",
    "research", "--submission_platform", "Summit",
]


def test_every_upstream_flag_is_mapped(capsys) -> None:
    cfg = parse_config(UPSTREAM)
    assert (cfg.train_dir, cfg.val_dir, cfg.run_dir) == ("T", "V", "L")
    assert (cfg.resnet, cfg.batch_size, cfg.eval_batch_size, cfg.epochs) == (18, 16, 8, 3)
    assert (cfg.learning_rate, cfg.warmup_epochs, cfg.weight_decay) == (0.002, 2, 0.0001)
    assert (cfg.mixup_alpha, cfg.accelerator, cfg.seed) == (0.4, "cpu", 42)
    assert (cfg.organisation, cfg.division, cfg.status, cfg.platform) == (
        "ORNL", "open", "research", "Summit")
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("stemdl: note:")]
    for flag in NOT_APPLICABLE:  # never silently ignored: one line each
        assert sum(flag in line and "no effect" in line for line in notes) == 1, (flag, notes)


def test_mixup_is_a_switch_with_alpha(capsys) -> None:
    assert parse_config(["--mixup"]).mixup_alpha == 1.0  # upstream --alpha default
    assert parse_config(["--mixup", "--alpha", "0.2"]).mixup_alpha == 0.2
    assert parse_config(["--alpha", "0.2"]).mixup_alpha == 0.0
    assert "--alpha has no effect without --mixup" in capsys.readouterr().err
    assert cli(["train", "ornl", "--mixup", "0.2"]) == 2  # the old float form is refused
    assert "stemdl: error:" in capsys.readouterr().err


def test_help_lists_the_upstream_flags(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        cli(["train", "ornl", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--log-dir", "--arch", "--val-batch-size", "--no-cuda", "--use-adasum",
                 "--submission_platform", "--alpha", "--mixup"):
        assert flag in out


def test_default_run_folder_is_shared_by_the_launch(monkeypatch) -> None:
    monkeypatch.delenv(RUN_DIR_ENV, raising=False)
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    cfg = parse_config(["--train-dir", "T", "--val-dir", "V"])
    assert cfg.run_dir is None
    assert str(cfg.resolved_run_dir("ornl")) == "runs/ornl-4242"
    monkeypatch.delenv("SLURM_JOB_ID")
    assert str(cfg.resolved_run_dir("ornl")) == "runs/ornl-4242"  # the env carries it on


def test_devices_zero_and_no_cuda_mean_cpu() -> None:
    assert parse_config(["devices=0"]).accelerator == "cpu"
    assert parse_config(["--no-cuda"]).accelerator == "cpu"

"""Every user error of `stemdl train ornl` is one line and exit code 2."""

from __future__ import annotations

import json

import pytest

from stemdl.cli import main as cli
from stemdl.ornl.train import parse_config
from tests.ornl.conftest import TINY


def _run(capsys, *argv: str) -> str:
    rc = cli(["train", "ornl", *argv])
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    lines = [line for line in err.splitlines() if line.startswith("stemdl: error:")]
    assert len(lines) == 1, err
    return lines[0]


def test_unknown_key_names_the_closest(capsys, tiny_data, tmp_path):
    line = _run(capsys, "--data-dir", str(tiny_data), "--run-dir", str(tmp_path), "dropuot=0.1")
    assert "'dropuot'" in line and "'dropout'" in line


def test_unknown_key_in_yaml(capsys, tiny_data, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"data_dir: {tiny_data}\nrun_dir: {tmp_path / 'r'}\nbatch_sise: 8\n")
    assert "'batch_size'" in _run(capsys, "--config", str(cfg))


def test_wrong_type(capsys, tmp_path):
    assert "expected an integer" in _run(capsys, "--run-dir", str(tmp_path), "epochs=two")


def test_bad_flag_value(capsys, tmp_path):
    assert "--epochs" in _run(capsys, "--run-dir", str(tmp_path), "--epochs", "x")


def test_missing_data_folder(capsys, tmp_path):
    line = _run(capsys, "--train-dir", str(tmp_path / "nope"), "--val-dir", str(tmp_path),
                "--run-dir", str(tmp_path / "r"))
    assert "nope" in line


def test_fewer_samples_or_classes_than_asked(capsys, tiny_data, tmp_path):
    base = ["--data-dir", str(tiny_data), "--run-dir", str(tmp_path / "r"), *TINY]
    assert "train_samples=1000, the train split holds 48" in _run(capsys, *base, "train_samples=1000")
    assert "3 classes, fewer than the min_classes=5" in _run(capsys, *base, "min_classes=5")


def test_batch_larger_than_dataset(capsys, tiny_data, tmp_path):
    line = _run(capsys, "--data-dir", str(tiny_data), "--run-dir", str(tmp_path / "r"), *TINY,
                "--batch-size", "64")
    assert "larger than the 48 training samples" in line


def test_resume_without_checkpoint(capsys, tiny_data, tmp_path):
    assert "no checkpoint" in _run(capsys, "--data-dir", str(tiny_data), "--run-dir",
                                   str(tmp_path / "r"), "--resume")


def test_corrupt_checkpoint(capsys, tiny_data, tmp_path):
    ck = tmp_path / "r" / "checkpoints"
    ck.mkdir(parents=True)
    (ck / "checkpoint").write_text('model_checkpoint_path: "ckpt-1"\nall_model_checkpoint_paths: "ckpt-1"\n')
    (ck / "ckpt-1.index").write_bytes(b"garbage")
    (ck / "ckpt-1.data-00000-of-00001").write_bytes(b"garbage")
    args = ["--data-dir", str(tiny_data), "--run-dir", str(tmp_path / "r"), *TINY, "--resume"]
    # the same settings recorded (a checkpoint of other settings is refused before it is read)
    (ck / "model.json").write_text(json.dumps({"resnet": 18, "fingerprint":
                                               parse_config(args).fingerprint()}))
    assert "corrupt or incompatible checkpoint" in _run(capsys, *args)


@pytest.mark.parametrize("override, word", [("precision=fp8", "precision"),
                                            ("strategy=ring", "strategy"),
                                            ("resnet=20", "ResNet depth"),
                                            ("dropout=1.5", "dropout")])
def test_bad_values(capsys, tiny_data, tmp_path, override, word):
    assert word in _run(capsys, "--data-dir", str(tiny_data), "--run-dir", str(tmp_path / "r"),
                        *TINY, override)

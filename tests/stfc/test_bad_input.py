"""Bad input to `stemdl train stfc` / `stemdl evaluate stfc`: one line on stderr, exit 2."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import stemdl.cli as cli
from tests.stfc.conftest import TINY, TWO_EPOCHS, write_separable


def stemdl(argv: list[str], capsys, monkeypatch) -> tuple[int, str]:
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("train", "evaluate"))
    code = cli.main(argv)
    err = capsys.readouterr().err.strip()
    return code, err


def assert_one_line(code: int, err: str, text: str) -> None:
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.startswith("stemdl: error:")]
    assert len(lines) == 1 and text in lines[0], err
    assert "Traceback" not in err


@pytest.fixture()
def base(tiny_data: Path, tmp_path: Path) -> list[str]:
    return [f"data_dir={tiny_data}", f"run_dir={tmp_path / 'run'}", *TINY, "epochs=1"]


def test_unknown_key_names_the_closest(base, capsys, monkeypatch) -> None:
    code, err = stemdl(["train", "stfc", *base, "batch_sise=4"], capsys, monkeypatch)
    assert_one_line(code, err, "unknown config key 'batch_sise'; did you mean 'batch_size'?")


def test_wrong_type(base, capsys, monkeypatch) -> None:
    code, err = stemdl(["train", "stfc", *base, "learning_rate=fast"], capsys, monkeypatch)
    assert_one_line(code, err, "config key 'learning_rate': expected a number")


def test_missing_data_folder(tmp_path, capsys, monkeypatch) -> None:
    code, err = stemdl(["train", "stfc", f"data_dir={tmp_path / 'nope'}", *TINY], capsys, monkeypatch)
    assert_one_line(code, err, "nope: no such folder")


def test_fewer_classes_than_asked(base, capsys, monkeypatch) -> None:
    code, err = stemdl(["train", "stfc", *base, "min_classes=10"], capsys, monkeypatch)
    assert_one_line(code, err, "holds 4 classes, fewer than the min_classes=10 asked")


def test_fewer_samples_than_asked(base, capsys, monkeypatch) -> None:
    code, err = stemdl(["train", "stfc", *base, "train_samples=500"], capsys, monkeypatch)
    assert_one_line(code, err, "train_samples=500, the train split holds 48")


def test_batch_larger_than_dataset(base, capsys, monkeypatch) -> None:
    code, err = stemdl(["train", "stfc", *base, "batch_size=64"], capsys, monkeypatch)
    assert_one_line(code, err, "config key 'batch_size': global batch 64 is larger than the 48 training samples")


def test_16_mixed_on_cpu(base, capsys, monkeypatch) -> None:
    code, err = stemdl(["train", "stfc", *base, "precision=16-mixed", "accelerator=cpu"], capsys, monkeypatch)
    assert_one_line(code, err, "16-mixed needs a GPU")


def test_empty_split(tmp_path, capsys, monkeypatch) -> None:
    write_separable(tmp_path / "d", {"training": 8})
    (tmp_path / "d" / "validation").mkdir()
    code, err = stemdl(["train", "stfc", f"train_dir={tmp_path / 'd' / 'training'}",
                        f"val_dir={tmp_path / 'd' / 'validation'}", *TINY], capsys, monkeypatch)
    assert code == 2 and "validation" in err and "Traceback" not in err


def test_run_dir_with_checkpoint_needs_resume(e2e_run, tiny_data, tmp_path, capsys, monkeypatch) -> None:
    run_dir = tmp_path / "copy"
    shutil.copytree(e2e_run, run_dir)
    args = [f"data_dir={tiny_data}", f"run_dir={run_dir}", *TWO_EPOCHS]
    code, err = stemdl(["train", "stfc", *args], capsys, monkeypatch)
    assert_one_line(code, err, "use --resume to continue it, or another run folder")
    code, err = stemdl(["train", "stfc", "--resume", *args[:-1], "learning_rate=0.01"], capsys, monkeypatch)
    assert_one_line(code, err, "stale checkpoint (learning_rate: 0.001 in checkpoint, 0.01 now)")
    (run_dir / "checkpoints" / "last.ckpt").write_bytes(b"\x80\x02garbage" * 10)
    code, err = stemdl(["train", "stfc", "--resume", *args], capsys, monkeypatch)
    assert_one_line(code, err, "corrupt or unreadable checkpoint")
    code, err = stemdl(["train", "stfc", "--resume", f"data_dir={tiny_data}",
                        f"run_dir={tmp_path / 'fresh'}", *TINY], capsys, monkeypatch)
    assert_one_line(code, err, "--resume given but there is no checkpoint to resume")


def test_evaluate_corrupt_checkpoint(tiny_data, tmp_path, capsys, monkeypatch) -> None:
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(np.arange(100, dtype=np.uint8).tobytes())
    code, err = stemdl(["evaluate", "stfc", "--checkpoint", str(bad), "--data", str(tiny_data)],
                       capsys, monkeypatch)
    assert_one_line(code, err, "bad.ckpt: corrupt or unreadable checkpoint")
    code, err = stemdl(["evaluate", "stfc", "--checkpoint", str(tmp_path / "none.ckpt"),
                        "--data", str(tiny_data)], capsys, monkeypatch)
    assert_one_line(code, err, "no such checkpoint")


def test_help_is_useful(capsys, monkeypatch) -> None:
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("train", "evaluate"))
    for argv, text in ((["train", "--help"], "stfc"), (["train", "stfc", "--help"], "--resume"),
                       (["evaluate", "stfc", "--help"], "--checkpoint")):
        with pytest.raises(SystemExit) as exit_:
            cli.main(argv)
        assert exit_.value.code == 0 and text in capsys.readouterr().out


def test_a_bad_sample_read_by_a_dataloader_worker_is_one_line(tiny_data, tmp_path, capsys,
                                                              monkeypatch) -> None:
    """Issue 26 item 4: torch re-raises a worker's DataError with the worker's traceback in
    its message; the run says the reader's one line, exits 2 and records why it stopped."""
    import shutil

    import numpy as np

    from stemdl.common.run.results import RunResult

    data = tmp_path / "data"
    shutil.copytree(tiny_data, data)
    np.savez(data / "training" / "sample-3.npz", data=np.full((3, 32, 32), np.nan, np.float32),
             label=np.array([3]))
    run_dir = tmp_path / "run"
    code, err = stemdl(["train", "stfc", f"data_dir={data}", f"run_dir={run_dir}", *TINY,
                        "epochs=1", "num_workers=1", "input_norm=none"], capsys, monkeypatch)
    assert_one_line(code, err, f"{data / 'training' / 'sample-3.npz'}: data holds NaN or Inf values")
    assert "Original Traceback" not in err and "worker process" not in err
    result = RunResult.read(run_dir)
    assert result.status == "aborted" and "data holds NaN or Inf values" in result.stop_reason

"""Bad numbers in either config: one line naming the key, exit 2 (issue 13 item 5)."""

from __future__ import annotations

import pytest

from stemdl.cli import main
from stemdl.common.cli.errors import StemdlError
from stemdl.common.run.numbers import check_number
from stemdl.common.run.runconfig import load_run_config
from stemdl.ornl.config import ALIASES, OrnlConfig
from stemdl.stfc.config import load_stfc_config

STFC_BAD = [
    ("learning_rate=nan", "'learning_rate': must be a finite number, got nan"),
    ("learning_rate=inf", "'learning_rate': must be a finite number, got inf"),
    ("learning_rate=-0.1", "'learning_rate': must be > 0, got -0.1"),
    ("weight_decay=-1", "'weight_decay': must be >= 0, got -1.0"),
    ("weight_decay=nan", "'weight_decay': must be a finite number"),
    ("momentum=1", "'momentum': must be in [0, 1), got 1.0"),
    ("momentum=-0.5", "'momentum': must be in [0, 1)"),
    ("target_f1=nan", "'target_f1': must be a finite number"),
    ("target_f1=0", "'target_f1': must be in (0, 1], got 0.0"),
    ("train_split=nan", "'train_fraction': must be a finite number"),
    ("seed=-1", "'seed': must be an integer in [0, 4294967295], got -1"),
    ("seed=4294967296", "'seed': must be an integer in [0, 4294967295], got 4294967296"),
]
ORNL_BAD = [
    ("base_lr=nan", "'learning_rate': must be a finite number, got nan"),
    ("lr=-1e-3", "'learning_rate': must be > 0"),
    ("wd=-1", "'weight_decay': must be >= 0, got -1.0"),
    ("dropout=nan", "'dropout': must be a finite number"),
    ("dropout=1", "'dropout': must be in [0, 1), got 1.0"),
    ("random_erasing_p=1.5", "'random_erasing_p': must be in [0, 1], got 1.5"),
    ("mixup_alpha=-1", "'mixup_alpha': must be >= 0"),
    ("warmup_epochs=-2", "'warmup_epochs': must be >= 0"),
    ("seed=99999999999999999999999", "'seed': must be an integer in [0, 4294967295], got 99999999999999999999999"),
]


@pytest.mark.parametrize(("override", "message"), STFC_BAD)
def test_stfc_numbers(override: str, message: str) -> None:
    with pytest.raises(StemdlError) as err:
        load_stfc_config(None, [override, "division=open"])
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(("override", "message"), ORNL_BAD)
def test_ornl_numbers(override: str, message: str) -> None:
    with pytest.raises(StemdlError) as err:
        load_run_config(OrnlConfig, None, [override, "division=open"], ALIASES)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_good_value_passes_and_non_numbers_are_left_to_their_checks() -> None:
    check_number("learning_rate", 1e-3)
    check_number("anything", "text")
    check_number("flag", True)
    load_stfc_config(None, ["learning_rate=0.5", "weight_decay=0", "momentum=0.99",
                            "division=open"])


@pytest.mark.parametrize("argv", [
    ["train", "ornl", "--data-dir", "D", "--base-lr", "nan"],
    ["train", "ornl", "--data-dir", "D", "--wd", "-1"],
    ["train", "stfc", "data_dir=D", "learning_rate=nan"],
    ["train", "stfc", "data_dir=D", "weight_decay=-1"],
    ["train", "stfc", "data_dir=D", "seed=-1", "--dry-run"],  # issue 26 item 5: before any folder
    ["train", "ornl", "--data-dir", "D", "--seed", "4294967296", "--dry-run"],
])
def test_command_line_one_line_exit_2(argv: list[str], capsys, tmp_path) -> None:
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("stemdl: error: config key '"), err
    assert "Traceback" not in err and not (tmp_path / "runs").exists()


@pytest.mark.parametrize("argv", [
    ["train", "ornl", "--data-dir", "D", "--resnet", "7", "--dry-run"],
    ["train", "stfc", "data_dir=D", "resnet=7", "--dry-run"],
])
def test_an_unknown_resnet_is_one_line_in_both(argv, capsys) -> None:
    """Issue 26 item 9: ORNL checked the depth only once TensorFlow had started."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown ResNet depth '7'" in err, err

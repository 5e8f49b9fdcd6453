"""The STFC config: our YAML, the upstream stemdlConfig.yaml unchanged, and bad keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from stemdl.common.cli.errors import StemdlError
from stemdl.common.tasks.classify.recipes import STFC
from stemdl.stfc.config import StfcConfig, load_stfc_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "stfc"


def test_default_config_is_the_closed_recipe() -> None:
    config = load_stfc_config(CONFIGS / "default.yaml")
    assert (config.resnet, config.optimizer, config.learning_rate, config.batch_size) == (
        STFC.resnet, STFC.optimizer, STFC.learning_rate, STFC.batch_size)
    assert config.division == "closed" and config == StfcConfig()


def test_upstream_config_loads_unchanged_and_every_key_maps(capsys) -> None:
    config = load_stfc_config(CONFIGS / "stemdlConfig.yaml")
    assert "division 'SciML' is not an MLPerf division" in capsys.readouterr().err
    home = str(Path("~").expanduser())
    assert config.train_dir == f"{home}/sciml_bench/datasets/stemdl_ds1a/training"
    assert config.val_dir.endswith("validation") and config.test_dir.endswith("testing")
    assert config.inference_dir.endswith("inference")
    # no run_dir, paths with a folder: where upstream wrote them, the working folder
    assert (config.log_file, config.mlperf_log, config.model_file) == tuple(
        str(Path.cwd() / name) for name in ("stemdlLog", "mlperf_stemdl.log", "stemdlModel.h5"))
    assert config.outputs_outside("runs/x") == {
        "log_file": Path.cwd() / "stemdlLog", "mlperf_log": Path.cwd() / "mlperf_stemdl.log",
        "model_file": Path.cwd() / "stemdlModel.h5"}

    assert (config.seed, config.learning_rate, config.epochs, config.batch_size) == (1234, 0.001, 1, 32)
    assert (config.train_fraction, config.resnet, config.nodes, config.devices) == (0.8, 50, 1, 1)
    assert (config.benchmark, config.organisation, config.division, config.status) == (
        "STEMDL", "STFC", "open", "research")
    assert (config.platform, config.accelerators_per_node) == ("nvidia gtx-2", 6)


def test_named_outputs_stay_in_a_given_run_dir_and_bare_names_in_the_run_folder(tmp_path) -> None:
    inside = load_stfc_config(None, [f"run_dir={tmp_path}", "mlperf_logfile=./m.log"])
    assert inside.mlperf_log == "./m.log" and inside.outputs_outside(tmp_path) == {}
    bare = load_stfc_config(None, ["mlperf_logfile=m.log", "log_file=logs/t.log"])
    assert bare.mlperf_log == "m.log" and bare.log_file == str(Path.cwd() / "logs" / "t.log")


def test_overrides_win_and_are_typed() -> None:
    config = load_stfc_config(None, ["resnet=18", "division=open", "batchsize=4", "gpu=2"])
    assert (config.resnet, config.batch_size, config.devices) == (18, 4, 2)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["learning_rte=0.1"], "unknown config key 'learning_rte'; did you mean 'learning_rate'?"),
        (["epochs=two"], "config key 'epochs': expected an integer, got 'two'"),
        (["resnet=19", "division=open"], "unknown ResNet depth '19'"),
        (["optimizer=lamb", "division=open"], "config key 'optimizer'"),
        (["precision=8"], "config key 'precision'"),
        (["train_split=1.5"], "train_fraction"),
        (["resnet=18", "division=closed"], "closed division runs the STFC recipe unchanged (resnet: 18 != 50)"),
        (["benchmark=cosmoflow"], "config key 'benchmark'"),
    ],
)
def test_bad_values_are_one_line_errors(overrides: list[str], message: str) -> None:
    with pytest.raises(StemdlError) as err:
        load_stfc_config(None, overrides)
    assert message in str(err.value) and "\n" not in str(err.value)

"""Config loading: unknown keys name the closest valid key; types are checked."""

from dataclasses import dataclass

import pytest

from stemdl.common.cli.errors import StemdlError
from stemdl.common.run.config import load_config, parse_overrides
from stemdl.common.run.runconfig import BaseRunConfig, closed_division_violations
from stemdl.common.tasks.classify.recipes import STFC


@dataclass
class Schema(BaseRunConfig):
    optimizer: str = "adam"


def test_yaml_then_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("epochs: 3\nlearning_rate: 0.01\nbatchsize: 8\n")
    cfg = load_config(Schema, path, ["epochs=5", "devices=2"], aliases={"batchsize": "batch_size"})
    assert (cfg.epochs, cfg.learning_rate, cfg.batch_size, cfg.devices) == (5, 0.01, 8, 2)


def test_unknown_key_names_closest(tmp_path):
    with pytest.raises(StemdlError, match="unknown config key 'learning_rat'.*'learning_rate'"):
        load_config(Schema, None, ["learning_rat=0.1"])


@pytest.mark.parametrize(
    "override, message",
    [("epochs=many", "'epochs': expected an integer"), ("epochs=2.5", "expected an integer"),
     ("learning_rate=fast", "'learning_rate': expected a number"), ("resume=maybe", "true/false"),
     ("noequals", "key=value")],
)
def test_wrong_types_are_one_line_errors(override, message):
    with pytest.raises(StemdlError, match=message) as info:
        load_config(Schema, None, [override])
    assert "\n" not in str(info.value)


def test_bad_files(tmp_path):
    with pytest.raises(StemdlError, match="no such config file"):
        load_config(Schema, tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(StemdlError, match="not a readable YAML"):
        load_config(Schema, bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(StemdlError, match="mapping"):
        load_config(Schema, listy)


def test_validate_and_division():
    cfg = Schema(mode="sometimes")
    with pytest.raises(StemdlError, match="'mode'"):
        cfg.validate()
    Schema().validate()
    assert parse_overrides(["a=1", "b=x y", "c="]) == {"a": 1, "b": "x y", "c": None}
    changed = Schema(resnet=18, learning_rate=1e-3)
    assert closed_division_violations(changed, STFC) == ["resnet: 18 != 50"]


def test_division_settles_against_the_recipe(tmp_path, capsys):
    from stemdl.common.run.runconfig import load_run_config

    cfg = load_run_config(Schema, None, ["resnet=18"], recipe=STFC)
    assert cfg.division == "open" and "open division (changed from the STFC recipe: resnet" in capsys.readouterr().err
    with pytest.raises(StemdlError, match="closed division runs the STFC recipe unchanged"):
        load_run_config(Schema, None, ["resnet=18", "division=closed"], recipe=STFC)
    assert load_run_config(Schema, None, [], recipe=STFC).division == "closed"
    upstream = tmp_path / "u.yaml"
    upstream.write_text("resnet: resnet50\ndivision: SciML\ntrain_dir: ~/data\n")
    cfg = load_run_config(Schema, upstream, recipe=STFC)
    assert (cfg.resnet, cfg.division) == (50, "open") and not cfg.train_dir.startswith("~")


@pytest.mark.parametrize("impl", ["stfc", "ornl"])
def test_binary_config_file_is_one_line(tmp_path, capsys, impl):
    from stemdl.cli import main

    config = tmp_path / "model.ckpt"
    config.write_bytes(b"PK\x03\x04\x80\x81\xff\xfe\x00binary")
    assert main(["train", impl, "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"stemdl: error: {config}: not a YAML text file (not UTF-8 text)"]


@pytest.mark.parametrize("spelled", ["SciML", "sciml", "SciML-Bench"])
def test_sciml_division_is_open_with_a_note(capsys, spelled):
    from stemdl.common.run.runconfig import load_run_config

    assert load_run_config(Schema, None, [f"division={spelled}"]).division == "open"
    assert "is not an MLPerf division" in capsys.readouterr().err


@pytest.mark.parametrize("impl,args", [("stfc", ["division=closd"]),
                                       ("ornl", ["--submission_division", "closd"])])
def test_unknown_division_is_refused(capsys, impl, args):
    from stemdl.cli import main

    assert main(["train", impl, *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("stemdl: error: config key 'division': 'closd' "
                                               "is not closed or open")
    assert err[0].endswith("did you mean 'closed'?")


@pytest.mark.parametrize("impl", ["stfc", "ornl"])
def test_a_key_given_twice_in_a_config_is_one_line(tmp_path, capsys, impl):
    """PyYAML keeps the last of two equal keys silently (issue 26 item 9)."""
    from stemdl.cli import main

    config = tmp_path / "twice.yaml"
    config.write_text("epochs: 2\nseed: 1\nepochs: 3\n")
    assert main(["train", impl, "--config", str(config), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"stemdl: error: {config}: key 'epochs' given twice (line 3); a config "
                   "names each key once"]


@pytest.mark.parametrize("impl", ["stfc", "ornl"])
def test_config_given_twice_is_a_usage_error(tmp_path, capsys, impl):
    """`--config A --config B` used B alone without a word."""
    from stemdl.cli import main

    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text("epochs: 2\n")
    b.write_text("seed: 3\n")
    assert main(["train", impl, "--config", str(a), "--config", str(b), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (f"stemdl: error: train {impl}: --config given twice ({a} and {b}); "
                       "give one file")


def test_stfc_takes_overrides_after_a_flag(tmp_path, capsys):
    """`data_dir=D --dry-run run_dir=R`: ORNL took it, STFC refused the words after the flag."""
    from stemdl.cli import main
    from tests.stfc.conftest import write_separable

    data = write_separable(tmp_path / "d", {"training": 8, "validation": 4}, size=16)
    run_dir = tmp_path / "r"
    assert main(["train", "stfc", f"data_dir={data}", "--dry-run", f"run_dir={run_dir}",
                 "batch_size=2"]) == 0
    assert str(run_dir) in capsys.readouterr().out


@pytest.mark.parametrize("command", [["preprocess", "{raw}", "{file}/out"],
                                     ["simulate", "{file}/sim/out", "--preset", "tiny"]])
def test_an_output_under_a_file_is_one_line_exit_2(tmp_path, capsys, command):
    """`[Errno 20] Not a directory` and exit 1 before (issue 26 item 9)."""
    from stemdl.cli import main
    from tests.data.fixtures import write_raw_folder

    file = tmp_path / "afile"
    file.write_text("x")
    raw = tmp_path / "raw"
    write_raw_folder(raw, materials={"train": 1, "dev": 1, "test": 1}, energies=1, size=32)
    argv = [w.format(raw=raw, file=file) for w in command]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].endswith(f"{file} is a file, not a folder") and "Errno" not in err[-1]

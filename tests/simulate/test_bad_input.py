"""Bad input: one clear line, exit code 2, nothing written."""

from __future__ import annotations

import pytest

from stemdl.cli import main


def _fails(capsys, args, match):
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("stemdl: error:"), err
    assert match in err[0], err[0]


@pytest.mark.parametrize(
    "groups, match",
    [("0", "unknown space group 0"), ("231", "unknown space group 231"), ("cubic", "'cubic'")],
)
def test_unknown_space_group(tmp_path, capsys, groups, match):
    _fails(capsys, ["simulate", str(tmp_path / "o"), "--space-groups", groups], match)
    assert not (tmp_path / "o").exists()


def test_unknown_preset(tmp_path, capsys):
    _fails(capsys, ["simulate", str(tmp_path / "o"), "--preset", "tine"], "did you mean 'tiny'")
    assert not (tmp_path / "o").exists()


def test_zero_materials_energies_size(tmp_path, capsys):
    out = str(tmp_path / "o")
    _fails(
        capsys, ["simulate", out, "--preset", "demo", "--materials-per-group", "0"], "at least 1"
    )
    _fails(capsys, ["simulate", out, "--energies", "0"], "--energies")
    _fails(capsys, ["simulate", out, "--size", "33"], "--size")
    assert not (tmp_path / "o").exists()


def test_out_is_a_file(tmp_path, capsys):
    path = tmp_path / "file.h5"
    path.write_text("x")
    _fails(capsys, ["simulate", str(path)], "not a folder")
    assert path.read_text() == "x"


def test_existing_out_from_another_run(tiny_run, capsys):
    before = sorted((p.name, p.stat().st_mtime_ns) for p in tiny_run.rglob("*"))
    _fails(capsys, ["simulate", str(tiny_run), "--seed", "1"], "different run (seed 0 != 1)")
    _fails(capsys, ["simulate", str(tiny_run), "--preset", "demo"], "different run")
    assert sorted((p.name, p.stat().st_mtime_ns) for p in tiny_run.rglob("*")) == before


def test_non_empty_foreign_folder(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    _fails(capsys, ["simulate", str(tmp_path)], "not empty")
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]

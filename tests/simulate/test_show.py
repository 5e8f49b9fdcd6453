"""`stemdl show` draws stacks to a PNG and refuses unknown samples in one line."""

from __future__ import annotations

from stemdl.cli import main


def test_show_writes_png(tiny_run, tmp_path, capsys):
    out = tmp_path / "fig.png"
    args = ["show", str(tiny_run), "--sample", "sample_0_0", "--sample", "sample_2_1"]
    assert main(args + ["--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str(out) in capsys.readouterr().out


def test_show_default_first_sample_of_a_file(tiny_run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["show", str(tiny_run / "batch_dev_0.h5")]) == 0
    assert (tmp_path / "sample_1_0.png").exists()


def test_show_unknown_sample(tiny_run, tmp_path, capsys):
    assert (
        main(["show", str(tiny_run), "--sample", "sample_99_0", "--out", str(tmp_path / "x.png")])
        == 2
    )
    assert "no sample named sample_99_0" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()

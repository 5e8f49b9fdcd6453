"""`stemdl inspect`: the report and the split-by-material check."""

from __future__ import annotations

import json
import re

from stemdl.cli import main
from stemdl.common.data.preprocess import preprocess
from stemdl.common.infra.progress import INTERVAL_ENV
from tests.data.fixtures import Fault, write_npz_folder, write_raw_folder


def test_inspect_raw_report(raw, capsys):
    assert main(["inspect", str(raw.root)]) == 0
    text = capsys.readouterr().out
    assert "layout: raw" in text
    assert "split train" in text and "12 samples, image 3x32x32 float32" in text
    assert "6 materials" in text
    label = raw.good("train")[0].label
    assert f"{label}:2" in text
    assert "split check: OK: no material appears in two splits" in text


def test_deep_check_prints_progress_lines_in_a_batch_job(raw, capsys, monkeypatch):
    """stderr is no terminal under pytest, as in a SLURM job: rate/ETA lines, not silence."""
    monkeypatch.setenv(INTERVAL_ENV, "0")  # a line per sample
    assert main(["inspect", str(raw.root), "--deep"]) == 0
    captured = capsys.readouterr()
    assert "images checked: 20" in captured.out
    assert re.findall(r"check train: (\d+)/12 samples, .* samples/s", captured.err)[-1] == "12"
    assert "check test: 4/4 samples" in captured.err and "\r" not in captured.err


def test_inspect_json(raw, tmp_path, capsys):
    preprocess(raw.root, tmp_path / "p", fmt="packed", size=8, progress=False)
    assert main(["inspect", str(tmp_path / "p"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["layout"] == "packed" and report["split_check"] == "ok"
    assert [s["samples"] for s in report["splits"]] == [12, 4, 4]
    assert report["splits"][0]["image_shape"] == [3, 8, 8]
    assert sum(report["splits"][1]["space_groups"].values()) == 4


def test_leaked_material_fails_the_check(tmp_path, capsys):
    folder = write_raw_folder(tmp_path / "raw", size=16, faults=[Fault("leak", other="test")])
    assert main(["inspect", str(folder.root)]) == 1
    text = capsys.readouterr().out
    assert "split check: FAILED: 1 material(s)" in text and "mp-1000: test, train" in text
    preprocess(folder.root, tmp_path / "npz", size=8, progress=False)  # survives preprocess
    assert main(["inspect", str(tmp_path / "npz")]) == 1


def test_leak_detected_without_material_attribute(tmp_path, capsys):
    folder = write_raw_folder(tmp_path / "raw", size=16, material_attr=False,
                              faults=[Fault("leak")])
    assert main(["inspect", str(folder.root)]) == 1
    assert "0: train, val" in capsys.readouterr().out


def test_upstream_npz_split_cannot_be_checked(tmp_path, capsys):
    write_npz_folder(tmp_path / "npz")
    assert main(["inspect", str(tmp_path / "npz")]) == 0
    text = capsys.readouterr().out
    assert "split check: NOT POSSIBLE" in text and "4 samples without material id" in text

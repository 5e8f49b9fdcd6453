"""`stemdl demo`: completeness checks, and the whole pipeline at CI size (--preset tiny)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from stemdl.cli import main
from stemdl.common.cli.errors import StemdlError
from stemdl.demo import SIZES, Demo, run_is_complete
from tests.compare.fixtures import make_run

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_run_is_complete_checks_status_epochs_and_log(tmp_path):
    run = tmp_path / "run"
    make_run(run, "stfc", [1, 2])
    assert run_is_complete(run, epochs=2) is None
    assert "2 of 3 epochs" in run_is_complete(run, epochs=3)

    data = json.loads((run / "results.json").read_text())
    data["status"] = "running"  # killed after an evaluation
    (run / "results.json").write_text(json.dumps(data))
    assert "not finished" in run_is_complete(run, epochs=2)

    data["status"] = "aborted"
    (run / "results.json").write_text(json.dumps(data))
    log = run / "mlperf.log"
    log.write_text("".join(x for x in log.read_text().splitlines(True) if "run_stop" not in x))
    assert "no run_stop" in run_is_complete(run, epochs=2)
    assert "no such results file" in run_is_complete(tmp_path / "nothing", epochs=1)


def test_shrunk_recipes_are_open_division_and_say_so(tmp_path):
    demo = Demo(tmp_path, size="demo")
    for impl in ("stfc", "ornl"):
        cfg = demo.train_config(impl)
        assert cfg["division"] == "open" and cfg["resnet"] == SIZES["demo"].resnet
        assert "ResNet-50 -> ResNet-18" in SIZES["demo"].shrink_notes(impl)
    assert demo.train_config("ornl")["warmup_epochs"] == SIZES["demo"].warmup_epochs
    # ORNL's lighter random erasing is written to its config and named as a shrink
    assert demo.train_config("ornl")["random_erasing_p"] == 0.4
    assert "random_erasing_p" not in demo.train_config("stfc")
    assert "random erasing p 0.8 -> 0.4" in SIZES["demo"].shrink_notes("ornl")
    assert not any("erasing" in n for n in SIZES["demo"].shrink_notes("stfc"))
    with pytest.raises(StemdlError, match="unknown demo preset"):
        Demo(tmp_path, size="huge")


@pytest.mark.slow
def test_tiny_demo_end_to_end_then_reuses_everything(tmp_path, capsys, monkeypatch):
    out = tmp_path / "demo"
    assert main(["demo", "--preset", "tiny", "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "open division: the closed STFC recipe shrunk for a 2-core demo" in text
    assert "open division: the closed ORNL recipe shrunk for a 2-core demo" in text
    for impl in ("stfc", "ornl"):
        assert f"{impl}: {out / 'runs' / impl / 'mlperf.log'}: compliance PASS" in text
        assert run_is_complete(out / "runs" / impl, epochs=SIZES["tiny"].epochs) is None
    assert "best val macro F1" in text and f"plot: {out / 'compare.png'}" in text
    rows = json.loads((out / "compare.json").read_text())
    assert [r["implementation"] for r in rows] == ["stfc", "ornl"]
    assert all(r["compliance"] == "PASS" and r["model"] == "resnet18" for r in rows)
    for name in ("compare.png", "compare-confusion-stfc.png", "compare-confusion-ornl.png"):
        path = out / name
        assert path.read_bytes()[:8] == PNG_MAGIC
        with Image.open(path) as img:
            img.verify()

    # a second run reuses every stage (nothing is trained again) and prints the same table
    def no_training(*args, **kwargs):
        raise AssertionError("a finished stage was run again")

    monkeypatch.setattr(Demo, "_stemdl", no_training)
    assert main(["demo", "--preset", "tiny", "--out", str(out), "--quiet"]) == 0
    again = capsys.readouterr().out
    assert again.count("reusing") == 4 and "reused: simulate, preprocess, train-stfc, train-ornl" in again

    # an incomplete run (killed after an evaluation) is trained again; the rest is reused
    results = out / "runs" / "stfc" / "results.json"
    finished = results.read_text()
    results.write_text(json.dumps({**json.loads(finished), "status": "running"}))
    trained = []

    def fake_train(self, impl, cfg):
        trained.append(impl)
        results.write_text(finished)

    monkeypatch.setattr(Demo, "_train", fake_train)
    assert main(["demo", "--preset", "tiny", "--out", str(out), "--quiet"]) == 0
    assert trained == ["stfc"] and "earlier output is incomplete" in capsys.readouterr().out


@pytest.mark.slow
def test_tiny_density_demo_reuses_the_simulation_and_compares_against_the_baseline(tmp_path,
                                                                                    capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--preset", "tiny", "--task", "density", "--out", str(out),
                 "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "stemdl demo (tiny preset, density)" in text
    assert "patterson target maps" in text and "U-Net, open division" in text
    for impl in ("stfc", "ornl"):
        run = out / "runs" / f"density-{impl}"
        assert f"density-{impl}: {run / 'mlperf.log'}: compliance PASS" in text
        assert run_is_complete(run, epochs=SIZES["tiny"].epochs) is None
        assert f"{impl}: no baseline" not in text and "too few to judge" in text  # 1 epoch
        predictions = np.load(run / "predictions" / "val-rank0.npz")
        assert predictions["labels"].shape == predictions["preds"].shape
        assert predictions["labels"].ndim == 4  # (samples, zone axes, H, W)
    rows = json.loads((out / "compare-density.json").read_text())
    assert [r["task"] for r in rows] == ["density", "density"]
    assert all(0.5 < r["baseline"]["nmse"] < 1.5 and r["model"].startswith("unet") for r in rows)
    assert "val baseline NMSE" in (out / "compare-density.txt").read_text()
    for name in ("compare-density.png", "compare-density-maps-density-stfc.png",
                 "compare-density-maps-density-ornl.png"):
        assert (out / name).read_bytes()[:8] == PNG_MAGIC, name
        assert f"{out / name}" in text
    assert not (out / "compare.png").exists()  # classification was not asked for
    assert not (out / "data").exists() and (out / "data-density").is_dir()


def test_demo_task_choices_are_checked(tmp_path, capsys):
    with pytest.raises(StemdlError, match="unknown demo task 'densty'"):
        Demo(tmp_path, task="densty")
    assert main(["demo", "--task", "densty", "--out", str(tmp_path)]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_demo_out_that_is_a_file_is_a_usage_error(tmp_path, capsys):
    from stemdl.cli import main

    target = tmp_path / "file"
    target.write_text("x")
    assert main(["demo", "--out", str(target), "--preset", "tiny"]) == 2
    err = capsys.readouterr().err
    assert "exists and is not a folder" in err and "Traceback" not in err


def test_convergence_line_states_the_demo_goal_honestly():
    from stemdl.demo import convergence_line

    steady = [0.1, 0.4, 0.6, 0.72, 0.75, 0.78, 0.77, 0.79, 0.8]
    assert "converged" in convergence_line("stfc", steady)
    assert "NOT converged" not in convergence_line("stfc", steady)
    noisy = [0.1, 0.4, 0.6, 0.72, 0.55, 0.78, 0.62, 0.79, 0.8]  # swings of 0.16
    assert "NOT converged" in convergence_line("stfc", noisy)
    low = [0.1, 0.2, 0.3, 0.4, 0.5, 0.55, 0.56, 0.57, 0.58]  # steady but below 0.7
    assert "NOT converged" in convergence_line("ornl", low)
    assert "too few" in convergence_line("ornl", [0.9])


def test_demo_recipe_is_an_open_division_shrink_with_a_decaying_rate():
    size = SIZES["demo"]
    assert size.lr_schedule == "cosine" and 0 < size.label_smoothing < 1
    for impl in ("stfc", "ornl"):
        assert size.is_shrunk(impl)
        notes = size.shrink_notes(impl)
        assert "constant -> cosine learning rate" in notes and "128 px -> 64 px images" in notes


def test_density_convergence_line_reads_nmse_against_the_baseline():
    from stemdl.demo import density_convergence_line

    settled = [0.95, 0.85, 0.8, 0.72, 0.71, 0.7]  # last third 0.71, 0.70; baseline 0.84
    line = density_convergence_line("stfc", settled, 0.84)
    assert "converged" in line and "NOT" not in line and "0.84 of the training-mean" in line
    assert "NOT converged" in density_convergence_line("stfc", settled, 0.75)  # 0.94 of it
    swinging = [0.95, 0.85, 0.8, 0.6, 0.7, 0.62]  # below the baseline, but steps of 0.1
    assert "NOT converged" in density_convergence_line("ornl", swinging, 0.9)
    assert "no baseline recorded" in density_convergence_line("ornl", settled, None)

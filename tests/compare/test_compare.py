"""`stemdl compare`: table figures equal the runs' files; plots are valid PNGs."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from matplotlib.lines import Line2D
from PIL import Image

from stemdl.commands import compare as compare_cmd
from stemdl.common.cli.errors import DataError
from stemdl.common.run.results import RunResult
from stemdl.compliance import compare
from stemdl.compliance.plots import comparison_figure, confusion_path, write_plots
from tests.compare.fixtures import make_run

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    make_run(root / "stfc", "stfc", [2, 5, 8], seed=0)  # reaches F1 1.0 > target
    make_run(root / "ornl", "ornl", [1, 3], seed=1)  # never reaches the target
    return root / "stfc", root / "ornl"


def test_rows_copy_the_figures_of_results_json(two_runs):
    runs, rows = compare.compare_rows(two_runs)
    assert [r.run for r in rows] == ["stfc", "ornl"]
    for run_dir, row in zip(two_runs, rows):
        data = json.loads((run_dir / "results.json").read_text())
        assert row.implementation == data["implementation"]
        for name in ("train_samples_per_s", "eval_samples_per_s", "mean_epoch_time_s",
                     "best_val", "test", "task", "primary_metric",
                     "parameters", "model_size_bytes", "status", "division", "target"):
            assert getattr(row, name) == data[name], name
        assert row.inference_latency_per_sample_s == data["inference"]["sample_latency_mean_s"]
        assert row.inference_samples_per_s == data["inference"]["samples_per_second"]
        assert row.epochs == len(data["epochs"])
        assert row.framework == f"{data['framework']} {data['framework_version']}"
        assert row.precision == data["precision"] == "32"
        assert row.device == "CPU x86_64 (2 cores)"
        assert row.compliance == "PASS" and row.compliance_reasons == []
    stfc, ornl = rows
    assert stfc.reached_target and stfc.time_to_target_s == json.loads(
        (two_runs[0] / "results.json").read_text())["time_to_target_s"]
    assert not ornl.reached_target and ornl.time_to_target_s is None


def test_text_and_markdown_tables_show_the_files_figures(two_runs, capsys):
    _, rows = compare.compare_rows(two_runs)
    results = [RunResult.read(d) for d in two_runs]
    text = compare.format_text(rows)
    lines = {line.split("  ")[0]: line for line in text.splitlines()}
    f1_line = lines["best val macro F1"].split()
    assert f1_line[-2:] == [f"{r.best_val['macro_f1']:.4f}" for r in results]
    assert lines["test macro F1"].split()[-2:] == [f"{r.test['macro_f1']:.4f}" for r in results]
    assert lines["time to target (s)"].endswith(compare.NOT_REACHED)
    assert f"{results[0].time_to_target_s:.1f} (macro F1 0.9)" in lines["time to target (s)"]
    assert lines["compliance"].split()[-2:] == ["PASS", "PASS"]
    assert lines["parameters"].split()[-2:] == [f"{r.parameters:,}" for r in results]
    lat = [f"{r.inference['sample_latency_mean_s'] * 1e3:.3f}" for r in results]
    assert lines["inference latency/sample (ms)"].split()[-2:] == lat

    md = compare.format_markdown(rows)
    assert md.splitlines()[0] == "| | stfc | ornl |"
    assert f"| best val top-1 | {results[0].best_val['top1']:.4f} | {results[1].best_val['top1']:.4f} |" in md

    # the command prints the same table
    code = compare_cmd.run(_args(two_runs))
    assert code == 0 and capsys.readouterr().out == text


def _args(run_dirs, fmt="text", plot=None, no_compliance=False, csv=None):
    import argparse

    return argparse.Namespace(run_dirs=[str(d) for d in run_dirs], format=fmt, plot=plot,
                              no_compliance=no_compliance, csv=csv)


def test_csv_file_holds_one_row_per_run_and_the_table_still_prints(two_runs, tmp_path, capsys):
    """`stemdl compare --csv FILE` (issue 23): for spreadsheets and the working group's
    summaries; a folder given as FILE (a run folder mistaken for it) is one line."""
    from stemdl.cli import main

    out = tmp_path / "runs.csv"
    assert main(["compare", "--csv", str(out), *map(str, two_runs)]) == 0
    printed = capsys.readouterr()
    table = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["implementation"] for r in table] == [RunResult.read(d).implementation for d in two_runs]
    assert "implementation" in printed.out and f"csv: {out} (2 run(s))" in printed.err
    assert main(["compare", "--csv", str(two_runs[0]), str(two_runs[1])]) == 2
    err = capsys.readouterr().err
    assert "is a folder" in err and err.count("\n") == 1
    assert main(["compare", *map(str, two_runs), "--csv"]) == 0  # bare: the CSV on stdout
    assert capsys.readouterr().out.startswith("run,")


def test_csv_and_json_are_full_precision(two_runs, capsys):
    _, rows = compare.compare_rows(two_runs)
    results = [RunResult.read(d) for d in two_runs]
    records = json.loads(compare.format_json(rows))
    assert [r["best_val"]["macro_f1"] for r in records] == [r.best_val["macro_f1"] for r in results]
    assert [r["train_samples_per_s"] for r in records] == [r.train_samples_per_s for r in results]
    assert records[1]["time_to_target_s"] is None and records[1]["reached_target"] is False
    table = list(csv.DictReader(io.StringIO(compare.format_csv(rows))))
    assert [float(r["eval_samples_per_s"]) for r in table] == [r.eval_samples_per_s for r in results]
    assert [int(r["parameters"]) for r in table] == [r.parameters for r in results]
    assert table[1]["time_to_target_s"] == "" and table[0]["compliance"] == "PASS"
    compare_cmd.run(_args(two_runs, fmt="json"))
    assert json.loads(capsys.readouterr().out) == records


def test_compliance_failure_and_missing_log_are_reported(two_runs, tmp_path):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(two_runs[0], bad)
    log = bad / "mlperf.log"
    log.write_text("".join(line for line in log.read_text().splitlines(keepends=True)
                           if '"key": "run_stop"' not in line))
    nolog = tmp_path / "nolog"
    shutil.copytree(two_runs[1], nolog)
    (nolog / "mlperf.log").unlink()
    _, rows = compare.compare_rows([bad, nolog])
    assert rows[0].compliance == "FAIL" and any("run_stop" in r for r in rows[0].compliance_reasons)
    assert rows[1].compliance == "NO LOG"
    text = compare.format_text(rows)
    assert "compliance problems:" in text and "FAIL" in text


def test_bad_run_folders_are_one_line_errors(tmp_path):
    with pytest.raises(DataError, match="no such run folder"):
        compare.read_runs([tmp_path / "missing"])
    with pytest.raises(DataError, match="not a run folder"):
        compare.read_runs([tmp_path])


def test_labels_are_unique(tmp_path):
    for parent in ("a", "b"):
        make_run(tmp_path / parent / "stfc", "stfc", [1])
    runs = compare.read_runs([tmp_path / "a" / "stfc", tmp_path / "b" / "stfc"])
    assert [r.label for r in runs] == ["a/stfc", "b/stfc"]


def test_device_and_framework_text_read_the_explicit_fields():
    def result(**fields):
        return RunResult(implementation="ornl", **fields)

    # the explicit field decides; hardware detail that names other devices is not consulted
    gpu = result(device="NVIDIA H100 80GB HBM3", device_count=1,
                 hardware={"devices": ["/device:CPU:0"], "cpu_count": 16})
    assert compare.device_text(gpu) == "NVIDIA H100 80GB HBM3"
    assert compare.device_text(result(device="NVIDIA A100", device_count=8)) == "8x NVIDIA A100"
    cpu = result(device="cpu", device_count=1, hardware={"processor": "x86_64", "cpu_count": 2,
                                                        "gpus": ["A100"]})
    assert compare.device_text(cpu) == "CPU x86_64 (2 cores)"
    cpu.device_count = 2
    assert compare.device_text(cpu) == "CPU x86_64 (2 cores), 2 processes"
    assert compare.framework_text(result(framework="tensorflow", framework_version="2.21.0",
                                         frameworks={"torch": "2.13.0"})) == "tensorflow 2.21.0"
    # a schema-1 file: nothing is guessed from the detail dictionaries
    old = result(frameworks={"torch": "2.13.0"}, hardware={"gpus": ["A100"]})
    assert compare.device_text(old) == compare.framework_text(old) == compare.NOT_RECORDED


def test_plot_is_a_png_with_one_curve_per_run(two_runs, tmp_path):
    runs = compare.read_runs(two_runs)
    fig = comparison_figure(runs)
    ax_time, ax_epoch, ax_bars = fig.axes[:3]
    for ax in (ax_time, ax_epoch):
        lines = [a for a in ax.get_children() if isinstance(a, Line2D) and
                 not a.get_label().startswith("_")]
        assert [line.get_label() for line in lines] == ["stfc", "ornl"]
    # F1 vs epoch curves hold exactly the recorded points
    for line, run in zip(ax_epoch.get_lines(), runs):
        assert list(line.get_ydata()) == [e.val["macro_f1"] for e in run.result.epochs]
        assert list(line.get_xdata()) == [e.epoch for e in run.result.epochs]
    # bars: one container per run, one bar per space group with validation samples
    assert len(ax_bars.containers) == 2
    assert all(len(c.patches) == 6 for c in ax_bars.containers)  # 1, 2, 3, 14, 62, 225

    out = tmp_path / "cmp.png"
    written = write_plots(runs, out)
    assert written == [out, *(confusion_path(out, r) for r in runs)]
    for path in written:
        assert path.read_bytes()[:8] == PNG_MAGIC
        with Image.open(path) as img:
            img.verify()
    with Image.open(out) as img:
        assert img.size[0] > 800 and np.asarray(img.convert("L")).std() > 0
    assert not list(tmp_path.glob("*.tmp-*"))


def test_plot_through_the_command(two_runs, tmp_path, capsys):
    out = tmp_path / "sub" / "plot.png"
    out.parent.mkdir()  # an existing folder (a missing one is an error: below)
    assert compare_cmd.run(_args(two_runs, plot=str(out), no_compliance=True)) == 0
    assert out.read_bytes()[:8] == PNG_MAGIC
    assert (tmp_path / "sub" / "plot-confusion-ornl.png").is_file()
    assert "not checked" in capsys.readouterr().out


def test_confusion_colours_are_on_a_log_scale(two_runs):
    """docs/DEMO.md promises a log colour scale; a demo's cells hold a few samples each."""
    from matplotlib.colors import LogNorm

    from stemdl.compliance.plots import confusion_figure

    for run in compare.read_runs(two_runs):
        image = confusion_figure(run).axes[0].get_images()[0]
        assert isinstance(image.norm, LogNorm) and image.norm.vmin == 1
        assert np.ma.getmaskarray(image.get_array()).any()  # empty cells blank, not colour 0


@pytest.mark.parametrize("text", ["[1, 2]", '"a run"', "null", "3"])
def test_results_json_that_is_not_an_object_is_one_line(two_runs, tmp_path, capsys, text):
    import shutil

    from stemdl.cli import main

    bad = tmp_path / "bad"
    shutil.copytree(two_runs[0], bad)
    (bad / "results.json").write_text(text)
    assert main(["compare", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"stemdl: error: {bad / 'results.json'}: not a results file (a JSON "
                   f"{type(__import__('json').loads(text)).__name__}, not an object)"]


def test_the_same_run_twice_and_a_plot_in_no_folder_are_one_line(two_runs, tmp_path):
    """Issue 26 item 9: `compare X X` printed `//path` labels; `--plot /no/dir/p.png`
    created the folder."""
    with pytest.raises(DataError, match="the same run folder is given twice"):
        compare.compare_rows([two_runs[0], two_runs[0]])
    from stemdl.common.cli.errors import StemdlError
    from stemdl.compliance.plots import write_plots

    runs, _ = compare.compare_rows(two_runs)
    with pytest.raises(StemdlError, match="no such folder"):
        write_plots(runs, tmp_path / "missing" / "p.png")
    assert not (tmp_path / "missing").exists()

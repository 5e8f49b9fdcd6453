"""The benchmark table printer copes with any pytest-benchmark JSON."""

from __future__ import annotations

import json

from tests.benchmarks import report


def _bench(name, mean, **extra):
    return {"name": name, "fullname": f"tests/benchmarks/x.py::{name}",
            "stats": {"mean": mean}, "extra_info": extra}


def test_report_ratios_targets_and_foreign_benchmarks(tmp_path, capsys):
    data = {"benchmarks": [
        _bench("test_npz", 2.0, samples=100, bytes=200_000_000),
        _bench("test_packed", 0.2, samples=100, baseline="test_npz", target=">= 5x"),
        _bench("test_slow", 1.0, samples=100, baselines={"test_npz": ">= 20x",
                                                        "test_gone": ">= 1x"}),
        {"name": "test_other_helper", "stats": {"mean": 0.001}},  # no extra_info at all
    ]}
    path = tmp_path / "r.json"
    path.write_text(json.dumps(data))
    assert report.main([str(path)]) == 0
    out = capsys.readouterr().out
    packed = next(line for line in out.splitlines() if line.startswith("test_packed"))
    assert "10.00x" in packed and packed.rstrip().endswith("ok")
    assert "2.00x" in out and "MISS" in out and "missing" in out
    npz = next(line for line in out.splitlines() if line.startswith("test_npz"))
    assert "50.0" in npz and "100.0" in npz  # samples/s and MB/s
    assert "test_other_helper" in out


def test_report_without_results(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert report.main([]) == 2
    assert "no benchmark results" in capsys.readouterr().err


def test_report_prints_interleaved_rounds_with_median_and_load(tmp_path, capsys):
    data = {"benchmarks": [_bench("test_inter", 1.0, samples=10, loadavg=[5.0, 4.0, 3.0],
                                  startup={"train_trace_s": 12.34, "first_step_s": 3.0},
                                  interleaved={"new / old": {"ratios": [2.5, 1.5, 2.2],
                                                             "target": ">= 2x"},
                                               "new / floor": {"ratios": [0.3, 0.36],
                                                               "target": ">= 0.4x"}})]}
    path = tmp_path / "r.json"
    path.write_text(json.dumps(data))
    assert report.main([str(path)]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if "new / old" in x)
    assert "2.50 1.50 2.20" in line and "median 2.20x" in line and line.endswith("ok")
    line = next(x for x in out.splitlines() if "new / floor" in x)
    assert "median 0.33x" in line and line.endswith("MISS")
    assert "load average during test_inter: 5.0, 4.0, 3.0" in out
    assert "one-off seconds in test_inter: train_trace_s 12.3, first_step_s 3.0" in out

"""containers/slurm_checks.py: the comparisons `make slurm-smoke` bases its verdicts on."""

from __future__ import annotations

import importlib.util
import json
import sys

import numpy as np
import pytest

h5py = pytest.importorskip("h5py")


@pytest.fixture(scope="module")
def checks(containers_dir):
    spec = importlib.util.spec_from_file_location("stemdl_slurm_checks", containers_dir / "slurm_checks.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def write_raw(folder, files):
    """files: {file name: {group: (stack, material)}}"""
    folder.mkdir()
    for name, groups in files.items():
        with h5py.File(folder / name, "w") as handle:
            for group, (stack, material) in groups.items():
                g = handle.create_group(group)
                g.create_dataset("cbed_stack", data=stack)
                g.attrs["material"] = material
                g.attrs["space_group"] = np.bytes_(b"225")


def test_samples_equal_across_a_different_rank_split(checks, tmp_path, capsys):
    a, b, c = (np.full((3, 4, 4), v, np.float32) for v in (1.0, 2.0, 3.0))
    write_raw(tmp_path / "one", {"batch_train_0.h5": {"s_0_0": (a, "m0"), "s_1_0": (b, "m1")},
                                 "batch_dev_0.h5": {"s_2_0": (c, "m2")}})
    write_raw(tmp_path / "two", {"batch_train_0.h5": {"s_0_0": (a, "m0")},
                                 "batch_train_1.h5": {"s_1_0": (b, "m1")},
                                 "batch_dev_1.h5": {"s_2_0": (c, "m2")}})
    assert checks.compare_samples(tmp_path / "one", tmp_path / "two") == 0
    assert "same 3 samples" in capsys.readouterr().out


def test_samples_differ_by_one_ulp_or_by_split(checks, tmp_path, capsys):
    a = np.full((3, 4, 4), 1.0, np.float32)
    write_raw(tmp_path / "one", {"batch_train_0.h5": {"s_0_0": (a, "m0")}})
    write_raw(tmp_path / "ulp", {"batch_train_0.h5": {"s_0_0": (np.nextafter(a, 2), "m0")}})
    write_raw(tmp_path / "split", {"batch_dev_0.h5": {"s_0_0": (a, "m0")}})
    assert checks.compare_samples(tmp_path / "one", tmp_path / "ulp") == 1
    assert checks.compare_samples(tmp_path / "one", tmp_path / "split") == 1
    assert "samples differ: 1 only in" in capsys.readouterr().out


def test_files_compare_bytes_and_names(checks, tmp_path, capsys):
    for name in ("a", "b"):
        (tmp_path / name / "dev").mkdir(parents=True)
        (tmp_path / name / "dev" / "x.npz").write_bytes(b"same")
    assert checks.compare_files(tmp_path / "a", tmp_path / "b") == 0
    (tmp_path / "b" / "dev" / "x.npz").write_bytes(b"diff")
    (tmp_path / "b" / "dev" / "y.npz").write_bytes(b"more")
    assert checks.compare_files(tmp_path / "a", tmp_path / "b") == 1
    assert "0 missing, 1 extra, 1 changed" in capsys.readouterr().out


def mllog(key, value=None, **meta):
    return ":::MLLOG " + json.dumps({"key": key, "value": value, "metadata": meta})


def test_mllog_summary_counts_ranks_epochs_and_duplicates(checks, tmp_path):
    lines = [mllog("number_of_nodes", 1), mllog("accelerators_per_node", 2), mllog("eval_samples", 3),
             mllog("run_start")]
    for epoch in (1, 2, 2):
        lines += [mllog("epoch_start", epoch_num=epoch),
                  mllog("eval_macro_f1", 0.1 * epoch, epoch_num=epoch)]
    lines += [mllog("run_stop", status="aborted"), "not a log line"]
    (tmp_path / "mlperf.log").write_text("\n".join(lines) + "\n")
    got = checks.mllog_summary(tmp_path / "mlperf.log")
    assert got["ranks"] == 2 and got["eval_samples"] == 3 and got["run_starts"] == 1
    assert got["epochs"] == [1, 2, 2] and got["duplicated_epochs"] == [2]
    assert got["last_eval_macro_f1"] == pytest.approx(0.2) and got["run_stops"] == ["aborted"]


def test_ranks_of_a_cpu_run_come_from_the_world_size(checks, tmp_path):
    # a CPU run logs 0 accelerators per node; its ranks are the logged world size
    lines = [mllog("number_of_nodes", 1), mllog("accelerators_per_node", 0),
             mllog("stemdl_world_size", 2), mllog("run_start"), mllog("run_stop", status="aborted")]
    (tmp_path / "mlperf.log").write_text("\n".join(lines) + "\n")
    assert checks.mllog_summary(tmp_path / "mlperf.log")["ranks"] == 2

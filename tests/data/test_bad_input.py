"""Bad input through the CLI: one line naming the file and the problem, exit code 2
(or, while preprocessing, a skip that is counted and reported). Never a traceback."""

from __future__ import annotations

import numpy as np
import pytest

from stemdl.cli import main
from stemdl.common.cli.errors import DataError
from stemdl.common.data.splits import open_split
from tests.data.fixtures import Fault, write_npz_folder, write_raw_folder


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("stemdl: error: ") and "Traceback" not in err[0]
    return err[0]


@pytest.mark.parametrize("command", ["inspect", "preprocess"])
def test_missing_folder(tmp_path, capsys, command):
    missing = tmp_path / "nope"
    argv = [command, str(missing)] + ([str(tmp_path / "out")] if command == "preprocess" else [])
    assert main(argv) == 2
    assert f"{missing}: no such folder" in _error_line(capsys)


@pytest.mark.parametrize("command", ["inspect", "preprocess"])
def test_empty_folder(tmp_path, capsys, command):
    empty = tmp_path / "empty"
    empty.mkdir()
    argv = [command, str(empty)] + ([str(tmp_path / "out")] if command == "preprocess" else [])
    assert main(argv) == 2
    assert f"{empty}: folder is empty" in _error_line(capsys)


def test_no_recognised_layout(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "images").mkdir()
    assert main(["inspect", str(tmp_path)]) == 2
    assert "no recognised layout" in _error_line(capsys)


def test_preprocess_refuses_a_non_raw_folder(tmp_path, capsys):
    write_npz_folder(tmp_path / "npz")
    assert main(["preprocess", str(tmp_path / "npz"), str(tmp_path / "out")]) == 2
    assert "is a npz folder" in _error_line(capsys)


@pytest.mark.parametrize("kind,problem", [("truncated_file", "not a readable HDF5 file"),
                                          ("not_hdf5", "not a readable HDF5 file")])
def test_broken_h5_file(tmp_path, capsys, kind, problem):
    folder = write_raw_folder(tmp_path / "raw", size=16, faults=[Fault(kind, split="dev")])
    bad = folder.root / "batch_dev_0.h5"
    assert main(["inspect", str(folder.root)]) == 2
    line = _error_line(capsys)
    assert str(bad) in line and problem in line
    assert main(["preprocess", str(folder.root), str(tmp_path / "out"), "--size", "8"]) == 2
    captured = capsys.readouterr()
    assert f"{bad}: {problem}" in captured.err and len(captured.err.splitlines()) == 1
    assert "unreadable input files: 1" in captured.out
    assert len(open_split(tmp_path / "out", "train")) == len(folder.good("train"))


def test_broken_h5_file_preprocess_summary(tmp_path, capsys):
    folder = write_raw_folder(tmp_path / "raw", size=16, faults=[Fault("not_hdf5", split="dev")])
    out = tmp_path / "out"
    assert main(["preprocess", str(folder.root), str(out), "--size", "8"]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and "batch_dev_0.h5: not a readable HDF5 file" in err[0]
    assert "unreadable input files: 1" in captured.out
    assert f"written: {len(folder.good('train')) + len(folder.good('test'))}" in captured.out


SAMPLE_FAULTS = [
    ("no_stack", "has no cbed_stack dataset", "no_cbed_stack"),
    ("no_space_group", "has no space_group attribute", "no_space_group"),
    ("bad_space_group", "space_group 'abc' is not an integer", "bad_space_group"),
    ("label_out_of_range", "space_group 231 is outside 1..230", "label_out_of_range"),
    ("wrong_shape", "has shape (2, 16, 16), expected (3, H, W)", "wrong_shape"),
    ("nan", "holds NaN or Inf values", "non_finite"),
    ("inf", "holds NaN or Inf values", "non_finite"),
]



def test_many_unreadable_files_are_summarised(tmp_path, capsys):
    """10,000 unreadable files printed 10,006 lines (issue 26 item 9): the first 20 are
    named, the rest counted with their most common reason."""
    folder = write_raw_folder(tmp_path / "raw", size=16)
    for i in range(60):
        (folder.root / f"batch_train_{i + 10}.h5").write_text("junk")
    assert main(["preprocess", str(folder.root), str(tmp_path / "out"), "--size", "8",
                 "--no-progress"]) == 2
    captured = capsys.readouterr()
    assert "unreadable input files: 60" in captured.out
    assert len(captured.out.splitlines()) < 40 and len(captured.err.splitlines()) == 1
    assert "... and 40 more; most common: not a readable HDF5 file" in captured.out

@pytest.mark.parametrize("kind,message,reason", SAMPLE_FAULTS)
def test_bad_sample_inspect_fails_and_preprocess_skips(tmp_path, capsys, kind, message, reason):
    folder = write_raw_folder(tmp_path / "raw", size=16,
                              faults=[Fault(kind, split="train", index=3)])
    deep = ["--deep"] if kind in ("nan", "inf") else []  # pixels are only seen when read
    assert main(["inspect", str(folder.root), *deep]) == 2
    line = _error_line(capsys)
    assert "batch_train_0.h5" in line and "sample_1_1" in line and message in line
    out = tmp_path / "out"
    for fmt in ("npz", "packed"):
        target = out / fmt
        code = main(["preprocess", str(folder.root), str(target), "--size", "8",
                     "--format", fmt])
        text = capsys.readouterr().out
        assert code == 0
        assert "skipped (bad sample): 1" in text
        assert f"{reason}: 1  e.g. batch_train_0.h5:sample_1_1" in text
        reader = open_split(target, "train")
        assert len(reader) == len(folder.good("train")) == 11  # never a wrong sample
        assert main(["inspect", str(target), "--deep"]) == 0
        capsys.readouterr()


def test_raw_reader_getitem_rejects_nan(tmp_path):
    folder = write_raw_folder(tmp_path / "raw", size=16, faults=[Fault("nan", index=2)])
    reader = open_split(folder.root, "train")
    reader[1]
    with pytest.raises(DataError, match=r"batch_train_0.h5: group sample_1_0: .*NaN or Inf"):
        reader[2]


def test_unreadable_npz(tmp_path, capsys):
    write_npz_folder(tmp_path / "npz")
    bad = tmp_path / "npz" / "training" / "sample-1.npz"
    bad.write_bytes(b"not a zip archive")
    assert main(["inspect", str(tmp_path / "npz")]) == 2
    line = _error_line(capsys)
    assert f"{bad}: unreadable npz file" in line


@pytest.mark.parametrize("change,message", [
    ({"data": np.full((3, 16, 16), np.nan, np.float32)}, "NaN or Inf"),
    ({"data": np.zeros((16, 16), np.float32)}, "expected (3, H, W)"),
    ({"label": np.array([0])}, "outside 1..230"),
    ({"label": np.array([1, 2])}, "not a scalar"),
    ({"data": np.array([["a", "b"]] * 3)}, "expected numbers"),
])
def test_bad_npz_content(tmp_path, capsys, change, message):
    write_npz_folder(tmp_path / "npz")
    bad = tmp_path / "npz" / "testing" / "sample-0.npz"
    arrays = dict(np.load(bad))
    arrays.update(change)
    np.savez(bad, **arrays)
    assert main(["inspect", str(tmp_path / "npz"), "--deep"]) == 2
    line = _error_line(capsys)
    assert str(bad) in line and message in line


def test_mixed_shapes_in_one_split_name_the_file(tmp_path, capsys):
    write_npz_folder(tmp_path / "npz")
    bad = tmp_path / "npz" / "testing" / "sample-1.npz"
    arrays = dict(np.load(bad))
    arrays["data"] = np.zeros((3, 8, 8), np.float32)
    np.savez(bad, **arrays)
    assert main(["inspect", str(tmp_path / "npz"), "--deep"]) == 2
    line = _error_line(capsys)
    assert str(bad) in line and "one split, one shape" in line


def test_bad_option_values(tmp_path, capsys, raw):
    assert main(["preprocess", str(raw.root), str(tmp_path / "o"), "--workers", "0"]) == 2
    assert "--workers: must be >= 1" in _error_line(capsys)
    assert main(["preprocess", str(raw.root), str(tmp_path / "o"), "--rank", "3",
                 "--world", "2"]) == 2
    assert "rank 3 is not in 0..world-1" in _error_line(capsys)
    assert main(["preprocess", str(raw.root), str(tmp_path / "o"), "--format", "zip"]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]  # after the usage
    assert last.startswith("stemdl: error: preprocess:") and "invalid choice: 'zip'" in last


def test_worker_counts_are_bounded(tmp_path, capsys, raw):
    """Issue 11, defect 4: --workers above the machine's limit is a one-line error."""
    from stemdl.common.run.bounds import worker_limit

    too_many = str(worker_limit() + 1)
    assert main(["preprocess", str(raw.root), str(tmp_path / "o"), "--workers", too_many]) == 2
    assert f"--workers: {too_many} is above the limit of {worker_limit()}" in _error_line(capsys)
    assert not (tmp_path / "o").exists()
    assert main(["simulate", str(tmp_path / "s"), "--workers", too_many]) == 2
    assert f"--workers: {too_many} is above the limit" in _error_line(capsys)
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("size", ["1", "7", "0", "-3"])
def test_a_size_below_8_is_one_line(size, tmp_path, capsys):
    """Issue 26 item 9: `--size 1` was accepted."""
    assert main(["preprocess", str(tmp_path), str(tmp_path / "out"), "--size", size]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--size must be at least 8 px" in err, err
    assert not (tmp_path / "out").exists()

"""The run-folder policy and the worker bound of `stemdl train ornl` (issue 11, defects
4 and 5): refused before any data is read or TensorFlow starts."""

from __future__ import annotations

import pytest

from stemdl.cli import main as cli
from tests.ornl.conftest import TINY


@pytest.mark.parametrize("earlier", ["results.json", "mlperf.log"])
def test_earlier_run_is_not_overwritten(capsys, tiny_data, tmp_path, earlier):
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    (run_dir / earlier).write_text("{}\n")
    rc = cli(["train", "ornl", "--data-dir", str(tiny_data), "--run-dir", str(run_dir), *TINY])
    err = capsys.readouterr().err
    assert rc == 2 and f"holds an earlier run ({earlier})" in err and "--resume" in err
    assert (run_dir / earlier).read_text() == "{}\n"


def test_resume_with_nothing_to_resume(capsys, tiny_data, tmp_path):
    rc = cli(["train", "ornl", "--data-dir", str(tiny_data), "--run-dir", str(tmp_path / "r"),
              "--resume", *TINY])
    assert rc == 2 and "no checkpoint to resume" in capsys.readouterr().err


def test_worker_count_is_bounded(capsys, tiny_data, tmp_path):
    rc = cli(["train", "ornl", "--data-dir", str(tiny_data), "--run-dir", str(tmp_path / "r"),
              "--workers", "100000"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("stemdl: error: config key 'num_workers': 100000 is above "
                                      "the limit of")
    assert not (tmp_path / "r").exists()

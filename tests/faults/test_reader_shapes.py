"""Mixed image shapes and non-numeric stacks in the raw layout (issue 13 item 5): the
reader names the file and the sample, and training stops with one line, exit 2."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from stemdl.cli import main
from stemdl.common.cli.errors import DataError
from stemdl.common.data.raw import STACK, RawReader
from tests.data.fixtures import write_raw_folder


def _replace_stack(path, group: str, data: np.ndarray) -> None:
    with h5py.File(path, "r+") as handle:
        del handle[group][STACK]
        handle[group].create_dataset(STACK, data=data)


@pytest.mark.parametrize(("data", "message"), [
    (np.zeros((3, 16, 16), np.float32), "has shape (3, 16, 16), the split's other samples have (3, 32, 32)"),
    (np.full((3, 32, 32), b"x"), "has dtype |S1"),
])
def test_raw_sample_of_another_shape_or_dtype(tmp_path, capsys, data, message):
    folder = write_raw_folder(tmp_path / "raw", materials={"train": 4, "dev": 2})
    victim = [s for s in folder.samples if s.split == "train"][3]
    _replace_stack(victim.file, victim.group, data)
    with pytest.raises(DataError) as err:
        RawReader([victim.file], "train")
    text = str(err.value)
    assert str(victim.file) in text and victim.group in text and message in text
    code = main(["train", "stfc", f"data_dir={tmp_path / 'raw'}", f"run_dir={tmp_path / 'run'}",
                 "resnet=18", "division=open", "batch_size=2", "epochs=1", "num_workers=0"])
    err_text = capsys.readouterr().err
    assert code == 2, err_text
    lines = [line for line in err_text.splitlines() if line.startswith("stemdl: error:")]
    assert len(lines) == 1 and victim.group in lines[0] and message in lines[0], err_text
    assert "Traceback" not in err_text

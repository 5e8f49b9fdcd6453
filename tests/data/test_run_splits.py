"""`open_run_splits`: the one way both implementations open and check a run's splits
(issue 11, defects 1 and 5)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from stemdl.common.cli.errors import DataError, StemdlError
from stemdl.common.data.preprocess import preprocess
from stemdl.common.data.splits import open_run_splits, select_indices
from stemdl.common.run.runconfig import BaseRunConfig
from tests.data.fixtures import write_npz_folder, write_raw_folder


@dataclass
class Cfg(BaseRunConfig):
    pass


def cfg(**kw) -> Cfg:
    c = Cfg(**kw)
    c.validate()
    return c


@pytest.fixture(scope="module")
def raw_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("raw")
    write_raw_folder(root, materials={"train": 6, "dev": 3, "test": 2}, size=32)
    return root


@pytest.fixture(scope="module")
def packed_root(raw_root: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("packed") / "p"
    preprocess(raw_root, out, fmt="packed", size=16, progress=False)
    return out


def test_upstream_npz_split_folders_as_train_and_val_dirs(tmp_path: Path, capsys) -> None:
    """run.sh: --train-dir $DATA_DIR/train --val-dir $DATA_DIR/test, npz files inside."""
    write_npz_folder(tmp_path, naming="ornl", samples={"train": 6, "test": 4})
    readers = open_run_splits(cfg(train_dir=str(tmp_path / "train"), val_dir=str(tmp_path / "test")))
    assert sorted(readers) == ["train", "val"]
    assert "no test data given" in capsys.readouterr().err
    assert (len(readers["train"]), len(readers["val"])) == (6, 4)
    assert readers["val"].split == "val"


def test_packed_split_folder_and_packed_root(packed_root: Path) -> None:
    direct = open_run_splits(cfg(train_dir=str(packed_root / "train"), val_dir=str(packed_root / "dev")),
                             note=False)
    whole = open_run_splits(cfg(data_dir=str(packed_root)))
    assert direct["train"].layout == "packed" and len(direct["train"]) == len(whole["train"])
    assert len(direct["val"]) == len(whole["val"]) and "test" in whole


def test_raw_folder_given_as_split_dirs(raw_root: Path, tmp_path: Path) -> None:
    readers = open_run_splits(cfg(train_dir=str(raw_root), val_dir=str(raw_root)))
    assert readers["train"].layout == "raw" and len(readers["train"]) == 12
    assert len(readers["val"]) == 6
    # a raw folder holding only one split's files, named as another split's *_dir
    only_test = tmp_path / "only-test"
    only_test.mkdir()
    for f in raw_root.glob("batch_test_*.h5"):
        (only_test / f.name).symlink_to(f)
    readers = open_run_splits(cfg(train_dir=str(raw_root), val_dir=str(only_test)))
    assert len(readers["val"]) == 4


def test_optional_splits_absent_are_skipped_with_a_note(tmp_path: Path, capsys) -> None:
    write_npz_folder(tmp_path, samples={"training": 4, "validation": 2})
    readers = open_run_splits(cfg(data_dir=str(tmp_path)))
    assert sorted(readers) == ["train", "val"]
    err = capsys.readouterr().err
    assert "no test split" in err and "no inference split" in err


def test_required_splits_and_explicit_optional_folder(tmp_path: Path) -> None:
    write_npz_folder(tmp_path, samples={"training": 4})
    with pytest.raises(StemdlError, match="no split 'val'"):
        open_run_splits(cfg(data_dir=str(tmp_path)))
    with pytest.raises(StemdlError, match="no val data"):
        open_run_splits(cfg(train_dir=str(tmp_path / "training")))
    with pytest.raises(DataError, match="nope: no such folder"):
        open_run_splits(cfg(train_dir=str(tmp_path / "training"), val_dir=str(tmp_path / "training"),
                            test_dir=str(tmp_path / "nope")))


def test_shapes_must_agree(tmp_path: Path) -> None:
    write_npz_folder(tmp_path / "a", samples={"training": 4}, size=16)
    write_npz_folder(tmp_path / "b", samples={"validation": 2}, size=8)
    with pytest.raises(DataError, match="differ in image shape"):
        open_run_splits(cfg(train_dir=str(tmp_path / "a" / "training"),
                            val_dir=str(tmp_path / "b" / "validation")))


def test_samples_are_a_seeded_subset_of_the_whole_split(tmp_path: Path) -> None:
    """train_samples/eval_samples: a seeded random subset (same for the same seed), not the
    first N files."""
    write_npz_folder(tmp_path, samples={"training": 40, "validation": 20}, with_material=True)
    c = cfg(data_dir=str(tmp_path), train_samples=10, eval_samples=5, seed=3)
    a, b = open_run_splits(c, note=False), open_run_splits(c, note=False)
    assert (len(a["train"]), len(a["val"])) == (10, 5)
    assert a["train"].labels().tolist() == b["train"].labels().tolist()
    idx = select_indices(a["train"]._reader, 1.0, 10, 3)
    assert idx.tolist() != list(range(10)) and idx.max() > 10
    other = open_run_splits(cfg(data_dir=str(tmp_path), train_samples=10, seed=4), note=False)
    assert other["train"].labels().tolist() != a["train"].labels().tolist()
    with pytest.raises(DataError, match="eval_samples=50, the val split holds 20"):
        open_run_splits(cfg(data_dir=str(tmp_path), eval_samples=50), note=False)


def test_labels_out_of_range(tmp_path: Path) -> None:
    write_npz_folder(tmp_path, samples={"training": 2, "validation": 2})
    f = tmp_path / "training" / "sample-0.npz"
    np.savez(f, data=np.zeros((3, 16, 16), np.float32), label=np.array([231]))
    with pytest.raises(DataError, match="231 is outside 1..230"):
        open_run_splits(cfg(data_dir=str(tmp_path)), note=False)


def _one_class_npz(root: Path, split: str, label: int, n: int = 4) -> None:
    folder = root / split
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        np.savez(folder / f"sample-{i}.npz", data=np.zeros((3, 8, 8), np.float32),
                 label=np.array([label]))


@pytest.mark.parametrize("one_class", ["training", "validation"])
def test_a_one_class_split_is_refused(tmp_path: Path, capsys, one_class: str) -> None:
    """One class scores macro F1 1.0 by always predicting it: never a compliant success."""
    from stemdl.cli import main

    write_npz_folder(tmp_path, samples={"training": 6, "validation": 4}, size=8)
    for path in (tmp_path / one_class).glob("*.npz"):
        path.unlink()
    _one_class_npz(tmp_path, one_class, 225)
    split = "train" if one_class == "training" else "val"
    with pytest.raises(DataError, match=f"the {split} split holds 1 class \\(space group 225\\); "
                                        "training and validation need at least 2"):
        open_run_splits(cfg(data_dir=str(tmp_path)), note=False)
    # through the command: one line, exit 2, before any framework starts
    assert main(["train", "ornl", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"the {split} split holds 1 class" in err[0]


def test_a_material_in_two_splits_is_one_warning(tmp_path: Path, capsys) -> None:
    from tests.data.fixtures import Fault

    write_raw_folder(tmp_path / "leaky", size=8, faults=[Fault("leak", split="train", other="dev")])
    readers = open_run_splits(cfg(data_dir=str(tmp_path / "leaky")))
    assert set(readers) == {"train", "val", "test"}
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert warnings == ["stemdl: warning: 1 material(s) appear in more than one split (e.g. "
                        "mp-1000: train, val); validation scores then measure recall of seen "
                        "materials, not generalisation (`stemdl inspect` lists them)"]
    open_run_splits(cfg(data_dir=str(tmp_path / "leaky")), note=False)  # other ranks: silent
    assert "stemdl: warning" not in capsys.readouterr().err


def test_no_warning_without_material_ids_or_leaks(tmp_path: Path, raw_root: Path, capsys) -> None:
    """Upstream npz files carry no material id: nothing to check, nothing said."""
    write_npz_folder(tmp_path, samples={"training": 6, "validation": 4, "testing": 2}, size=8)
    open_run_splits(cfg(data_dir=str(tmp_path)))
    open_run_splits(cfg(data_dir=str(raw_root)))
    assert "stemdl: warning" not in capsys.readouterr().err

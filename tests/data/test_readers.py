"""Layout detection and the three readers (round trips through preprocess)."""

from __future__ import annotations

import pickle

import h5py
import numpy as np
import pytest

from stemdl.common.cli.errors import DataError, StemdlError
from stemdl.common.data.preprocess import preprocess
from stemdl.common.data.samples import SampleReader
from stemdl.common.data.splits import detect_layout, list_splits, open_split
from stemdl.common.data.transform import transform_stack
from tests.data.fixtures import write_npz_folder, write_raw_folder


def _raw_stack(sample) -> np.ndarray:
    with h5py.File(sample.file, "r") as handle:
        return handle[sample.group]["cbed_stack"][()]


def test_raw_reader_reads_original_layout(raw):
    assert detect_layout(raw.root) == "raw"
    splits = list_splits(raw.root)
    assert list(splits) == ["train", "val", "test"]
    reader = open_split(raw.root, "dev")  # on-disk name works too
    assert isinstance(reader, SampleReader)
    assert reader.layout == "raw" and reader.split == "val"
    want = raw.good("dev")
    assert len(reader) == len(want)
    assert reader.labels().tolist() == [s.label for s in want]
    assert reader.materials() == [s.material for s in want]
    assert reader.image_shape() == (3, 32, 32)
    sample = reader[1]
    assert sample.stack.dtype == np.float32 and sample.label == want[1].label
    np.testing.assert_array_equal(sample.stack, _raw_stack(want[1]))


@pytest.mark.parametrize("space_group_as", ["bytes", "str", "int"])
def test_space_group_as_bytes_str_or_int(tmp_path, space_group_as):
    folder = write_raw_folder(tmp_path / "r", space_group_as=space_group_as, size=8)
    assert open_split(folder.root, "train").labels().tolist() == [
        s.label for s in folder.good("train")
    ]


def test_material_falls_back_to_group_index(tmp_path):
    folder = write_raw_folder(tmp_path / "r", material_attr=False, size=8)
    materials = open_split(folder.root, "train").materials()
    assert materials[:4] == ["0", "0", "1", "1"]


def test_raw_indexing_reads_no_image_data(raw, monkeypatch):
    calls = []

    def forbidden(self, *args, **kwargs):
        calls.append(self.name)
        raise AssertionError("image data read during indexing")

    monkeypatch.setattr(h5py.Dataset, "__getitem__", forbidden)
    monkeypatch.setattr(h5py.Dataset, "read_direct", forbidden)
    monkeypatch.setattr(h5py.Dataset, "__array__", forbidden, raising=False)
    reader = open_split(raw.root, "train")
    assert len(reader.labels()) == len(reader.materials()) == 12
    assert reader.image_shape() == (3, 32, 32)
    assert calls == []
    with pytest.raises(AssertionError):  # the patch is effective: reading an image trips it
        reader[0]


def test_upstream_npz_both_namings(tmp_path):
    for naming, train_dir in (("mlcommons", "training"), ("ornl", "train")):
        root = tmp_path / naming
        labels = write_npz_folder(root, naming=naming)
        assert detect_layout(root) == "npz"
        assert list(list_splits(root)) == ["train", "val", "test"]
        reader = open_split(root, "train")
        assert len(reader) == 4 and reader.labels().tolist() == labels[train_dir]
        assert reader.materials() == [""] * 4  # upstream npz: no material id
        assert reader[0].stack.shape == (3, 16, 16)
        assert open_split(root, "validation").split == "val"


@pytest.mark.parametrize("fmt", ["npz", "packed"])
def test_round_trip_raw_to_layout(raw, tmp_path, fmt):
    out = tmp_path / fmt
    summary = preprocess(raw.root, out, fmt=fmt, size=8, progress=False)
    assert summary.written == len(raw.samples)
    assert detect_layout(out) == fmt
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["dev", "test", "train"]
    for split in ("train", "dev", "test"):
        reader = open_split(out, split)
        want = raw.good(split)
        assert len(reader) == len(want)
        assert reader.labels().tolist() == [s.label for s in want]
        assert reader.materials() == [s.material for s in want]
        assert reader.image_shape() == (3, 8, 8)
        for i in (0, len(reader) - 1):
            expect = transform_stack(_raw_stack(want[i]), 8)
            np.testing.assert_array_equal(reader[i].stack, expect)
        stacks, labels = reader.read_batch([len(reader) - 1, 0, 0])
        assert stacks.shape == (3, 3, 8, 8)
        np.testing.assert_array_equal(stacks[1], reader[0].stack)
        assert labels.tolist() == [want[-1].label, want[0].label, want[0].label]


def test_npz_written_with_ornl_names_also_read_with_mlcommons_names(raw, tmp_path):
    out = tmp_path / "npz"
    preprocess(raw.root, out, fmt="npz", size=8, progress=False)
    for old, new in (("train", "training"), ("dev", "validation"), ("test", "testing")):
        (out / old).rename(out / new)
    reader = open_split(out, "val")
    assert reader.labels().tolist() == [s.label for s in raw.good("dev")]


def test_packed_reader_is_many_samples_per_file(raw, tmp_path):
    out = tmp_path / "packed"
    preprocess(raw.root, out, fmt="packed", size=8, progress=False)
    assert len(list((out / "train").glob("part-*.h5"))) == 1


def _collate(samples):
    return np.stack([s.stack for s in samples]), [s.label for s in samples]


@pytest.mark.parametrize("fmt", ["raw", "packed"])
def test_readers_in_dataloader_workers(raw, tmp_path, fmt):
    torch = pytest.importorskip("torch")
    root = raw.root
    if fmt == "packed":
        root = tmp_path / "packed"
        preprocess(raw.root, root, fmt="packed", size=8, progress=False)
    reader = open_split(root, "train")
    reader[0]  # open files in the parent first: workers must not reuse those handles
    loader = torch.utils.data.DataLoader(reader, batch_size=5, num_workers=2,
                                         collate_fn=_collate, shuffle=False)
    stacks, labels = [], []
    for batch, batch_labels in loader:
        stacks.append(batch)
        labels.extend(batch_labels)
    assert labels == reader.labels().tolist()
    np.testing.assert_array_equal(np.concatenate(stacks)[7], reader[7].stack)


@pytest.mark.parametrize("fmt", ["raw", "packed"])
def test_readers_pickle_without_open_handles(raw, tmp_path, fmt):
    root = raw.root
    if fmt == "packed":
        root = tmp_path / "packed"
        preprocess(raw.root, root, fmt="packed", size=8, progress=False)
    reader = open_split(root, "test")
    first = reader[0].stack
    clone = pickle.loads(pickle.dumps(reader))
    np.testing.assert_array_equal(clone[0].stack, first)


def test_unknown_and_missing_split(raw):
    with pytest.raises(StemdlError, match="unknown split 'trian'; did you mean 'train'"):
        open_split(raw.root, "trian")
    with pytest.raises(DataError, match="no split 'inference'"):
        open_split(raw.root, "inference")

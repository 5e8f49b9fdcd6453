"""common/data/staging.py: what a rank stages, its bounds, the local copy, synthetic data."""

from __future__ import annotations

import numpy as np
import pytest

from stemdl.common.cli.errors import DataError, StemdlError
from stemdl.common.data import staging as st


@pytest.mark.parametrize(("value", "words"), [
    ("local", "local needs a folder"), ("local:", "local needs a folder"),
    ("mem", "'mem' is not one of none, memory, local:DIR, device"),
    ("device:0", "is not one of")])
def test_bad_staging_values_are_one_line_errors(value, words):
    with pytest.raises(StemdlError, match=words):
        st.parse_staging(value)


def test_parsed_values_print_as_given(tmp_path):
    assert str(st.parse_staging(" Memory ")) == "memory"
    assert str(st.parse_staging(f"local:{tmp_path}")) == f"local:{tmp_path}"


def test_a_rank_stages_all_of_training_and_its_shard_of_validation():
    readers = st.synthetic_readers(20, 9, seed=1, size=8)
    staged = st.stage(readers, st.parse_staging("memory"), rank=1, world=2)
    assert staged["train"].rows.tolist() == list(range(20))
    assert staged["val"].rows.tolist() == [1, 3, 5, 7]
    got = staged["val"].read_batch([3, 7])
    want = readers["val"].read_batch([3, 7])
    assert all(np.array_equal(a, b) for a, b in zip(got, want, strict=True))
    with pytest.raises(DataError, match="sample 2 of the val split is not in this rank's staged share"):
        staged["val"][2]
    assert staged["val"].labels().tolist() == readers["val"].labels().tolist()  # whole split


def test_a_local_copy_reads_back_the_same_and_is_removed(tmp_path):
    readers = st.synthetic_readers(12, 4, seed=2, size=8, targets=True)
    where = st.parse_staging(f"local:{tmp_path}")
    staged = st.stage(readers, where, targets=True, run_id="r1")
    assert isinstance(staged["train"].stacks, np.memmap)  # read from the disk copy
    for split in ("train", "val"):
        got = staged[split].read_batch([0, 3, 1], targets=True)
        want = readers[split].read_batch([0, 3, 1], targets=True)
        assert all(np.array_equal(a, b) for a, b in zip(got, want, strict=True))
    assert (tmp_path / "stemdl-staging-r1" / "rank-0").is_dir()
    st.remove_local(where, "r1", 0)
    assert list(tmp_path.iterdir()) == []


def test_a_share_that_does_not_fit_is_refused(monkeypatch, tmp_path):
    readers = st.synthetic_readers(100, 10, seed=3, size=16)
    monkeypatch.setattr(st, "_free_bytes", lambda staging: (2**20, "free disk under X"))
    need = 110 * 3 * 16 * 16 * 4
    assert st.check_fits(readers, st.parse_staging("memory"), 0, 1, 1, False) == need
    with pytest.raises(StemdlError, match=r"x 8 rank\(s\) on this node"):  # 8 copies: 2.6 MiB
        st.stage(readers, st.parse_staging(f"local:{tmp_path}"), local_processes=8)
    assert list(tmp_path.iterdir()) == []  # nothing copied


def test_synthetic_data_is_seeded_and_of_the_workloads_shapes():
    a, b = st.synthetic_readers(8, 4, seed=5), st.synthetic_readers(8, 4, seed=5)
    assert a["train"].image_shape() == (3, 128, 128)
    assert np.array_equal(a["train"].read_batch([2])[0], b["train"].read_batch([2])[0])
    labels = a["train"].labels()
    assert labels.min() >= 1 and labels.max() <= 230
    assert not np.array_equal(a["train"].stacks, st.synthetic_readers(8, 4, seed=6)["train"].stacks)

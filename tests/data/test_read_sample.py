"""The low-level read path of preprocessing (`read_sample`) agrees with the checked
high-level path (`check_group` + `read_stack`) on every storage it may meet."""

from __future__ import annotations

import os

import h5py
import numpy as np
import pytest

from stemdl.common.data.raw import SampleProblem, check_group, open_raw_fd, read_sample, read_stack


def _write(path, **datasets):
    rng = np.random.default_rng(0)
    stack = rng.random((3, 16, 16)).astype(np.float32) * 100
    with h5py.File(path, "w") as f:
        for name, (attrs, kwargs) in datasets.items():
            grp = f.create_group(name)
            grp.attrs.update(attrs)
            data = kwargs.pop("data", stack)
            grp.create_dataset("cbed_stack", data=data, **kwargs)
    return stack


CASES = {
    "sample_1_0": ({"space_group": np.bytes_("225"), "material": np.bytes_("mp-1")}, {}),
    "sample_2_0": ({"space_group": np.int64(12)}, {"chunks": (1, 16, 16), "compression": "gzip"}),
    "sample_3_0": ({"space_group": "7", "material": "mp-3"}, {"dtype": "<f8"}),
    "sample_4_0": ({"space_group": np.bytes_("17")}, {"dtype": ">f4"}),
}


def test_fast_path_equals_high_level_path(tmp_path):
    path = tmp_path / "batch_train_0.h5"
    _write(path, **{k: (a, dict(kw)) for k, (a, kw) in CASES.items()})
    fd = open_raw_fd(path)
    with h5py.File(path, "r") as handle:
        for name in CASES:
            for how in (fd, None):  # one pread at the stack's offset, and read through HDF5
                buf = np.full((3, 16, 16), -1.0, np.float32)
                info, stack = read_sample(handle, name, how, buf)
                assert info == check_group(name, handle[name]), name
                np.testing.assert_array_equal(stack, read_stack(handle[name]["cbed_stack"], name))
                assert stack.dtype == np.float32 and stack.shape == (3, 16, 16)
                assert stack is buf  # the buffer is reused, whatever the storage
    os.close(fd)


def test_types_remembered_from_a_closed_file_still_read_right(tmp_path):
    """Every sample's attributes have the same few HDF5 types: `read_sample` remembers
    their numpy forms across files; a closed file's types must not leak into the next."""
    for i, label in enumerate((225, 12, 7)):
        path = tmp_path / f"batch_train_{i}.h5"
        _write(path, sample_1_0=({"space_group": np.bytes_(str(label)),
                                  "material": np.bytes_(f"mp-{i}" * (i + 1))}, {}))
        with h5py.File(path, "r") as handle:
            info, _ = read_sample(handle, "sample_1_0")
        assert (info.label, info.material) == (label, f"mp-{i}" * (i + 1))


@pytest.mark.parametrize("fault,reason", [
    ({"space_group": np.bytes_("abc")}, "bad_space_group"),
    ({"space_group": np.bytes_("231")}, "label_out_of_range"),
    ({}, "no_space_group"),
])
def test_fast_path_reports_the_same_problems(tmp_path, fault, reason):
    path = tmp_path / "batch_train_0.h5"
    _write(path, sample_1_0=(fault, {}))
    fd = open_raw_fd(path)
    with h5py.File(path, "r") as handle, pytest.raises(SampleProblem) as err:
        read_sample(handle, "sample_1_0", fd)
    os.close(fd)
    assert err.value.reason == reason


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_stack_is_rejected(tmp_path, bad):
    path = tmp_path / "batch_train_0.h5"
    data = np.ones((3, 8, 8), np.float32)
    data[1, 2, 3] = bad
    _write(path, sample_1_0=({"space_group": np.bytes_("5")}, {"data": data}))
    fd = open_raw_fd(path)
    for how in (fd, None):
        with h5py.File(path, "r") as handle, pytest.raises(SampleProblem) as err:
            read_sample(handle, "sample_1_0", how)
        assert err.value.reason == "non_finite"
    os.close(fd)

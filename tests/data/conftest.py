"""Shared fixtures for the data tests: small raw folders written in the ORNL layout."""

from __future__ import annotations

import pytest

from tests.data.fixtures import write_raw_folder


@pytest.fixture
def raw(tmp_path):
    """A clean raw folder: 6/2/2 materials x 2 energies, 32 px, space_group as np.bytes_."""
    return write_raw_folder(tmp_path / "raw", size=32)

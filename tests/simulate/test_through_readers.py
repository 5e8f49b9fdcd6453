"""The tiny preset end to end through the foundation readers and `stemdl inspect`."""

from __future__ import annotations

import json

import numpy as np

from stemdl.cli import main
from stemdl.common.data.splits import detect_layout, list_splits, open_split


def test_readers_see_every_sample(tiny_run, tiny_samples):
    assert detect_layout(tiny_run) == "raw"
    assert set(list_splits(tiny_run)) == {"train", "val", "test"}
    seen = 0
    for split in ("train", "val", "test"):
        reader = open_split(tiny_run, split)
        assert reader.image_shape() == (3, 128, 128)
        labels = reader.labels()
        for i in range(len(reader)):
            sample = reader[i]
            assert sample.label == labels[i]
            matches = [
                (key, attrs)
                for key, (_s, stack, attrs) in tiny_samples.items()
                if attrs["material"] == sample.material and np.array_equal(stack, sample.stack)
            ]
            assert len(matches) == 1
            assert int(matches[0][1]["space_group"]) == sample.label
            seen += 1
    assert seen == len(tiny_samples)


def test_inspect_passes_the_split_check(tiny_run, capsys):
    assert main(["inspect", str(tiny_run), "--deep", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert sum(s["samples"] for s in report["splits"]) == 12
    assert {s["split"] for s in report["splits"]} == {"train", "val", "test"}

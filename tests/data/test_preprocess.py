"""`stemdl preprocess`: resumable, atomic, parallel, rank-sharded, split names kept."""

from __future__ import annotations

import json

import numpy as np
import pytest

import stemdl.common.data.preprocess as pp
from stemdl.cli import main
from stemdl.common.data.splits import open_split


def _files(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_cli_preprocess_npz_summary(raw, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["preprocess", str(raw.root), str(out), "--size", "8", "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert f"written: {len(raw.samples)}" in text and "skipped (bad sample): 0" in text
    assert len(list((out / "dev").glob("sample-*.npz"))) == len(raw.good("dev"))


def test_rerun_skips_everything_and_rewrites_deleted(raw, tmp_path):
    out = tmp_path / "out"
    n = len(raw.samples)
    assert pp.preprocess(raw.root, out, size=8, progress=False).written == n
    again = pp.preprocess(raw.root, out, size=8, progress=False)
    assert (again.written, again.skipped_existing) == (0, n)
    victim = sorted((out / "train").glob("*.npz"))[3]
    victim.unlink()
    (out / "train" / (victim.name + ".tmp-999")).write_bytes(b"half a file")
    (out / "train" / "sample-9-other.npz.tmp-998").write_bytes(b"not ours")  # another rank's
    third = pp.preprocess(raw.root, out, size=8, progress=False)
    assert (third.written, third.skipped_existing) == (1, n - 1)
    assert victim.exists()
    assert len(open_split(out, "train")) == len(raw.good("train"))  # the .tmp is ignored
    # a stopped run's temporary of one of this run's outputs is gone; not others'
    assert [p.name for p in (out / "train").glob("*.tmp-*")] == ["sample-9-other.npz.tmp-998"]


def test_packed_rerun_and_leftover_tmp(raw, tmp_path):
    out = tmp_path / "out"
    n = len(raw.samples)
    pp.preprocess(raw.root, out, fmt="packed", size=8, progress=False)
    part = next((out / "train").glob("part-*.h5"))
    again = pp.preprocess(raw.root, out, fmt="packed", size=8, progress=False)
    assert (again.written, again.skipped_existing) == (0, n)
    part.rename(part.with_name(part.name + ".tmp-123"))  # a killed run's leftover
    third = pp.preprocess(raw.root, out, fmt="packed", size=8, progress=False)
    assert third.written == len(raw.good("train")) and part.exists()
    assert not list(out.rglob("*.tmp-*"))  # the rewrite of that part removed the leftover


def test_largest_tasks_run_first(raw, tmp_path, monkeypatch):
    """A big task dispatched last would keep one worker busy while the others idle."""
    sizes = []
    real = pp.ordered_map

    def spy(func, items, workers, **kwargs):
        items = list(items)
        sizes.extend(len(task.names) for task in items)
        return real(func, items, workers, **kwargs)

    monkeypatch.setattr(pp, "PART_SAMPLES", 3)  # parts of 3 samples and the rest of a file
    monkeypatch.setattr(pp, "ordered_map", spy)
    assert pp.preprocess(raw.root, tmp_path / "out", fmt="packed", size=8,
                         progress=False).written == len(raw.samples)
    assert sizes == sorted(sizes, reverse=True) and sizes[0] > sizes[-1]


def test_failed_npz_write_leaves_no_output(raw, tmp_path, monkeypatch):
    out = tmp_path / "out"
    real_savez = np.savez
    calls = []

    def dying_savez(fh, **arrays):
        calls.append(1)
        if len(calls) == 14:  # largest first: train (12) done, dev (4) at its second
            fh.write(b"PK partial")
            raise KeyboardInterrupt  # like a kill in the middle of a write
        real_savez(fh, **arrays)

    monkeypatch.setattr(pp.np, "savez", dying_savez)
    with pytest.raises(KeyboardInterrupt):
        pp.preprocess(raw.root, out, size=8, progress=False)
    files = _files(out)  # no tmp, no half, no lock: the finished task's files, none of dev's
    assert [f for f in files if not f.startswith("train/")] == ["stemdl-preprocess.json"]
    assert len(files) - 1 == len(raw.good("train")) == 12


def test_failed_packed_write_leaves_no_part(raw, tmp_path, monkeypatch):
    out = tmp_path / "out"
    real = pp.transform_stack
    calls = []

    def dying(*args, **kwargs):
        calls.append(1)
        if len(calls) == 18:  # largest first: train (12) and dev (4) done, test (4) half-way
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(pp, "transform_stack", dying)
    with pytest.raises(KeyboardInterrupt):
        pp.preprocess(raw.root, out, fmt="packed", size=8, progress=False)
    assert _files(out) == ["dev/part-batch_dev_0-0000.h5", "stemdl-packed.json",
                           "stemdl-preprocess.json",
                           "train/part-batch_train_0-0000.h5"]  # no test part, no tmp, no lock


def test_workers_and_ranks_give_the_same_output(raw, tmp_path, monkeypatch):
    monkeypatch.setattr(pp, "PART_SAMPLES", 4)  # several tasks per file
    one = tmp_path / "one"
    pp.preprocess(raw.root, one, size=8, progress=False)
    two = tmp_path / "two"
    assert pp.preprocess(raw.root, two, size=8, workers=2, progress=False).written == 20
    ranks = tmp_path / "ranks"
    written = [pp.preprocess(raw.root, ranks, size=8, rank=r, world=3, progress=False).written
               for r in range(3)]
    assert sum(written) == 20 and min(written) > 0
    assert _files(one) == _files(two) == _files(ranks)
    params = [(d / pp.PARAMS_FILE).read_text() for d in (one, two, ranks)]
    assert json.loads(params[0])["size"] == 8 and params[0] == params[1] == params[2]
    for name in (n for n in _files(one) if n.endswith(".npz")):
        a, b = np.load(one / name), np.load(ranks / name)
        np.testing.assert_array_equal(a["data"], b["data"])
        assert a["label"].tolist() == b["label"].tolist()


def test_packed_with_workers_matches_single_process(raw, tmp_path, monkeypatch):
    monkeypatch.setattr(pp, "PART_SAMPLES", 4)
    pp.preprocess(raw.root, tmp_path / "a", fmt="packed", size=8, progress=False)
    pp.preprocess(raw.root, tmp_path / "b", fmt="packed", size=8, workers=2, progress=False)
    ra, rb = open_split(tmp_path / "a", "train"), open_split(tmp_path / "b", "train")
    assert len(list((tmp_path / "a" / "train").glob("part-*.h5"))) == 3
    assert ra.labels().tolist() == rb.labels().tolist()
    np.testing.assert_array_equal(ra.read_batch(range(len(ra)))[0],
                                  rb.read_batch(range(len(rb)))[0])


def test_rank_from_environment(raw, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SLURM_PROCID", "1")
    monkeypatch.setenv("SLURM_NTASKS", "2")
    out = tmp_path / "out"
    assert main(["preprocess", str(raw.root), str(out), "--size", "8", "--no-progress"]) == 0
    assert "(rank 1 of 2)" in capsys.readouterr().out
    assert 0 < len(_files(out)) < len(raw.samples)


def test_help_has_examples(capsys):
    with pytest.raises(SystemExit):
        main(["preprocess", "--help"])
    text = capsys.readouterr().out
    assert "examples:" in text and "--format" in text and "Exit code" in text

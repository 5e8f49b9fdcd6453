"""1 rank == 2 ranks; a killed-then-resumed run == an uninterrupted one; no lying files."""

from __future__ import annotations

import pytest

from stemdl.common.simulation import runner
from stemdl.common.simulation.plan import make_plan
from stemdl.common.simulation.writer import WORK
from tests.simulate.conftest import SMALL, assert_same_samples, read_samples


@pytest.fixture(scope="module")
def plan():
    return make_plan(**SMALL)


@pytest.fixture(scope="module")
def one_rank(tmp_path_factory, plan):
    out = tmp_path_factory.mktemp("one")
    summary = runner.run(out, plan, 0, 1, progress=False)
    assert summary["materials_failed"] == 0
    return out


def test_two_ranks_give_the_same_samples(tmp_path, plan, one_rank):
    for rank in (0, 1):
        runner.run(tmp_path, plan, rank, 2, progress=False)
    assert {p.name for p in tmp_path.glob("batch_*_1.h5")}  # rank 1 wrote its own files
    assert_same_samples(read_samples(one_rank), read_samples(tmp_path))


def test_killed_then_resumed_equals_uninterrupted(tmp_path, plan, one_rank, monkeypatch):
    real = runner.simulate_material
    calls = []

    def dies_on_third(spec, plan, device="cpu"):
        calls.append(spec.index)
        if len(calls) == 3:
            raise KeyboardInterrupt  # as if killed while simulating the third material
        return real(spec, plan, device)

    monkeypatch.setattr(runner, "simulate_material", dies_on_third)
    with pytest.raises(KeyboardInterrupt):
        runner.run(tmp_path, plan, 0, 1, progress=False)
    assert not list(tmp_path.glob("batch_*.h5"))  # nothing under a final name yet
    assert len(list((tmp_path / WORK / "rank0").glob("m*.h5"))) == 2
    (tmp_path / WORK / "rank0" / "m000002.h5.tmp-999").write_bytes(b"half")  # a torn write

    monkeypatch.setattr(runner, "simulate_material", real)
    summary = runner.run(tmp_path, plan, 0, 1, progress=False)
    assert summary["materials_simulated_now"] == len(plan.materials) - 2
    assert_same_samples(read_samples(one_rank), read_samples(tmp_path))
    assert not list(tmp_path.rglob("*.tmp-*"))

    again = runner.run(tmp_path, plan, 0, 1, progress=False)  # complete: nothing to do
    assert again["resumed"] == "already complete"


def test_rank_from_launcher_environment(tmp_path, monkeypatch):
    from stemdl.cli import main

    monkeypatch.setenv("SLURM_PROCID", "1")
    monkeypatch.setenv("SLURM_NTASKS", "4")
    args = ["simulate", str(tmp_path), "--space-groups", "225,227", "--energies", "1"]
    assert main(args + ["--size", "32"]) == 0
    assert [p.name for p in tmp_path.glob("*.h5")] == ["batch_dev_1.h5"]  # Si, material 1


def test_marker_is_not_trusted_when_its_files_are_gone(tmp_path, plan, one_rank, capsys):
    runner.run(tmp_path, plan, 0, 1, progress=False)
    victim = next(tmp_path.glob("batch_train_0.h5"))
    victim.unlink()  # e.g. deleted by hand, or by a second writer
    summary = runner.run(tmp_path, plan, 0, 1, progress=False)
    assert "resumed" not in summary  # simulated again, not "nothing to do"
    assert "simulating it again" in capsys.readouterr().err
    assert_same_samples(read_samples(one_rank), read_samples(tmp_path))

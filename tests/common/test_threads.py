"""The `num_threads` default and bounds (stemdl.common.run.threads)."""

from __future__ import annotations

import pytest

from stemdl.common.cli.errors import StemdlError
from stemdl.common.run.runconfig import BaseRunConfig
from stemdl.common.run.threads import default_threads, local_processes, resolve_threads


@pytest.mark.parametrize("cpus,processes,workers,want", [
    (2, 1, 2, 1),    # this machine, STFC defaults: loaders get the cores, 1 compute thread
    (2, 1, 0, 2),
    (16, 1, 2, 14),
    (16, 2, 2, 6),   # two DDP ranks on one node, 2 loaders each
    (4, 8, 0, 1),    # more processes than cores: never below 1
])
def test_default_leaves_a_core_per_loader_worker(cpus, processes, workers, want):
    assert default_threads(workers, processes, cpus) == want


def test_explicit_value_is_kept_or_clamped_with_a_note(capsys):
    assert resolve_threads(2, loader_workers=2, cpus=4) == 2
    assert capsys.readouterr().err == ""
    assert resolve_threads(9, loader_workers=0, cpus=4) == 4
    assert "num_threads 9 is more than the 4 cores" in capsys.readouterr().err
    assert resolve_threads(None, loader_workers=1, cpus=4) == 3


def test_a_reproducible_run_uses_one_thread_unless_told_more():
    """deterministic=true on CPU: 2 torch threads were not run-to-run reproducible."""
    assert resolve_threads(None, loader_workers=0, cpus=4, reproducible=True) == 1
    assert resolve_threads(3, loader_workers=0, cpus=4, reproducible=True) == 3


def test_local_processes_from_the_launcher(monkeypatch):
    for key in ("LOCAL_WORLD_SIZE", "SLURM_NTASKS_PER_NODE"):
        monkeypatch.delenv(key, raising=False)
    assert local_processes(3) == 3
    monkeypatch.setenv("SLURM_NTASKS_PER_NODE", "4(x2)")
    assert local_processes() == 4
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert local_processes() == 2


def test_num_threads_below_one_is_a_config_error():
    with pytest.raises(StemdlError, match="'num_threads': must be >= 1"):
        BaseRunConfig(num_threads=0).validate()
    BaseRunConfig(num_threads=None).validate()

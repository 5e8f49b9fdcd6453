"""The SLURM cluster resolver on CPU workers (TensorFlow's lays tasks out along GPU slots)."""

from __future__ import annotations

import os

import pytest

pytest.importorskip("tensorflow")

from stemdl.common.cli.errors import StemdlError  # noqa: E402
from stemdl.ornl.distributed import CpuSlurmClusterResolver, slurm_resolver, tasks_per_node  # noqa: E402

STEP = {"SLURM_JOB_ID": "7", "SLURM_STEP_NUM_TASKS": "4", "SLURM_STEP_NODELIST": "node[01-02]",
        "SLURM_STEP_TASKS_PER_NODE": "2(x2)"}


@pytest.mark.parametrize("value, expected", [("2", 2), ("2(x3)", 2), ("3(x2),1", 3), ("1,4", 4)])
def test_tasks_per_node(value, expected):
    assert tasks_per_node(value) == expected


def test_tasks_per_node_rejects_garbage():
    with pytest.raises(StemdlError, match="SLURM_STEP_TASKS_PER_NODE='x'"):
        tasks_per_node("x")


@pytest.mark.parametrize("procid, host, task", [("0", "node01:8888", 0), ("3", "node02:8889", 3)])
def test_cpu_resolver_lists_every_task_and_no_accelerator(monkeypatch, procid, host, task):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    for key, value in {**STEP, "SLURM_PROCID": procid}.items():
        monkeypatch.setenv(key, value)
    resolver = slurm_resolver(0, port_base=8888)
    assert isinstance(resolver, CpuSlurmClusterResolver)
    spec = resolver.cluster_spec().as_dict()
    assert spec == {"worker": ["node01:8888", "node01:8889", "node02:8888", "node02:8889"]}
    assert (resolver.task_type, resolver.task_id) == ("worker", task)
    assert spec["worker"][task] == host
    assert resolver.num_accelerators() == {}
    assert "CUDA_VISIBLE_DEVICES" not in os.environ  # no placeholder slot leaks out

"""system.json's facts where this machine has none to show: GPUs (a fake nvidia-smi), a
container, sysfs caches; and what a field left unread looks like."""

from __future__ import annotations

import json

from stemdl.common.run.results import CPU_DEVICE, RunResult
from stemdl.common.run.system import (
    SYSTEM_FIELDS,
    UNREADABLE_KEY,
    cache_summary,
    container,
    describe_system,
    read_system,
    write_system,
)

SMI = ('#!/bin/bash\necho "NVIDIA H200, 143771 MiB, 1980 MHz, 570.86"\n'
       'echo "NVIDIA H200, 143771 MiB, 1980 MHz, 570.86"\n')


def _gpu_run(**extra) -> RunResult:
    extra = {"hardware": {"nodes": 2}, **extra}
    return RunResult(implementation="stfc", division="closed", device="NVIDIA H200",
                     device_count=4, frameworks={"torch": "2.13.0", "cuda": "12.8",
                                                 "cudnn": "9.7.0", "nccl": "2.25.1"},
                     config={"platform": "h200-pair", "status": "onprem",
                                                    "organisation": "stfc"}, **extra)


def test_a_gpu_run_reads_its_gpus_from_nvidia_smi(tmp_path, monkeypatch):
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "nvidia-smi").write_text(SMI)
    (tmp_path / "bin" / "nvidia-smi").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    desc = describe_system(_gpu_run(), tmp_path)
    assert desc["accelerator_model_name"] == "NVIDIA H200"
    assert desc["accelerator_memory_capacity"] == "143771 MiB"
    assert desc["accelerator_frequency"] == "1980 MHz"
    assert desc["accelerators_per_node"] == "2"  # 4 devices over 2 nodes
    assert desc["number_of_nodes"] == "2" and desc["system_name"] == "h200-pair"
    assert desc["submitter"] == "stfc" and desc["status"] == "Available on-premise"
    assert desc["framework"] == "PyTorch 2.13.0"
    assert desc["other_software_stack"].startswith("CUDA 12.8, cuDNN 9.7.0, NCCL 2.25.1, Python ")
    assert "NVIDIA driver 570.86" in desc["sw_notes"]
    assert "accelerator_model_name" not in desc[UNREADABLE_KEY]


def test_without_nvidia_smi_the_gpu_name_stays_and_its_memory_is_named_unread(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi
    desc = describe_system(_gpu_run(), tmp_path)
    assert desc["accelerator_model_name"] == "NVIDIA H200"
    assert desc["accelerator_memory_capacity"] == ""
    assert "accelerator_memory_capacity" in desc[UNREADABLE_KEY]
    desc = describe_system(_gpu_run(hardware={"nodes": 2, "accelerator_memory_bytes": 141 * 2**30}), tmp_path)
    assert desc["accelerator_memory_capacity"] == "141 GiB"  # from the framework


def test_a_cpu_run_has_no_accelerator_to_miss(tmp_path):
    desc = describe_system(RunResult(implementation="ornl", device=CPU_DEVICE, device_count=1,
                                     frameworks={"tensorflow": "2.21.0"}), tmp_path)
    assert desc["accelerator_model_name"] == "none" and desc["accelerators_per_node"] == "0"
    assert not [k for k in desc[UNREADABLE_KEY] if k.startswith("accelerator")]
    assert set(SYSTEM_FIELDS) <= set(desc) and all(isinstance(desc[k], str) for k in SYSTEM_FIELDS)
    write_system(tmp_path, desc)
    assert read_system(tmp_path) == json.loads((tmp_path / "system.json").read_text())


def test_the_container_is_named(monkeypatch):
    for key in ("APPTAINER_CONTAINER", "SINGULARITY_CONTAINER", "STEMDL_IMAGE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("SINGULARITY_CONTAINER", "/scratch/stemdl-stfc.sif")
    assert container() == "apptainer /scratch/stemdl-stfc.sif"


def test_caches_from_sysfs(tmp_path):
    for n, (level, kind, size) in enumerate([("1", "Data", "48K"), ("1", "Instruction", "32K"),
                                             ("2", "Unified", "2048K")]):
        index = tmp_path / f"index{n}"
        index.mkdir()
        for name, value in (("level", level), ("type", kind), ("size", size)):
            (index / name).write_text(value + "\n")
    assert cache_summary(str(tmp_path)) == "L1d 48K, L1i 32K, L2 2048K"
    assert cache_summary(str(tmp_path / "none")) == ""

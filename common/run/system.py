"""The system description of a run: `system.json` beside results.json (rank 0).

Its fields are those of mlperf-logging's system description (the file MLPerf submissions
carry and `mlperf_logging.system_desc_checker` checks), read from the machine that ran:
host processor, cores, caches and memory from /proc, /sys and psutil; accelerators from
nvidia-smi where it answers, else from the framework's device name; framework, CUDA,
cuDNN and NCCL versions from the run's `frameworks`; the operating system and the
container the run was in. A field that cannot be read is left empty and named in
`stemdl_unreadable`, so a reviewer sees what to fill in by hand rather than a guess.
Reading /proc and /sys by hand: psutil has no processor model, cache or socket count.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

from stemdl.common.infra.atomic import write_text_atomic

SYSTEM_FILE = "system.json"
UNREADABLE_KEY = "stemdl_unreadable"

# mlperf-logging's system description fields (system_desc_checker's required list)
SYSTEM_FIELDS = (
    "submitter", "division", "status", "system_name", "number_of_nodes",
    "host_processors_per_node", "host_processor_model_name", "host_processor_core_count",
    "host_processor_vcpu_count", "host_processor_frequency", "host_processor_caches",
    "host_processor_interconnect", "host_memory_capacity", "host_storage_type",
    "host_storage_capacity", "host_networking", "host_networking_topology",
    "host_memory_configuration", "accelerators_per_node", "accelerator_model_name",
    "accelerator_host_interconnect", "accelerator_frequency", "accelerator_on-chip_memories",
    "accelerator_memory_configuration", "accelerator_memory_capacity",
    "accelerator_interconnect", "accelerator_interconnect_topology", "cooling", "hw_notes",
    "framework", "other_software_stack", "operating_system", "sw_notes",
)
# the fields that describe the hardware and software (not who submits it): two runs of
# one submission must agree on these
HARDWARE_FIELDS = tuple(f for f in SYSTEM_FIELDS if f not in ("submitter", "division", "status",
                                                               "system_name", "hw_notes",
                                                               "sw_notes", "host_storage_capacity"))

# our submission_status values, as the system description's availability names them
AVAILABILITY = {"onprem": "Available on-premise", "available": "Available on-premise",
                "cloud": "Available cloud", "preview": "Preview",
                "research": "Research, Development, or Internal (RDI)"}
FRAMEWORK_NAMES = {"torch": "PyTorch", "pytorch-lightning": "PyTorch Lightning",
                   "tensorflow": "TensorFlow", "keras": "Keras"}
LIBRARY_KEYS = ("cuda", "cudnn", "nccl")  # `frameworks` keys of the GPU libraries
NVIDIA_SMI_TIMEOUT_S = 10
NOTES = ("hw_notes", "sw_notes")  # free text for the submitter, not facts to read


def _read(path: str | Path) -> str:
    with contextlib.suppress(OSError, UnicodeDecodeError):
        return Path(path).read_text(encoding="utf-8", errors="replace").strip()
    return ""


def _cpuinfo() -> list[dict[str, str]]:
    """/proc/cpuinfo as one dict per logical processor (empty where there is none)."""
    blocks: list[dict[str, str]] = []
    for block in _read("/proc/cpuinfo").split("\n\n"):
        entry = {}
        for line in block.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                entry[key.strip()] = value.strip()
        if entry:
            blocks.append(entry)
    return blocks


def _gib(n_bytes: float) -> str:
    return f"{n_bytes / 2**30:.0f} GiB" if n_bytes >= 2**30 else f"{n_bytes / 2**20:.0f} MiB"


def processor_facts() -> dict[str, Any]:
    """Host processor model, sockets, cores per socket, vCPUs, frequency and caches."""
    import psutil

    cpus = _cpuinfo()
    model = next((c["model name"] for c in cpus if c.get("model name")), "") or platform.processor()
    sockets = len({c["physical id"] for c in cpus if "physical id" in c}) or None
    physical = psutil.cpu_count(logical=False)
    freq = psutil.cpu_freq() if hasattr(psutil, "cpu_freq") else None
    mhz = (freq.max or freq.current) if freq else 0.0
    return {
        "host_processor_model_name": model,
        "host_processors_per_node": sockets or "",
        "host_processor_core_count": (physical // sockets if physical and sockets else physical) or "",
        "host_processor_vcpu_count": psutil.cpu_count(logical=True) or "",
        "host_processor_frequency": f"{mhz:.0f} MHz" if mhz else "",
        "host_processor_caches": cache_summary(),
    }


def cache_summary(cpu: str = "/sys/devices/system/cpu/cpu0/cache") -> str:
    """'L1d 48K, L1i 64K, L2 2048K, L3 491520K' from sysfs (per core as the kernel reports)."""
    parts = []
    for index in sorted(Path(cpu).glob("index*")):
        level, kind, size = (_read(index / n) for n in ("level", "type", "size"))
        if not (level and size):
            continue
        suffix = {"Data": "d", "Instruction": "i"}.get(kind, "")
        parts.append(f"L{level}{suffix} {size}")
    return ", ".join(parts)


def memory_and_storage(where: str | Path) -> dict[str, Any]:
    """Host memory and the capacity of the file system that holds `where` (the run)."""
    import psutil

    facts: dict[str, Any] = {"host_memory_capacity": _gib(psutil.virtual_memory().total)}
    with contextlib.suppress(OSError):
        facts["host_storage_capacity"] = _gib(shutil.disk_usage(where).total)
    facts["host_storage_type"] = file_system_type(where)
    return facts


def file_system_type(where: str | Path) -> str:
    """The type of the file system that holds `where` ('ext4', 'lustre', 'nfs4', ...)."""
    import psutil

    path = str(Path(where).resolve())
    best = ("", "")
    with contextlib.suppress(OSError):
        for part in psutil.disk_partitions(all=True):
            mount = part.mountpoint.rstrip("/") + "/"
            if (path + "/").startswith(mount) and len(mount) > len(best[0]):
                best = (mount, part.fstype)
    return f"{best[1]} file system" if best[1] else ""


def networking() -> dict[str, Any]:
    """InfiniBand adapters (sysfs) and the up, non-loopback interfaces with their speed."""
    import psutil

    ib = sorted(p.name for p in Path("/sys/class/infiniband").glob("*"))
    nics = []
    with contextlib.suppress(OSError):
        for name, stats in sorted(psutil.net_if_stats().items()):
            if stats.isup and "loopback" not in getattr(stats, "flags", "") and name != "lo":
                nics.append(f"{name} {stats.speed} Mb/s" if stats.speed else name)
    return {"host_networking": ", ".join([*(f"InfiniBand {n}" for n in ib), *nics]),
            "host_processor_interconnect": "", "host_networking_topology": ""}


def nvidia_smi() -> list[dict[str, str]]:
    """One dict per GPU (name, memory.total, clocks.max.sm, driver) from nvidia-smi, or []."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    fields = ("name", "memory.total", "clocks.max.sm", "driver_version")
    try:
        out = subprocess.run([exe, f"--query-gpu={','.join(fields)}", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=NVIDIA_SMI_TIMEOUT_S,
                             check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [dict(zip(fields, (v.strip() for v in line.split(",")), strict=False))
            for line in out.splitlines() if line.strip()]


def operating_system() -> str:
    """'Debian GNU/Linux 12 (bookworm), Linux 6.1.0' (os-release and the kernel)."""
    pretty = ""
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            pretty = line.split("=", 1)[1].strip().strip('"')
    kernel = f"{platform.system()} {platform.release()}".strip()
    return ", ".join(p for p in (pretty, kernel) if p)


def container() -> str:
    """The container the run is in: Apptainer/Singularity's image, podman's, a Docker
    one (image unknown inside), else ''."""
    for key in ("APPTAINER_CONTAINER", "SINGULARITY_CONTAINER"):
        if os.environ.get(key):
            return f"apptainer {os.environ[key]}"
    for line in _read("/run/.containerenv").splitlines():
        if line.startswith("image="):
            return f"podman {line.split('=', 1)[1].strip().strip(chr(34))}"
    if os.environ.get("STEMDL_IMAGE"):
        return os.environ["STEMDL_IMAGE"]
    if Path("/.dockerenv").exists():
        return "docker"
    return ""


def software(frameworks: dict[str, str], container_name: str) -> dict[str, str]:
    """The framework line and the rest of the stack (GPU libraries, Python, this code)."""
    from stemdl.common.run.identity import code_commit, code_version

    main = [f"{FRAMEWORK_NAMES[k]} {v}" for k, v in frameworks.items() if k in FRAMEWORK_NAMES]
    libraries = [f"{k.upper() if k != 'cudnn' else 'cuDNN'} {frameworks[k]}"
                 for k in LIBRARY_KEYS if frameworks.get(k)]
    other = [*libraries, f"Python {platform.python_version()}",
             f"stemdl-bench {code_version()} ({code_commit()})"]
    if container_name:
        other.append(f"container {container_name}")
    return {"framework": ", ".join(main), "other_software_stack": ", ".join(other)}


def describe_system(result: Any, where: str | Path, system_name: str | None = None,
                    submitter: str | None = None) -> dict[str, Any]:
    """The system description of the run `result` (a RunResult) that ran on this machine.

    `system_name` defaults to the run's platform (its config), else the host name."""
    config = getattr(result, "config", {}) or {}
    hardware = getattr(result, "hardware", {}) or {}
    nodes = int(hardware.get("nodes") or config.get("nodes") or 1)
    devices = int(result.device_count or 0)
    on_gpu = bool(result.device) and result.device != "cpu"
    gpus = nvidia_smi() if on_gpu else []
    here = container()
    desc: dict[str, Any] = dict.fromkeys(SYSTEM_FIELDS, "")
    desc.update({
        "submitter": submitter or config.get("organisation") or "",
        "division": result.division or "",
        "status": AVAILABILITY.get(str(config.get("status", "")), ""),
        "system_name": system_name or config.get("platform") or socket.gethostname(),
        "number_of_nodes": nodes,
        **processor_facts(), **memory_and_storage(where), **networking(),
        "accelerators_per_node": max(1, devices // nodes) if on_gpu else 0,
        "accelerator_model_name": (gpus[0]["name"] if gpus else result.device) if on_gpu else "",
        "operating_system": operating_system(),
        **software(dict(result.frameworks or {}), here),
    })
    if gpus:
        desc["accelerator_memory_capacity"] = gpus[0].get("memory.total", "")
        desc["accelerator_frequency"] = gpus[0].get("clocks.max.sm", "")
        desc["sw_notes"] = f"NVIDIA driver {gpus[0].get('driver_version', '')}"
    elif on_gpu and hardware.get("accelerator_memory_bytes"):
        desc["accelerator_memory_capacity"] = _gib(float(hardware["accelerator_memory_bytes"]))
    if not on_gpu:  # no accelerator: nothing of it to read, nothing missing
        for key in [k for k in SYSTEM_FIELDS if k.startswith("accelerator_")]:
            desc[key] = "none" if key == "accelerator_model_name" else "n/a"
    # strings throughout, as MLPerf's system files write them (its checker joins them)
    desc = {k: "" if v is None else str(v) for k, v in desc.items()}
    desc["stemdl_container"] = here
    desc[UNREADABLE_KEY] = [k for k in SYSTEM_FIELDS if desc[k] == "" and k not in NOTES]
    return desc


def write_system(run_dir: str | Path, description: dict[str, Any]) -> Path:
    """Write `description` as the run's system.json (atomically)."""
    return write_text_atomic(Path(run_dir) / SYSTEM_FILE, json.dumps(description, indent=2) + "\n")


def read_system(path: str | Path) -> dict[str, Any]:
    """A system.json (or the one in a run folder) as a dict."""
    path = Path(path)
    if path.is_dir():
        path = path / SYSTEM_FILE
    return json.loads(path.read_text(encoding="utf-8"))

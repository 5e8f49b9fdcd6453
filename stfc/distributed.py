"""Devices and nodes for Lightning: from the config, else from the launcher's environment.

Lightning's own cluster environments (SLURM, LSF/jsrun, torchrun, MPI) then pick up
ranks and the master address; this module only decides how many processes per node and
how many nodes, and which strategy, so that a launcher-started job needs no extra keys.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from stemdl.common.cli.errors import StemdlError, check_choice
from stemdl.common.infra.ranks import int_env, launch_rank
from stemdl.common.run.runconfig import ACCELERATORS

# (processes on this node, total processes) variables per launcher, in order of precedence
_LAUNCHERS = (
    ("slurm", "SLURM_NTASKS_PER_NODE", "SLURM_NTASKS"),
    ("torchrun", "LOCAL_WORLD_SIZE", "WORLD_SIZE"),
    ("lsf", "JSM_NAMESPACE_LOCAL_SIZE", "JSM_NAMESPACE_SIZE"),
    ("mpi", "OMPI_COMM_WORLD_LOCAL_SIZE", "OMPI_COMM_WORLD_SIZE"),
)


@dataclass(frozen=True)
class Layout:
    accelerator: str  # "cpu" or "gpu"
    devices: int  # processes per node
    nodes: int
    strategy: str  # "auto" (one process) or "ddp"
    launcher: str  # "config", "slurm", "torchrun", "lsf", "mpi" or "local"

    @property
    def world_size(self) -> int:
        return self.devices * self.nodes


def launcher_layout(env: Mapping[str, str] | None = None) -> tuple[str, int, int] | None:
    """(launcher, processes per node, nodes) from the environment, or None outside a launcher."""
    env = os.environ if env is None else env
    for name, local_var, world_var in _LAUNCHERS:
        local, world = int_env(env, local_var), int_env(env, world_var)
        if local and world:
            if world % local:
                raise StemdlError(f"{name}: {world} processes do not split evenly into {local} per node")
            return name, local, world // local
    return None


def gpu_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def resolve_layout(
    accelerator: str, devices: int | None, nodes: int, env: Mapping[str, str] | None = None
) -> Layout:
    """Lightning's accelerator/devices/num_nodes/strategy for this run."""
    check_choice("config key 'accelerator'", accelerator, ACCELERATORS)
    gpus = gpu_count()
    if accelerator == "gpu" and gpus == 0:
        raise StemdlError("config key 'accelerator': gpu asked for, but no GPU is visible")
    kind = "gpu" if accelerator == "gpu" or (accelerator == "auto" and gpus > 0) else "cpu"
    launched = launcher_layout(env)
    source = "config"
    if devices is None and launched is not None:
        source, devices, launched_nodes = launched
        if nodes == 1:
            nodes = launched_nodes
    elif devices is None:
        devices, source = (gpus if kind == "gpu" else 1), "local"
    if kind == "gpu" and devices > gpus:
        raise StemdlError(f"config key 'devices': {devices} GPUs asked for, {gpus} visible")
    strategy = "ddp" if devices * nodes > 1 else "auto"
    return Layout(kind, int(devices), int(nodes), strategy, source)


def env_rank(devices: int, env: Mapping[str, str] | None = None) -> int:
    """This process's global rank before the process group exists (common.infra.ranks.launch_rank:
    one precedence for both implementations)."""
    return launch_rank(devices, env)

"""This process's rank and the world size, from flags or the launcher's environment.

Used by the independent-rank jobs (simulate, preprocess): each rank takes a
deterministic share of the work. Training uses the frameworks' own detection.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TypeVar

from stemdl.common.cli.errors import StemdlError

T = TypeVar("T")

# (rank variable, size variable) per launcher, in order of precedence.
LAUNCHER_ENV = (
    ("SLURM_PROCID", "SLURM_NTASKS"),
    ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
    ("PMI_RANK", "PMI_SIZE"),
    ("PMIX_RANK", "PMIX_SIZE"),
    ("JSM_NAMESPACE_RANK", "JSM_NAMESPACE_SIZE"),
    ("RANK", "WORLD_SIZE"),
)


def resolve_rank(
    rank: int | None = None, world: int | None = None, env: Mapping[str, str] | None = None
) -> tuple[int, int]:
    """(rank, world) from explicit values, else the launcher's environment, else (0, 1)."""
    env = os.environ if env is None else env
    if rank is None and world is None:
        for rank_var, size_var in LAUNCHER_ENV:
            if rank_var in env and size_var in env:
                try:
                    rank, world = int(env[rank_var]), int(env[size_var])
                except ValueError:
                    raise StemdlError(
                        f"launcher variables {rank_var}/{size_var} are not integers"
                    ) from None
                break
        else:
            rank, world = 0, 1
    elif rank is None or world is None:
        raise StemdlError("give both --rank and --world, or neither")
    if world < 1 or not 0 <= rank < world:
        raise StemdlError(f"rank {rank} is not in 0..world-1 for world {world}")
    return rank, world


def share(items: Sequence[T], rank: int, world: int) -> list[T]:
    """This rank's deterministic share: every world-th item starting at rank."""
    return list(items[rank::world])


# Training: this process's rank before the framework starts, one precedence for both
# implementations. RANK first: torchrun and Lightning set it per process, also inside an
# allocation whose SLURM_PROCID names the task rather than the process.
TRAIN_RANK_VARS = ("RANK", "SLURM_PROCID", "OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK",
                   "JSM_NAMESPACE_RANK")


def int_env(env: Mapping[str, str], name: str) -> int | None:
    """An integer launcher variable, None when unset; a one-line error for anything else."""
    value = env.get(name)
    if value is None:
        return None
    try:
        return int(value.split("(")[0].split(",")[0])  # SLURM writes e.g. "2(x3)"
    except ValueError:
        raise StemdlError(f"launcher variable {name}={value!r} is not an integer") from None


def launch_rank(devices_per_node: int = 1, env: Mapping[str, str] | None = None) -> int:
    """A training process's global rank before torch.distributed or tf.distribute exists.

    In order: TF_CONFIG's task (the chief is 0; workers follow it), LOCAL_RANK/NODE_RANK
    that Lightning's own launcher gives its children (no RANK), then the first of
    TRAIN_RANK_VARS that is set, else 0."""
    import json

    env = os.environ if env is None else env
    raw = env.get("TF_CONFIG")
    if raw:
        try:
            spec = json.loads(raw)
            task = spec.get("task", {})
            index = int(task.get("index", 0))
        except (ValueError, TypeError, AttributeError):
            raise StemdlError("TF_CONFIG is not valid JSON with a task index") from None
        if task.get("type") == "chief":
            return 0
        return index + (1 if "chief" in spec.get("cluster", {}) else 0)
    if "LOCAL_RANK" in env and "RANK" not in env:
        return (int_env(env, "NODE_RANK") or 0) * devices_per_node + (int_env(env, "LOCAL_RANK") or 0)
    for name in TRAIN_RANK_VARS:
        value = int_env(env, name)
        if value is not None:
            return value
    return 0

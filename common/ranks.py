"""This process's rank and the world size, from flags or the launcher's environment.

Used by the independent-rank jobs (simulate, preprocess): each rank takes a
deterministic share of the work. Training uses the frameworks' own detection.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TypeVar

from stemdl.common.errors import StemdlError

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

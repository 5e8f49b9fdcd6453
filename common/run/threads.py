"""How many compute threads a training process uses: the `num_threads` setting.

On a small CPU the framework's default (one intra-op thread per core in every process)
oversubscribes it as soon as data-loader workers or several training processes share the
cores: measured on 2 cores with 2 loader workers, torch at 2 intra-op threads ran about
3x slower than at 1. The default therefore leaves one core per loader worker:

    num_threads = max(1, cpus // processes_per_node - loader_workers)

where cpus are the cores this process may run on (its affinity mask), processes_per_node
the training processes sharing them (DDP ranks on CPU, TF workers on one host), and
loader_workers the data-loading workers each process starts (STFC: DataLoader
processes; ORNL: tf.data's parallel reads). A value set in the config is used as given,
clamped to the cores (with a note), since more threads than cores never helps.

Torch uses it for its intra-op pool (torch.set_num_threads); TensorFlow for its intra-op
pool, with min(2, num_threads) inter-op threads (a ResNet step is one chain of ops, so
more inter-op threads only compete with the intra-op ones).
"""

from __future__ import annotations

import os
import sys

LOCAL_PROCESS_ENV = ("LOCAL_WORLD_SIZE", "SLURM_NTASKS_PER_NODE")
# torch training on CPU with 2 intra-op threads is not run-to-run reproducible: measured on
# this 2-core CPU (ResNet-18, 3 Adam steps, same seed and input, torch 2.13, a fresh
# process each), 1 process in 8 gave other weights after the first update, with or
# without torch.backends.mkldnn.deterministic and MKL_CBWR; with 1 thread 36 of 36 agreed.
# A `deterministic=true` CPU run of torch therefore uses 1 compute thread unless told more.
REPRODUCIBLE_THREADS = 1


def available_cpus() -> int:
    """Cores this process may run on (the affinity mask, e.g. under taskset or Slurm)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def local_processes(default: int = 1) -> int:
    """Training processes on this node, from the launcher's environment, else ``default``."""
    for key in LOCAL_PROCESS_ENV:
        value = os.environ.get(key, "").split("(")[0]  # Slurm may write "2(x3)"
        if value.isdigit() and int(value) > 0:
            return int(value)
    return max(1, default)


def default_threads(loader_workers: int, processes: int = 1, cpus: int | None = None) -> int:
    """max(1, cpus // processes - loader_workers): compute threads that fit beside the loaders."""
    cpus = available_cpus() if cpus is None else cpus
    return max(1, cpus // max(1, processes) - max(0, loader_workers))


def resolve_threads(requested: int | None, loader_workers: int, processes: int = 1,
                    cpus: int | None = None, reproducible: bool = False) -> int:
    """The compute threads to use: ``requested`` (clamped to the cores, with a note on
    stderr) or, when None, `default_threads`; 1 when None and `reproducible` (see
    REPRODUCIBLE_THREADS)."""
    cpus = available_cpus() if cpus is None else cpus
    if requested is None:
        return REPRODUCIBLE_THREADS if reproducible else default_threads(loader_workers, processes, cpus)
    if requested > cpus:
        print(f"stemdl: note: num_threads {requested} is more than the {cpus} cores this "
              f"process may use; using {cpus}", file=sys.stderr)
        return cpus
    return requested


def inter_op_threads(num_threads: int) -> int:
    """TensorFlow inter-op threads for ``num_threads`` intra-op threads."""
    return min(2, num_threads)

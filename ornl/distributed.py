"""tf.distribute set-up: one device, MirroredStrategy over local GPUs, or
MultiWorkerMirroredStrategy across workers found from TF_CONFIG or SLURM.

MultiWorkerMirroredStrategy must be created before any other TensorFlow op runs in the
process, so `make_strategy` is the first TensorFlow call of a training run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass

import tensorflow as tf

from stemdl.common.cli.errors import StemdlError, check_choice
from stemdl.common.run.results import CPU_DEVICE
from stemdl.ornl.config import STRATEGIES


def cluster_from_env(env: Mapping[str, str] | None = None) -> str | None:
    """'tf_config' or 'slurm' when the environment describes more than one worker, else None."""
    env = os.environ if env is None else env
    if env.get("TF_CONFIG"):
        try:
            spec = json.loads(env["TF_CONFIG"])
            cluster = spec.get("cluster", {})
            workers = sum(len(v) for k, v in cluster.items() if k in ("chief", "worker"))
        except (ValueError, AttributeError, TypeError):
            raise StemdlError("TF_CONFIG is not valid JSON with a 'cluster' mapping") from None
        return "tf_config" if workers > 1 else None
    try:
        if env.get("SLURM_JOB_ID") and int(env.get("SLURM_NTASKS", "1")) > 1:
            return "slurm"
    except ValueError:
        raise StemdlError("SLURM_NTASKS is not an integer") from None
    return None


def tasks_per_node(value: str) -> int:
    """The most tasks on one node from SLURM's compressed list, e.g. '2(x3),1' -> 2."""
    try:
        return max(int(part.split("(")[0]) for part in value.split(","))
    except ValueError:
        raise StemdlError(f"SLURM_STEP_TASKS_PER_NODE={value!r} is not a task count list") from None


class CpuSlurmClusterResolver(tf.distribute.cluster_resolver.SlurmClusterResolver):
    """TensorFlow's SLURM resolver for CPU workers.

    TensorFlow's resolver lays tasks out along GPU slots: with no GPU (or no nvidia-smi) it
    finds no slot and lists no task. Here each task gets one placeholder slot (nothing is
    written to CUDA_VISIBLE_DEVICES) and the resolver reports no accelerator, so
    MultiWorkerMirroredStrategy puts one CPU replica on each worker.
    """

    def __init__(self, port_base: int = 8888, env: Mapping[str, str] | None = None):
        env = os.environ if env is None else env
        per_node = tasks_per_node(env.get("SLURM_STEP_TASKS_PER_NODE", "1"))
        super().__init__(port_base=port_base, gpus_per_node=per_node, gpus_per_task=1,
                         auto_set_gpu=False)

    def num_accelerators(self, task_type=None, task_id=None, config_proto=None):
        return {}


def slurm_resolver(gpus_per_node: int, port_base: int = 8888) -> tf.distribute.cluster_resolver.ClusterResolver:
    """The cluster of this SLURM job step: GPU workers, or CPU workers when there is no GPU."""
    if gpus_per_node > 0:
        return tf.distribute.cluster_resolver.SlurmClusterResolver(
            port_base=port_base, gpus_per_node=gpus_per_node
        )
    return CpuSlurmClusterResolver(port_base=port_base)


def _local_gpus(devices: int | None) -> list[str]:
    gpus = tf.config.list_logical_devices("GPU")
    if devices is not None:
        if devices > len(gpus) and gpus:
            raise StemdlError(f"config key 'devices': {devices} asked, {len(gpus)} GPU(s) visible")
        gpus = gpus[:devices]
    return [g.name for g in gpus]


def make_strategy(kind: str = "auto", devices: int | None = None, accelerator: str = "auto",
                  slurm_port_base: int = 8888) -> tf.distribute.Strategy:
    """The strategy for this process.

    auto: multi_worker when TF_CONFIG/SLURM describe several workers, else mirrored over
    the local GPUs (or over the CPU when there is none).
    """
    check_choice("config key 'strategy'", kind, STRATEGIES)
    cluster = cluster_from_env()
    if kind == "multi_worker" or (kind == "auto" and cluster):
        comm = tf.distribute.experimental.CommunicationOptions(
            implementation=tf.distribute.experimental.CommunicationImplementation.AUTO
        )
        if cluster == "slurm":
            gpus_per_node = 0 if accelerator == "cpu" else (devices or len(tf.config.list_physical_devices("GPU")))
            resolver = slurm_resolver(gpus_per_node, slurm_port_base)
        else:
            resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
        return tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=resolver,
                                                         communication_options=comm)
    if kind == "default":
        return tf.distribute.get_strategy()
    gpus = [] if accelerator == "cpu" else _local_gpus(devices)
    if accelerator == "gpu" and not gpus:
        raise StemdlError("config key 'accelerator': gpu asked but no GPU is visible")
    return tf.distribute.MirroredStrategy(gpus or ["/cpu:0"])


@dataclass(frozen=True)
class WorkerInfo:
    """This process's place in the cluster."""

    task_id: int
    num_workers: int
    replicas: int  # in sync, all workers together
    local_replicas: int

    @property
    def is_chief(self) -> bool:
        return self.task_id == 0


def worker_info(strategy: tf.distribute.Strategy) -> WorkerInfo:
    resolver = getattr(strategy, "cluster_resolver", None)
    num_workers, task_id = 1, 0
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and resolver is not None:
        spec = resolver.cluster_spec().as_dict()
        num_workers = max(1, sum(len(spec.get(k, [])) for k in ("chief", "worker")))
        task_type, task_id = resolver.task_type, int(resolver.task_id or 0)
        if task_type == "worker" and "chief" in spec:
            task_id += 1
    replicas = strategy.num_replicas_in_sync
    return WorkerInfo(task_id, num_workers, replicas, max(1, replicas // num_workers))


def gpu_libraries() -> dict[str, str]:
    """The CUDA and cuDNN versions this TensorFlow was built with (absent on a CPU build)."""
    try:
        info = tf.sysconfig.get_build_info()
    except (AttributeError, RuntimeError):
        return {}
    found = {"cuda": info.get("cuda_version"), "cudnn": info.get("cudnn_version")}
    return {k: str(v) for k, v in found.items() if v and info.get("is_cuda_build", True)}


def device_name(strategy: tf.distribute.Strategy) -> str:
    """What the replicas run on: the GPU's name (e.g. "NVIDIA H100 80GB HBM3"), else "cpu"."""
    try:
        devices = list(strategy.extended.worker_devices)
    except RuntimeError:  # the default strategy: TensorFlow's default device
        devices = [d.name for d in tf.config.list_logical_devices("GPU")[:1]]
    if not any(":GPU:" in d.upper() for d in devices):
        return CPU_DEVICE
    gpus = tf.config.list_physical_devices("GPU")
    details = tf.config.experimental.get_device_details(gpus[0]) if gpus else {}
    return str(details.get("device_name") or "GPU")


def barrier(strategy: tf.distribute.Strategy) -> None:
    """All workers meet here (a tiny all-reduce); a no-op with one worker."""
    if strategy.num_replicas_in_sync > 1:

        @tf.function
        def meet():
            value = strategy.run(lambda: tf.constant(1.0))
            return strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)

        meet().numpy()

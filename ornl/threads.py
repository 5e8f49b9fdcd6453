"""TensorFlow's thread pools from the `num_threads` setting (see stemdl.common.run.threads)."""

from __future__ import annotations

import sys

from stemdl.common.run.threads import inter_op_threads, local_processes, resolve_threads


def apply_threads(cfg) -> dict[str, int]:
    """Resolve ``cfg.num_threads`` (in place) and size TensorFlow's intra-/inter-op pools;
    returns the pools' sizes as TensorFlow reports them, for results.json.

    Must run before TensorFlow executes anything; if it already has (a second run in one
    process), the pools keep their sizes and a note says so.
    """
    import tensorflow as tf

    cfg.num_threads = resolve_threads(cfg.num_threads, cfg.num_workers, local_processes())
    try:
        tf.config.threading.set_intra_op_parallelism_threads(cfg.num_threads)
        tf.config.threading.set_inter_op_parallelism_threads(inter_op_threads(cfg.num_threads))
    except RuntimeError:
        print("stemdl: note: TensorFlow is already running in this process; its thread pools "
              "keep their sizes", file=sys.stderr)
    return {"intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads()}

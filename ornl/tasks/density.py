"""The density task's Keras hooks: the U-Net's maps (channels last), L1 (ORNL's) or MSE
per example, the maps themselves as predictions, and the metric's sums
(common/tasks/density/metric.py) in float64 as the evaluation state."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import tensorflow as tf

from stemdl.common.cli.errors import StemdlError
from stemdl.common.task import get_task
from stemdl.common.tasks.density.fcdensenet import FCDenseNetSpec
from stemdl.common.tasks.density.metric import FIELDS, TINY, MapErrors
from stemdl.common.workload import PATTERNS_PER_STACK
from stemdl.ornl.fcdensenet import build_fcdensenet
from stemdl.ornl.unet import build_unet


def batch_sums(labels, preds):
    """The state increment of a batch of maps (N, H, W, C): the numbers of
    `common.tasks.density.metric.batch_sums`, in float64."""
    def maps(x):  # (N, H, W, C) -> (N * C, H * W)
        x = tf.transpose(tf.cast(x, tf.float64), [0, 3, 1, 2])
        shape = tf.shape(x)
        return tf.reshape(x, [shape[0] * shape[1], shape[2] * shape[3]])

    t, p = maps(labels), maps(preds)
    err = p - t
    sse, sst = tf.reduce_sum(err**2, 1), tf.reduce_sum(t**2, 1)
    rel = tf.sqrt(sse / tf.maximum(sst, TINY))
    tc = t - tf.reduce_mean(t, 1, keepdims=True)
    pc = p - tf.reduce_mean(p, 1, keepdims=True)
    denom = tf.sqrt(tf.reduce_sum(tc**2, 1) * tf.reduce_sum(pc**2, 1))
    r = tf.where(denom > TINY, tf.reduce_sum(tc * pc, 1) / tf.maximum(denom, TINY),
                 tf.zeros_like(denom))
    count = tf.cast(tf.shape(t), tf.float64)
    return tf.stack([count[0], count[0] * count[1], tf.reduce_sum(sse), tf.reduce_sum(sst),
                     tf.reduce_sum(tf.abs(err)), tf.reduce_sum(rel), tf.reduce_sum(r)])


class DensityHooks:
    """What the task-neutral ORNL loop asks of the density task."""

    task = get_task("density")
    outputs = PATTERNS_PER_STACK  # one map per pattern
    state_size = len(FIELDS)
    state_dtype = np.float64
    all_patterns = True  # every pattern of a sample at once, as channels; targets are maps

    def build_model(self, spec, in_channels: int, dropout: float, image_size: int):
        """The U-Net or FC-DenseNet of `spec` over the data's `in_channels` patterns (3,
        or a scan's)."""
        spec = replace(spec, in_channels=in_channels)
        return build_fcdensenet(spec) if isinstance(spec, FCDenseNetSpec) else build_unet(spec)

    def per_example_loss(self, labels, outputs, label_smoothing: float = 0.0, loss: str = "l1"):
        err = tf.cast(outputs, tf.float32) - tf.cast(labels, tf.float32)
        if loss == "l1":
            return tf.reduce_mean(tf.abs(err), axis=[1, 2, 3])
        if loss == "mse":
            return tf.reduce_mean(tf.square(err), axis=[1, 2, 3])
        raise StemdlError(f"config key 'loss': unknown loss '{loss}' (l1 or mse)")

    def eval_forward(self, model, stacks):
        return tf.cast(model(stacks, training=False), tf.float32)

    def empty_outputs(self, stacks):
        return tf.zeros_like(stacks, tf.float32)

    def predict(self, outputs):
        return tf.cast(outputs, tf.float32)

    def state_update(self, labels, preds):
        return batch_sums(labels, preds)

    def host_view(self, values: np.ndarray) -> np.ndarray:
        """Maps as the other implementation and the numpy metric hold them: (N, C, H, W)."""
        return np.transpose(values, (0, 3, 1, 2)) if values.ndim == 4 else values

    def metric(self, state: np.ndarray) -> MapErrors:
        return MapErrors(state)


HOOKS = DensityHooks()

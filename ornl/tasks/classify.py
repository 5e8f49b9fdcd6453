"""Classification's Keras hooks: ResNet logits, (label-smoothed) cross-entropy, arg-max
predictions and the confusion counts as the evaluation state."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from stemdl.common.task import get_task
from stemdl.common.tasks.classify.facts import NUM_LOGITS
from stemdl.common.tasks.classify.metric import ConfusionMatrix
from stemdl.common.workload import PATTERNS_PER_STACK
from stemdl.ornl.resnet import build_resnet


class ClassifyHooks:
    """What the task-neutral ORNL loop asks of classification."""

    task = get_task("classify")
    outputs = NUM_LOGITS
    state_size = NUM_LOGITS * NUM_LOGITS
    state_dtype = np.int64
    all_patterns = False  # training: one random pattern; evaluation: logits averaged

    def build_model(self, spec, in_channels: int, dropout: float, image_size: int):
        """The ResNet of `spec` (a ResNetSpec)."""
        return build_resnet(spec.depth, in_channels, self.outputs, dropout=dropout,
                            image_size=image_size)

    def eval_forward(self, model, stacks):
        """Logits of (b, 3, H, W, 1) stacks: one per pattern, averaged over the 3."""
        shape = tf.shape(stacks)
        flat = tf.reshape(stacks, tf.concat([[-1], shape[2:]], axis=0))
        logits = model(flat, training=False)
        logits = tf.reshape(logits, [shape[0], PATTERNS_PER_STACK, -1])
        return tf.reduce_mean(tf.cast(logits, tf.float32), axis=1)

    def host_view(self, values: np.ndarray) -> np.ndarray:
        return values

    def per_example_loss(self, labels, logits, label_smoothing: float = 0.0,
                         loss: str = "cross_entropy"):
        """Cross-entropy, label-smoothed as torch's CrossEntropyLoss does:
        (1 - e) CE(label) + e mean over classes of -log p."""
        if label_smoothing <= 0:
            return tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
        logp = tf.nn.log_softmax(tf.cast(logits, tf.float32))
        nll = -tf.gather(logp, tf.cast(labels, tf.int32), batch_dims=1)
        e = label_smoothing
        return (1.0 - e) * nll - e * tf.reduce_mean(logp, axis=-1)

    def empty_outputs(self, stacks=None):
        return tf.zeros([0, self.outputs], tf.float32)

    def predict(self, logits):
        return tf.argmax(logits, axis=-1, output_type=tf.int32)

    def state_update(self, labels, preds):
        """The batch's flat confusion counts (int64), to be summed over replicas."""
        counts = tf.math.confusion_matrix(labels, preds, num_classes=self.outputs, dtype=tf.int64)
        return tf.reshape(counts, [-1])

    def metric(self, state: np.ndarray) -> ConfusionMatrix:
        return ConfusionMatrix(self.outputs).with_state(state)


HOOKS = ClassifyHooks()

"""The ORNL recipe's augmentations as TensorFlow ops, seeded statelessly.

Every random draw takes an explicit `seed` (shape [2] int) built from (run seed,
epoch, sample index), so a sample's augmentation does not depend on thread scheduling,
the number of workers, or whether the run was resumed.
"""

from __future__ import annotations

import math

import tensorflow as tf

# torchvision.transforms.RandomErasing defaults (what upstream ORNL used, with p=0.8)
ERASE_SCALE = (0.02, 0.33)
ERASE_RATIO = (0.3, 3.3)


def sample_seed(seed: int, epoch: tf.Tensor | int, index: tf.Tensor) -> tf.Tensor:
    """A stateless seed [2] unique to (run seed, epoch, sample index)."""
    epoch = tf.cast(epoch, tf.int64)
    index = tf.cast(index, tf.int64)
    return tf.stack([tf.constant(int(seed), tf.int64), epoch * (1 << 32) + index])


def pattern_index(stack: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Which of the patterns of a (3, H, W) stack to use, uniformly at random."""
    n = tf.shape(stack)[0]
    return tf.random.stateless_uniform([], seed=seed, minval=0, maxval=n, dtype=tf.int32)


def choose_pattern(stack: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """One of the 3 patterns of a (3, H, W) stack, uniformly at random -> (H, W, 1)."""
    return tf.expand_dims(tf.gather(stack, pattern_index(stack, seed)), -1)


def random_erasing(image: tf.Tensor, seed: tf.Tensor, p: float, value: float = 0.0) -> tf.Tensor:
    """With probability `p`, set one random rectangle of an (H, W, C) image to `value`.

    The rectangle's area is U(0.02, 0.33) of the image and its log aspect ratio
    U(log 0.3, log 3.3), as torchvision's RandomErasing; unlike torchvision (10 tries,
    then give up) a too-large side is clipped to the image, one draw only, so the op
    stays branch-free inside tf.data.
    """
    if p <= 0:
        return image
    seeds = tf.random.experimental.stateless_split(seed, num=5)
    shape = tf.shape(image)
    h, w = shape[0], shape[1]
    hf, wf = tf.cast(h, tf.float32), tf.cast(w, tf.float32)
    area = hf * wf * tf.random.stateless_uniform([], seeds[0], *ERASE_SCALE)
    log_r = tf.random.stateless_uniform([], seeds[1], math.log(ERASE_RATIO[0]), math.log(ERASE_RATIO[1]))
    ratio = tf.exp(log_r)
    eh = tf.clip_by_value(tf.cast(tf.round(tf.sqrt(area * ratio)), tf.int32), 1, h)
    ew = tf.clip_by_value(tf.cast(tf.round(tf.sqrt(area / ratio)), tf.int32), 1, w)
    top = tf.random.stateless_uniform([], seeds[2], 0, h - eh + 1, dtype=tf.int32)
    left = tf.random.stateless_uniform([], seeds[3], 0, w - ew + 1, dtype=tf.int32)
    rows = tf.range(h)[:, None]
    cols = tf.range(w)[None, :]
    inside = (rows >= top) & (rows < top + eh) & (cols >= left) & (cols < left + ew)
    apply = tf.random.stateless_uniform([], seeds[4]) < p
    mask = tf.logical_and(inside, apply)[:, :, None]
    return tf.where(mask, tf.cast(value, image.dtype), image)


def mixup(
    images: tf.Tensor, labels: tf.Tensor, alpha: float, seed: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """Mixup of a batch: (mixed images, labels, partner labels, lambda).

    lambda ~ Beta(alpha, alpha) per batch (as the usual reference implementation); the
    loss is lam * CE(labels) + (1 - lam) * CE(partner labels).
    """
    seeds = tf.random.experimental.stateless_split(seed, num=3)
    g1 = tf.random.stateless_gamma([], seeds[0], alpha=alpha)
    g2 = tf.random.stateless_gamma([], seeds[1], alpha=alpha)
    lam = g1 / (g1 + g2)
    n = tf.shape(images)[0]
    perm = tf.argsort(tf.random.stateless_uniform([n], seeds[2]))
    lam_x = tf.cast(lam, images.dtype)
    mixed = lam_x * images + (1 - lam_x) * tf.gather(images, perm)
    return mixed, labels, tf.gather(labels, perm), lam

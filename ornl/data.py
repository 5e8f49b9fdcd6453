"""tf.data pipelines over the common readers (raw, npz or packed layout).

Training: a seeded per-epoch permutation of the split, cut to whole global batches and
dealt to the input pipelines (one per worker); each sample is read through the reader
(`tf.numpy_function`, parallel), reduced to ONE randomly chosen pattern and randomly
erased, then batched per replica and prefetched. Evaluation: each pipeline takes a
disjoint shard (every k-th sample) with no padding or duplicates, and keeps all 3
patterns so the step can average their logits.

Raw-layout stacks are preprocessed on the fly exactly as the preprocessor does
(max(log x, -17) + 17, x10, clip to [0, 255], 4x4 block mean 512 -> 128); every stack is
then mapped per pattern position by the run's `InputNorm` (the recipe: x / 255; open
division: standardized with the training split's statistics; common/data/normalize.py),
before one pattern is chosen, so training and evaluation see the same values.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from stemdl.common.cli.errors import DataError
from stemdl.common.data.layouts import RAW
from stemdl.common.data.normalize import InputNorm, fixed_norm
from stemdl.common.data.samples import (
    FirstN,  # noqa: F401  (re-exported for callers)
    SampleReader,
)
from stemdl.common.data.transform import model_input, reader_input_size
from stemdl.common.workload import PATTERNS_PER_STACK
from stemdl.ornl import augment

AUTOTUNE = tf.data.AUTOTUNE


@dataclass(frozen=True)
class PipelineOptions:
    seed: int
    per_replica_batch: int
    replicas_per_pipeline: int = 1
    num_pipelines: int = 1
    pipeline_id: int = 0
    random_erasing_p: float = 0.8
    norm: InputNorm | None = None  # None: x / 255 (the former fixed scaling)
    parallel: int | None = None  # parallel reads; None = AUTOTUNE
    prefetch: int | None = None  # batches; None = AUTOTUNE
    # the density task: every pattern of a sample at once as channels (H, W, 3), and its
    # target maps (H, W, 3) in place of the label; no pattern choice, no erasing
    all_patterns: bool = False

    @property
    def global_batch(self) -> int:
        return self.per_replica_batch * self.replicas_per_pipeline * self.num_pipelines


def _input_shape(reader: SampleReader) -> tuple[int, int, int]:
    channels = reader.image_shape()[0]
    size = reader_input_size(reader)
    return (channels, size, size)


def _reader_map(reader: SampleReader, shape: tuple[int, int, int], norm: InputNorm | None,
                targets: bool = False):
    """index -> (index, normalized stack float32 (3,H,W), label int32) through the reader;
    with `targets`, the sample's target maps float32 (3,H,W) in place of the label."""
    norm = norm or fixed_norm("unit", shape[0])

    def load(index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        sample = reader[int(index)]
        stack = norm.apply(model_input(sample.stack, reader.layout))
        if not targets:
            return stack, np.int32(sample.label)
        if sample.target is None:
            raise DataError(f"sample {int(index)} of the {reader.split} split has no target maps")
        return stack, np.ascontiguousarray(sample.target, np.float32)

    second = tf.float32 if targets else tf.int32

    def fn(index: tf.Tensor):
        stack, label = tf.numpy_function(load, [index], (tf.float32, second), stateful=False)
        stack.set_shape(shape)
        label.set_shape((PATTERNS_PER_STACK, *shape[1:]) if targets else [])  # a map per axis
        return index, stack, label

    return fn


READ_BATCH = 32  # samples per read call of the training pipeline (one numpy call, one GIL hold)


def _batch_reader_map(reader: SampleReader, shape: tuple[int, int, int], norm: InputNorm | None,
                      targets: bool = False):
    """(epochs (k,), indices (k,)) -> (epochs, indices, normalized stacks float32 (k,3,H,W),
    labels int32 (k,) or target maps (k,3,H,W)): `_reader_map` for k samples in one call,
    through the reader's `read_batch` where it has one. Per sample, the tf.data threads
    queue for the GIL in each numpy call: measured 3,300 samples/s from packed data with 1
    or 2 parallel reads (tests/benchmarks/test_bench_loader.py)."""
    norm = norm or fixed_norm("unit", shape[0])
    # a raw reader's read_batch has no target maps (preprocessing makes them)
    read_batch = None if targets and reader.layout == RAW else getattr(reader, "read_batch", None)

    def load(indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        idx = np.asarray(indices, dtype=np.int64)
        if read_batch is not None:
            got = read_batch(idx, targets=True) if targets else read_batch(idx)
            stacks, second = got[0], got[-1]
        else:
            samples = [reader[int(i)] for i in idx]
            stacks = np.stack([s.stack for s in samples])
            if targets:
                missing = [int(i) for s, i in zip(samples, idx, strict=True) if s.target is None]
                if missing:
                    raise DataError(f"sample {missing[0]} of the {reader.split} split has no "
                                    "target maps")
                second = np.stack([s.target for s in samples])
            else:
                second = np.array([s.label for s in samples])
        stacks = norm.apply(model_input(stacks, reader.layout))
        if targets:
            return stacks, np.ascontiguousarray(second, np.float32)
        return stacks, np.asarray(second, np.int32)

    second = tf.float32 if targets else tf.int32

    def fn(e: tf.Tensor, index: tf.Tensor):
        stacks, labels = tf.numpy_function(load, [index], (tf.float32, second), stateful=False)
        stacks.set_shape((None, *shape))
        labels.set_shape((None, PATTERNS_PER_STACK, *shape[1:]) if targets else [None])
        return e, index, stacks, labels

    return fn


def _channels_last(stack: tf.Tensor) -> tf.Tensor:
    return tf.transpose(stack, [1, 2, 0])


def train_indices(n: int, epoch: int, opts: PipelineOptions) -> np.ndarray:
    """This pipeline's share of epoch `epoch`'s permutation, whole global batches only."""
    steps = n // opts.global_batch
    if steps == 0:
        raise DataError(f"global batch size {opts.global_batch} is larger than the {n} training samples")
    order = np.random.default_rng([opts.seed, epoch]).permutation(n)[: steps * opts.global_batch]
    return order[opts.pipeline_id :: opts.num_pipelines]


def steps_per_epoch(n: int, opts: PipelineOptions) -> int:
    return n // opts.global_batch


def train_dataset(reader: SampleReader, epoch: int, opts: PipelineOptions,
                  epochs: int = 1) -> tf.data.Dataset:
    """Batches of (images (b, H, W, 1), labels (b,)) (with `all_patterns`: (stacks
    (b, H, W, 3), target maps (b, H, W, 3))) of `epochs` consecutive epochs from
    `epoch` on, for one pipeline: epoch after epoch, each exactly `steps_per_epoch`
    batches, so one iterator can serve a whole run (see `Trainer.train_epoch`)."""
    n = len(reader)
    per_epoch = len(train_indices(n, epoch, opts))
    shape = _input_shape(reader)
    load = _batch_reader_map(reader, shape, opts.norm, targets=opts.all_patterns)
    seed, p = opts.seed, opts.random_erasing_p
    # an erased rectangle holds no intensity (0 before normalization, as upstream erased
    # the 0..255 input): per pattern position, the normalized value of 0
    norm = opts.norm or fixed_norm("unit", shape[0])
    zero = tf.constant(norm.apply(np.zeros((shape[0], 1, 1), np.float32)).ravel())

    def indices_of(e: np.ndarray) -> np.ndarray:
        return train_indices(n, int(e), opts).astype(np.int64)

    def one_epoch(e: tf.Tensor) -> tf.data.Dataset:
        idx = tf.numpy_function(indices_of, [e], tf.int64, stateful=False)
        idx.set_shape([per_epoch])
        return tf.data.Dataset.from_tensor_slices((tf.fill([per_epoch], e), idx))

    def augment_fn(e, index, stack, label):
        s = augment.sample_seed(seed, e, index)
        s1, s2 = tf.unstack(tf.random.experimental.stateless_split(s, num=2))
        k = augment.pattern_index(stack, s1)
        image = tf.expand_dims(tf.gather(stack, k), -1)
        image = augment.random_erasing(image, s2, p, value=tf.gather(zero, k))
        return image, label

    parallel = opts.parallel or AUTOTUNE
    ds = tf.data.Dataset.range(epoch, epoch + epochs).flat_map(one_epoch)
    # read READ_BATCH samples per call, then augment sample by sample (the same elements)
    ds = ds.batch(READ_BATCH).map(load, num_parallel_calls=parallel, deterministic=True).unbatch()
    if opts.all_patterns:
        ds = ds.map(lambda e, i, stack, maps: (_channels_last(stack), _channels_last(maps)),
                    num_parallel_calls=parallel, deterministic=True)
    else:
        ds = ds.map(augment_fn, num_parallel_calls=parallel, deterministic=True)
    ds = ds.batch(opts.per_replica_batch, drop_remainder=True)
    return ds.with_options(_options()).prefetch(opts.prefetch or AUTOTUNE)


def eval_indices(n: int, opts: PipelineOptions) -> np.ndarray:
    """This pipeline's disjoint shard of the evaluation split (no padding)."""
    return np.arange(n, dtype=np.int64)[opts.pipeline_id :: opts.num_pipelines]


def eval_dataset(reader: SampleReader, opts: PipelineOptions) -> tf.data.Dataset:
    """Batches of (index (b,), stacks (b, 3, H, W, 1), labels (b,)); last batch may be short.
    With `all_patterns`: (index, stacks (b, H, W, 3), target maps (b, H, W, 3))."""
    load = _reader_map(reader, _input_shape(reader), opts.norm, targets=opts.all_patterns)
    ds = tf.data.Dataset.from_tensor_slices(eval_indices(len(reader), opts))
    ds = ds.map(load, num_parallel_calls=opts.parallel or AUTOTUNE, deterministic=True)
    if opts.all_patterns:
        ds = ds.map(lambda i, s, y: (i, _channels_last(s), _channels_last(y)))
    else:
        ds = ds.map(lambda i, s, y: (i, s[..., None], y))
    ds = ds.batch(opts.per_replica_batch, drop_remainder=False)
    return ds.with_options(_options()).prefetch(opts.prefetch or AUTOTUNE)


def _options() -> tf.data.Options:
    options = tf.data.Options()
    # we shard by hand (disjoint, no padding): the strategy must not shard again
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    options.deterministic = True
    return options


def one_pass(dataset: Iterable) -> Iterator:
    """The elements of one pass over `dataset` (a tf.data or distributed dataset); once
    they are all taken, its iterator is torn down in a background thread.

    The teardown waits for tf.data's autotuning thread to wake (its sleeps double, up to
    seconds), without the GIL: 0.2 to 0.9 s after most evaluation passes, measured
    (docs/BENCH.md), on top of 0.4 s of steps. The thread is not a daemon, so the process
    still waits for it at exit. A pass left early tears down at once, as Python does."""
    holder = [iter(dataset)]
    yield from holder[0]
    threading.Thread(target=holder.clear, name="tf.data teardown").start()

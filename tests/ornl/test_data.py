"""Augmentations, sharding and the tf.data pipeline over the common readers."""

from __future__ import annotations

import threading

import numpy as np
import tensorflow as tf

from stemdl.common.data.transform import reader_input_size, transform_stack
from stemdl.ornl import augment
from stemdl.ornl import data as pipeline
from stemdl.ornl.loop import WarmupSchedule
from tests.ornl.memreader import MemoryReader


def _seed(i):
    return tf.constant([7, i], tf.int64)


def test_choose_pattern_picks_one_of_three():
    stack = tf.constant(np.arange(3 * 4 * 4, dtype=np.float32).reshape(3, 4, 4))
    seen = set()
    for i in range(30):
        img = augment.choose_pattern(stack, _seed(i)).numpy()
        assert img.shape == (4, 4, 1)
        k = int(img[0, 0, 0] // 16)
        np.testing.assert_array_equal(img[..., 0], stack.numpy()[k])
        seen.add(k)
    assert seen == {0, 1, 2}


def test_random_erasing_probability_area_and_determinism():
    img = tf.ones((32, 32, 1))
    assert np.all(augment.random_erasing(img, _seed(0), p=0.0).numpy() == 1)
    erased = [augment.random_erasing(img, _seed(i), p=1.0).numpy() for i in range(40)]
    fractions = [float((e == 0).mean()) for e in erased]
    assert all(0.0 < f <= 0.4 for f in fractions)
    # the erased region is one rectangle
    rows, cols = np.nonzero(erased[0][..., 0] == 0)
    assert len(rows) == (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
    again = augment.random_erasing(img, _seed(0), p=1.0).numpy()
    np.testing.assert_array_equal(erased[0], again)
    hits = [float((augment.random_erasing(img, _seed(i), p=0.8).numpy() == 0).any())
            for i in range(200)]
    assert 0.7 < np.mean(hits) < 0.9


def test_mixup_mixes_with_a_partner():
    x = tf.constant(np.eye(4, dtype=np.float32).reshape(4, 2, 2, 1))
    y = tf.constant([1, 2, 3, 4])
    mixed, ya, yb, lam = augment.mixup(x, y, 0.4, _seed(3))
    assert 0.0 <= float(lam) <= 1.0
    assert sorted(yb.numpy().tolist()) == [1, 2, 3, 4]
    np.testing.assert_allclose(tf.reduce_sum(mixed, [1, 2, 3]).numpy(), 1.0, rtol=1e-5)


def test_train_shards_are_disjoint_equal_and_whole_batches():
    n = 50
    shards = [pipeline.train_indices(n, 3, pipeline.PipelineOptions(
        seed=1, per_replica_batch=4, num_pipelines=3, pipeline_id=i)) for i in range(3)]
    assert {len(s) for s in shards} == {16}  # 50 // 12 = 4 steps of 4 per pipeline
    flat = np.concatenate(shards)
    assert len(set(flat.tolist())) == len(flat)
    other_epoch = pipeline.train_indices(n, 4, pipeline.PipelineOptions(seed=1, per_replica_batch=4))
    assert not np.array_equal(other_epoch[:16], pipeline.train_indices(
        n, 3, pipeline.PipelineOptions(seed=1, per_replica_batch=4))[:16])


def test_eval_shards_cover_each_sample_once():
    shards = [pipeline.eval_indices(25, pipeline.PipelineOptions(
        seed=0, per_replica_batch=4, num_pipelines=2, pipeline_id=i)) for i in range(2)]
    assert sorted(np.concatenate(shards).tolist()) == list(range(25))


def test_train_dataset_is_seeded_and_shaped():
    reader = MemoryReader(20, size=16)
    opts = pipeline.PipelineOptions(seed=5, per_replica_batch=4, random_erasing_p=0.8)
    a = list(pipeline.train_dataset(reader, 0, opts))
    b = list(pipeline.train_dataset(reader, 0, opts))
    assert len(a) == 5
    x, y = a[0]
    assert x.shape == (4, 16, 16, 1) and x.dtype == tf.float32 and y.dtype == tf.int32
    assert float(tf.reduce_max(x)) <= 1.0
    for (xa, ya), (xb, yb) in zip(a, b, strict=True):
        np.testing.assert_array_equal(xa.numpy(), xb.numpy())
        np.testing.assert_array_equal(ya.numpy(), yb.numpy())


def test_one_dataset_of_several_epochs_equals_the_epochs_one_by_one():
    """The run's one training iterator (Trainer.train_epoch) sees exactly the batches that
    per-epoch datasets give, so a run resumed at an epoch continues the same sequence."""
    reader = MemoryReader(22, size=16)
    opts = pipeline.PipelineOptions(seed=5, per_replica_batch=4, random_erasing_p=0.8)
    joined = list(pipeline.train_dataset(reader, 2, opts, epochs=3))
    one_by_one = [b for e in (2, 3, 4) for b in pipeline.train_dataset(reader, e, opts)]
    assert len(joined) == len(one_by_one) == 3 * (22 // 4)
    for (x, y), (x1, y1) in zip(joined, one_by_one, strict=True):
        np.testing.assert_array_equal(x.numpy(), x1.numpy())
        np.testing.assert_array_equal(y.numpy(), y1.numpy())
    assert not np.array_equal(joined[0][1].numpy(), joined[5][1].numpy())  # epochs differ


def test_eval_dataset_keeps_all_patterns_and_the_remainder():
    reader = MemoryReader(10, size=8)
    batches = list(pipeline.eval_dataset(reader, pipeline.PipelineOptions(seed=0, per_replica_batch=4)))
    assert [int(b[1].shape[0]) for b in batches] == [4, 4, 2]
    idx, stacks, labels = batches[0]
    assert stacks.shape == (4, 3, 8, 8, 1)
    np.testing.assert_allclose(stacks.numpy()[1, :, :, :, 0], reader[1].stack / 255.0, rtol=1e-6)
    assert labels.numpy().tolist() == reader.labels()[:4].tolist()


class _Teardowns:
    """An iterable whose iterators record the thread that tears them down."""

    def __init__(self, n: int) -> None:
        self.n, self.torn_down_in = n, []

    def __iter__(self):
        owner = self

        class _It:
            def __init__(self):
                self.i = 0

            def __iter__(self):
                return self

            def __next__(self):
                if self.i == owner.n:
                    raise StopIteration
                self.i += 1
                return self.i

            def __del__(self):
                owner.torn_down_in.append(threading.current_thread().name)

        return _It()


def _join_teardowns() -> None:
    for thread in threading.enumerate():
        if thread.name == "tf.data teardown":
            thread.join()


def test_one_pass_yields_every_element_and_tears_down_in_the_background():
    source = _Teardowns(5)
    assert list(pipeline.one_pass(source)) == [1, 2, 3, 4, 5]
    _join_teardowns()
    assert source.torn_down_in == ["tf.data teardown"]
    ds = tf.data.Dataset.range(7).batch(3)
    assert [b.numpy().tolist() for b in pipeline.one_pass(ds)] == [[0, 1, 2], [3, 4, 5], [6]]


def test_one_pass_left_early_tears_down_at_once():
    source = _Teardowns(5)
    for element in pipeline.one_pass(source):
        if element == 2:
            break
    _join_teardowns()
    assert source.torn_down_in == [threading.current_thread().name]


def test_raw_layout_is_preprocessed_like_the_preprocessor(tmp_path):
    from stemdl.common.data.splits import open_split
    from tests.data.fixtures import write_raw_folder

    write_raw_folder(tmp_path, materials={"train": 2, "dev": 1}, size=32)
    reader = open_split(tmp_path, "train")
    _, stacks, _ = next(iter(pipeline.eval_dataset(reader, pipeline.PipelineOptions(
        seed=0, per_replica_batch=2))))
    expected = transform_stack(reader[0].stack, 32) / 255.0
    np.testing.assert_allclose(stacks.numpy()[0, ..., 0], expected, atol=1e-4)
    assert reader_input_size(reader) == 32


def test_raw_512_is_reduced_to_128_like_the_preprocessor(tmp_path):
    from stemdl.common.data.splits import open_split
    from tests.data.fixtures import write_raw_folder

    write_raw_folder(tmp_path, materials={"train": 1, "dev": 1}, energies=1, size=512)
    reader = open_split(tmp_path, "train")
    assert reader_input_size(reader) == 128
    _, stacks, _ = next(iter(pipeline.eval_dataset(reader, pipeline.PipelineOptions(
        seed=0, per_replica_batch=1))))
    expected = transform_stack(reader[0].stack, 128) / 255.0
    np.testing.assert_allclose(stacks.numpy()[0, ..., 0], expected, atol=1e-5)


def test_warmup_is_linear_from_lr_over_epochs_then_constant():
    s = WarmupSchedule(1e-3, warmup_steps=10, start_factor=1 / 5)
    assert np.isclose(float(s(0)), 2e-4)
    assert np.isclose(float(s(5)), 2e-4 + 0.5 * 8e-4)
    assert np.isclose(float(s(10)), 1e-3) and np.isclose(float(s(1000)), 1e-3)

"""Units: the ResNet against the shared spec, samplers, the data module, the layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from stemdl.common.data.samples import Sample
from stemdl.common.data.splits import open_split_dir, select_indices
from stemdl.common.modelspec import RESNET_DEPTHS, resnet_spec, trainable_parameter_count
from stemdl.stfc.data import (
    ReaderDataset,
    ShardSampler,
    StemdlDataModule,
    collate,
    train_sampler,
)
from stemdl.stfc.distributed import env_rank, launcher_layout, resolve_layout
from stemdl.stfc.resnet import build_resnet, count_trainable


@pytest.mark.parametrize("depth", RESNET_DEPTHS)
def test_resnet_parameters_match_the_shared_spec(depth: int) -> None:
    model = build_resnet(depth)
    assert count_trainable(model) == trainable_parameter_count(resnet_spec(depth), 3, 231)


def test_resnet_output_shape() -> None:
    model = build_resnet(18).eval()
    assert model(torch.zeros(2, 3, 128, 128)).shape == (2, 231)
    assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 231)


class MemoryReader:
    """A tiny in-memory SampleReader."""

    layout, split = "memory", "train"

    def __init__(self, n: int, size: int = 8) -> None:
        rng = np.random.default_rng(0)
        self.stacks = rng.random((n, 3, size, size), dtype=np.float32)
        self._labels = (np.arange(n) % 5 + 1).astype(np.int64)

    def __len__(self) -> int:
        return len(self._labels)

    def __getitem__(self, i: int) -> Sample:
        return Sample(self.stacks[i], int(self._labels[i]), f"m{i // 2}")

    def labels(self) -> np.ndarray:
        return self._labels.copy()

    def materials(self) -> list[str]:
        return [f"m{i // 2}" for i in range(len(self))]

    def image_shape(self) -> tuple[int, int, int]:
        return self.stacks.shape[1:]


def test_shard_sampler_is_disjoint_without_padding() -> None:
    shards = [list(ShardSampler(21, r, 2)) for r in range(2)]
    assert sorted(shards[0] + shards[1]) == list(range(21))
    assert len(ShardSampler(21, 0, 2)) == 11 and len(ShardSampler(21, 1, 2)) == 10


def test_train_order_is_seeded_shuffled_and_per_epoch() -> None:
    a, b = train_sampler(40, 0, 1, seed=7), train_sampler(40, 0, 1, seed=7)
    a.set_epoch(3)
    b.set_epoch(3)
    assert list(a) == list(b) and list(a) != list(range(40))
    b.set_epoch(4)
    assert list(a) != list(b)


def test_dataset_batches_equal_samples() -> None:
    reader = MemoryReader(10)
    ds = ReaderDataset(reader, [3, 5, 7])
    x, y = collate(ds.__getitems__([0, 2]))
    assert torch.equal(x[1], torch.from_numpy(reader.stacks[7])) and y.tolist() == [4, 3]
    x1, y1 = ds[1]
    assert torch.equal(x1, torch.from_numpy(reader.stacks[5])) and y1 == 1


def test_datamodule_loaders_with_workers() -> None:
    reader = MemoryReader(20)
    dm = StemdlDataModule({"train": reader, "val": reader}, batch_size=4, num_workers=1, seed=1)
    batches = list(dm.train_dataloader())
    assert len(batches) == 5 and batches[0][0].shape == (4, 3, 8, 8)
    seen = torch.cat([y for _, y in dm.val_dataloader()])
    assert seen.tolist() == reader.labels().tolist()  # every val sample once, in order
    assert dm.train_samples_per_epoch(world=1) == 20


def test_select_training_by_material_and_count() -> None:
    reader = MemoryReader(20)  # 10 materials of 2 samples
    idx = select_indices(reader, 0.5, None, seed=0)
    materials = {reader.materials()[i] for i in idx}
    assert len(idx) == 10 and len(materials) == 5
    assert len(select_indices(reader, 1.0, 7, seed=0)) == 7


def test_open_split_dir_accepts_a_root_or_a_split_folder(tiny_data: Path) -> None:
    assert len(open_split_dir(tiny_data, "val")) == 21
    assert len(open_split_dir(tiny_data / "validation", "val")) == 21


def test_layout_from_launcher_environment() -> None:
    assert launcher_layout({"SLURM_NTASKS_PER_NODE": "4", "SLURM_NTASKS": "8"}) == ("slurm", 4, 2)
    assert launcher_layout({"LOCAL_WORLD_SIZE": "2", "WORLD_SIZE": "2"}) == ("torchrun", 2, 1)
    assert launcher_layout({"OMPI_COMM_WORLD_LOCAL_SIZE": "3", "OMPI_COMM_WORLD_SIZE": "6"}) == ("mpi", 3, 2)
    assert launcher_layout({}) is None
    layout = resolve_layout("cpu", None, 1, env={"JSM_NAMESPACE_LOCAL_SIZE": "2", "JSM_NAMESPACE_SIZE": "4"})
    assert (layout.devices, layout.nodes, layout.strategy, layout.launcher) == (2, 2, "ddp", "lsf")
    assert resolve_layout("cpu", 2, 1, env={}).strategy == "ddp"
    assert resolve_layout("cpu", None, 1, env={}).world_size == 1
    assert env_rank(2, {"LOCAL_RANK": "1", "NODE_RANK": "1"}) == 3
    assert env_rank(1, {"SLURM_PROCID": "5"}) == 5 and env_rank(1, {}) == 0


def test_raw_stacks_reach_the_network_through_the_documented_transform(tmp_path) -> None:
    """A raw folder trains on the same values as its preprocessed copy (not on intensities)."""
    from stemdl.common.data.splits import open_split
    from stemdl.common.data.transform import transform_stack
    from stemdl.stfc.data import ReaderDataset
    from tests.data.fixtures import write_raw_folder

    write_raw_folder(tmp_path, materials={"train": 2, "dev": 1}, size=32)
    reader = open_split(tmp_path, "train")
    dataset = ReaderDataset(reader)
    x, label = dataset[0]
    np.testing.assert_allclose(x.numpy(), transform_stack(reader[0].stack, 32), rtol=1e-6)
    assert label == reader[0].label and float(x.max()) <= 255.0
    batch, labels = dataset.__getitems__([0, 1])
    np.testing.assert_allclose(batch[0].numpy(), x.numpy())
    assert list(labels.numpy()) == [reader[0].label, reader[1].label]

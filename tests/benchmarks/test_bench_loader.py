"""Loader rates (issue 24): samples/s the two input pipelines deliver per loader core, at
128 px, for npz and packed data read in place and for `staging: memory` / `device`.

Run:  .venv/bin/python -m pytest tests/benchmarks/test_bench_loader.py --benchmark-only \
          --benchmark-autosave && .venv/bin/python -m tests.benchmarks.report

- STFC: the training DataLoader of `StemdlDataModule` (seeded shuffle, whole batches of
  32, the recipe's input: no augmentation) with 1 and 2 worker processes; staged in memory
  with none (the batch is gathered in the training process); staged on the device (here
  the CPU's memory: a tensor gather, what a GPU does without a host copy).
- ORNL: the training tf.data pipeline of the recipe (one random pattern, random erasing,
  x / 255) with 1 and 2 parallel reads.

Each row's rate is taken in interleaved rounds (STEMDL_BENCH_ROUNDS, default 3), median;
"per core" divides by the loader processes or threads (1 where the work is in the training
process). The report turns it into the loader cores one GPU at 12,000 samples/s needs.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from stemdl.common.data.splits import open_split
from stemdl.common.data.staging import load_share, synthetic_readers

N = int(os.environ.get("STEMDL_BENCH_LOADER_SAMPLES", "1024"))
ROUNDS = int(os.environ.get("STEMDL_BENCH_ROUNDS", "3"))
BATCH = 32
GPU_RATE = 12_000  # samples/s one H200 is to eat (issue 24's target for STFC ResNet-50, bf16)


@pytest.fixture(scope="module")
def loader_data(tmp_path_factory) -> dict[str, Path]:
    """N training stacks of 128 px as npz files and as one packed part (random values)."""
    import json

    from stemdl.common.data.layouts import PACKED_MANIFEST
    from stemdl.common.data.packed import manifest, write_part

    root = tmp_path_factory.mktemp("loader")
    reader = synthetic_readers(N, 1, seed=4)["train"]
    folder = root / "npz" / "training"
    folder.mkdir(parents=True)
    for i in range(N):  # the layout `stemdl preprocess --format npz` writes
        np.savez(folder / f"sample-{i}.npz", data=reader.stacks[i],
                 label=np.array([reader.labels()[i]]), material=np.array([f"m{i % 40}"]))
    write_part(root / "packed" / "train" / "part-0.h5", reader.stacks, reader.labels(),
               reader.materials())
    (root / "packed" / PACKED_MANIFEST).write_text(json.dumps(manifest(128)))
    os.sync()
    return {"npz": root / "npz", "packed": root / "packed"}


def _stfc_rate(reader, workers: int, device: bool = False) -> float:
    from stemdl.common.data.normalize import fixed_norm
    from stemdl.stfc.data import StemdlDataModule

    norm = fixed_norm("none", 3)
    if device:
        from stemdl.stfc.staging import DeviceArrays

        reader = DeviceArrays(reader, "cpu", norm)
    dm = StemdlDataModule({"train": reader}, batch_size=BATCH, num_workers=workers, seed=1,
                          input_norm=norm, on_device=device)
    loader = dm.train_dataloader()
    it = iter(loader)
    next(it)  # workers started, first batches in flight: not the rate
    start, n = time.perf_counter(), 0
    for x, _ in it:
        n += x.shape[0]
    rate = n / (time.perf_counter() - start)
    del it
    return rate


def _ornl_rate(reader, parallel: int) -> float:
    from stemdl.ornl.data import PipelineOptions, train_dataset

    opts = PipelineOptions(seed=1, per_replica_batch=BATCH, parallel=parallel)
    ds = train_dataset(reader, 0, opts)
    it = iter(ds)
    next(it)
    start, n = time.perf_counter(), 0
    for x, _ in it:
        n += int(x.shape[0])
    return n / (time.perf_counter() - start)


def _rows(data: dict[str, Path]) -> list[tuple[str, str, int, object]]:
    """(pipeline, data, loader cores, measure) for every row."""
    rows: list[tuple[str, str, int, object]] = []
    readers = {layout: open_split(path, "train") for layout, path in data.items()}
    memory = load_share(readers["packed"], "train", 0, 1, targets=False)
    for layout, reader in readers.items():
        for w in (1, 2):
            rows.append(("stfc", f"{layout} in place", w, lambda r=reader, w=w: _stfc_rate(r, w)))
    rows.append(("stfc", "staging: memory", 1, lambda: _stfc_rate(memory, 0)))
    rows.append(("stfc", "staging: device (CPU tensors)", 1, lambda: _stfc_rate(memory, 0, True)))
    for layout, reader in readers.items():
        for p in (1, 2):
            rows.append(("ornl", f"{layout} in place", p, lambda r=reader, p=p: _ornl_rate(r, p)))
    for p in (1, 2):
        rows.append(("ornl", "staging: memory", p, lambda p=p: _ornl_rate(memory, p)))
    return rows


def test_bench_loader_rates(benchmark, loader_data):
    pytest.importorskip("tensorflow", reason="the ornl extra (make test installs tensorflow-cpu)")
    rows = _rows(loader_data)
    rates: list[list[float]] = [[] for _ in rows]

    def measure() -> None:
        for _ in range(ROUNDS):
            for i, (*_, run) in enumerate(rows):
                rates[i].append(run())

    benchmark.pedantic(measure, rounds=1, iterations=1)
    table = []
    for (pipeline, data, cores, _), got in zip(rows, rates, strict=True):
        median = float(np.median(got))
        table.append({"pipeline": pipeline, "data": data, "cores": cores, "rates": got,
                      "samples_per_s": median, "per_core": median / cores,
                      "cores_for_gpu": GPU_RATE / (median / cores)})
    benchmark.extra_info.update(loader=table, gpu_rate=GPU_RATE, samples=N * ROUNDS * len(rows),
                                loadavg=os.getloadavg()[0])
    assert all(r["samples_per_s"] > 0 for r in table)

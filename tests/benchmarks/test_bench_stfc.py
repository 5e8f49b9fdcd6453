"""STFC training throughput: Lightning's fit against a plain PyTorch loop (same model, same
data, same run), and the data loader against the training step.

ResNet-50 on 3x128x128 stacks. Batch and steps default to 8 and 3 (a ResNet-50 step at
batch 32 takes ~20 s on a loaded 2-core CPU); set STEMDL_BENCH_STFC_BATCH / _STEPS for more.
    .venv/bin/python -m pytest tests/benchmarks/test_bench_stfc.py --benchmark-only -q
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pl = pytest.importorskip("pytorch_lightning")

from stemdl.common.data.splits import open_split_dir  # noqa: E402
from stemdl.stfc.data import ReaderDataset, StemdlDataModule, collate  # noqa: E402
from stemdl.stfc.module import StfcModule  # noqa: E402

BATCH = int(os.environ.get("STEMDL_BENCH_STFC_BATCH", "8"))
STEPS = int(os.environ.get("STEMDL_BENCH_STFC_STEPS", "3"))
SIZE = 128
ROUNDS = int(os.environ.get("STEMDL_BENCH_ROUNDS", "2"))  # interleaved rounds (ratios)
# torch threads of the comparisons below (both sides alike). 1 by default: on the loaded
# 2-core development VM, 2 threads ran 3 to 7x slower (test_bench_stfc_threads), which
# drowns any other difference in noise.
THREADS = int(os.environ.get("STEMDL_BENCH_THREADS", "1"))


@pytest.fixture(scope="module")
def npz_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """BATCH*STEPS training samples of 3x128x128 in the npz layout (what users download)."""
    root = tmp_path_factory.mktemp("bench-stfc")
    rng = np.random.default_rng(0)
    for split in ("training", "validation"):
        folder = root / split
        folder.mkdir()
        for i in range(BATCH * STEPS):
            np.savez(folder / f"sample-{i}.npz",
                     data=(rng.random((3, SIZE, SIZE), dtype=np.float32) * 255),
                     label=np.array([int(rng.integers(1, 231))]),
                     material=np.array([f"{split}-{i}"]))
    return root


def _datamodule(root: Path, workers: int) -> StemdlDataModule:
    readers = {"train": open_split_dir(root, "train"), "val": open_split_dir(root, "val")}
    return StemdlDataModule(readers, batch_size=BATCH, num_workers=workers, seed=0)


def _module() -> StfcModule:
    torch.manual_seed(0)
    return StfcModule(resnet=50)


def test_bench_stfc_plain_torch_loop(benchmark, npz_data: Path) -> None:
    """The baseline: zero_grad, forward, cross-entropy, backward, Adam step; same loader."""
    loader = _datamodule(npz_data, workers=0).train_dataloader()

    def setup():
        module = _module()
        return (module, module.configure_optimizers()), {}

    def loop(module, opt) -> None:
        module.model.train()
        for x, y in loader:
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(module.model(x), y)
            loss.backward()
            opt.step()

    benchmark.extra_info.update({"samples": BATCH * STEPS, "batch": BATCH, "steps": STEPS,
                                 "model": "resnet50", "image": SIZE})
    benchmark.pedantic(loop, setup=setup, rounds=ROUNDS, iterations=1, warmup_rounds=0)


def test_bench_stfc_lightning_fit(benchmark, npz_data: Path) -> None:
    """`Trainer.fit` for one epoch of the same steps (no validation, logger or checkpoint)."""
    import logging

    logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)

    def setup():
        module = _module()
        trainer = pl.Trainer(accelerator="cpu", devices=1, max_epochs=1, limit_val_batches=0,
                             logger=False, enable_checkpointing=False, enable_progress_bar=False,
                             enable_model_summary=False, num_sanity_val_steps=0,
                             use_distributed_sampler=False)
        return (trainer, module, _datamodule(npz_data, workers=0)), {}

    def fit(trainer, module, dm) -> None:
        trainer.fit(module, datamodule=dm)
        assert trainer.global_step == STEPS

    benchmark.extra_info.update({"samples": BATCH * STEPS, "batch": BATCH, "steps": STEPS,
                                 "baseline": "test_bench_stfc_plain_torch_loop",
                                 "target": "<= 1.05x the plain loop's time"})
    benchmark.pedantic(fit, setup=setup, rounds=ROUNDS, iterations=1, warmup_rounds=0)


@pytest.mark.parametrize("workers", [0, 2])
def test_bench_stfc_loader(benchmark, npz_data: Path, workers: int) -> None:
    """The training DataLoader alone over the npz files: must outrun the training step."""
    dm = _datamodule(npz_data, workers=workers)

    def drain() -> None:
        loader = dm.train_dataloader()
        for _x, _y in loader:
            pass

    benchmark.extra_info.update({"samples": BATCH * STEPS, "bytes": BATCH * STEPS * 3 * SIZE * SIZE * 4,
                                 "baseline": "test_bench_stfc_plain_torch_loop",
                                 "target": ">= 5x the training step's samples/s"})
    benchmark.pedantic(drain, rounds=3, iterations=1, warmup_rounds=1)


def test_bench_stfc_dataset_matches_loader(npz_data: Path) -> None:
    """Sanity: what the benchmark loader yields is the data on disk (not a no-op)."""
    reader = open_split_dir(npz_data, "train")
    x, y = collate(ReaderDataset(reader).__getitems__([0, 1]))
    assert x.shape == (2, 3, SIZE, SIZE) and torch.equal(x[0], torch.from_numpy(reader[0].stack))


def test_bench_stfc_threads(benchmark, npz_data: Path) -> None:
    """Issue 14: the `num_threads` default (stemdl.common.run.threads, here with the recipe's 2
    DataLoader workers) against 1 and 2 intra-op threads: Lightning fit of the same steps,
    the three settings interleaved in every round (the default timed by the benchmark,
    1 and 2 in its setup)."""
    import logging
    import time

    from stemdl.common.run.threads import default_threads

    logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)
    workers = 2
    default = default_threads(workers)
    before = torch.get_num_threads()
    times: dict[str, list[float]] = {"default": [], "1": [], "2": []}

    def fit(threads: int) -> float:
        torch.set_num_threads(threads)
        module = _module()
        trainer = pl.Trainer(accelerator="cpu", devices=1, max_epochs=1, limit_val_batches=0,
                             logger=False, enable_checkpointing=False, enable_progress_bar=False,
                             enable_model_summary=False, num_sanity_val_steps=0,
                             use_distributed_sampler=False)
        start = time.perf_counter()
        trainer.fit(module, datamodule=_datamodule(npz_data, workers=workers))
        assert trainer.global_step == STEPS
        return time.perf_counter() - start

    def setup():
        for threads in ("1", "2"):
            times[threads].append(fit(int(threads)))
        return (), {}

    try:
        benchmark.pedantic(lambda: times["default"].append(fit(default)), setup=setup,
                           rounds=ROUNDS, iterations=1, warmup_rounds=0)
    finally:
        torch.set_num_threads(before)
    benchmark.extra_info.update({
        "samples": BATCH * STEPS, "batch": BATCH, "steps": STEPS, "loader_workers": workers,
        "default_threads": default, "cpus": os.cpu_count(), "seconds": times,
        "loadavg": os.getloadavg(),
        "interleaved": {
            f"default ({default} threads) / 1 thread": {
                "ratios": [a / b for a, b in zip(times["1"], times["default"], strict=True)],
                "target": ">= 0.95x"},
            # shown, no target: with 2 loader workers on 2 cores, 2 threads oversubscribe by
            # definition; they win on an idle machine and lose up to 3x under load
            f"default ({default} threads) / 2 threads": {
                "ratios": [a / b for a, b in zip(times["2"], times["default"], strict=True)]},
        }})


def test_bench_stfc_bf16(benchmark, npz_data: Path) -> None:
    """Issue 14: `precision: bf16-mixed` (CPU autocast, channels-last weights: stfc/speed.py)
    against float32, Lightning fit of the same steps, interleaved per round (float32 in the
    setup, bf16 timed by the benchmark). Target >= 1.3x where the CPU has AVX512-BF16."""
    import logging
    import time

    from stemdl.stfc.speed import speed_callbacks

    logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)
    times: dict[str, list[float]] = {"32": [], "bf16-mixed": []}
    before = torch.get_num_threads()
    torch.set_num_threads(THREADS)

    def fit(precision: str) -> float:
        module = _module()
        trainer = pl.Trainer(accelerator="cpu", devices=1, max_epochs=1, limit_val_batches=0,
                             precision=precision, callbacks=speed_callbacks(precision, "cpu"),
                             logger=False, enable_checkpointing=False, enable_progress_bar=False,
                             enable_model_summary=False, num_sanity_val_steps=0,
                             use_distributed_sampler=False)
        start = time.perf_counter()
        trainer.fit(module, datamodule=_datamodule(npz_data, workers=0))
        assert trainer.global_step == STEPS
        return time.perf_counter() - start

    def setup():
        times["32"].append(fit("32"))
        return (), {}

    try:
        benchmark.pedantic(lambda: times["bf16-mixed"].append(fit("bf16-mixed")), setup=setup,
                           rounds=ROUNDS, iterations=1, warmup_rounds=0)
    finally:
        torch.set_num_threads(before)
    bf16_cpu = _cpu_has_bf16()
    benchmark.extra_info.update({
        "samples": BATCH * STEPS, "batch": BATCH, "steps": STEPS, "model": "resnet50",
        "image": SIZE, "threads": torch.get_num_threads(), "avx512_bf16": bf16_cpu,
        "seconds": times, "loadavg": os.getloadavg(),
        "interleaved": {"bf16-mixed / float32 samples/s": {
            "ratios": [a / b for a, b in zip(times["32"], times["bf16-mixed"], strict=True)],
            "target": ">= 1.3x" if bf16_cpu else ""}}})


def _cpu_has_bf16() -> bool:
    """Whether this CPU has AVX512-BF16 or AMX-BF16 (/proc/cpuinfo flags, Linux)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


STEADY_STEPS = 6


@pytest.fixture(scope="module")
def steady_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """BATCH*STEADY_STEPS training samples (npz), for per-step timing past the first steps."""
    root = tmp_path_factory.mktemp("bench-stfc-steady")
    rng = np.random.default_rng(1)
    for split in ("training", "validation"):
        (root / split).mkdir()
        for i in range(BATCH * STEADY_STEPS):
            np.savez(root / split / f"sample-{i}.npz",
                     data=(rng.random((3, SIZE, SIZE), dtype=np.float32) * 255),
                     label=np.array([int(rng.integers(1, 231))]),
                     material=np.array([f"{split}-{i}"]))
    return root


class _StepClock(pl.Callback):
    """Wall time between consecutive training batch ends (loading included)."""

    def __init__(self) -> None:
        self.ends: list[float] = []

    def on_train_batch_end(self, *args, **kwargs) -> None:
        import time

        self.ends.append(time.perf_counter())


def _steady(ends: list[float]) -> float:
    """Samples/s over the steps after the first two (median step time)."""
    steps = np.diff(ends)[1:]  # ends[0] closes step 1; diff[0] is step 2
    return BATCH / float(np.median(steps))


def test_bench_stfc_steady(benchmark, steady_data: Path) -> None:
    """Issue 14: steady samples/s (steps 3..STEADY_STEPS, loading included) of Lightning fit
    with our module and data module against the plain PyTorch loop over the same loader,
    interleaved per round (plain loop in the setup). Same threads for both."""
    import logging
    import time

    logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)
    rates: dict[str, list[float]] = {"plain": [], "lightning": []}
    before = torch.get_num_threads()
    torch.set_num_threads(THREADS)

    def plain() -> None:
        module = _module()
        opt = module.configure_optimizers()
        loader = _datamodule(steady_data, workers=0).train_dataloader()
        module.model.train()
        ends = []
        for x, y in loader:
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(module.model(x), y)
            loss.backward()
            opt.step()
            ends.append(time.perf_counter())
        rates["plain"].append(_steady(ends))

    def lightning() -> None:
        clock = _StepClock()
        trainer = pl.Trainer(accelerator="cpu", devices=1, max_epochs=1, limit_val_batches=0,
                             logger=False, enable_checkpointing=False, enable_progress_bar=False,
                             enable_model_summary=False, num_sanity_val_steps=0,
                             use_distributed_sampler=False, callbacks=[clock])
        trainer.fit(_module(), datamodule=_datamodule(steady_data, workers=0))
        rates["lightning"].append(_steady(clock.ends))

    def setup():
        plain()
        return (), {}

    try:
        benchmark.pedantic(lightning, setup=setup, rounds=ROUNDS, iterations=1, warmup_rounds=0)
    finally:
        torch.set_num_threads(before)
    benchmark.extra_info.update({
        "samples": BATCH * STEADY_STEPS, "batch": BATCH, "steps": STEADY_STEPS,
        "threads": THREADS, "steady_samples_per_s": rates,
        "loadavg": os.getloadavg(),
        "interleaved": {"Lightning / plain loop, steady samples/s (float32)": {
            "ratios": [a / b for a, b in zip(rates["lightning"], rates["plain"], strict=True)],
            "target": ">= 1.0x"}}})

"""Staging: a rank's share of the training and evaluation splits copied, once, to where it
is read fastest (the config key `staging`), and the synthetic data of `data_source: synthetic`.

- ``none``       read in place (the readers as opened);
- ``memory``     the share loaded into this process's RAM (`ArrayReader`);
- ``local:DIR``  the share written to node-local disk under DIR as a packed split, then read
                 there (memory-mapped);
- ``device``     the share held in accelerator memory (the implementation moves an
                 `ArrayReader`'s arrays there; `common` itself never imports a framework).

A rank's share: the whole (subset of the) training split, since the training shuffle of
(seed, epoch) deals any sample to any rank (the batches stay those of reading in place); of
an evaluation split, the rank's disjoint shard (rank, rank + world, ...). What is staged is
the network's input before normalization (`transform.model_input`: raw stacks are reduced
to 128 px once, here, not every epoch). The MLPerf policy asks that staging be timed inside
the benchmark: the implementations call `stage` after run_start, between staging_start and
staging_stop. Hand-written: no library stages a random-access sample reader.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stemdl.common.cli.errors import DataError, StemdlError
from stemdl.common.data.layouts import PACKED_MANIFEST
from stemdl.common.data.packed import manifest, map_part, write_part
from stemdl.common.data.samples import SampleReader
from stemdl.common.data.transform import model_input, reader_input_size
from stemdl.common.infra.progress import progress
from stemdl.common.workload import MAX_LABEL, MIN_LABEL, PATTERNS_PER_STACK

NONE, MEMORY, LOCAL, DEVICE = "none", "memory", "local", "device"
STAGING_MODES = (NONE, MEMORY, LOCAL, DEVICE)
DATA_SOURCES = ("files", "synthetic")
STAGED_LAYOUT = "staged"  # an ArrayReader's layout: model input already, no transform
EVAL_SPLITS = ("val", "test", "inference")
READ_CHUNK = 256  # samples read per call while staging (bounded memory besides the copy)
HEADROOM = 0.9  # a share may use at most this much of the free memory or disk


@dataclass(frozen=True)
class Staging:
    """A parsed `staging` value."""

    mode: str = NONE
    folder: Path | None = None  # local:DIR

    def __str__(self) -> str:
        return f"{LOCAL}:{self.folder}" if self.mode == LOCAL else self.mode


def parse_staging(value: str | None) -> Staging:
    """'none' | 'memory' | 'local:DIR' | 'device' -> Staging; a one-line error otherwise."""
    text = str(value or NONE).strip()
    mode, sep, rest = text.partition(":")
    mode = mode.strip().lower()
    if mode == LOCAL:
        if not sep or not rest.strip():
            raise StemdlError("config key 'staging': local needs a folder, e.g. "
                              "staging=local:/tmp (node-local disk)")
        return Staging(LOCAL, Path(rest.strip()).expanduser())
    if sep or mode not in STAGING_MODES:
        raise StemdlError(f"config key 'staging': '{text}' is not one of none, memory, "
                          "local:DIR, device")
    return Staging(mode)


class ArrayReader:
    """A SampleReader over arrays held in memory: the model input (no transform) of the
    samples `rows` of a split of `n` samples; the others raise a one-line error (another
    rank's share). labels() and materials() cover the whole split, as the source's do."""

    layout = STAGED_LAYOUT

    def __init__(self, split: str, n: int, rows: np.ndarray, stacks: np.ndarray,
                 labels: np.ndarray, materials: Sequence[str],
                 targets: np.ndarray | None = None, kind: str | None = None) -> None:
        self.split, self.n = split, int(n)
        self.rows = np.asarray(rows, dtype=np.int64)
        self.stacks, self.targets = stacks, targets
        self._labels = np.asarray(labels, dtype=np.int64)
        self._materials = list(materials)
        self._kind = kind
        self._where = np.full(self.n, -1, dtype=np.int64)
        self._where[self.rows] = np.arange(self.rows.size)

    def __len__(self) -> int:
        return self.n

    def _slot(self, indices: np.ndarray) -> np.ndarray:
        slots = self._where[indices]
        if (slots < 0).any():
            missing = int(np.asarray(indices)[slots < 0].ravel()[0])
            raise DataError(f"sample {missing} of the {self.split} split is not in this rank's "
                            "staged share")
        return slots

    def __getitem__(self, index: int):
        from stemdl.common.data.samples import Sample

        index = range(self.n)[index]
        k = int(self._slot(np.array([index]))[0])
        target = None if self.targets is None else np.array(self.targets[k])
        return Sample(np.array(self.stacks[k]), int(self._labels[index]),
                      self._materials[index], target)

    def read_batch(self, indices, targets: bool = False) -> tuple:
        idx = np.asarray(indices, dtype=np.int64)
        slots = self._slot(idx)
        out = (self.stacks[slots], self._labels[idx])
        if not targets:
            return out
        if self.targets is None:
            raise DataError(f"the staged {self.split} split has no target maps")
        return (*out, self.targets[slots])

    def labels(self) -> np.ndarray:
        return self._labels.copy()

    def materials(self) -> list[str]:
        return list(self._materials)

    def image_shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.stacks.shape[1:])  # type: ignore[return-value]

    def target_kind(self) -> str | None:
        return self._kind

    def nbytes(self) -> int:
        return int(self.stacks.nbytes + (0 if self.targets is None else self.targets.nbytes))


def share_rows(split: str, n: int, rank: int, world: int) -> np.ndarray:
    """The samples of a split one rank reads: all of training, its shard of the others."""
    return np.arange(n, dtype=np.int64) if split == "train" else np.arange(rank, n, world)


def share_bytes(reader: SampleReader, rows: np.ndarray, targets: bool) -> int:
    """Bytes the staged share takes: float32 model input (and target maps)."""
    size = reader_input_size(reader)
    per = reader.image_shape()[0] * size * size * 4
    if targets:
        per += PATTERNS_PER_STACK * size * size * 4
    return int(rows.size) * per


def _free_bytes(staging: Staging) -> tuple[int, str]:
    if staging.mode == LOCAL:
        folder = staging.folder
        probe = folder if folder.exists() else next((p for p in folder.parents if p.exists()), Path("/"))
        return shutil.disk_usage(probe).free, f"free disk under {folder}"
    import psutil

    return psutil.virtual_memory().available, "available memory"


def check_fits(readers: Mapping[str, SampleReader], staging: Staging, rank: int, world: int,
               local_processes: int, targets: bool) -> int:
    """The bytes one rank stages; a one-line error before anything is copied when the
    node's `local_processes` ranks together would not fit the free memory or disk.
    `device` is checked by the implementation against its accelerator's memory."""
    if staging.mode == NONE:
        return 0
    need = sum(share_bytes(r, share_rows(s, len(r), rank, world), targets and s != "inference")
               for s, r in readers.items())
    if staging.mode in (MEMORY, LOCAL):
        free, what = _free_bytes(staging)
        if need * local_processes > HEADROOM * free:
            raise StemdlError(
                f"config key 'staging': {staging} needs {_gib(need)} per rank x {local_processes} "
                f"rank(s) on this node = {_gib(need * local_processes)}, {what} is "
                f"{_gib(free)}; use staging=none or fewer samples (train_samples)")
    return need


def check_run_fits(readers: Mapping[str, SampleReader], staging_value: str, rank: int,
                   world: int, local_processes: int, targets: bool) -> None:
    """`check_fits` of a run's training and validation splits, before the run starts (the
    implementations' input checks; `stage` checks again, the free space may have changed)."""
    check_fits({s: r for s, r in readers.items() if s in ("train", "val")},
               parse_staging(staging_value), rank, world, local_processes, targets)


def _gib(n: float) -> str:
    return f"{n / 2**30:.2f} GiB"


def load_share(reader: SampleReader, split: str, rank: int, world: int, targets: bool,
               on_chunk: Callable[[int], None] | None = None) -> ArrayReader:
    """A rank's share of `reader` as an ArrayReader (model input, before normalization)."""
    rows = share_rows(split, len(reader), rank, world)
    size = reader_input_size(reader)
    stacks = np.empty((rows.size, reader.image_shape()[0], size, size), np.float32)
    maps = np.empty((rows.size, PATTERNS_PER_STACK, size, size), np.float32) if targets else None
    read_batch = getattr(reader, "read_batch", None)
    for lo in range(0, rows.size, READ_CHUNK):
        chunk = rows[lo:lo + READ_CHUNK]
        if read_batch is not None:
            got = read_batch(chunk, targets=True) if targets else read_batch(chunk)
            batch, second = got[0], got[-1]
        else:
            samples = [reader[int(i)] for i in chunk]
            batch = np.stack([s.stack for s in samples])
            second = np.stack([_target(s, int(i), split) for s, i in zip(samples, chunk, strict=True)]
                              ) if targets else None
        stacks[lo:lo + chunk.size] = model_input(batch, reader.layout)
        if maps is not None:
            maps[lo:lo + chunk.size] = second
        if on_chunk is not None:
            on_chunk(int(chunk.size))
    kind = reader.target_kind() if hasattr(reader, "target_kind") else None
    return ArrayReader(split, len(reader), rows, stacks, np.asarray(reader.labels()),
                       reader.materials(), maps, kind)


def _target(sample, index: int, split: str) -> np.ndarray:
    if sample.target is None:
        raise DataError(f"sample {index} of the {split} split has no target maps")
    return sample.target


def to_local(share: ArrayReader, folder: Path) -> ArrayReader:
    """`share` written as one packed part under `folder` (node-local disk), then read from
    there through memory maps (the page cache, not this process's heap, holds it)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / PACKED_MANIFEST).write_text(json.dumps(manifest(share.image_shape()[-1])))
    part = folder / share.split / "part-0.h5"
    part.parent.mkdir(exist_ok=True)
    write_part(part, share.stacks, share.labels()[share.rows],
               [share.materials()[i] for i in share.rows], share.targets, share.target_kind())
    stacks, targets = map_part(part)
    return ArrayReader(share.split, share.n, share.rows, stacks, share.labels(),
                       share.materials(), targets, share.target_kind())


def local_folder(staging: Staging, run_id: str, rank: int) -> Path:
    """This rank's staging folder under local:DIR (one per run and rank: two jobs, or a
    job started twice, never share one)."""
    return staging.folder / f"stemdl-staging-{run_id}" / f"rank-{rank}"


def stage(readers: Mapping[str, SampleReader], staging: Staging, *, rank: int = 0,
          world: int = 1, local_processes: int = 1, targets: bool = False,
          run_id: str = "run", echo: Callable[[str], None] | None = None
          ) -> dict[str, SampleReader]:
    """The readers staged as `staging` says (`device`: in memory; the implementation moves
    them). Checks the fit first (`check_fits`); prints one line with what was staged."""
    if staging.mode == NONE:
        return dict(readers)
    need = check_fits(readers, staging, rank, world, local_processes, targets)
    out: dict[str, SampleReader] = {}
    total = sum(len(share_rows(s, len(r), rank, world)) for s, r in readers.items())
    bar = progress(total, f"staging ({staging})", unit="samples") if echo is not None else None
    for split, reader in readers.items():
        share = load_share(reader, split, rank, world, targets and split != "inference",
                           on_chunk=bar.update if bar is not None else None)
        if staging.mode == LOCAL:
            out[split] = to_local(share, local_folder(staging, run_id, rank) / split)
        else:
            out[split] = share
    if bar is not None:
        bar.close()
    if echo is not None:
        echo(f"staged {_gib(need)} per rank ({staging}): "
             + ", ".join(f"{s} {len(share_rows(s, len(r), rank, world))}" for s, r in readers.items()))
    return out


def remove_local(staging: Staging, run_id: str, rank: int) -> None:
    """Remove this rank's local staging folder (and the run's, once empty)."""
    if staging.mode != LOCAL:
        return
    mine = local_folder(staging, run_id, rank)
    shutil.rmtree(mine, ignore_errors=True)
    with contextlib.suppress(OSError):
        mine.parent.rmdir()


# -- data: synthetic ----------------------------------------------------------------------
SYNTHETIC_TRAIN, SYNTHETIC_EVAL = 1024, 256  # samples, unless train_samples / eval_samples


def synthetic_readers(train: int | None, val: int | None, seed: int, size: int = 128,
                      targets: bool = False) -> dict[str, SampleReader]:
    """`data_source: synthetic`: random stacks in [0, 255) (float32 (3, size, size)) and uniform
    labels 1..230 of the workload's shapes, seeded, for timing compute apart from input.
    A run on them is logged as synthetic and never passes compliance as a result."""
    out: dict[str, SampleReader] = {}
    for split, n, offset in (("train", train or SYNTHETIC_TRAIN, 0), ("val", val or SYNTHETIC_EVAL, 1)):
        rng = np.random.default_rng([seed, offset])
        stacks = rng.random((n, PATTERNS_PER_STACK, size, size), dtype=np.float32) * 255.0
        labels = rng.integers(MIN_LABEL, MAX_LABEL + 1, size=n)
        maps = rng.random((n, PATTERNS_PER_STACK, size, size), dtype=np.float32) if targets else None
        out[split] = ArrayReader(split, n, np.arange(n), stacks, labels,
                                 [f"synthetic-{i}" for i in range(n)], maps,
                                 "synthetic" if targets else None)
    return out


@contextlib.contextmanager
def staged_run(staging: Staging, run_id: str, rank: int) -> Iterator[None]:
    """Inside: the run; after it (also on an error or a signal) this rank's local copy goes."""
    try:
        yield
    finally:
        remove_local(staging, run_id, rank)


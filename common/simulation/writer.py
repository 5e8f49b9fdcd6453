"""The raw ORNL layout on disk, written so that a killed run resumes and never lies.

Design: each finished material is first saved to its own small file in
`OUT/.simulate-work/rank{r}/` (written to a temporary name, then renamed). When the rank has
done all its materials, it merges them into `OUT/batch_{split}_{r}.h5` (again temporary
name, then rename), writes a `rank{r}.done.json` marker and deletes its work files. A kill
at any moment leaves only complete material files (the re-run skips them) and complete
final files (re-written identically if the marker is missing); no file under a final name
ever lacks data.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stemdl.common.data.layouts import raw_file_name
from stemdl.common.data.raw import POTENTIAL, STACK
from stemdl.common.infra.atomic import remove_stale_temps, write_atomic, write_text_atomic

MANIFEST = "simulate.json"
WORK = ".simulate-work"


@dataclass
class SampleRecord:
    """One sample: group name, float32 (3, PX, PX) stack (a scan: (3 N^2, PX, PX)), the original's attributes and
    (ours) the projected potential of each zone axis (3, M, M) with its attributes."""

    key: str
    stack: np.ndarray
    attrs: dict
    potential: np.ndarray | None = None
    potential_attrs: dict = field(default_factory=dict)


def write_json(path: Path, data: dict) -> None:
    """Write JSON atomically (temporary name, then rename)."""
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def _write_groups(h5file, samples: Iterable[SampleRecord]) -> int:
    n = 0
    for sample in samples:
        group = h5file.create_group(sample.key)
        group.create_dataset(STACK, data=np.asarray(sample.stack, dtype=np.float32))
        for name, value in sample.attrs.items():
            group.attrs[name] = value
        if sample.potential is not None:  # float32: raw values reach 1e5 eV*Angstrom
            maps = group.create_dataset(POTENTIAL, data=np.asarray(sample.potential, np.float32))
            for name, value in sample.potential_attrs.items():
                maps.attrs[name] = value
        n += 1
    return n


class RankWork:
    """One rank's work folder: a file per finished (or failed) material."""

    def __init__(self, out: Path, rank: int):
        self.out = Path(out)
        self.rank = rank
        self.folder = self.out / WORK / f"rank{rank}"
        self.marker = self.out / WORK / f"rank{rank}.done.json"

    def prepare(self) -> None:
        """Create the folder; drop temporary files a killed run of this rank left."""
        self.folder.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(self.folder)
        remove_stale_temps(self.out, raw_file_name("*", self.rank))

    def _h5(self, index: int) -> Path:
        return self.folder / f"m{index:06d}.h5"

    def _fail(self, index: int) -> Path:
        return self.folder / f"m{index:06d}.fail.json"

    def finished(self, index: int) -> bool:
        return self._h5(index).exists() or self._fail(index).exists()

    def save_material(self, index: int, split: str, samples: list[SampleRecord]) -> None:
        import h5py

        def write(tmp: Path) -> None:
            with h5py.File(tmp, "w") as f:
                f.attrs["split"] = split
                _write_groups(f, samples)

        write_atomic(self._h5(index), write)

    def save_failure(self, index: int, info: dict) -> None:
        write_json(self._fail(index), info)

    def failures(self) -> list[dict]:
        return [json.loads(p.read_text()) for p in sorted(self.folder.glob("m*.fail.json"))]

    def finalize(self, splits: Iterable[str]) -> dict[str, int]:
        """Merge the material files into the final batch files; samples written per split.

        Splits with no sample get no file. Final files are complete or absent.
        """
        import h5py

        by_split: dict[str, list[Path]] = {s: [] for s in splits}
        for path in sorted(self.folder.glob("m*.h5")):
            with h5py.File(path, "r") as f:
                by_split[str(f.attrs["split"])].append(path)
        counts = {}
        for split, paths in by_split.items():
            final = self.out / raw_file_name(split, self.rank)
            if not paths:
                final.unlink(missing_ok=True)
                continue
            def merge(tmp: Path, paths: list[Path] = paths) -> None:
                with h5py.File(tmp, "w") as dst:
                    for path in paths:
                        with h5py.File(path, "r") as src:
                            for key in src:
                                src.copy(src[key], dst, name=key)

            write_atomic(final, merge)
            with h5py.File(final, "r") as merged:
                counts[split] = len(merged)
        return counts

    def check_final(self, counts: dict[str, int]) -> str | None:
        """Why the final files do not hold `counts` samples per split (None: they do)."""
        import h5py

        for split, n in counts.items():
            path = self.out / raw_file_name(split, self.rank)
            try:
                with h5py.File(path, "r") as f:
                    have = len(f)
            except (OSError, KeyError) as err:
                return f"{path.name}: {'missing' if not path.exists() else err}"
            if have != n:
                return f"{path.name}: {have} samples, the run recorded {n}"
        return None

    def mark_done(self, summary: dict) -> None:
        """Write the finished marker, but only for final files that hold what it vouches for."""
        problem = self.check_final(summary["samples"])
        if problem is not None:
            raise RuntimeError(f"{self.out}: not marking rank {self.rank} done: {problem}")
        write_json(self.marker, summary)
        for path in self.folder.glob("m*"):
            path.unlink(missing_ok=True)
        try:
            self.folder.rmdir()
        except OSError:
            pass

    def done_summary(self) -> dict | None:
        """The finished rank's summary; None (and the marker dropped) if its files are gone
        or incomplete, so the rank is simulated again rather than reported as done."""
        if not self.marker.exists():
            return None
        summary = json.loads(self.marker.read_text())
        problem = self.check_final(summary.get("samples", {}))
        if problem is not None:
            print(f"stemdl: note: rank {self.rank} was marked done but {problem}; "
                  "simulating it again", file=sys.stderr)
            self.marker.unlink(missing_ok=True)
            return None
        return summary

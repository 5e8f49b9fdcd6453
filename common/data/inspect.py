"""`stemdl inspect`: what a data folder holds, and whether its split is by material.

The split check fails when a material id appears in two splits (the benchmark's
validation materials must never be seen in training). Upstream NPZ files carry no
material id; then the check is reported as not possible rather than passed.
"""

from __future__ import annotations

import textwrap
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from stemdl.common.data.layouts import detect_layout, list_splits
from stemdl.common.data.npz import UNKNOWN_MATERIAL
from stemdl.common.data.splits import open_split
from stemdl.common.infra.progress import progress as progress_bar

SPLIT_OK, SPLIT_LEAK, SPLIT_UNKNOWN = "ok", "leak", "unknown"


@dataclass
class SplitReport:
    """One split: counts, image shape and dtype, labels and materials."""

    split: str
    path: str
    samples: int
    image_shape: list[int] | None
    dtype: str
    space_groups: dict[int, int]
    materials: int
    unknown_materials: int
    targets: str | None = None  # the density task's target maps (reader.target_kind())


@dataclass
class InspectReport:
    """The whole folder; ``split_check`` is ok, leak or unknown."""

    root: str
    layout: str
    splits: list[SplitReport] = field(default_factory=list)
    split_check: str = SPLIT_UNKNOWN
    leaks: dict[str, list[str]] = field(default_factory=dict)
    samples_checked: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def inspect_folder(root: str | Path, deep: bool = False, progress: bool | None = None
                   ) -> InspectReport:
    """Report on a folder; with ``deep``, read every image too (NaN/Inf, shape).

    ``progress``: None = a bar on a terminal, rate/ETA lines otherwise; False = silent.
    """
    root = Path(root)
    report = InspectReport(str(root), detect_layout(root))
    seen: dict[str, set[str]] = {}
    any_unknown = False
    for split, path in list_splits(root).items():
        reader = open_split(root, split)
        labels = reader.labels()
        materials = reader.materials()
        unknown = sum(1 for m in materials if m == UNKNOWN_MATERIAL)
        any_unknown |= unknown > 0
        for material in set(materials) - {UNKNOWN_MATERIAL}:
            seen.setdefault(material, set()).add(split)
        shape = list(reader.image_shape()) if len(reader) else None
        if deep:
            with progress_bar(len(reader), f"check {split}", "sample",
                              enabled=False if progress is False else None) as bar:
                for i in range(len(reader)):
                    reader[i]  # raises a one-line DataError on a bad sample
                    bar.update(1)
            report.samples_checked += len(reader)
        counts = Counter(int(x) for x in labels)
        report.splits.append(SplitReport(
            split=split, path=str(path), samples=len(reader), image_shape=shape,
            dtype=str(reader.dtype()), space_groups=dict(sorted(counts.items())),
            materials=len(set(materials) - {UNKNOWN_MATERIAL}), unknown_materials=unknown,
            targets=reader.target_kind() if len(reader) else None,
        ))
    report.leaks = {m: sorted(s) for m, s in sorted(seen.items()) if len(s) > 1}
    if report.leaks:
        report.split_check = SPLIT_LEAK
    elif any_unknown or not any(s.samples for s in report.splits):
        report.split_check = SPLIT_UNKNOWN
    else:
        report.split_check = SPLIT_OK
    return report


def format_report(report: InspectReport, max_leaks: int = 10) -> str:
    """Human-readable text of a report."""
    lines = [f"folder: {report.root}", f"layout: {report.layout}"]
    for s in report.splits:
        shape = "x".join(map(str, s.image_shape)) if s.image_shape else "-"
        mats = f"{s.materials} materials" + (
            f" ({s.unknown_materials} samples without material id)" if s.unknown_materials else ""
        )
        targets = {None: "no density targets", "raw": "potential maps (preprocess makes "
                   "density targets of them)"}.get(s.targets, f"density targets: {s.targets} maps")
        lines.append(f"split {s.split} ({s.path}): {s.samples} samples, image {shape} "
                     f"{s.dtype}, {len(s.space_groups)} space groups, {mats}, {targets}")
        table = " ".join(f"{sg}:{n}" for sg, n in s.space_groups.items())
        lines.extend(textwrap.wrap(table, 96, initial_indent="  space group:count  ",
                                   subsequent_indent="    "))
    if report.samples_checked:
        lines.append(f"images checked: {report.samples_checked} (all finite, shapes ok)")
    if report.split_check == SPLIT_OK:
        lines.append("split check: OK: no material appears in two splits")
    elif report.split_check == SPLIT_UNKNOWN:
        lines.append("split check: NOT POSSIBLE: some samples carry no material id "
                     "(upstream npz files do not store one)")
    else:
        lines.append(f"split check: FAILED: {len(report.leaks)} material(s) appear in "
                     "more than one split:")
        for material, splits in list(report.leaks.items())[:max_leaks]:
            lines.append(f"  {material}: {', '.join(splits)}")
        if len(report.leaks) > max_leaks:
            lines.append(f"  ... and {len(report.leaks) - max_leaks} more")
    return "\n".join(lines)

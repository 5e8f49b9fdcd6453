"""A figure of CBED stacks from a raw HDF5 file or folder: log scale, one row per sample,
and beneath it the sample's projected potential maps (the density task's target) if any."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stemdl.common.cli.errors import DataError
from stemdl.common.data.layouts import RAW_GLOB
from stemdl.common.data.raw import POTENTIAL, STACK, attr_text
from stemdl.common.workload import scan_positions


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(path.glob(RAW_GLOB))
        if not files:
            raise DataError(f"{path}: no {RAW_GLOB} files in this folder")
        return files
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    return [path]


def load(path: Path, keys: list[str] | None) -> list[tuple[str, np.ndarray, dict]]:
    """(key, stack, attrs) of the requested samples (default: the first one found); the
    potential maps, where the sample has them, are attrs["potential"]."""
    import h5py

    found = []
    wanted = list(keys or [])
    for file in _files(Path(path)):
        try:
            h5 = h5py.File(file, "r")
        except OSError:
            raise DataError(f"{file}: not a readable HDF5 file") from None
        with h5:
            names = list(wanted) if wanted else sorted(h5)[:1]
            for key in names:
                if key in h5:
                    group = h5[key]
                    if STACK not in group:
                        raise DataError(f"{file}: {key} has no {STACK}")
                    attrs = dict(group.attrs)
                    if POTENTIAL in group:
                        attrs[POTENTIAL] = group[POTENTIAL][()]
                    found.append((key, group[STACK][()], attrs))
                    if key in wanted:
                        wanted.remove(key)
        if found and not wanted:
            break
    if wanted and keys:
        raise DataError(f"{path}: no sample named {', '.join(wanted)}")
    if not found:
        raise DataError(f"{path}: holds no samples")
    if keys:
        found.sort(key=lambda item: keys.index(item[0]))
    return found


def figure(samples: list[tuple[str, np.ndarray, dict]], out: Path) -> Path:
    """Write a PNG: 3 log-scaled panels per sample (a scan: each axis's first position), space group and zone axes in titles,
    and a row of its potential maps (the density target) beneath where it has them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sum(2 if POTENTIAL in attrs else 1 for _, _, attrs in samples)
    fig, axes = plt.subplots(rows, 3, figsize=(10.5, 3.9 * rows), squeeze=False)
    row = -1
    for key, stack, attrs in samples:
        row += 1
        z_dirs = attrs.get("z_dirs", [None] * 3)
        head = (
            f"{key}: space group {attr_text(attrs.get('space_group', '?'))}, "
            f"{attr_text(attrs.get('formula', ''))}, {attrs.get('energy_keV', '?')} keV"
        )
        positions = scan_positions(stack.shape[0])  # a scan: its first position per axis
        for col in range(3):
            ax = axes[row, col]
            image = np.log10(np.maximum(stack[col * positions], 1e-12))
            ax.imshow(image, cmap="inferno", origin="lower", vmin=max(image.min(), -8))
            uvw = z_dirs[col]
            label = "?" if uvw is None else "[" + " ".join(str(int(u)) for u in uvw) + "]"
            where = f", probe 1 of {positions}" if positions > 1 else ""
            ax.set_title((head + "\n" if col == 1 else "\n") + f"zone axis {label}{where}",
                         fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
        if POTENTIAL in attrs:
            row += 1
            for col in range(3):
                ax = axes[row, col]
                ax.imshow(attrs[POTENTIAL][col], cmap="viridis", origin="lower")
                ax.set_title("projected potential (eV*A), central half", fontsize=9)
                ax.set_xticks([])
                ax.set_yticks([])
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out

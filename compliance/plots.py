"""Plots for `stemdl compare --plot FILE.png`.

`FILE.png` holds the primary metric against wall time since run_start and against
epoch (one curve per run on each; a run's baseline, where it recorded one, as a dashed
line of its colour) and, for classification, per-space-group validation F1 bars (one bar
per run per space group, at each run's best epoch). Next to it, per classification run a
heat map of the validation confusion matrix, `FILE-confusion-<run>.png`; per density run
that saved its predictions (`save_predictions`), truth, prediction and error maps of a
few held-out samples, `FILE-maps-<run>.png`.

matplotlib's object API on the Agg canvas (no pyplot, no display, no global state).
Everything plotted is read from results.json as recorded.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from stemdl.common.cli.errors import StemdlError
from stemdl.common.infra.atomic import write_atomic
from stemdl.common.run.runpolicy import PREDICTIONS_DIR
from stemdl.common.task import get_task
from stemdl.compliance.compare import Run

MAX_TICK_LABELS = 40  # more space groups than this: label every k-th bar only
ANNOTATE_UP_TO = 30  # write the count in each cell of heat maps with at most this many classes
MAP_SAMPLES = 4  # held-out samples drawn in a density run's maps figure


def _save(fig: Figure, path: Path) -> Path:
    """Write the figure as PNG atomically (tmp file in the same folder, then rename)."""
    FigureCanvasAgg(fig)
    write_atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    return path


def _curve(run: Run, x_attr: str) -> tuple[list[float], list[float]]:
    """(x, primary metric) of the run's epochs."""
    key = run.result.primary_metric
    pts = [
        (getattr(e, x_attr), e.val[key])
        for e in run.result.epochs
        if getattr(e, x_attr) is not None and e.val.get(key) is not None
    ]
    pts.sort()
    return [p[0] for p in pts], [p[1] for p in pts]


def comparison_figure(runs: Sequence[Run]) -> Figure:
    """The primary metric vs wall time and vs epoch (one Line2D per run on each); for
    classification runs, per-space-group F1 bars below."""
    classified = [r for r in runs if _per_class(r)]
    fig = Figure(figsize=(13, 9 if classified else 4.5), layout="constrained")
    grid = fig.add_gridspec(2 if classified else 1, 2)
    ax_time = fig.add_subplot(grid[0, 0])
    ax_epoch = fig.add_subplot(grid[0, 1])
    colors = [f"C{i % 10}" for i in range(len(runs))]
    targets = sorted({r.result.target for r in runs if r.result.target is not None})
    target = f" (target {', '.join(f'{t:g}' for t in targets)})" if targets else ""
    names = dict.fromkeys(get_task(r.result.task).label(r.result.primary_metric) for r in runs)
    metric = "validation " + (" / ".join(names) or "metric")

    for run, color in zip(runs, colors):
        x, y = _curve(run, "wall_time_s")
        ax_time.plot(x, y, marker="o", color=color, label=run.label)
        x, y = _curve(run, "epoch")
        ax_epoch.plot(x, y, marker="o", color=color, label=run.label)
        base = run.result.baseline.get(run.result.primary_metric)
        if base is not None:  # what learning nothing scores (the density task's mean map)
            for ax in (ax_time, ax_epoch):
                ax.axhline(base, color=color, linestyle="--", linewidth=1,
                           label=f"{run.label}: training-mean baseline {base:.3f}")
    ax_time.set(xlabel="wall time since run_start (s)", ylabel=metric,
                title=f"{metric} vs wall time{target}")
    ax_epoch.set(xlabel="epoch", ylabel=metric, title=f"{metric} vs epoch{target}")
    ax_epoch.xaxis.get_major_locator().set_params(integer=True)
    for ax in (ax_time, ax_epoch):
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize="small")

    if classified:
        shown = [(r, c) for r, c in zip(runs, colors) if r in classified]
        _space_group_bars(fig.add_subplot(grid[1, :]), [r for r, _ in shown],
                          [c for _, c in shown])
    return fig


def _per_class(run: Run) -> dict[str, float]:
    """Classification's F1 per space group (results.json detail), else {}."""
    return dict(run.result.detail.get("per_class_f1") or {}) if run.result.task == "classify" else {}


def _confusion(run: Run):
    """The run's confusion matrix (classification's detail), or None."""
    if run.result.task != "classify":
        return None
    return get_task(run.result.task).metric_from_detail(run.result.detail)


def _true_groups(run: Run) -> set[int]:
    """Space groups with a validation sample (a class only ever predicted has F1 0: noise)."""
    cm = _confusion(run)
    if cm is not None:
        return {int(g) for g in np.flatnonzero(cm.counts.sum(axis=1))}
    return {int(k) for k in _per_class(run)}


def _space_group_bars(ax, runs: Sequence[Run], colors: Sequence[str]) -> None:
    groups = sorted(set().union(*(_true_groups(r) for r in runs))) if runs else []
    n = max(len(runs), 1)
    width = 0.8 / n
    pos = np.arange(len(groups))
    for i, (run, color) in enumerate(zip(runs, colors)):
        f1 = _per_class(run)
        heights = [f1.get(str(g), 0.0) for g in groups]
        ax.bar(pos + (i - (n - 1) / 2) * width, heights, width=width, color=color,
               label=run.label)
    step = max(1, int(np.ceil(len(groups) / MAX_TICK_LABELS)))
    ax.set_xticks(pos[::step], [str(g) for g in groups[::step]], rotation=90, fontsize="small")
    ax.set_xlim(-0.6, max(len(groups) - 0.4, 0.6))
    ax.set_ylim(0, 1.0)
    ax.set(xlabel="space group (those with validation samples)",
           ylabel="validation F1 (best epoch)", title="per-space-group validation F1")
    ax.grid(axis="y", alpha=0.3)
    if runs:
        ax.legend(loc="upper right", fontsize="small")


def confusion_figure(run: Run) -> Figure | None:
    """Heat map of the run's validation confusion matrix (best epoch), classes present only.

    None when the run recorded no confusion matrix (a run of another task has none).
    """
    cm = _confusion(run)
    if cm is None:
        return None
    present = np.flatnonzero(cm.present())
    counts = cm.counts[np.ix_(present, present)]
    size = min(14.0, 4.0 + 0.08 * len(present))
    fig = Figure(figsize=(size + 1.5, size), layout="constrained")
    ax = fig.add_subplot()
    shown = np.ma.masked_equal(counts, 0)
    # counts on a log scale (a few large diagonal cells would wash out the confusions);
    # empty cells are masked, so the scale starts at 1
    vmax = max(int(counts.max()) if counts.size else 1, 2)
    norm = LogNorm(vmin=1, vmax=vmax)
    image = ax.imshow(shown, cmap="viridis", norm=norm, interpolation="nearest", aspect="equal")
    if len(present) <= ANNOTATE_UP_TO:
        for (t, p), c in np.ndenumerate(counts):
            if c:
                ax.text(p, t, str(c), ha="center", va="center", fontsize="x-small",
                        color="white" if norm(c) < 0.6 else "black")
    step = max(1, int(np.ceil(len(present) / MAX_TICK_LABELS)))
    ticks = np.arange(len(present))[::step]
    labels = [str(g) for g in present[::step]]
    ax.set_xticks(ticks, labels, rotation=90, fontsize="small")
    ax.set_yticks(ticks, labels, fontsize="small")
    ax.set(xlabel="predicted space group", ylabel="true space group",
           title=f"{run.label}: validation confusion ({cm.total} samples, "
                 f"macro F1 {cm.macro_f1():.3f}, top-1 {cm.top1():.3f})")
    fig.colorbar(image, ax=ax, label="samples (log scale); empty cells blank")
    return fig


def _predicted_maps(run: Run) -> tuple[np.ndarray, np.ndarray] | None:
    """(targets, predictions) of rank 0's last validation maps (N, patterns, H, W), or None
    when the run is not a density run or saved no predictions."""
    path = run.run_dir / PREDICTIONS_DIR / "val-rank0.npz"
    if run.result.task != "density" or not path.is_file():
        return None
    try:
        with np.load(path) as data:
            truth, pred = np.asarray(data["labels"]), np.asarray(data["preds"])
    except (OSError, KeyError, ValueError) as err:
        raise StemdlError(f"{path}: not a predictions file ({err})") from None
    if truth.shape != pred.shape or truth.ndim != 4 or not len(truth):
        raise StemdlError(f"{path}: targets {truth.shape} and predictions {pred.shape} are "
                          "not maps of one shape (N, patterns, H, W)")
    return truth, pred


def maps_figure(run: Run, samples: int = MAP_SAMPLES) -> Figure | None:
    """Truth, prediction and error of the first zone axis's map of a few held-out samples
    (the run's last validation pass), with each sample's NMSE; None without predictions."""
    maps = _predicted_maps(run)
    if maps is None:
        return None
    truth, pred = (m[:samples, 0] for m in maps)
    n = len(truth)
    fig = Figure(figsize=(7.5, 2.4 * n + 0.6), layout="constrained")
    axes = fig.subplots(n, 3, squeeze=False)
    lim = float(max(np.abs(truth).max(), 1e-6))
    err_lim = float(max(np.abs(pred - truth).max(), 1e-6))
    for i in range(n):
        nmse = float(((pred[i] - truth[i]) ** 2).sum() / max((truth[i] ** 2).sum(), 1e-12))
        for j, (image, title, cmap, v) in enumerate((
                (truth[i], "truth", "viridis", lim), (pred[i], "prediction", "viridis", lim),
                (pred[i] - truth[i], f"error (NMSE {nmse:.3f})", "RdBu_r", err_lim))):
            ax = axes[i, j]
            shown = ax.imshow(image, cmap=cmap, vmin=-v, vmax=v, interpolation="nearest")
            ax.set_title(f"sample {i}: {title}" if j == 0 else title, fontsize="small")
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 2:
                fig.colorbar(shown, ax=ax, shrink=0.8)
    fig.suptitle(f"{run.label}: held-out target maps (z-scored), first zone axis",
                 fontsize="medium")
    return fig


def _safe(run: Run) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", run.label).strip("_") or "run"


def confusion_path(plot_path: Path, run: Run) -> Path:
    """`FILE.png` -> `FILE-confusion-<run label, made file-safe>.png`."""
    return plot_path.with_name(f"{plot_path.stem}-confusion-{_safe(run)}.png")


def maps_path(plot_path: Path, run: Run) -> Path:
    """`FILE.png` -> `FILE-maps-<run label, made file-safe>.png`."""
    return plot_path.with_name(f"{plot_path.stem}-maps-{_safe(run)}.png")


def write_plots(runs: Sequence[Run], path: str | os.PathLike[str]) -> list[Path]:
    """Write the comparison figure to `path` and, next to it, a confusion heat map per
    classification run and a truth/prediction/error figure per density run with predictions.

    Returns the paths written, the comparison figure first.
    """
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise StemdlError(f"{path}: the plot file must end in .png")
    if not path.parent.is_dir():  # a typo in the folder must not create folders
        raise StemdlError(f"{path}: no such folder {path.parent} for the plot")
    written = [_save(comparison_figure(runs), path)]
    for run in runs:
        fig = confusion_figure(run)
        if fig is not None:
            written.append(_save(fig, confusion_path(path, run)))
        fig = maps_figure(run)
        if fig is not None:
            written.append(_save(fig, maps_path(path, run)))
    return written

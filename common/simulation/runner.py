"""`stemdl simulate`: one rank's share of the plan, resumable, with progress and summary."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from stemdl.common.cli.errors import StemdlError
from stemdl.common.data.raw import MATERIAL_ATTR, POTENTIAL_UNITS, SPACE_GROUP_ATTR
from stemdl.common.infra.lock import LOCK_PREFIX, locked_folder
from stemdl.common.infra.progress import progress as progress_bar
from stemdl.common.infra.ranks import share
from stemdl.common.infra.workers import ordered_map
from stemdl.common.run.bounds import check_workers
from stemdl.common.simulation.plan import SPLITS, MaterialSpec, Plan
from stemdl.common.simulation.writer import MANIFEST, WORK, RankWork, SampleRecord, write_json


@dataclass
class MaterialResult:
    """A simulated material (samples) or why it could not be made (failure)."""

    spec: MaterialSpec
    samples: list[SampleRecord] = field(default_factory=list)
    failure: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)  # crystal / abtem / ours


def simulate_material(spec: MaterialSpec, plan: Plan, device: str = "cpu") -> MaterialResult:
    """All samples of one material: a pure function of (spec, plan), whatever the rank.

    Times are split into `crystal` (pyxtal + spglib), `abtem` (cut, potential,
    multislice, diffraction) and `ours` (the rest: axes, cropping, attributes).
    """
    from stemdl.common.simulation import cbed, crystals, zone_axes

    start = time.perf_counter()
    seconds = {"crystal": 0.0, "abtem": 0.0, "ours": 0.0}
    try:
        if spec.fixed_name is not None:
            crystal = crystals.fixed_crystal(spec.fixed_name)
        else:
            crystal = crystals.random_crystal(spec.space_group, spec.seed_sequence())
    except crystals.CrystalFailure as err:
        seconds["crystal"] = time.perf_counter() - start
        return MaterialResult(spec, failure=str(err), seconds=seconds)
    seconds["crystal"] = time.perf_counter() - start

    atoms = crystal.atoms
    axes = zone_axes.zone_axes(atoms)
    cellpar = atoms.cell.cellpar()
    physics = plan.physics
    positions = physics.scan**2
    stacks = np.empty((len(plan.energies_kev), 3 * positions, physics.size, physics.size),
                      np.float32)
    semi = np.empty((len(plan.energies_kev), 3))
    maps = []  # the projected potential of each axis (the density task's target)
    abtem_s = 0.0
    for a, axis in enumerate(axes):
        t = time.perf_counter()
        potential = cbed.build_potential(atoms, axis, physics, device=device)
        maps.append(cbed.projected_window(potential, physics))
        abtem_s += time.perf_counter() - t
        for e, kev in enumerate(plan.energies_kev):
            semi[e, a] = axis.semi_angle(cbed.wavelength(kev * 1e3), physics.disc_fill)
            t = time.perf_counter()
            if physics.scan == 1:
                stacks[e, a] = cbed.pattern(potential, kev * 1e3, semi[e, a], physics)
            else:  # axis a's positions: patterns a*N^2 .. (a+1)*N^2 - 1
                stacks[e, a * positions : (a + 1) * positions] = cbed.scan_patterns(
                    potential, kev * 1e3, semi[e, a], physics)
            abtem_s += time.perf_counter() - t

    window = potential_attrs(physics)
    samples = []
    for e, kev in enumerate(plan.energies_kev):
        if not np.all(np.isfinite(stacks[e])):  # the original dropped NaN patterns too
            continue
        attrs = {
            SPACE_GROUP_ATTR: np.bytes_(str(crystal.space_group)),
            MATERIAL_ATTR: spec.material_id,
            "formula": crystal.formula,
            "energy_keV": float(kev),
            "z_dirs": np.array([ax.z_dir for ax in axes], dtype=np.int64),
            "y_dirs": np.array([ax.y_dir for ax in axes], dtype=np.int64),
            "semi_angles_rad": semi[e].astype(np.float64),
            "d_hkls_angstrom": np.array([ax.d_hkl for ax in axes], dtype=np.float64),
            "abc_angstrom": np.asarray(cellpar[:3], dtype=np.float64),
            "angles_degree": np.asarray(cellpar[3:], dtype=np.float64),
        }
        if physics.scan > 1:
            attrs["scan"] = np.int64(physics.scan)
            attrs["probe_positions_angstrom"] = physics.probe_positions()
        samples.append(SampleRecord(f"sample_{spec.index}_{e}", stacks[e], attrs,
                                    potential=np.stack(maps), potential_attrs=window))
    seconds["abtem"] = abtem_s
    seconds["ours"] = time.perf_counter() - start - seconds["crystal"] - abtem_s
    return MaterialResult(spec, samples=samples, seconds=seconds)


def potential_attrs(physics) -> dict:
    """What a reader needs to use the potential maps: units, pixel, window, blur."""
    return {"units": POTENTIAL_UNITS, "pixel_size_angstrom": physics.extent / physics.gpts,
            "window_angstrom": physics.extent / 2, "window_origin_angstrom": physics.extent / 4,
            "blur_sigma_px": 0.0}


# --- checks before anything is written ----------------------------------------------


def check_out(out: Path, manifest: dict) -> None:
    """Refuse an OUT that is a file, or holds another run (different seed/preset/...)."""
    if out.exists() and not out.is_dir():
        raise StemdlError(f"{out}: exists and is not a folder")
    if not out.is_dir():
        return
    path = out / MANIFEST
    if not path.exists():
        if any(not p.name.startswith(LOCK_PREFIX) for p in out.iterdir()):
            raise StemdlError(
                f"{out}: folder is not empty and holds no {MANIFEST}; choose a new OUT"
            )
        return
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        raise StemdlError(f"{path}: unreadable run manifest") from None
    diff = [k for k in sorted(set(old) | set(manifest)) if old.get(k) != manifest.get(k)]
    if diff:
        shown = ", ".join(f"{k} {old.get(k)!r} != {manifest.get(k)!r}" for k in diff[:3])
        raise StemdlError(f"{out}: holds a different run ({shown}); choose a new OUT")


def check_device(device: str) -> None:
    if device not in ("cpu", "gpu"):
        raise StemdlError(f"--device must be cpu or gpu, got '{device}'")
    if device == "gpu":
        try:
            import cupy  # noqa: F401
        except ImportError:
            raise StemdlError("--device gpu needs CuPy (pip install cupy-cuda12x)") from None


# --- the run --------------------------------------------------------------------------


def run(
    out: Path,
    plan: Plan,
    rank: int = 0,
    world: int = 1,
    device: str = "cpu",
    workers: int = 1,
    progress: bool | None = None,
) -> dict:
    """Simulate this rank's materials into OUT; return (and write) the rank's summary."""
    out = Path(out)
    manifest = plan.manifest(world)
    check_out(out, manifest)
    check_device(device)
    check_workers("--workers", workers, minimum=1)
    # two copies of one rank (a second terminal, a requeued job) never write together
    with locked_folder(out, "stemdl simulate", rank, world):
        check_out(out, manifest)  # again under the lock: another writer may have just started
        return _run_locked(out, plan, manifest, rank, world, device, workers, progress)


def _run_locked(out: Path, plan: Plan, manifest: dict, rank: int, world: int, device: str,
                workers: int, progress: bool | None) -> dict:
    if not (out / MANIFEST).exists():
        write_json(out / MANIFEST, manifest)
    work = RankWork(out, rank)
    previous = work.done_summary()
    if previous is not None:
        previous["resumed"] = "already complete"
        return previous
    work.prepare()

    mine = share(plan.materials, rank, world)
    todo = [spec for spec in mine if not work.finished(spec.index)]
    seconds: Counter[str] = Counter()
    start = time.perf_counter()
    bar = progress_bar(len(mine), f"simulate rank {rank}/{world}", "material",
                       initial=len(mine) - len(todo), enabled=progress)
    failed = 0
    try:
        for result in _results(todo, plan, device, workers):
            t = time.perf_counter()
            if result.failure is not None:
                failed += 1
                work.save_failure(
                    result.spec.index,
                    {"material": result.spec.material_id, "space_group": result.spec.space_group,
                     "reason": result.failure},
                )  # fmt: skip
            else:
                work.save_material(result.spec.index, result.spec.split, result.samples)
            seconds.update(result.seconds)
            seconds["ours"] += time.perf_counter() - t
            bar.update(1)
            bar.set_postfix(failed=failed, refresh=False)
    finally:
        bar.close()

    failures = work.failures()
    t = time.perf_counter()
    counts = work.finalize(SPLITS)
    seconds["ours"] += time.perf_counter() - t
    groups_done = sorted({s.space_group for s in mine} - _failed_groups(mine, failures))
    summary = {
        "rank": rank,
        "world": world,
        "materials": len(mine),
        "materials_simulated_now": len(todo),
        "materials_failed": len(failures),
        "samples": counts,
        "space_groups_requested": sorted({s.space_group for s in mine}),
        "space_groups_written": groups_done,
        "failures": failures,
        "failure_reasons": dict(Counter(f["reason"] for f in failures)),
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
        "wall_seconds": round(time.perf_counter() - start, 3),
    }
    work.mark_done(summary)
    return summary


def _failed_groups(mine: list[MaterialSpec], failures: list[dict]) -> set[int]:
    """Space groups of which every material of this rank failed."""
    failed = Counter(f["space_group"] for f in failures)
    planned = Counter(s.space_group for s in mine)
    return {g for g, n in failed.items() if n == planned[g]}


def _results(todo: list[MaterialSpec], plan: Plan, device: str, workers: int):
    """Results in plan order, from this process or a pool of `workers` processes that is
    stopped with the command (an error, Ctrl-C or SIGTERM)."""
    return ordered_map(partial(simulate_material, plan=plan, device=device), todo, workers)


def format_summary(summary: dict, out: Path) -> str:
    """The short human summary printed at the end."""
    samples = summary["samples"]
    total = sum(samples.values())
    sec = summary.get("seconds", {})
    busy = sum(sec.values()) or 1.0
    lines = [
        f"simulate rank {summary['rank']}/{summary['world']}: {summary['materials']} materials "
        f"({summary['materials_failed']} failed), {total} samples "
        f"({', '.join(f'{k} {v}' for k, v in samples.items()) or 'none'}) in {out}",
        f"space groups: {len(summary['space_groups_written'])} of "
        f"{len(summary['space_groups_requested'])} requested written",
    ]
    if summary.get("resumed"):
        lines.append("nothing to do: this rank had already completed")
    elif sec:
        lines.append(
            "time: "
            + ", ".join(f"{k} {v:.1f} s ({100 * v / busy:.0f}%)" for k, v in sorted(sec.items()))
        )
    for reason, n in summary["failure_reasons"].items():
        lines.append(f"failed x{n}: {reason}")
    missing = sorted(set(summary["space_groups_requested"]) - set(summary["space_groups_written"]))
    if missing:
        lines.append(f"space groups with no crystal: {', '.join(map(str, missing))}")
    return "\n".join(lines)


__all__ = ["run", "simulate_material", "format_summary", "check_out", "MaterialResult", "WORK"]

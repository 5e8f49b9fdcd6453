"""`stemdl simulate OUT`: physically simulated CBED data in the ORNL raw layout."""

from __future__ import annotations

import argparse

from stemdl.common.run.dryrun import add_dry_run


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="simulate CBED stacks (abTEM multislice) into the raw ORNL HDF5 layout",
        description="Simulate CBED stacks of random (pyxtal) or fixed (ase) crystals with "
        "abTEM multislice, labelled by spglib, into OUT/batch_{train,dev,test}_{rank}.h5. "
        "Re-running the same command continues a killed run. See docs/SIMULATION.md.",
    )
    parser.add_argument("out", metavar="OUT", help="output folder (created)")
    parser.add_argument("--preset", default="tiny", help="tiny, demo, study or full (default: tiny)")
    parser.add_argument(
        "--space-groups", metavar="LIST", help="e.g. 225,227 or 1-10,194 or all (default: preset's)"
    )
    parser.add_argument("--materials-per-group", type=int, metavar="N")
    parser.add_argument("--energies", type=int, metavar="N", help="100 keV, 110 keV, ... N of them")
    parser.add_argument("--size", type=int, metavar="PX", help="pixels per side of each pattern")
    parser.add_argument(
        "--scan", type=int, metavar="N", default=1,
        help="N x N probe positions per zone axis over the central window, discs overlapping "
        "(the density task's 4D-STEM input; default 1: one centred probe, discs apart)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rank", type=int, help="this rank (default: launcher env, else 0)")
    parser.add_argument("--world", type=int, help="number of ranks (default: launcher env, else 1)")
    parser.add_argument("--device", default="cpu", help="cpu (default) or gpu (CuPy)")
    parser.add_argument(
        "--workers", type=int, default=1, help="local processes for this rank (default 1)"
    )
    add_dry_run(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from stemdl.common.run.bounds import check_workers

    check_workers("--workers", args.workers, minimum=1)  # before any work starts
    from pathlib import Path

    from stemdl.common.cli.extras import require
    from stemdl.common.infra.ranks import resolve_rank
    from stemdl.common.simulation.plan import make_plan
    from stemdl.common.simulation.runner import format_summary
    from stemdl.common.simulation.runner import run as simulate

    plan = make_plan(
        args.preset,
        seed=args.seed,
        space_groups=args.space_groups,
        materials_per_group=args.materials_per_group,
        energies=args.energies,
        size=args.size,
        scan=args.scan,
    )
    # before any work: a missing `sim` extra is the install line, not a worker's traceback
    require("stemdl simulate", ("abtem", "ase", "spglib")
            + (("pyxtal",) if plan.crystals == "random" else ()))
    rank, world = resolve_rank(args.rank, args.world)
    out = Path(args.out)
    if args.dry_run:
        from stemdl.common.simulation.runner import check_device, check_out

        check_out(out, plan.manifest(world))
        check_device(args.device)
        print(plan_text(plan, out, rank, world, args.workers))
        return 0
    summary = simulate(out, plan, rank, world, device=args.device, workers=args.workers)
    print(format_summary(summary, out))
    return 0


def plan_text(plan, out, rank: int, world: int, workers: int) -> str:
    """What `stemdl simulate --dry-run` prints: the plan, and this rank's share of it."""
    from collections import Counter

    from stemdl.common.infra.ranks import share

    mine = share(plan.materials, rank, world)
    per_split = Counter(m.split for m in mine)
    energies = len(plan.energies_kev)
    splits = ", ".join(f"{s} {per_split[s] * energies}" for s in ("train", "dev", "test"))
    return "\n".join([
        "simulate dry run: plan and OUT checked; nothing simulated, nothing written",
        f"  out: {out} (rank {rank} of {world}, {workers} worker(s))",
        f"  preset {plan.preset} ({plan.crystals} crystals), seed {plan.seed}: "
        f"{len(plan.space_groups)} space groups x {plan.materials_per_group} material(s), "
        f"{energies} energies ({plan.energies_kev[0]}..{plan.energies_kev[-1]} keV), "
        f"{plan.physics.size} px" + (f", a {plan.physics.scan} x {plan.physics.scan} probe scan"
                                     if plan.physics.scan > 1 else ""),
        f"  this rank: {len(mine)} of {len(plan.materials)} materials, up to "
        f"{len(mine) * energies} samples ({splits}); 3 zone axes each"
        + (f", {3 * plan.physics.scan**2} patterns per sample ({sample_mb(plan):.1f} MB)"
           if plan.physics.scan > 1 else ""),
    ])


def sample_mb(plan) -> float:
    """MB of one sample's patterns (float32)."""
    return 3 * plan.physics.scan**2 * plan.physics.size**2 * 4 / 1e6

"""`stemdl simulate OUT`: physically simulated CBED data in the ORNL raw layout."""

from __future__ import annotations

import argparse


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
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rank", type=int, help="this rank (default: launcher env, else 0)")
    parser.add_argument("--world", type=int, help="number of ranks (default: launcher env, else 1)")
    parser.add_argument("--device", default="cpu", help="cpu (default) or gpu (CuPy)")
    parser.add_argument(
        "--workers", type=int, default=1, help="local processes for this rank (default 1)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from stemdl.common.ranks import resolve_rank
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
    )
    rank, world = resolve_rank(args.rank, args.world)
    out = Path(args.out)
    summary = simulate(out, plan, rank, world, device=args.device, workers=args.workers)
    print(format_summary(summary, out))
    return 0

"""`stemdl show PATH`: a PNG of CBED stacks (log scale, 3 zone axes per sample)."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "show",
        help="draw CBED stacks of a raw HDF5 file or folder to a PNG",
        description="Draw one or more CBED stacks (log scale, one panel per zone axis, space "
        "group and zone axes in the titles) from a batch_*.h5 file or a folder of them.",
    )
    parser.add_argument("path", metavar="PATH", help="a batch_*.h5 file or a folder of them")
    parser.add_argument(
        "--sample", action="append", metavar="KEY", help="sample group, e.g. sample_0_0 (repeat)"
    )
    parser.add_argument("--out", metavar="PNG", help="image to write (default: KEY.png)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from stemdl.common.simulation.show import figure, load

    samples = load(Path(args.path), args.sample)
    out = Path(args.out) if args.out else Path(f"{samples[0][0]}.png")
    print(figure(samples, out))
    return 0

"""`stemdl preprocess RAW OUT`: raw ORNL HDF5 -> npz-per-sample or packed (thin shell)."""

from __future__ import annotations

import argparse
import sys

DESCRIPTION = """\
Preprocess a raw ORNL folder (batch_<split>_<rank>.h5) into the NPZ-per-sample layout or
the packed layout. Per pattern: clip((max(log(x), -17) + 17) * 10, 0, 255), then an area
resize to SIZE x SIZE (an exact block mean when the raw size is a multiple of SIZE, e.g.
4x4 for 512 -> 128). Zero or negative intensities map to 0.

Split folder names are carried over (batch_dev_* -> OUT/dev/). Outputs are written
atomically (temp file, fsync, rename) and a re-run skips finished outputs, so an
interrupted run can simply be started again; OUT records the parameters its outputs were
made with (stemdl-preprocess.json), and a re-run with other parameters (another --size or
--format) is refused unless --overwrite replaces them. Two copies of one rank never write
OUT together (a lock names the holder).

Raw samples simulated by `stemdl simulate` also carry the projected potential of each
zone axis; it becomes the density task's target maps (OUT's npz `target`, packed
`targets`): area-resized to SIZE, blurred by 1.2 px, z-scored per map, and with
--target patterson replaced by its autocorrelation first (docs/DENSITY.md).

Bad samples (no cbed_stack, a potential of another shape or with NaN, no or invalid space_group, label outside 1..230, NaN/Inf,
wrong shape) are skipped, counted and listed in the summary; they never reach the
output. Exit code: 0 when every input file could be read (even if samples were
skipped); 2 when an input file is unreadable (the others are still processed and the
summary printed first), when no sample at all could be written (e.g. --size larger than
the patterns), or for usage errors.
"""

EPILOG = """\
examples:
  stemdl preprocess raw/ data-npz/                      # npz, 128 px, one process
  stemdl preprocess raw/ data-packed/ --format packed --workers 8
  srun -n 4 stemdl preprocess raw/ out/                 # 4 independent ranks (SLURM)
  stemdl preprocess raw/ out/ --rank 1 --world 4        # or explicit ranks
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "preprocess", help="raw ORNL HDF5 -> npz or packed (log scale, area resize)",
        description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("raw", metavar="RAW", help="raw folder of batch_<split>_<rank>.h5 files")
    parser.add_argument("out", metavar="OUT", help="output folder (created if missing)")
    parser.add_argument("--format", choices=("npz", "packed"), default="npz",
                        help="output layout (default: npz)")
    parser.add_argument("--size", type=int, default=128, help="output image size (default 128)")
    parser.add_argument("--target", choices=("potential", "patterson"), default="potential",
                        help="the density task's target maps (default: potential)")
    parser.add_argument("--workers", type=int, default=1,
                        help="worker processes on this node (default 1)")
    parser.add_argument("--rank", type=int, default=None,
                        help="this rank (default: launcher environment, else 0)")
    parser.add_argument("--world", type=int, default=None,
                        help="number of ranks (default: launcher environment, else 1)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace outputs in OUT made with other parameters (one rank only)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from stemdl.common.run.bounds import check_workers

    check_workers("--workers", args.workers, minimum=1)  # before any work starts
    from stemdl.common.cli.errors import DataError
    from stemdl.common.data.preprocess import preprocess
    from stemdl.common.infra.ranks import resolve_rank

    rank, world = resolve_rank(args.rank, args.world)
    summary = preprocess(args.raw, args.out, fmt=args.format, size=args.size,
                         workers=args.workers, rank=rank, world=world,
                         progress=False if args.no_progress else None, overwrite=args.overwrite,
                         target=args.target)
    where = f" (rank {rank} of {world})" if world > 1 else ""
    print(f"preprocess {args.raw} -> {args.out} [{args.format}, {args.size} px]{where}")
    for line in summary.lines():
        print(line)
    sys.stdout.flush()
    skipped = sum(summary.skipped_bad.values())
    if summary.samples and not summary.written and not summary.skipped_existing and skipped:
        reasons = ", ".join(f"{r} {n}" for r, n in sorted(summary.skipped_bad.items()))
        raise DataError(f"{args.raw}: no sample written, all {skipped} were skipped ({reasons})")
    if summary.bad_files:
        first = summary.bad_files[0]
        more = f" (and {len(summary.bad_files) - 1} more, see the summary)" if len(
            summary.bad_files) > 1 else ""
        raise DataError(f"{first}{more}")
    return 0

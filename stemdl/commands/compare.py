"""`stemdl compare RUN_DIR...`: one table of the runs side by side, optionally plots."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "compare",
        help="compare finished runs side by side (table, plots)",
        description="Read each RUN_DIR's results.json and MLPerf log and print one table: "
        "implementation, framework, device, throughput, time per epoch, time to target, "
        "best validation macro F1 and top-1, test F1, inference latency, model size and the "
        "compliance verdict of the log. Figures are copied from results.json as recorded.",
    )
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR",
                   help="run folders (each holds results.json and mlperf.log)")
    fmt = p.add_mutually_exclusive_group()
    for name in ("markdown", "json"):
        fmt.add_argument(f"--{name}", dest="format", action="store_const", const=name,
                         help=f"print the table as {name.upper() if name != 'markdown' else 'Markdown'}")
    p.add_argument("--csv", nargs="?", const="-", metavar="FILE",
                   help="write the table as CSV, one row per run with every figure at full "
                   "precision, to FILE (for spreadsheets; the usual table still prints), or "
                   "without FILE to stdout instead of the table")
    p.set_defaults(format="text")
    p.add_argument("--plot", metavar="FILE.png",
                   help="also write F1 vs wall time / vs epoch and per-space-group F1 bars to "
                   "FILE.png, and one confusion heat map per run to FILE-confusion-RUN.png")
    p.add_argument("--no-compliance", action="store_true",
                   help="skip the compliance check of the logs")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from stemdl.common.cli.errors import StemdlError
    from stemdl.common.infra.atomic import write_text_atomic
    from stemdl.compliance import compare

    if args.csv not in (None, "-") and Path(args.csv).is_dir():
        raise StemdlError(f"--csv {args.csv}: is a folder; give the CSV file to write "
                          "(`--csv FILE RUN_DIR...`)")
    check = None if args.no_compliance else compare.default_compliance_check
    runs, rows = compare.compare_rows(args.run_dirs, check=check)
    if args.csv == "-":
        sys.stdout.write(compare.format_csv(rows))
    else:
        sys.stdout.write(compare.FORMATS[args.format](rows))
    if args.csv not in (None, "-"):
        write_text_atomic(args.csv, compare.format_csv(rows))
        print(f"csv: {args.csv} ({len(rows)} run(s))", file=sys.stderr)
    if args.plot:
        from stemdl.compliance.plots import write_plots

        written = write_plots(runs, args.plot)
        print(f"plots: {', '.join(str(p) for p in written)}", file=sys.stderr)
    return 0

"""`stemdl demo [--out DIR]`: the whole benchmark on small simulated data, end to end."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo",
        help="simulate, preprocess, train STFC and ORNL, check compliance, compare (either task)",
        description="Simulate the demo data set, preprocess it (packed layout), train the STFC "
        "(PyTorch Lightning) and ORNL (TensorFlow) implementations with their recipes, shrunk "
        "to finish in about 10 minutes on 2 CPU cores (the output says what was shrunk; shrunk "
        "runs are open division), check both MLPerf logs for compliance, and print the "
        "comparison table and the path of the plot. --task density does the same for the "
        "reconstruction task (a U-Net learns each zone axis's Patterson map from its pattern, "
        "read against the training-mean map; about 5 minutes more); --task all does both on "
        "one simulated data set. A second run reuses every finished stage.",
    )
    p.add_argument("--task", choices=("classify", "density", "all"), default="classify",
                   help="classify (default), density, or all: both tasks")
    p.add_argument("--out", default="demo-out", metavar="DIR",
                   help="folder for data, runs, logs and plots (default: demo-out)")
    p.add_argument("--preset", choices=("demo", "tiny"), default="demo",
                   help="demo: about 10 minutes on 2 cores; tiny: a CI-sized smoke run")
    p.add_argument("--impl", action="append", choices=("stfc", "ornl"), dest="impls",
                   help="train only this implementation (repeatable; default: both)")
    p.add_argument("--quiet", action="store_true",
                   help="do not echo the stages' output (it is still kept in DIR/logs/)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from stemdl.common.infra.lock import locked_folder
    from stemdl.common.run.rundir import check_is_folder
    from stemdl.demo import IMPLEMENTATIONS, Demo, summary_lines

    def echo(line: str) -> None:
        print(line, flush=True)

    demo = Demo(args.out, size=args.preset, implementations=args.impls or IMPLEMENTATIONS,
                echo=echo, stream_children=not args.quiet, task=args.task)
    check_is_folder(args.out, "--out")
    with locked_folder(args.out, "stemdl demo"):  # two demos never share one OUT
        report = demo.run()
    for line in summary_lines(report):
        echo(line)
    if not report.passed:
        print("stemdl: error: a run's MLPerf log failed the compliance check", file=sys.stderr)
        return 1
    return 0

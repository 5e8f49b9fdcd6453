"""`stemdl package RUN_DIR... --out DIR --org ORG --system NAME`: the working group's
submission folder for finished runs (compliance/package.py)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "package",
        help="write the MLCommons Science submission folder for finished runs",
        description="Write DIR/ORG/stemdl/SYSTEM/DESCRIPTOR/ (the working group's submit.adoc "
        "layout; DESCRIPTOR is TASK-IMPLEMENTATION-DIVISION) for the runs given: result-N.txt "
        "per run (the metric, time to train, epochs against the reference values), config.yaml "
        "(code repository, version, commit, hyperparameters, a data: list), README.md (the "
        "commands the runs were started with), system.json (mlperf-logging's system "
        "description), the job scripts when known and each run's logs under logs/run-N/. "
        "Refused with one line, before anything is written: a DIR that exists and is not "
        "empty, a run still running or without its log, runs of other tasks, systems or "
        "configs, a seed used twice, a log that fails compliance. Check the result with "
        "`stemdl check-package DIR`.",
    )
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="finished run folders")
    p.add_argument("--out", required=True, metavar="DIR", help="new (or empty) folder to write")
    p.add_argument("--org", required=True, help="the submitting organization (a folder name)")
    p.add_argument("--system", required=True, metavar="NAME",
                   help="the system's name (a folder name; system.json's system_name)")
    p.add_argument("--scripts", nargs="+", default=[], metavar="FILE",
                   help="job scripts to include beside those the runs recorded")
    p.add_argument("--ruleset", default=None, help="STEMDL rule-set version (default: 1.0.0)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from stemdl.compliance.checker import DEFAULT_RULESET
    from stemdl.compliance.package import MIN_RUNS, build_package

    folder = build_package(args.runs, args.out, args.org, args.system, scripts=args.scripts,
                           ruleset=args.ruleset or DEFAULT_RULESET)
    print(f"package: {folder} ({len(args.runs)} run(s))")
    if len(args.runs) < MIN_RUNS:
        print(f"note: {len(args.runs)} run(s); a submission needs at least {MIN_RUNS} with "
              "distinct seeds, so `stemdl check-package` will fail it")
    return 0

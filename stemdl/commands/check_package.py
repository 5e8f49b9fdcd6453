"""`stemdl check-package DIR`: is DIR a STEMDL submission the working group accepts?"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "check-package",
        help="check a submission folder written by `stemdl package`",
        description="Check every package under DIR (DIR itself, or ORG/stemdl/SYSTEM/DESCRIPTOR "
        "below it): the files the working group asks for are there, every log passes "
        "`stemdl compliance` and agrees with its results.json, at least 5 runs (as MLPerf HPC "
        "asks of DeepCAM and OpenCatalyst) with distinct seeds, one system and one config "
        "apart from the seed, and system.json passes mlperf-logging's system description "
        "check. One line per problem. Exit 0: it passes; 1: problems; 2: DIR is not a package.",
    )
    p.add_argument("folder", metavar="DIR", help="the folder `stemdl package --out` wrote")
    p.add_argument("--ruleset", default=None, help="STEMDL rule-set version (default: 1.0.0)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from stemdl.compliance.checker import DEFAULT_RULESET
    from stemdl.compliance.package import check_package, find_descriptors

    folders = find_descriptors(args.folder)
    problems = check_package(args.folder, ruleset=args.ruleset or DEFAULT_RULESET)
    for line in problems:
        print(line)
    verdict = "FAILED" if problems else "passed"
    print(f"check-package: {verdict}: {len(folders)} package(s), {len(problems)} problem(s)")
    return 1 if problems else 0

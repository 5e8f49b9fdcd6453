"""`stemdl compliance LOG...`: check MLPerf-style STEMDL logs with the mlperf-logging checker."""

from __future__ import annotations

import argparse

MAX_REASONS = 12  # per log, unless --verbose


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "compliance",
        help="check STEMDL MLPerf logs with the mlperf-logging compliance checker",
        description="Check each log (or RUN_DIR/mlperf.log) with the installed mlperf-logging "
        "compliance checker and the packaged STEMDL rules: the common rules, then the "
        "division's (closed: a reference recipe's hyperparameters; open: free). Prints PASS or "
        "FAIL per log with the checker's reasons; exit code 0 only if every log passes.",
    )
    p.add_argument(
        "logs", nargs="+", metavar="LOG", help="an MLPerf log, or a run folder with mlperf.log"
    )
    p.add_argument(
        "--division",
        choices=("auto", "closed", "open"),
        default="auto",
        help="rules to apply besides the common ones (default: the log's submission_division)",
    )
    p.add_argument("--ruleset", default=None, help="STEMDL rule-set version (default: 1.0.0)")
    p.add_argument(
        "--verbose",
        "-v",
        action="store_true",
        help="print every reason in full, with the checker's dump of its rule state",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from stemdl.compliance.checker import DEFAULT_RULESET, check_log, short_reason

    ruleset = args.ruleset or DEFAULT_RULESET
    failed = 0
    for path in args.logs:
        result = check_log(path, division=args.division, ruleset=ruleset)
        rules = "+".join(["common", *([result.division] if result.division else [])])
        print(f"{'PASS' if result.passed else 'FAIL'}  {result.log}  (stemdl {ruleset}: {rules})")
        reasons = result.reasons if args.verbose else result.reasons[:MAX_REASONS]
        for reason in reasons:
            text = reason if args.verbose else short_reason(reason)
            print("  - " + text.replace("\n", "\n    "))
        if len(reasons) < len(result.reasons):
            print(f"  ... and {len(result.reasons) - len(reasons)} more (--verbose shows all)")
        failed += not result.passed
    print(f"{len(args.logs) - failed} of {len(args.logs)} log(s) pass")
    return 1 if failed else 0

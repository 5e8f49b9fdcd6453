"""`stemdl score RUN_DIR...`: time to train of compliant runs, combined the MLPerf way."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "score",
        help="time to train of runs, combined the MLPerf way",
        description="For each run (RUN_DIR/mlperf.log, or a log file): check it with `stemdl "
        "compliance`, then take its time to train in minutes from run_start to run_stop. Runs "
        "that fail compliance or did not reach the target (run_stop status not 'success') are "
        "refused. The score combines the accepted runs as MLPerf does: drop the fastest and the "
        "slowest, average the rest; with fewer than 3 accepted runs it is the plain mean, "
        "marked as not an MLPerf-style score. Exit code 0 only if every run is accepted.",
    )
    p.add_argument(
        "runs", nargs="+", metavar="RUN_DIR", help="a run folder with mlperf.log, or a log file"
    )
    p.add_argument(
        "--division",
        choices=("auto", "closed", "open"),
        default="auto",
        help="compliance rules to apply (default: the log's submission_division)",
    )
    p.add_argument("--ruleset", default=None, help="STEMDL rule-set version (default: 1.0.0)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from stemdl.compliance.checker import DEFAULT_RULESET
    from stemdl.compliance.score import score_runs

    ruleset = args.ruleset or DEFAULT_RULESET
    score = score_runs(args.runs, division=args.division, ruleset=ruleset)
    if args.json:
        print(
            json.dumps(
                {
                    "ruleset": ruleset,
                    "runs": [
                        {
                            "log": str(r.log),
                            "minutes": r.minutes,
                            "status": r.status,
                            "refused": r.refused,
                        }
                        for r in score.runs
                    ],
                    "score_minutes": score.minutes,
                    "method": score.method,
                },
                indent=2,
            )
        )
    else:
        for r in score.runs:
            verdict = f"{r.minutes:10.3f} min" if r.accepted else f"refused: {r.refused}"
            print(f"{r.log}  {verdict}")
        shown = "-" if score.minutes is None else f"{score.minutes:.3f} min"
        print(f"score: {shown} ({score.method})")
    refused = sum(not r.accepted for r in score.runs)
    if refused and not args.json:
        print(f"{refused} run(s) refused; `stemdl compliance RUN...` shows why")
    return 1 if refused else 0

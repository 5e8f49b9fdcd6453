"""Time to train of STEMDL runs, and the MLPerf way of combining several runs into a score.

A run counts only if its log passes `stemdl compliance` and its run_stop says success
(which the rules allow only after an eval_macro_f1 >= stemdl_target_f1).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from stemdl.common.cli.errors import StemdlError
from stemdl.compliance.checker import DEFAULT_RULESET, CheckResult, check_log, find_log, read_log

MIN_RUNS_FOR_OLYMPIC = 3  # dropping the fastest and the slowest needs at least 3 runs


@dataclass
class RunScore:
    """One run: its time to train (minutes, run_start to run_stop) or why it was refused."""

    log: Path
    minutes: float | None
    status: str | None
    refused: str | None  # None: the run counts
    check: CheckResult

    @property
    def accepted(self) -> bool:
        return self.refused is None


@dataclass
class Score:
    """The combined score of the accepted runs."""

    runs: list[RunScore]
    minutes: float | None  # None when no run was accepted
    method: str  # how `minutes` was combined, in words

    @property
    def all_accepted(self) -> bool:
        return all(r.accepted for r in self.runs)


def time_to_train(log: Path, ruleset: str = DEFAULT_RULESET) -> tuple[float, str | None]:
    """Minutes from run_start to run_stop, and run_stop's status (the log has one of each)."""
    lines, _ = read_log(log, ruleset)
    starts = [ll for ll in lines if ll.key == "run_start"]
    stops = [ll for ll in lines if ll.key == "run_stop"]
    if len(starts) != 1 or len(stops) != 1:
        raise StemdlError(
            f"{log}: needs one run_start and one run_stop, found {len(starts)} and {len(stops)}"
        )
    status = (stops[0].value.get("metadata") or {}).get("status")
    return (stops[0].timestamp - starts[0].timestamp) / 60000.0, status


def score_run(path: str | Path, division: str = "auto", ruleset: str = DEFAULT_RULESET) -> RunScore:
    """Check one run's log, then time it; a failing or unconverged run is refused."""
    check = check_log(path, division=division, ruleset=ruleset)
    if not check.passed:
        return RunScore(
            check.log, None, None, f"fails compliance ({len(check.reasons)} reasons)", check
        )
    minutes, status = time_to_train(check.log, ruleset)
    if status != "success":
        return RunScore(
            check.log, minutes, status, f"did not reach the target (status {status})", check
        )
    return RunScore(check.log, minutes, status, None, check)


def olympic_mean(minutes: Sequence[float]) -> tuple[float, str]:
    """MLPerf's combination: drop the fastest and the slowest run, average the rest.

    With fewer than 3 runs nothing can be dropped: the plain mean is returned and the
    method says so (it is not an MLPerf-style score).
    """
    if not minutes:
        raise ValueError("no run to combine")
    times = sorted(minutes)
    if len(times) < MIN_RUNS_FOR_OLYMPIC:
        return statistics.fmean(times), (
            f"plain mean of {len(times)} run(s): fewer than {MIN_RUNS_FOR_OLYMPIC}, "
            "so fastest and slowest not dropped (not an MLPerf-style score)"
        )
    return statistics.fmean(times[1:-1]), (
        f"mean of {len(times) - 2} of {len(times)} runs, fastest and slowest dropped"
    )


def run_identity(log: Path, ruleset: str = DEFAULT_RULESET) -> tuple:
    """What makes a run that run, whatever its bytes (line endings, a trailing newline, a
    copy): its run_start time, seed and platform, as its log records them."""
    lines, _ = read_log(log, ruleset)

    def first(key: str):
        found = next((ll for ll in lines if ll.key == key), None)
        if found is None:
            return None
        return found.timestamp if key == "run_start" else found.value.get("value")

    return first("run_start"), first("seed"), first("submission_platform")


def check_distinct(paths: Sequence[str | Path], ruleset: str = DEFAULT_RULESET) -> None:
    """A score averages distinct runs: the same run twice (the same file, or a copy of its
    log however its bytes differ) is refused; so are runs that share a seed (MLPerf
    forbids reusing one), named."""
    seen: dict[tuple, Path] = {}
    by_seed: dict[object, list[Path]] = {}
    for given in paths:
        log = find_log(given)
        key = run_identity(log, ruleset)
        if key[1] is not None:
            by_seed.setdefault(key[1], []).append(log)
        if key[0] is None:  # no run_start: compliance refuses it; identity by path only
            key = ("path", str(log.resolve()))
        if key in seen:
            same = "the same file" if seen[key].resolve() == log.resolve() else "copies"
            raise StemdlError(
                f"{seen[key]} and {log} are {same} of one run (run_start, seed and platform "
                "equal): a score needs distinct runs")
        seen[key] = log
    for seed, logs in by_seed.items():
        if len(logs) > 1:
            raise StemdlError(f"{' and '.join(map(str, logs))} share seed {seed}: the runs of a "
                              "score need distinct seeds (MLPerf forbids reusing one)")


def score_runs(
    paths: Sequence[str | Path], division: str = "auto", ruleset: str = DEFAULT_RULESET
) -> Score:
    """Score every run; the combined time uses the accepted runs only."""
    check_distinct(paths, ruleset)
    runs = [score_run(p, division, ruleset) for p in paths]
    accepted = [r.minutes for r in runs if r.accepted and r.minutes is not None]
    if not accepted:
        return Score(runs, None, "no accepted run")
    minutes, method = olympic_mean(accepted)
    return Score(runs, minutes, method)

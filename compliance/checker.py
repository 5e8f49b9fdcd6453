"""Run the installed mlperf-logging compliance checker with the packaged STEMDL rules.

A log passes when the checker accepts it with `common.yaml` (the lifecycle every task
shares), then with the task's file chosen from the log's `submission_benchmark`
(`<benchmark>.yaml`: its metric, target and status rules), then with the division's file
of that task (`<division>_<benchmark>.yaml`), each run by a fresh checker, exactly as runs
of `python -m mlperf_logging.compliance_checker --werror --config /ABS/RULES.yaml LOG`
would. mlperf-logging picks its benchmark files the same way. A log beside its run's
results.json must also agree with it (seed, batch, sample counts, epochs, status).
The checker's Python API is used in-process (no subprocess per log), and its messages are
kept as the reasons for a failure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mlperf_logging.compliance_checker import mlp_compliance, mlp_parser

from stemdl.common.cli.errors import StemdlError, unknown_name
from stemdl.common.run.results import MLPERF_LOG_FILE, RESULTS_FILE, RunResult
from stemdl.common.task import task_of_benchmark

RULES_ROOT = Path(__file__).resolve().parent / "rules"
DEFAULT_RULESET = "1.0.0"
DIVISIONS = ("closed", "open")
LOG_NAME = MLPERF_LOG_FILE  # the log's name inside a run folder

# Our rule sets, and the upstream log-line parser each one reads logs with
# (`:::MLLOG {json}` lines with time_ms, key, value, metadata).
PARSER_RULESET = {"1.0.0": "3.0.0"}


@dataclass
class CheckResult:
    """The verdict on one log: which rules ran and, if it failed, the checker's reasons."""

    log: Path
    ruleset: str
    division: str | None  # the division whose rules ran; None when it could not be told
    reasons: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.reasons


class _Checker(mlp_compliance.ComplianceChecker):
    """The installed checker, keeping every failure message, not only the last one per key.

    Upstream keys messages by log key so that a later rule file can override an earlier
    one's; with one rule file per checker nothing is overridden, so all are kept.
    """

    def put_message(self, msg: str, key: str | None = None) -> None:
        if msg not in self.not_overwritable:
            self.not_overwritable.append(msg)


def rulesets() -> list[str]:
    """The rule-set versions shipped with this package, e.g. ['1.0.0']."""
    found = (p.name.removeprefix("stemdl_") for p in RULES_ROOT.glob("stemdl_*") if p.is_dir())
    return sorted(v for v in found if v in PARSER_RULESET)


def rules_file(name: str, ruleset: str = DEFAULT_RULESET) -> Path:
    """Absolute path of one rule file of a rule set: `common`, a task's `<benchmark>`
    (e.g. `stemdl`) or `<division>_<benchmark>` (e.g. `closed_stemdl`)."""
    if ruleset not in rulesets():
        raise unknown_name("STEMDL rule set", ruleset, rulesets())
    path = RULES_ROOT / f"stemdl_{ruleset}" / f"{name}.yaml"
    if not path.is_file():
        raise StemdlError(f"{path}: rule file missing from the installed package")
    return path


def find_log(path: str | Path) -> Path:
    """A log file given directly, or `RUN_DIR/mlperf.log` for a run folder."""
    path = Path(path)
    if path.is_dir():
        log = path / LOG_NAME
        if not log.is_file():
            raise StemdlError(f"{path}: run folder has no {LOG_NAME}")
        return log
    if not path.is_file():
        raise StemdlError(f"{path}: no such log file or run folder")
    return path


def read_log(path: Path, ruleset: str = DEFAULT_RULESET) -> tuple[list, list[str]]:
    """The log's parsed `:::MLLOG` lines (upstream parser) and one problem per bad line."""
    try:
        lines, errors = mlp_parser.parse_file(str(path), ruleset=PARSER_RULESET[ruleset])
    except (KeyError, TypeError) as err:  # a JSON line lacking time_ms/key/value/metadata
        return [], [f"Log lines had parsing errors: a :::MLLOG line lacks field {err}"]
    return lines, [f"Log line had a parsing error ({error}): {line}" for line, error in errors]


def logged_benchmark(lines: list) -> str | None:
    """The submission_benchmark the log states, if it is one task's (None otherwise: the
    common rules then say what is wrong with it)."""
    values = {str(ll.value.get("value")) for ll in lines if ll.key == "submission_benchmark"}
    if len(values) != 1:
        return None
    task = task_of_benchmark(values.pop())
    return task.benchmark if task is not None else None


def logged_division(lines: list) -> str | None:
    """The submission_division the log states, if it is one we have rules for."""
    values = {str(ll.value.get("value")) for ll in lines if ll.key == "submission_division"}
    return values.pop() if len(values) == 1 and values <= set(DIVISIONS) else None


def run_rules(lines: list, rules: Path, ruleset: str = DEFAULT_RULESET) -> list[str]:
    """The checker's messages for one rule file (an empty list: the lines pass)."""
    checker = _Checker(usage="stemdl", ruleset=ruleset, quiet=False, werror=True)
    try:
        checker.check_loglines(lines, str(rules))
    except Exception as err:  # a rule that cannot run is a failure, with its reason
        checker.put_message(f"{rules.name}: the checker stopped: {type(err).__name__}: {err}")
    return list(checker.not_overwritable)


# log key -> results.json field that records the same value
AGREE = {"seed": "seed", "global_batch_size": "global_batch_size",
         "train_samples": "train_samples", "eval_samples": "eval_samples"}


def results_beside(log: Path) -> RunResult | None:
    """The results.json of the run that wrote `log` (in the log's folder, naming that log),
    or None: a log checked on its own."""
    path = log.parent / RESULTS_FILE
    if not path.is_file():
        return None
    try:
        result = RunResult.read(path)
    except StemdlError:
        return None
    named = Path(result.mlperf_log)
    named = named if named.is_absolute() else log.parent / named
    return result if named.resolve() == log.resolve() else None


def disagreements(lines: list, result: RunResult) -> list[str]:
    """Where the log and the run's results.json tell different stories (a resume on other
    data once logged 12 training samples and trained on 8): each a reason to fail."""
    logged = {ll.key: ll.value.get("value") for ll in lines if ll.key in AGREE}
    out = [f"results.json disagrees with the log: {key} {getattr(result, field)!r} in "
           f"results.json, {logged[key]!r} in the log"
           for key, field in AGREE.items()
           if key in logged and getattr(result, field) is not None
           and getattr(result, field) != logged[key]]
    evals = sum(1 for ll in lines if ll.key == "eval_stop")
    if result.status in ("success", "aborted") and evals != len(result.epochs):
        out.append(f"results.json disagrees with the log: {len(result.epochs)} evaluated "
                   f"epochs in results.json, {evals} eval_stop events in the log")
    stops = [ll.value.get("metadata", {}).get("status") for ll in lines if ll.key == "run_stop"]
    if len(stops) == 1 and result.status in ("success", "aborted") and stops[0] != result.status:
        out.append(f"results.json disagrees with the log: status {result.status!r} in "
                   f"results.json, run_stop status {stops[0]!r} in the log")
    return out


def check_log(
    path: str | Path, division: str = "auto", ruleset: str = DEFAULT_RULESET
) -> CheckResult:
    """Check one log (or run folder) against the STEMDL rules of `ruleset`.

    `division` 'auto' takes the log's submission_division; if the log states none we know,
    only the common rules run (and they report it).
    """
    if division != "auto" and division not in DIVISIONS:
        raise unknown_name("division", division, ("auto", *DIVISIONS))
    common = rules_file("common", ruleset)
    log = find_log(path)
    lines, reasons = read_log(log, ruleset)
    chosen = logged_division(lines) if division == "auto" else division
    reasons += run_rules(lines, common, ruleset)
    result = results_beside(log)
    if result is not None:
        reasons += disagreements(lines, result)
    benchmark = logged_benchmark(lines)
    if benchmark is not None:
        reasons += run_rules(lines, rules_file(benchmark, ruleset), ruleset)
        if chosen is not None:
            reasons += run_rules(lines, rules_file(f"{chosen}_{benchmark}", ruleset), ruleset)
    return CheckResult(log=log, ruleset=ruleset, division=chosen, reasons=reasons)


def short_reason(message: str) -> str:
    """A checker message without its dump of the rule state (`current context[s]=...`)."""
    return message.split("\ncurrent context[s]=", 1)[0].strip()

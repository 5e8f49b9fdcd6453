"""`stemdl compliance` and `stemdl score` as a user runs them: output, exit codes, and no
torch or tensorflow imported; and the same verdicts from the upstream checker's own CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import mlperf_logging

from stemdl.compliance.checker import rules_file
from tests.compliance.logs import write_log
from tests.compliance.test_score import timed_run

# Only our sub-commands: the others belong to other modules of the project.
RUN_CLI = """
import sys
import stemdl.cli as cli
cli.COMMAND_MODULES = ("compliance", "score")
code = cli.main(sys.argv[1:])
heavy = sorted(m for m in ("torch", "tensorflow", "keras", "lightning") if m in sys.modules)
print("HEAVY:", heavy)
sys.exit(code)
"""


def stemdl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", RUN_CLI, *map(str, args)], capture_output=True, text=True, timeout=60
    )


def test_compliance_prints_pass_fail_with_reasons_without_frameworks(tmp_path):
    good = write_log(tmp_path / "good.log")
    bad = write_log(tmp_path / "bad.log", faults=["two_run_starts"])
    out = stemdl("compliance", good, bad)
    assert out.returncode == 1, out.stderr
    assert f"PASS  {good}" in out.stdout and f"FAIL  {bad}" in out.stdout
    assert "only one run_start" in out.stdout
    assert "HEAVY: []" in out.stdout
    assert stemdl("compliance", good).returncode == 0


def test_compliance_user_errors_are_one_line(tmp_path):
    out = stemdl("compliance", tmp_path / "missing.log")
    assert out.returncode == 2
    assert (
        out.stderr.strip()
        == f"stemdl: error: {tmp_path / 'missing.log'}: no such log file or run folder"
    )
    out = stemdl("compliance", "--ruleset", "0.9", write_log(tmp_path / "a.log"))
    assert out.returncode == 2 and "unknown STEMDL rule set '0.9'" in out.stderr


def test_score_reports_runs_and_combined_time_without_frameworks(tmp_path):
    runs = [timed_run(tmp_path / f"r{i}", m) for i, m in enumerate([1.0, 2.0, 3.0])]
    out = stemdl("score", "--json", *runs)
    assert out.returncode == 0, out.stdout + out.stderr
    result = json.loads(out.stdout.split("HEAVY:")[0])
    assert result["score_minutes"] == 2.0
    assert [r["minutes"] for r in result["runs"]] == [1.0, 2.0, 3.0]
    assert "HEAVY: []" in out.stdout
    refused = timed_run(tmp_path / "aborted", 1.0, f1s=(0.1,))
    out = stemdl("score", *runs, refused)
    assert out.returncode == 1
    assert "refused: did not reach the target" in out.stdout


def upstream_verdict(log: Path, rules: str, tmp_path: Path) -> bool:
    """The installed checker's own command line on one of our rule files."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mlperf_logging.compliance_checker",
            "--werror",
            "--config",
            str(rules_file(rules)),
            "--log_output",
            str(tmp_path / "cc.log"),
            str(log),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.returncode == 0


def test_the_rules_work_with_the_installed_checkers_own_cli(tmp_path):
    assert "site-packages" in mlperf_logging.__file__  # the installed package, not a copy
    good = write_log(tmp_path / "good.log")
    assert all(upstream_verdict(good, name, tmp_path) for name in ("common", "stemdl", "closed_stemdl"))
    bad = write_log(tmp_path / "bad.log", faults=["missing_run_stop"])
    assert not upstream_verdict(bad, "common", tmp_path)
    changed = write_log(tmp_path / "changed.log", hyper={"opt_name": "sgd"})
    assert upstream_verdict(changed, "common", tmp_path)
    assert not upstream_verdict(changed, "closed_stemdl", tmp_path)

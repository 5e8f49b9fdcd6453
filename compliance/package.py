"""The MLCommons Science working group's submission folder: `stemdl package` writes it,
`stemdl check-package` checks it.

The folder is `{organization}/{application}/{system}/{descriptor}/` (submit.adoc) and holds
one `result-N.txt` per run (the measurement, its reference value and the submitted value),
`config.yaml` (the code's repository, version and commit, the hyperparameters, the data),
`README.md` (the commands the runs were started with), `system.json` (mlperf-logging's
system description), the job scripts when known, and each run's logs under `logs/run-N/`.
`stemdl-package.json` marks the folder as ours and lists the runs. Written by hand: the
working group publishes the layout, not a tool that writes or checks it.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from stemdl.common.cli.errors import StemdlError
from stemdl.common.run.identity import JOB_SCRIPT_FILE, REPOSITORY, code_version
from stemdl.common.run.results import MLPERF_LOG_FILE, RESULTS_FILE, RunResult
from stemdl.common.run.system import HARDWARE_FIELDS, SYSTEM_FILE, read_system
from stemdl.common.task import get_task
from stemdl.compliance.checker import DEFAULT_RULESET, check_log, read_log, short_reason

APPLICATION = "stemdl"  # submit.adoc's {application} for this benchmark
MARKER = "stemdl-package.json"
# MLPerf HPC asks 5 runs of DeepCAM and OpenCatalyst (10 of CosmoFlow); nothing measured
# for STEMDL says its time to train varies more, so 5 it is
MIN_RUNS = 5
MAX_RUNS = 100  # a package, not a sweep: a glob that matched every run folder is a typo
REQUIRED = ("README.md", "config.yaml", SYSTEM_FILE)
RUN_FILES = (MLPERF_LOG_FILE, RESULTS_FILE, SYSTEM_FILE)  # copied for every run, all required
OPTIONAL_RUN_FILES = ("stemdl.log", JOB_SCRIPT_FILE)
# config keys that may differ between the runs of one package: the seed, and where things were
PER_RUN_KEYS = ("seed", "run_dir", "resume", "data_dir", "train_dir", "val_dir", "test_dir",
                "inference_dir", "log_file", "mlperf_log", "model_file")
LOGS = "logs"
SCRIPTS = "scripts"


@dataclass
class PackagedRun:
    """One run folder to package, read and checked."""

    source: Path
    result: RunResult
    system: dict[str, Any]
    seed: int | None


def _read_run(path: str | Path) -> PackagedRun:
    run = Path(path)
    if not run.is_dir():
        raise StemdlError(f"{run}: not a run folder")
    for name in RUN_FILES:
        if not (run / name).is_file():
            raise StemdlError(f"{run}: run folder has no {name}"
                              + (" (written by stemdl-bench 0.1.0 and later at a run's end)"
                                 if name == SYSTEM_FILE else ""))
    result = RunResult.read(run)
    if result.status == "running":
        raise StemdlError(f"{run}: the run is still running (results.json status 'running'); "
                          "package it once it has ended")
    try:
        system = read_system(run)
    except (OSError, ValueError) as err:
        raise StemdlError(f"{run / SYSTEM_FILE}: unreadable ({err})") from None
    return PackagedRun(run, result, system, result.seed)


def descriptor_of(result: RunResult) -> str:
    """submit.adoc's {descriptor}: the task, the implementation and the division."""
    return f"{result.task}-{result.implementation}-{result.division}"


def hardware_of(system: dict[str, Any]) -> dict[str, Any]:
    return {k: system.get(k) for k in HARDWARE_FIELDS}


def config_apart_from_seed(result: RunResult) -> dict[str, Any]:
    return {k: v for k, v in sorted(result.config.items()) if k not in PER_RUN_KEYS}


def _differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    return [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def run_problems(runs: Sequence[PackagedRun], names: Sequence[str]) -> list[str]:
    """What makes these runs not one submission: other tasks, implementations, divisions,
    systems or configs, and seeds used twice (one line each, naming the runs)."""
    problems: list[str] = []
    first, name0 = runs[0], names[0]
    for run, name in zip(runs[1:], names[1:], strict=True):
        if descriptor_of(run.result) != descriptor_of(first.result):
            problems.append(f"{name} is {descriptor_of(run.result)}, {name0} is "
                            f"{descriptor_of(first.result)}: one package holds one task, "
                            "implementation and division")
        diff = _differences(hardware_of(run.system), hardware_of(first.system))
        if diff:
            shown = ", ".join(f"{k} {run.system.get(k)!r} != {first.system.get(k)!r}" for k in diff[:3])
            problems.append(f"{name} ran on another system than {name0} ({shown}): "
                            "one package holds one system")
        diff = _differences(config_apart_from_seed(run.result), config_apart_from_seed(first.result))
        if diff:
            problems.append(f"{name} and {name0} differ in config key(s) {', '.join(diff[:5])}: "
                            "runs of one package differ in the seed only")
    by_seed: dict[Any, list[str]] = {}
    for run, name in zip(runs, names, strict=True):
        by_seed.setdefault(run.seed, []).append(name)
    for seed, holders in by_seed.items():
        if seed is None:
            problems.append(f"{', '.join(holders)}: no seed recorded")
        elif len(holders) > 1:
            problems.append(f"{' and '.join(holders)} share seed {seed}: each run needs its own seed")
    return problems


# -- writing ---------------------------------------------------------------------------------
def result_text(n: int, total: int, run: PackagedRun) -> str:
    """result-N.txt: the working group's table of measurement, reference and submitted value."""
    r = run.result
    task = get_task(r.task)
    metric = task.label(r.primary_metric)
    last = r.last()
    minutes = None if r.run_time_s is None else r.run_time_s / 60
    rows = [
        (f"{metric} (validation, last epoch)", f"target {task.target:g}", _num(last)),
        (f"{metric} (validation, best epoch)", f"target {task.target:g}", _num(r.best())),
        ("time to train (minutes, run_start to run_stop)", "-", _num(minutes, ".3f")),
        ("epochs", "-", str(len(r.epochs))),
        ("reached the target", "yes", "yes" if r.reached_target else "no"),
        ("status", "success", r.status),
        ("seed", "-", str(r.seed)),
    ]
    head = (f"# STEMDL result {n} of {total}: task {r.task}, implementation {r.implementation}, "
            f"{r.division} division\n# metric: {task.metric_definition}\n"
            f"# log: {LOGS}/run-{n}/{MLPERF_LOG_FILE}\n\n")
    table = ["| measurement | reference value | submitted value |", "|---|---|---|"]
    table += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return head + "\n".join(table) + "\n"


def one_line(reason: str, limit: int = 240) -> str:
    """A checker reason on one line (its rule and the log line it quotes), shortened."""
    text = " ".join(short_reason(reason).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _num(value: float | None, spec: str = ".4f") -> str:
    return "-" if value is None else format(value, spec)


def data_commands(runs: Sequence[PackagedRun]) -> list[str]:
    """config.yaml's `data:` list: how to fetch each data folder the runs read (to be
    pointed at a public copy by the submitter: the runs know only where it was)."""
    folders = []
    for run in runs:
        for key in ("data_dir", "train_dir", "val_dir", "test_dir"):
            value = run.result.config.get(key)
            if value and value not in folders:
                folders.append(value)
    return [f"rsync -a DATA_HOST:{folder}/ ./data/  # the folder the runs read; name a public copy"
            for folder in folders] or ["# the runs record no data folder"]


def config_yaml(runs: Sequence[PackagedRun]) -> str:
    r = runs[0].result
    commits = sorted({run.result.code_commit or "unknown" for run in runs})
    doc = {
        "github": {
            "description": f"STEMDL {r.task} ({r.implementation} implementation), stemdl-bench",
            "repo": REPOSITORY,
            "branch": "main",
            "version": r.code_version or code_version(),
            "tag": f"v{r.code_version or code_version()}",
            "commit": commits[0] if len(commits) == 1 else commits,
        },
        "benchmark": {"application": APPLICATION, "task": r.task,
                      "implementation": r.implementation, "division": r.division},
        "submitter": {k: r.config.get(k) for k in ("organisation", "submitter_user",
                                                   "submitter_email") if r.config.get(k)},
        "seeds": [run.seed for run in runs],
        "config": config_apart_from_seed(r),
        "data": data_commands(runs),
    }
    return yaml.safe_dump(doc, sort_keys=False, width=100)


def readme_text(runs: Sequence[PackagedRun], org: str, system: str, descriptor: str,
                scripts: Sequence[str]) -> str:
    r = runs[0].result
    lines = [f"# STEMDL {r.task}, {r.implementation} implementation, {r.division} division",
             "", f"Submitted by {org} on {system}, with stemdl-bench {r.code_version} "
             f"(commit {r.code_commit}); {len(runs)} runs with distinct seeds.", "",
             "## How the runs were started", "",
             "Each run's command, as it recorded it (a resumed run lists each part):", ""]
    for n, run in enumerate(runs, 1):
        lines.append(f"- run {n} (seed {run.seed}):")
        for command in run.result.commands or ["(not recorded: a run from before stemdl-bench "
                                               "recorded its command)"]:
            lines.append(f"  `{command}`")
    lines += ["", "## Job scripts", ""]
    lines += ([f"- `{SCRIPTS}/{name}`" for name in scripts] if scripts else
              ["None recorded: the runs were not started from a job script stemdl-bench "
               "could read (give them with `stemdl package --scripts FILE`)."])
    lines += ["", "## Reproduce", "",
              "Install stemdl-bench at the commit in `config.yaml`, fetch the data with the "
              "commands of its `data:` list, then run the command above once per seed "
              "(`seed=N`). The hyperparameters of every run are in `config.yaml` and in "
              f"`{LOGS}/run-N/{RESULTS_FILE}`.", "",
              "## Check", "", f"    stemdl check-package {org}", "",
              f"Layout: `{org}/{APPLICATION}/{system}/{descriptor}/` (the working group's "
              "submit.adoc): `result-N.txt` per run, `config.yaml`, `system.json`, "
              f"`{LOGS}/run-N/` (mlperf.log, results.json, system.json).", ""]
    return "\n".join(lines)


def _safe_name(value: str, what: str) -> str:
    if not value or value in (".", "..") or "/" in value or "\\" in value or value.strip() != value:
        raise StemdlError(f"{what} {value!r}: give a folder name (no '/', not empty)")
    return value


def build_package(run_dirs: Sequence[str | Path], out: str | Path, org: str, system: str,
                  scripts: Sequence[str | Path] = (), ruleset: str = DEFAULT_RULESET) -> Path:
    """Write the submission folder for `run_dirs` under `out`; return the descriptor folder.

    Refused with one line, before anything is written: an `out` that exists and is not
    empty, a run that is not a finished run folder, runs of other tasks, systems or
    configs, shared seeds, a log that fails compliance. Written in a temporary folder
    beside `out` and renamed, so a crash leaves no half package."""
    out = Path(out)
    org, system = _safe_name(org, "--org"), _safe_name(system, "--system")
    if not run_dirs:
        raise StemdlError("give at least one run folder")
    if len(run_dirs) > MAX_RUNS:
        raise StemdlError(f"{len(run_dirs)} run folders: a package holds at most {MAX_RUNS}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise StemdlError(f"{out}: exists and is not an empty folder; choose a new --out")
    for script in scripts:
        if not Path(script).is_file():
            raise StemdlError(f"--scripts {script}: no such file")
    runs = [_read_run(p) for p in run_dirs]
    names = [str(p) for p in run_dirs]
    problems = run_problems(runs, names)
    for run, name in zip(runs, names, strict=True):
        verdict = check_log(run.source / MLPERF_LOG_FILE, ruleset=ruleset)
        if not verdict.passed:
            problems.append(f"{name}: its log fails compliance ({one_line(verdict.reasons[0])})")
    if problems:
        raise StemdlError(problems[0] + (f" (and {len(problems) - 1} more problem(s))"
                                         if len(problems) > 1 else ""))
    descriptor = descriptor_of(runs[0].result)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        folder = tmp / org / APPLICATION / system / descriptor
        _write_folder(folder, runs, org, system, descriptor, [Path(s) for s in scripts])
        if out.exists():
            out.rmdir()  # empty, checked above
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out / org / APPLICATION / system / descriptor


def _write_folder(folder: Path, runs: Sequence[PackagedRun], org: str, system: str,
                  descriptor: str, scripts: Sequence[Path]) -> None:
    folder.mkdir(parents=True)
    script_names: list[str] = []
    for n, run in enumerate(runs, 1):
        dest = folder / LOGS / f"run-{n}"
        dest.mkdir(parents=True)
        for name in (*RUN_FILES, *OPTIONAL_RUN_FILES):
            if (run.source / name).is_file():
                shutil.copy2(run.source / name, dest / name)
        (folder / f"result-{n}.txt").write_text(result_text(n, len(runs), run), encoding="utf-8")
        if (run.source / JOB_SCRIPT_FILE).is_file():
            script_names.append(_copy_script(run.source / JOB_SCRIPT_FILE, folder, f"run-{n}-"))
    for script in scripts:
        script_names.append(_copy_script(script, folder, ""))
    description = {**runs[0].system, "submitter": org, "system_name": system}
    (folder / SYSTEM_FILE).write_text(json.dumps(description, indent=2) + "\n", encoding="utf-8")
    (folder / "config.yaml").write_text(config_yaml(runs), encoding="utf-8")
    (folder / "README.md").write_text(readme_text(runs, org, system, descriptor, script_names),
                                      encoding="utf-8")
    marker = {"tool": "stemdl package", "version": code_version(), "organization": org,
              "application": APPLICATION, "system": system, "descriptor": descriptor,
              "min_runs": MIN_RUNS,
              "runs": [{"n": n, "seed": run.seed, "source": str(run.source.resolve())}
                       for n, run in enumerate(runs, 1)]}
    (folder / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")


def _copy_script(path: Path, folder: Path, prefix: str) -> str:
    (folder / SCRIPTS).mkdir(exist_ok=True)
    name = prefix + path.name
    shutil.copy2(path, folder / SCRIPTS / name)
    return name


# -- checking --------------------------------------------------------------------------------
def find_descriptors(root: str | Path) -> list[Path]:
    """The package folders under `root` (itself, or `{org}/{app}/{system}/{descriptor}`
    below it); an error, for exit 2, when there is none."""
    root = Path(root)
    if not root.is_dir():
        raise StemdlError(f"{root}: no such folder")
    found = [root] if (root / MARKER).is_file() else []
    for depth in ("*", "*/*", "*/*/*", "*/*/*/*"):
        found += [p.parent for p in sorted(root.glob(f"{depth}/{MARKER}"))]
    if not found:
        raise StemdlError(f"{root}: not a stemdl package (no {MARKER} in it or in "
                          "{org}/stemdl/{system}/{descriptor}/ below it); `stemdl package` writes one")
    return found


def check_package(root: str | Path, ruleset: str = DEFAULT_RULESET) -> list[str]:
    """Every problem of the package(s) under `root`, one line each ([] when it passes)."""
    problems: list[str] = []
    for folder in find_descriptors(root):
        problems += [f"{folder}: {p}" for p in _check_folder(folder, ruleset)]
    return problems


def _check_folder(folder: Path, ruleset: str) -> list[str]:
    from mlperf_logging.system_desc_checker.system_desc_checker import check_system_desc

    problems = [f"missing {name}" for name in REQUIRED if not (folder / name).is_file()]
    try:
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
        listed = [int(r["n"]) for r in marker["runs"]]
    except (OSError, ValueError, KeyError, TypeError):
        return [*problems, f"{MARKER} is unreadable"]
    on_disk = sorted(int(p.name.split("-", 1)[1]) for p in (folder / LOGS).glob("run-*")
                     if p.name.split("-", 1)[1].isdigit())
    numbers = sorted(set(listed) | set(on_disk))
    if len(numbers) < MIN_RUNS:
        problems.append(f"{len(numbers)} run(s): a STEMDL submission needs at least {MIN_RUNS}, "
                        "each with its own seed")
    runs, names = [], []
    for n in numbers:
        where = folder / LOGS / f"run-{n}"
        if not (folder / f"result-{n}.txt").is_file():
            problems.append(f"missing result-{n}.txt")
        missing = [name for name in RUN_FILES if not (where / name).is_file()]
        if missing:
            problems.append(f"missing {LOGS}/run-{n}/{', '.join(missing)}")
            continue
        verdict = check_log(where / MLPERF_LOG_FILE, ruleset=ruleset)
        for reason in verdict.reasons[:3]:
            problems.append(f"{LOGS}/run-{n}/{MLPERF_LOG_FILE} fails compliance: {one_line(reason)}")
        try:
            result, system = RunResult.read(where), read_system(where)
        except (OSError, ValueError, StemdlError) as err:
            problems.append(f"{LOGS}/run-{n}: unreadable ({err})")
            continue
        runs.append(PackagedRun(where, result, system, _logged_seed(where, ruleset)))
        names.append(f"run-{n}")
    if runs:
        problems += run_problems(runs, names)
    if (folder / SYSTEM_FILE).is_file():
        valid, _, _, _ = check_system_desc(str(folder / SYSTEM_FILE), "hpc", "1.0.0")
        if not valid:
            problems.append(f"{SYSTEM_FILE} fails mlperf-logging's system description check")
        elif runs:
            top = read_system(folder / SYSTEM_FILE)
            diff = _differences(hardware_of(top), hardware_of(runs[0].system))
            if diff:
                problems.append(f"{SYSTEM_FILE} describes another system than the runs' "
                                f"({', '.join(diff[:3])})")
    return problems


def _logged_seed(run_dir: Path, ruleset: str) -> Any:
    """The seed the log states (what the working group reads), else results.json's."""
    lines, _ = read_log(run_dir / MLPERF_LOG_FILE, ruleset)
    seeds = [ll.value.get("value") for ll in lines if ll.key == "seed"]
    return seeds[0] if seeds else RunResult.read(run_dir).seed

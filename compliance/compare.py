"""`stemdl compare`: runs side by side, one row per run folder.

Every figure comes straight from the run's `results.json` (no recomputation that could
disagree with what the run recorded); only the compliance verdict is computed here, by
running the STEMDL compliance check on the run's MLPerf log. Framework-neutral: no
torch or tensorflow import.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from stemdl.common.cli.errors import DataError
from stemdl.common.run.results import CPU_DEVICE, RESULTS_FILE, RunResult
from stemdl.common.task import get_task

NOT_REACHED = "not reached"

# (field, column title, kind) in table order; `kind` picks the text formatting. The metric
# rows (best validation value and test value of each metric of each task shown) stand
# where METRICS_PLACE is: `columns(rows)` puts them there.
METRICS_PLACE = ("<metrics>", "", "metrics")
# the validation score of learning nothing (the density task's training-mean map), shown
# only when a run recorded one: `baseline.NAME` ("val baseline NMSE")
BASELINE_PLACE = ("<baseline>", "", "baseline")
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("run", "run", "text"),
    ("implementation", "implementation", "text"),
    ("division", "division", "text"),
    ("framework", "framework and version", "text"),
    ("device", "device", "text"),
    ("precision", "precision", "text"),
    ("model", "model", "text"),
    ("train_samples_per_s", "train samples/s", "rate"),
    ("eval_samples_per_s", "eval samples/s", "rate"),
    ("mean_epoch_time_s", "time per epoch (s)", "seconds"),
    ("epochs", "epochs", "int"),
    ("time_to_target_s", "time to target (s)", "ttt"),
    METRICS_PLACE,
    BASELINE_PLACE,
    ("inference_latency_per_sample_s", "inference latency/sample (ms)", "ms"),
    ("inference_samples_per_s", "inference samples/s", "rate"),
    ("parameters", "parameters", "count"),
    ("model_size_bytes", "model size (MB)", "megabytes"),
    ("status", "run status", "text"),
    ("compliance", "compliance", "text"),
)


@dataclass
class CompareRow:
    """One run's figures as `stemdl compare` shows them (None = not recorded)."""

    run: str
    run_dir: str
    implementation: str
    division: str
    framework: str
    device: str
    precision: str | None
    frameworks: dict[str, str]
    hardware: dict[str, Any]
    model: str | None
    train_samples_per_s: float | None
    eval_samples_per_s: float | None
    mean_epoch_time_s: float | None
    epochs: int
    task: str
    primary_metric: str
    target: float | None
    reached_target: bool
    time_to_target_s: float | None
    best_val: dict[str, float]
    test: dict[str, float]
    baseline: dict[str, float]
    inference_latency_per_sample_s: float | None
    inference_samples_per_s: float | None
    parameters: int | None
    model_size_bytes: int | None
    status: str
    compliance: str  # "PASS", "FAIL" or "NO LOG"
    compliance_reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Run:
    """A run folder read back: its result, its label, and its log path."""

    label: str
    run_dir: Path
    result: RunResult

    @property
    def log_path(self) -> Path:
        return self.run_dir / self.result.mlperf_log


# -- reading runs ----------------------------------------------------------------------
def _resolve_run_dir(path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    if path.name == RESULTS_FILE and path.is_file():
        return path.parent
    if not path.exists():
        raise DataError(f"{path}: no such run folder")
    if not (path / RESULTS_FILE).is_file():
        raise DataError(f"{path}: not a run folder (no {RESULTS_FILE})")
    return path


def _labels(dirs: Sequence[Path]) -> list[str]:
    """Short unique names: the folder name, with parents added until names differ."""
    depth = 1
    while True:
        labels = ["/".join(d.resolve().parts[-depth:]) for d in dirs]
        if len(set(labels)) == len(labels) or depth > 8:
            return labels
        depth += 1


def read_runs(paths: Sequence[str | os.PathLike[str]]) -> list[Run]:
    """Read each run folder's results.json (DataError naming the folder otherwise)."""
    if not paths:
        raise DataError("no run folders given")
    dirs = [_resolve_run_dir(p) for p in paths]
    seen: dict[Path, Path] = {}
    for d in dirs:
        if d.resolve() in seen:
            raise DataError(f"{d}: the same run folder is given twice (as {seen[d.resolve()]})")
        seen[d.resolve()] = d
    return [
        Run(label, d, RunResult.read(d / RESULTS_FILE)) for label, d in zip(_labels(dirs), dirs)
    ]


# -- derived descriptions (text only: no figure is recomputed) -------------------------
NOT_RECORDED = "not recorded"  # a results.json from before the explicit fields (schema 1)


def framework_text(result: RunResult) -> str:
    """The framework the model ran on and its version, e.g. "torch 2.13.0"."""
    if not result.framework:
        return NOT_RECORDED
    return f"{result.framework} {result.framework_version or '(version not recorded)'}"


def device_text(result: RunResult) -> str:
    """The devices that trained: "2x NVIDIA H100 ...", or the host CPU with its cores."""
    if not result.device:
        return NOT_RECORDED
    count = result.device_count or 1
    if result.device != CPU_DEVICE:
        return f"{count}x {result.device}" if count > 1 else result.device
    host = result.hardware
    cores = host.get("cpu_count")
    text = f"CPU {host.get('processor') or ''}".rstrip()
    text += f" ({cores} cores)" if cores else ""
    return text + (f", {count} processes" if count > 1 else "")


# -- compliance --------------------------------------------------------------------------
ComplianceCheck = Callable[[Path], tuple[bool, list[str]]]


def default_compliance_check(log: Path) -> tuple[bool, list[str]]:
    """Run the STEMDL compliance check on `log`: (passed, reasons it failed)."""
    from stemdl.compliance.checker import check_log, short_reason

    report = check_log(log)
    return bool(report.passed), [short_reason(str(r)) for r in report.reasons]


def compliance_of(run: Run, check: ComplianceCheck | None) -> tuple[str, list[str]]:
    if check is None:
        return "not checked", []
    if not run.log_path.is_file():
        return "NO LOG", [f"{run.log_path}: no MLPerf log"]
    passed, reasons = check(run.log_path)
    return ("PASS" if passed else "FAIL"), list(reasons)


# -- rows ---------------------------------------------------------------------------------
def row_of(run: Run, check: ComplianceCheck | None = default_compliance_check) -> CompareRow:
    """The table row of one run: figures copied from its results.json."""
    r = run.result
    compliance, reasons = compliance_of(run, check)
    model = r.model_name
    return CompareRow(
        run=run.label,
        run_dir=str(run.run_dir),
        implementation=r.implementation,
        division=r.division,
        framework=framework_text(r),
        device=device_text(r),
        precision=r.precision,
        frameworks=dict(r.frameworks),
        hardware=dict(r.hardware),
        model=model,
        train_samples_per_s=r.train_samples_per_s,
        eval_samples_per_s=r.eval_samples_per_s,
        mean_epoch_time_s=r.mean_epoch_time_s,
        epochs=len(r.epochs),
        task=r.task,
        primary_metric=r.primary_metric,
        target=r.target,
        reached_target=bool(r.reached_target),
        time_to_target_s=r.time_to_target_s if r.reached_target else None,
        best_val=dict(r.best_val),
        test=dict(r.test),
        baseline=dict(r.baseline),
        inference_latency_per_sample_s=r.inference.get("sample_latency_mean_s"),
        inference_samples_per_s=r.inference.get("samples_per_second"),
        parameters=r.parameters,
        model_size_bytes=r.model_size_bytes,
        status=r.status,
        compliance=compliance,
        compliance_reasons=reasons,
    )


def compare_rows(
    paths: Sequence[str | os.PathLike[str]],
    check: ComplianceCheck | None = default_compliance_check,
) -> tuple[list[Run], list[CompareRow]]:
    runs = read_runs(paths)
    return runs, [row_of(run, check) for run in runs]


# -- formatting -----------------------------------------------------------------------------
def columns(rows: Sequence[CompareRow]) -> list[tuple[str, str, str]]:
    """COLUMNS with the metric rows of the rows' tasks in METRICS_PLACE: `best_val.NAME`
    ("best val macro F1") for each metric, then `test.NAME` ("test macro F1")."""
    tasks = [get_task(name) for name in dict.fromkeys(r.task for r in rows)] or [get_task()]
    metrics = [(f"{group}.{name}", f"{title} {task.label(name)}", "metric")
               for group, title in (("best_val", "best val"), ("test", "test"))
               for task in tasks for name in task.metric_log_keys]
    baselines = [(f"baseline.{name}", f"val baseline {task.label(name)}", "metric")
                 for task in tasks for name in task.metric_log_keys
                 if any(name in r.baseline for r in rows)]
    out: list[tuple[str, str, str]] = []
    for column in COLUMNS:
        out += {METRICS_PLACE: metrics, BASELINE_PLACE: baselines}.get(column, [column])
    return out


def format_value(row: CompareRow, name: str, kind: str) -> str:
    """A cell's text; '-' where the run recorded nothing."""
    if "." in name:  # best_val.macro_f1, baseline.nmse: a metric of the run's task
        group, metric = name.split(".", 1)
        value = getattr(row, group).get(metric)
    else:
        value = getattr(row, name)
    if kind == "ttt":
        if not row.reached_target:
            return NOT_REACHED
        label = get_task(row.task).label(row.primary_metric)
        target = f" ({label} {row.target:g})" if row.target is not None else ""
        return f"{value:.1f}{target}" if value is not None else f"reached{target}"
    if value is None:
        return "-"
    if kind == "text":
        return str(value)
    if kind == "int":
        return str(int(value))
    if kind == "count":
        return f"{int(value):,}"
    if kind == "rate":
        return f"{value:.1f}"
    if kind == "seconds":
        return f"{value:.2f}" if value >= 0.1 else f"{value:.2g}"
    if kind == "ms":
        return f"{value * 1e3:.3f}"
    if kind == "metric":
        return f"{value:.4f}"
    if kind == "megabytes":
        return f"{value / 1e6:.1f}"
    raise ValueError(f"unknown column kind {kind!r}")


def _cells(rows: Sequence[CompareRow]) -> list[list[str]]:
    """Transposed table: one line per figure, one column per run (fits a terminal)."""
    return [[title] + [format_value(r, name, kind) for r in rows]
            for name, title, kind in columns(rows)]


def format_text(rows: Sequence[CompareRow]) -> str:
    """A plain aligned table, figures as rows and runs as columns."""
    lines = _cells(rows)
    header = ["", *(r.run for r in rows)]
    table = [header, *lines[1:]]  # the "run" line is the header
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    out = []
    for n, line in enumerate(table):
        out.append("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                             for i, (cell, w) in enumerate(zip(line, widths))).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    out.extend(_reason_lines(rows))
    return "\n".join(out) + "\n"


def format_markdown(rows: Sequence[CompareRow]) -> str:
    """A GitHub-flavoured Markdown table, figures as rows and runs as columns."""

    def esc(text: str) -> str:
        return text.replace("|", "\\|")

    lines = _cells(rows)
    out = ["| | " + " | ".join(esc(r.run) for r in rows) + " |",
           "|---|" + "---:|" * len(rows)]
    out += ["| " + " | ".join(esc(c) for c in line) + " |" for line in lines[1:]]
    reasons = _reason_lines(rows)
    if reasons:
        out.append("")
        out += [f"- {line.strip()}" for line in reasons[1:]]
    return "\n".join(out) + "\n"


def format_csv(rows: Sequence[CompareRow]) -> str:
    """One line per run, full-precision figures (machine-readable)."""
    buf = io.StringIO()
    names = list(CompareRow.__dataclass_fields__)
    writer = csv.DictWriter(buf, fieldnames=names, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        d = row.to_dict()
        d["compliance_reasons"] = "; ".join(d["compliance_reasons"])
        d["frameworks"] = json.dumps(d["frameworks"])
        d["hardware"] = json.dumps(d["hardware"])
        writer.writerow({k: "" if v is None else v for k, v in d.items()})
    return buf.getvalue()


def format_json(rows: Sequence[CompareRow]) -> str:
    """A JSON list of rows, full-precision figures (machine-readable)."""
    return json.dumps([r.to_dict() for r in rows], indent=2) + "\n"


def _reason_lines(rows: Sequence[CompareRow]) -> list[str]:
    failing = [r for r in rows if r.compliance_reasons]
    if not failing:
        return []
    out = ["", "compliance problems:"]
    for r in failing:
        out += [f"  {r.run}: {reason}" for reason in r.compliance_reasons]
    return out


FORMATS: dict[str, Callable[[Sequence[CompareRow]], str]] = {
    "text": format_text,
    "markdown": format_markdown,
    "csv": format_csv,
    "json": format_json,
}

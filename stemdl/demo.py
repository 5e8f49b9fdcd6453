"""`stemdl demo`: simulate -> preprocess -> train STFC and ORNL -> compliance -> compare.

Every stage runs the real `stemdl` command in a child process (`python -m stemdl ...`),
so the demo exercises exactly what a user runs, and torch and TensorFlow never share a
process. Each stage's output goes to the terminal and to `OUT/logs/<stage>.log`.

Re-running reuses what is complete: a stage that finished writes a stamp
`OUT/.demo/<stage>.json` holding its parameters; it is skipped when the stamp matches
and its output still checks out (data folders still hold their splits, a run's
results.json says it finished every epoch and its log holds run_stop). An incomplete or
stale run folder is removed and trained again (the demo owns everything under OUT).

The closed recipes (ResNet-50, many epochs) take hours on CPU; the demo shrinks them to
fit about 10 minutes on 2 cores and says so. Shrunk runs are logged as open division.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from stemdl.common.cli.errors import DataError, StemdlError
from stemdl.common.infra.atomic import write_text_atomic
from stemdl.common.infra.workers import stop_child
from stemdl.common.run.results import MLPERF_LOG_FILE, RESULTS_FILE, RunResult
from stemdl.common.task import get_task

IMPLEMENTATIONS = ("stfc", "ornl")
PLOT_NAME = "compare.png"
FINISHED = ("success", "aborted")  # RunResult.status of a run that reached run_stop


@dataclass(frozen=True)
class DemoSize:
    """How big the demo is: data preset, image size and the shrunk recipe."""

    name: str
    simulate_preset: str
    image_size: int  # preprocess output size (the recipes use INPUT_IMAGE_SIZE)
    resnet: int
    epochs: int
    warmup_epochs: int  # ORNL only (recipe: 5)
    batch_size: int = 32  # per process, as in both recipes
    num_workers: int = 0  # input workers; 2 cores are better spent on the model
    max_inference_batches: int | None = None  # STFC's inference timing loop cap
    lr_schedule: str = "constant"  # the recipes' (after ORNL's warm-up)
    label_smoothing: float = 0.0  # the recipes'
    ornl_random_erasing_p: float | None = None  # None: the recipe's (0.8)

    def shrink_notes(self, impl: str) -> list[str]:
        """What differs from the closed recipe (empty: the recipe is unchanged)."""
        recipe = get_task("classify").recipes[impl]
        notes = []
        if self.resnet != recipe.resnet:
            notes.append(f"ResNet-{recipe.resnet} -> ResNet-{self.resnet}")
        if self.image_size != recipe.image_size:
            notes.append(f"{recipe.image_size} px -> {self.image_size} px images")
        if self.batch_size != recipe.batch_size:
            notes.append(f"batch {recipe.batch_size} -> {self.batch_size}")
        if impl == "ornl" and self.warmup_epochs != recipe.warmup_epochs:
            notes.append(f"warm-up {recipe.warmup_epochs} -> {self.warmup_epochs} epochs")
        if self.lr_schedule != recipe.lr_schedule:
            notes.append(f"{recipe.lr_schedule} -> {self.lr_schedule} learning rate")
        if self.label_smoothing != recipe.label_smoothing:
            notes.append(f"label smoothing {self.label_smoothing:g}")
        if impl == "ornl" and self.erasing_p(impl) != recipe.random_erasing_p:
            notes.append(f"random erasing p {recipe.random_erasing_p:g} -> {self.erasing_p(impl):g}")
        notes.append(f"{self.epochs} epoch{'s' * (self.epochs != 1)}")
        return notes

    def erasing_p(self, impl: str) -> float | None:
        """ORNL's random-erasing probability in this demo (None for STFC: no erasing)."""
        if impl != "ornl":
            return None
        recipe_p = get_task("classify").recipes["ornl"].random_erasing_p
        return recipe_p if self.ornl_random_erasing_p is None else self.ornl_random_erasing_p

    def is_shrunk(self, impl: str) -> bool:
        """Anything beyond the epoch count differs from the closed recipe."""
        return len(self.shrink_notes(impl)) > 1


SIZES: dict[str, DemoSize] = {
    # about 10 minutes on 2 quiet CPU cores, everything included: 800 training stacks of
    # 64 px, 24 epochs with a cosine-decayed learning rate and label smoothing, and ORNL's
    # random erasing at p 0.4 instead of 0.8, so that both runs' held-out F1 settles on a
    # plateau (docs/DEMO.md: at 16 epochs ORNL's last third could still swing by 0.15, as
    # a 2e-5 change in the preprocessed data showed)
    "demo": DemoSize("demo", "demo", image_size=64, resnet=18, epochs=24, warmup_epochs=1,
                     max_inference_batches=8, lr_schedule="cosine", label_smoothing=0.1,
                     ornl_random_erasing_p=0.4),
    # CI-sized: the whole pipeline in well under two minutes (tests/compare)
    "tiny": DemoSize("tiny", "tiny", image_size=32, resnet=18, epochs=1, warmup_epochs=1,
                     batch_size=4, max_inference_batches=2),
}


@dataclass
class StageReport:
    name: str
    reused: bool
    seconds: float
    detail: str = ""


@dataclass
class DemoReport:
    out: Path
    size: str
    stages: list[StageReport] = field(default_factory=list)
    run_dirs: list[Path] = field(default_factory=list)
    table: str = ""
    plots: list[Path] = field(default_factory=list)
    compliance: dict[str, str] = field(default_factory=dict)  # run -> PASS/FAIL/NO LOG

    @property
    def passed(self) -> bool:
        return all(v == "PASS" for v in self.compliance.values())


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")



def _workers() -> int:
    """Processes for simulate/preprocess: the cores this process may use, at most 2.

    The demo is sized for 2 cores; more workers would not make the small presets faster.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return max(1, min(2, cores))


def run_is_complete(run_dir: Path, epochs: int) -> str | None:
    """None when `run_dir` holds a finished run of `epochs` epochs, else why not."""
    try:
        result = RunResult.read(run_dir / RESULTS_FILE)
    except DataError as err:
        return str(err)
    if result.status not in FINISHED:
        return f"{run_dir}: run status is '{result.status}' (not finished)"
    if len(result.epochs) < epochs and not result.reached_target:
        return f"{run_dir}: {len(result.epochs)} of {epochs} epochs recorded"
    log = run_dir / result.mlperf_log
    if not log.is_file() or '"key": "run_stop"' not in log.read_text(errors="replace"):
        return f"{log}: no run_stop in the MLPerf log"
    return None


class Demo:
    """The demo pipeline in folder `out`; `echo` receives every line meant for the user."""

    def __init__(
        self,
        out: str | os.PathLike[str],
        size: str = "demo",
        implementations: Sequence[str] = IMPLEMENTATIONS,
        echo: Callable[[str], None] = print,
        stream_children: bool = True,
    ) -> None:
        if size not in SIZES:
            raise StemdlError(f"unknown demo preset '{size}'; valid: {', '.join(SIZES)}")
        for impl in implementations:
            if impl not in IMPLEMENTATIONS:
                raise StemdlError(
                    f"unknown implementation '{impl}'; valid: {', '.join(IMPLEMENTATIONS)}")
        self.out = Path(out)
        self.size = SIZES[size]
        self.implementations = tuple(implementations)
        self.echo = echo
        self.stream_children = stream_children

    # -- paths ---------------------------------------------------------------------------
    @property
    def raw_dir(self) -> Path:
        return self.out / "raw"

    @property
    def data_dir(self) -> Path:
        return self.out / "data"

    def run_dir(self, impl: str) -> Path:
        return self.out / "runs" / impl

    @property
    def plot_path(self) -> Path:
        return self.out / PLOT_NAME

    def _stamp_path(self, stage: str) -> Path:
        return self.out / ".demo" / f"{stage}.json"

    # -- stamps ----------------------------------------------------------------------------
    def _stamp_matches(self, stage: str, params: dict[str, Any]) -> bool:
        try:
            stamp = json.loads(self._stamp_path(stage).read_text())
        except (OSError, json.JSONDecodeError):
            return False
        return stamp.get("params") == params

    def _write_stamp(self, stage: str, params: dict[str, Any], seconds: float) -> None:
        write_text_atomic(self._stamp_path(stage), json.dumps(
            {"params": params, "seconds": seconds, "finished": _now()}, indent=1) + "\n")

    # -- child processes ------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        env.setdefault("PYTHONUNBUFFERED", "1")
        env.setdefault("STEMDL_PROGRESS_INTERVAL", "15")  # children's output is piped: lines
        return env

    def _stemdl(self, stage: str, args: Sequence[str]) -> None:
        """Run `python -m stemdl ARGS`; its output is echoed and kept in OUT/logs/STAGE.log."""
        cmd = [sys.executable, "-m", "stemdl", *map(str, args)]
        log_path = self.out / "logs" / f"{stage}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.echo(f"  $ stemdl {' '.join(map(str, args))}")
        with open(log_path, "w", encoding="utf-8") as log:
            log.write("$ " + " ".join(cmd) + "\n")
            log.flush()
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True, errors="replace", env=self._env(), bufsize=1)
            assert proc.stdout is not None
            try:
                for line in proc.stdout:
                    log.write(line)
                    if self.stream_children:
                        self.echo(f"  | {line.rstrip()}")
                code = proc.wait()
            except BaseException:  # Ctrl-C, SIGTERM: the stage stops its workers too
                stop_child(proc)
                raise
        if code != 0:
            tail = log_path.read_text(errors="replace").splitlines()[-15:]
            if not self.stream_children:
                for line in tail:
                    self.echo(f"  | {line}")
            raise StemdlError(f"demo stage '{stage}' failed (exit code {code}); see {log_path}")

    def _stage(self, report: DemoReport, name: str, title: str, params: dict[str, Any],
               action: Callable[[], None], still_valid: Callable[[], str | None],
               output: Path) -> None:
        """Run one stage unless its stamp matches and its output still checks out."""
        n = len(report.stages) + 1
        if self._stamp_matches(name, params):
            problem = still_valid()
            if problem is None:
                self.echo(f"[{n}] {title}: reusing {output} (finished earlier)")
                report.stages.append(StageReport(name, True, 0.0))
                return
            self.echo(f"[{n}] {title}: earlier output is incomplete ({problem}); redoing")
        else:
            self.echo(f"[{n}] {title}")
        self._stamp_path(name).unlink(missing_ok=True)
        t0 = time.perf_counter()
        action()
        problem = still_valid()
        if problem is not None:
            raise StemdlError(f"demo stage '{name}' finished but its output is not usable: {problem}")
        seconds = time.perf_counter() - t0
        self._write_stamp(name, params, seconds)
        self.echo(f"    done in {seconds:.0f} s")
        report.stages.append(StageReport(name, False, seconds))

    # -- checks of stage outputs ---------------------------------------------------------------
    @staticmethod
    def _splits_present(root: Path, need: Sequence[str] = ("train", "val")) -> str | None:
        from stemdl.common.data.splits import list_splits

        if not root.is_dir():
            return f"{root}: missing"
        try:
            found = list_splits(root)
        except StemdlError as err:
            return str(err)
        missing = [s for s in need if s not in found]
        return f"{root}: no {', '.join(missing)} split" if missing else None

    # -- the stages -------------------------------------------------------------------------
    def train_config(self, impl: str) -> dict[str, Any]:
        """The YAML config the demo trains `impl` with (the recipe, shrunk as `size` says)."""
        s = self.size
        cfg: dict[str, Any] = {
            "data_dir": str(self.data_dir),
            "run_dir": str(self.run_dir(impl)),
            "epochs": s.epochs,
            "mode": "epochs",
            "resnet": s.resnet,
            "batch_size": s.batch_size,
            "seed": 1234,
            "num_workers": s.num_workers,
            "division": "open" if s.is_shrunk(impl) else "closed",
            "platform": f"stemdl-demo-{s.name}",
            "lr_schedule": s.lr_schedule,
            "label_smoothing": s.label_smoothing,
        }
        if impl == "stfc":
            cfg.update(tensorboard=False, progress=False)
            if s.max_inference_batches:
                cfg["max_inference_batches"] = s.max_inference_batches
        else:
            cfg["warmup_epochs"] = s.warmup_epochs
            cfg["random_erasing_p"] = s.erasing_p(impl)
        return cfg

    def run(self) -> DemoReport:
        """Run (or reuse) every stage; returns what was done and the comparison."""
        s = self.size
        if self.out.exists() and not self.out.is_dir():
            raise StemdlError(f"{self.out}: exists and is not a folder (--out takes a folder)")
        self.out.mkdir(parents=True, exist_ok=True)
        report = DemoReport(out=self.out, size=s.name)
        self.echo(f"stemdl demo ({s.name} preset) in {self.out}")

        self._stage(
            report, "simulate", f"simulate the '{s.simulate_preset}' preset -> {self.raw_dir}",
            {"preset": s.simulate_preset},
            lambda: self._stemdl("simulate", ["simulate", self.raw_dir, "--preset",
                                              s.simulate_preset, "--workers", _workers()]),
            lambda: self._splits_present(self.raw_dir),
            self.raw_dir,
        )
        self._stage(
            report, "preprocess", f"preprocess -> {self.data_dir} (packed, {s.image_size} px)",
            {"size": s.image_size, "format": "packed", "after": self._stamp_of("simulate")},
            lambda: self._preprocess(),
            lambda: self._splits_present(self.data_dir),
            self.data_dir,
        )
        for impl in self.implementations:
            cfg = self.train_config(impl)
            recipe = get_task("classify").recipes[impl]
            if s.is_shrunk(impl):
                title = (f"train {impl} (open division: the closed {impl.upper()} recipe shrunk "
                         f"for a 2-core demo: {', '.join(s.shrink_notes(impl))})")
            else:
                title = f"train {impl} (closed {impl.upper()} recipe, ResNet-{recipe.resnet})"
            self._stage(
                report, f"train-{impl}", title,
                {"config": cfg, "after": self._stamp_of("preprocess")},
                lambda impl=impl, cfg=cfg: self._train(impl, cfg),
                lambda impl=impl: run_is_complete(self.run_dir(impl), s.epochs),
                self.run_dir(impl),
            )
            report.run_dirs.append(self.run_dir(impl))

        self._compare(report)
        return report

    def _stamp_of(self, stage: str) -> str | None:
        """The finish time of an earlier stage, so later stages redo when it was redone."""
        try:
            return json.loads(self._stamp_path(stage).read_text()).get("finished")
        except (OSError, json.JSONDecodeError):
            return None

    def _preprocess(self) -> None:
        if self.data_dir.exists():
            shutil.rmtree(self.data_dir)  # outputs of another size/format must not mix
        self._stemdl("preprocess", ["preprocess", self.raw_dir, self.data_dir, "--format",
                                    "packed", "--size", self.size.image_size, "--workers",
                                    _workers(), "--no-progress"])

    def _train(self, impl: str, cfg: dict[str, Any]) -> None:
        run_dir = self.run_dir(impl)
        if run_dir.exists():
            shutil.rmtree(run_dir)  # incomplete or stale: start the run afresh
        config = self.out / "configs" / f"{impl}.yaml"
        write_text_atomic(config, yaml.safe_dump(cfg, sort_keys=False))
        self._stemdl(f"train-{impl}", ["train", impl, "--config", config])

    def _compare(self, report: DemoReport) -> None:
        from stemdl.compliance import compare
        from stemdl.compliance.plots import write_plots

        n = len(report.stages) + 1
        self.echo(f"[{n}] compliance check of the MLPerf logs, comparison table and plots")
        runs, rows = compare.compare_rows(report.run_dirs)
        report.compliance = {row.run: row.compliance for row in rows}
        for row in rows:
            log = Path(row.run_dir) / MLPERF_LOG_FILE
            self.echo(f"    {row.run}: {log}: compliance {row.compliance} ({row.division} division)")
        report.table = compare.format_text(rows)
        write_text_atomic(self.out / "compare.txt", report.table)
        write_text_atomic(self.out / "compare.md", compare.format_markdown(rows))
        write_text_atomic(self.out / "compare.json", compare.format_json(rows))
        report.plots = write_plots(runs, self.plot_path)


# What `make demo` shows on 2 cores: each implementation's held-out F1 rises to a plateau.
DEMO_GOAL_F1 = 0.7  # mean validation macro F1 over the last third of the epochs
DEMO_MAX_STEP = 0.1  # largest change between consecutive epochs in that last third


def convergence_line(name: str, f1s: Sequence[float]) -> str:
    """Whether a run's per-epoch validation F1 reached the demo's plateau, in one line.

    This is the demo's own check of learning (not the benchmark's target, which stays
    0.9 in the log and decides the run status)."""
    if len(f1s) < 2:
        return f"{name}: {len(f1s)} epoch(s): too few to judge convergence"
    third = list(f1s[-max(2, -(-len(f1s) // 3)):])
    mean = sum(third) / len(third)
    step = max(abs(b - a) for a, b in zip(third, third[1:]))
    ok = mean >= DEMO_GOAL_F1 and step < DEMO_MAX_STEP
    return (f"{name}: val macro F1 over the last {len(third)} epochs: mean {mean:.3f}, "
            f"largest change {step:.3f}: {'converged' if ok else 'NOT converged'} "
            f"(demo goal: mean >= {DEMO_GOAL_F1}, changes < {DEMO_MAX_STEP})")


def summary_lines(report: DemoReport) -> list[str]:
    """The closing summary: table, plot paths, what was reused."""
    reused = [st.name for st in report.stages if st.reused]
    ran = sum(st.seconds for st in report.stages if not st.reused)
    lines = ["", report.table.rstrip("\n"), ""]
    lines.append(f"plot: {report.plots[0]}" if report.plots else "plot: (none)")
    lines += [f"confusion heat map: {p}" for p in report.plots[1:]]
    lines.append(f"table also in {report.out / 'compare.md'} and {report.out / 'compare.json'}")
    for run_dir in report.run_dirs:
        try:
            result = RunResult.read(run_dir / RESULTS_FILE)
        except DataError:
            continue
        f1s = result.curve()
        lines.append(convergence_line(result.implementation, f1s))
    times = ", ".join(f"{st.name} {st.seconds:.0f} s" for st in report.stages if not st.reused)
    lines.append(f"stages run: {ran:.0f} s" + (f" ({times})" if times else "")
                 + (f"; reused: {', '.join(reused)}" if reused else ""))
    if not report.passed:
        bad = [f"{run} {verdict}" for run, verdict in report.compliance.items() if verdict != "PASS"]
        lines.append(f"compliance: {', '.join(bad)} (see the table's compliance problems)")
    return lines


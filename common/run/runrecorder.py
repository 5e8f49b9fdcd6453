"""The run lifecycle both implementations report to: MLPerf log, timers, results.json.

The training loop (a Lightning callback, or the ORNL custom loop) calls one
`RunRecorder` at fixed points; it writes the MLPerf events in the order the STEMDL
compliance rules expect (rank 0 only), keeps time to target, and rewrites
`results.json` after every evaluation so a killed run leaves its history behind.

Both training loops run inside `recorder.recording()`: whatever ends a run early (an
error, a NaN loss, SIGTERM, Ctrl-C) ends the MLPerf log and results.json the same way,
`run_stop` with status aborted and results.json status "aborted" with a `stop_reason`,
so the two never disagree about how a run ended; a node-local staging copy is removed.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from stemdl.common.cli.errors import StemdlError
from stemdl.common.infra.atomic import write_text_atomic
from stemdl.common.infra.signals import Terminated
from stemdl.common.metrics import Metric
from stemdl.common.run.mllog import Keys, MLPerfLogger
from stemdl.common.run.results import MLPERF_LOG_FILE, RESULTS_FILE, EpochRecord, RunResult
from stemdl.common.run.system import describe_system, write_system
from stemdl.common.run.timing import PhaseTimer, Throughput, TimeToTarget
from stemdl.common.task import Task


class TrainingDiverged(StemdlError):
    """The training loss became NaN or infinite: the run stops as aborted (exit 1)."""

    exit_code = 1


def stop_reason(err: BaseException) -> str:
    """One line saying why a run ended early, for results.json's `stop_reason`."""
    if isinstance(err, KeyboardInterrupt):
        return "interrupted (SIGINT)"
    if isinstance(err, Terminated | StemdlError):
        return str(err)
    text = (str(err).strip().splitlines() or [""])[0][:200]
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


class RunRecorder:
    """Records one training run. Epochs are numbered from 1 in logs and results."""

    def __init__(
        self,
        run_dir: str | os.PathLike[str],
        implementation: str,
        *,
        task: Task,
        division: str,
        target: float,
        stop_at_target: bool,
        rank: Callable[[], int] = lambda: 0,
        barrier: Callable[[], None] = lambda: None,
        sync: Callable[[], None] | None = None,
        resume: bool = False,
        resume_epoch: int | None = None,
        log_name: str = MLPERF_LOG_FILE,
        echo: Callable[[str], None] | None = None,
    ) -> None:
        """`resume_epoch`: the last epoch the checkpoint being resumed holds; epochs recorded
        after it (a run stopped between an evaluation and its checkpoint) are dropped from
        results.json and the log, since the resumed run trains them again."""
        self.run_dir = Path(run_dir)
        self.task = task
        self.log_name = log_name
        self._echo = echo if echo is not None else _to_stderr
        self.stop_at_target = stop_at_target
        self._rank = rank
        self.resume = resume
        self.timer = PhaseTimer(sync=sync)
        self.train_rate = Throughput()
        self.eval_rate = Throughput()
        self.logger = MLPerfLogger(rank=rank, barrier=barrier)
        self.result = self._initial_result(implementation, division, target)
        if resume and resume_epoch is not None:
            self._rewind(resume_epoch)
        self.ttt = TimeToTarget(target, run_start=time.time(),
                                higher_is_better=task.higher_is_better)
        self._last_loss: float | None = None
        self._last_epoch_time: float | None = None
        self._last_train_rate: float | None = None
        # continuing: a resumed run whose earlier part already wrote its header and run_start
        self.continuing = resume and self.result.run_start_unix is not None
        self.result.stop_reason = None  # a resumed run is not the earlier, stopped part
        self._started = False  # run_start reached (logged now, or by the resumed part)
        self._stopped = False  # run_stop logged
        self._staged: tuple | None = None  # (staging, run id, rank) of a local copy to remove

    # -- set-up ----------------------------------------------------------------------
    def _initial_result(self, implementation: str, division: str, target: float) -> RunResult:
        task = self.task
        if self.resume and (self.run_dir / RESULTS_FILE).exists():
            result = RunResult.read(self.run_dir)
        else:
            result = RunResult(implementation=implementation, division=division)
        result.task, result.primary_metric = task.name, task.primary_metric
        result.higher_is_better, result.target = task.higher_is_better, target
        result.mlperf_log = self.log_name
        return result

    def _rewind(self, epoch: int) -> None:
        kept = [e for e in self.result.epochs if e.epoch <= epoch]
        if len(kept) == len(self.result.epochs):
            return
        self.result.epochs = []
        for record in kept:
            self.result.add_epoch(record)
        target, primary = self.result.target, self.task.primary_metric
        if target is not None and not any(self.task.reached(e.val.get(primary), target)
                                          for e in kept):
            self.result.reached_target, self.result.time_to_target_s = False, None

    @property
    def is_writer(self) -> bool:
        return self._rank() == 0

    @property
    def log_path(self) -> Path:
        return self.run_dir / self.log_name

    def init_start(self, org: str, division: str, status: str, platform: str,
                   user: str | None = None, email: str | None = None) -> None:
        """Open the log, write the submission keys, cache_clear and init_start.

        When continuing a resumed run the log is appended to and the header (already
        written) is skipped.
        """
        self.timer.start("init")
        from stemdl.common.run.identity import code_commit, code_version, command_line, job_identity

        self.result.code_version, self.result.code_commit = code_version(), code_commit()
        self.result.commands = [*(self.result.commands if self.continuing else []), command_line()]
        self.result.job = job_identity() or self.result.job
        if self.continuing and self.is_writer:
            truncate_log_after_epoch(self.log_path, self.result.epochs[-1].epoch)
        self.logger.configure(self.log_path, append=self.continuing)
        if self.continuing:
            return
        self.logger.submission(benchmark=self.task.benchmark, org=org, division=division,
                               status=status, platform=platform, user=user, email=email)
        self.logger.event(Keys.CACHE_CLEAR, True)
        self.logger.start(Keys.INIT_START)

    def hyperparameters(self, values: Mapping[str, Any]) -> None:
        """Log seed, batch size, sample counts, optimizer, model, ... and keep them."""
        values = dict(values)
        self.result.seed = values.get(Keys.SEED, self.result.seed)
        self.result.global_batch_size = values.get(Keys.GLOBAL_BATCH_SIZE, self.result.global_batch_size)
        self.result.train_samples = values.get(Keys.TRAIN_SAMPLES, self.result.train_samples)
        self.result.eval_samples = values.get(Keys.EVAL_SAMPLES, self.result.eval_samples)
        self.result.model_name = values.get(Keys.MODEL_NAME, self.result.model_name)
        self.result.input_norm = values.get(Keys.INPUT_NORM, self.result.input_norm)
        if not self.continuing:
            self.logger.hyperparameters(values)

    def baseline(self, readers: Mapping[str, Any]) -> dict[str, float]:
        """The task's baseline on the validation split (the density task: the training-mean
        map), kept in results.json and logged (its primary metric) so that learning is read
        against it; {} for a task without one. Every rank computes it (no collective)."""
        if self.task.baseline is None or "val" not in readers:
            return {}
        values = dict(self.task.baseline(readers["train"], readers["val"]))
        self.result.baseline = values
        if values and not self.continuing:
            self.logger.event(self.task.baseline_log_key, values[self.task.primary_metric])
        return values

    def init_stop(self) -> None:
        self.result.init_time_s = self.timer.stop("init")
        if not self.continuing:
            self.logger.end(Keys.INIT_STOP)

    def run_start(self) -> None:
        """All ranks meet, then the clock of time-to-train starts."""
        self.logger.barrier()
        self.timer.start("run")
        self._started = True
        if self.continuing:
            # keep the original start: time to target includes the interruption
            self.ttt.run_start = self.result.run_start_unix
        else:
            self.logger.start(Keys.RUN_START)
            self.ttt.run_start = self.result.run_start_unix = time.time()

    def stage(self, readers: Mapping[str, Any], staging: Any, *, rank: int, world: int,
              local_processes: int, targets: bool, move: Callable[[dict], dict] | None = None
              ) -> dict[str, Any]:
        """The run's readers staged as `staging` says (common/data/staging.py), after
        run_start and between staging_start and staging_stop, as the MLPerf policy asks;
        `move` (the implementation's) takes the staged arrays to the device. The time is
        kept in results.json's startup as staging_s. `none`: the readers, nothing logged."""
        from stemdl.common.data.staging import NONE, stage

        if staging.mode == NONE:
            return dict(readers)
        self.timer.start("staging")
        self.logger.start(Keys.STAGING_START)
        self._staged = (staging, self._run_id(), rank)
        echo = self._echo if self.is_writer else None
        staged = stage(readers, staging, rank=rank, world=world, local_processes=local_processes,
                       targets=targets, run_id=self._run_id(), echo=echo)
        if move is not None:
            staged = move(staged)
        self.logger.barrier()  # every rank's copy is in place before the first step
        self.logger.end(Keys.STAGING_STOP)
        self.result.startup = {**self.result.startup, "staging_s": self.timer.stop("staging")}
        return staged

    def _run_id(self) -> str:
        import hashlib

        return hashlib.sha1(str(self.run_dir.resolve()).encode()).hexdigest()[:12]

    def remove_staged(self) -> None:
        """Remove this rank's node-local staging copy (staging=local:DIR), if any."""
        from stemdl.common.data.staging import remove_local

        staged, self._staged = self._staged, None
        if staged is not None:
            remove_local(*staged)

    # -- epochs ----------------------------------------------------------------------
    def epoch_start(self, epoch: int) -> None:
        self.timer.start("epoch")
        self.logger.epoch_start(epoch)

    def epoch_stop(self, epoch: int, samples: int, train_loss: float | None = None) -> None:
        """`samples`: training samples processed in this epoch by all ranks together."""
        seconds = self.timer.stop("epoch")
        if train_loss is not None and not math.isfinite(train_loss):
            raise TrainingDiverged(
                f"training loss is {float(train_loss)} in epoch {epoch}: the run is stopped as "
                "aborted (lower learning_rate, or check the data)")
        self.train_rate.add(samples, seconds)
        self._last_loss = None if train_loss is None else float(train_loss)
        self._last_epoch_time = seconds
        self._last_train_rate = samples / seconds if seconds > 0 else None
        self.logger.epoch_stop(epoch)

    def eval_start(self, epoch: int) -> None:
        self.timer.start("eval")
        self.logger.eval_start(epoch)

    def eval_stop(self, epoch: int, metric: Metric) -> bool:
        """Log the whole-set values of the task's `metric` (already summed over ranks).

        Returns True when the run should stop (time-to-target mode, target reached).
        """
        seconds = self.timer.stop("eval")
        self.eval_rate.add(metric.samples, seconds)
        values = {name: float(v) for name, v in metric.result().items()}
        primary = values[self.task.primary_metric]
        self.logger.eval_metrics(epoch, {key: values[name] for name, key in
                                         self.task.metric_log_keys.items() if name in values})
        self.logger.eval_stop(epoch)
        reached_now = self.ttt.observe(epoch, primary, time.time())
        record = EpochRecord(
            epoch=epoch,
            train_loss=self._last_loss,
            val=values,
            epoch_time_s=self._last_epoch_time,
            eval_time_s=seconds,
            train_samples_per_s=self._last_train_rate,
            wall_time_s=time.time() - self.ttt.run_start,
        )
        self.result.epochs = [e for e in self.result.epochs if e.epoch != epoch]
        self.result.add_epoch(record)
        if self.result.best() == primary:
            self.result.detail = metric.detail()
        if reached_now:
            self.result.reached_target = True
            self.result.time_to_target_s = self.ttt.seconds
        self._refresh_rates()
        self.result.status = "running"
        self._write()
        if self.is_writer:
            self._echo(epoch_line(self.result.implementation, record, reached_now, self.task))
        return self.stop_at_target and self.result.reached_target

    # -- the end -----------------------------------------------------------------------
    def run_stop(self) -> str:
        """run_stop with an honest status: success only if the target was reached."""
        self._stop_run_clock()
        self.result.status = Keys.SUCCESS if self.result.reached_target else Keys.ABORTED
        self.logger.run_stop(self.result.reached_target)
        self._log_result()
        self._stopped = True
        return self.result.status

    def _log_result(self) -> None:
        """The final `result`: the primary metric's last and best validation values, the
        target, time to train in minutes (run_start to run_stop), epochs, status and the
        metric's one-line definition."""
        r, task = self.result, self.task
        last = r.epochs[-1].val.get(task.primary_metric) if r.epochs else None
        self.logger.result({
            "metric": task.primary_metric, "value": last, "best": r.best(), "target": r.target,
            "reached_target": bool(r.reached_target),
            "time_to_train_min": None if r.run_time_s is None else r.run_time_s / 60.0,
            "epochs": len(r.epochs), "status": r.status, "definition": task.metric_definition})

    def _stop_run_clock(self) -> None:
        """run_time_s: run_start to run_stop as the log has them. A resumed run's log keeps
        the first part's run_start, so its time includes the earlier part and the
        interruption (as time to train does), not this process's part only."""
        if not self.timer.is_running("run"):
            return
        this_part = self.timer.stop("run")
        start = self.result.run_start_unix
        self.result.run_time_s = (time.time() - start if self.continuing and start is not None
                                  else this_part)

    @contextlib.contextmanager
    def recording(self) -> Iterator[RunRecorder]:
        """`with recorder.recording():` the loop and the finish; an exception or a signal
        raised inside ends the run as aborted (see `abort`) and goes on."""
        try:
            yield self
        except BaseException as err:
            self.abort(stop_reason(err))
            raise
        finally:
            self.remove_staged()

    def abort(self, reason: str) -> None:
        """End the run early: run_stop (status aborted) in the log, unless it was already
        written, and results.json with the same status and `stop_reason`. Before run_start
        nothing is written: the log has no run_stop and results.json keeps what it said."""
        self.result.stop_reason = reason
        if not self._started:
            self.logger.close()
            return
        self._stop_run_clock()
        if not self._stopped:
            self.result.status = Keys.ABORTED
            self.logger.run_stop(False)
            self._log_result()
            self._stopped = True
        self._refresh_rates()
        with contextlib.suppress(OSError):  # the error that stopped the run is the one to report
            self._write_records()
        self.logger.close()

    def finish(self, **fields: Any) -> RunResult:
        """Fill in the remaining fields (test metrics, inference, model, versions), write
        results.json and close the log."""
        for name, value in fields.items():
            if not hasattr(self.result, name):
                raise AttributeError(f"RunResult has no field '{name}'")
            setattr(self.result, name, value)
        self._refresh_rates()
        self._write_records()
        self.logger.close()
        return self.result

    def _refresh_rates(self) -> None:
        self.result.train_samples_per_s = self.train_rate.per_second
        self.result.eval_samples_per_s = self.eval_rate.per_second

    def _write(self) -> None:
        if self.is_writer:
            self.result.write(self.run_dir)

    def _write_records(self) -> None:
        """At the run's end, on the writing rank: the job script when it can be read,
        results.json (naming that copy), then system.json (common/run/system.py)."""
        if not self.is_writer:
            return
        from stemdl.common.run.identity import JOB_SCRIPT_FILE, job_script

        script = job_script()
        if script is not None:
            write_text_atomic(self.run_dir / JOB_SCRIPT_FILE, script)
            self.result.job = {**self.result.job, "script": JOB_SCRIPT_FILE}
        self.result.write(self.run_dir)
        write_system(self.run_dir, describe_system(self.result, self.run_dir))


def metrics_text(values: Mapping[str, float | None], task: Task, prefix: str = "val ") -> str:
    """`val macro F1 0.7512, top-1 0.8000`: the task's metrics in its order, the first
    with `prefix`."""
    parts = [f"{task.label(name)} {fmt(values.get(name), '.4f')}"
             for name in task.metric_log_keys]
    return prefix + ", ".join(parts)


def fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def epoch_line(implementation: str, record: EpochRecord, reached_now: bool, task: Task) -> str:
    """One line per epoch for the job's log (a batch job shows no progress bar)."""
    line = (f"{implementation} epoch {record.epoch}: train loss {fmt(record.train_loss, '.4f')}, "
            f"{metrics_text(record.val, task)}, "
            f"epoch {fmt(record.epoch_time_s, '.1f')} s, eval {fmt(record.eval_time_s, '.1f')} s, "
            f"{fmt(record.train_samples_per_s, '.1f')} samples/s")
    return line + (", target reached" if reached_now else "")


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def truncate_log_after_epoch(path: Path, epoch: int) -> None:
    """Cut a killed run's log after the eval_stop of `epoch` (the last one recorded), so the
    resumed run does not repeat the interrupted epoch's events. Atomic rewrite."""
    if not path.exists():
        return
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    keep = len(lines)
    for i, line in enumerate(lines):
        if not line.startswith(":::MLLOG "):
            continue
        try:
            record = json.loads(line[len(":::MLLOG "):])
        except json.JSONDecodeError:
            continue
        if record.get("key") == Keys.EVAL_STOP and record.get("metadata", {}).get(Keys.EPOCH_NUM) == epoch:
            keep = i + 1
    write_text_atomic(path, "".join(lines[:keep]))

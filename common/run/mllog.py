"""MLPerf-style logging for STEMDL: one wrapper over `mlperf_logging.mllog`.

- Only rank 0 writes (the framework passes a `rank()` callable).
- Safe to configure twice in one process: each `MLPerfLogger` owns a private
  `logging.Logger` with exactly one file handler, replaced (not added) on
  reconfiguration. mllog's process-wide `mllog.config(filename=)` adds a handler per
  call and duplicates every line, so it is never used.
- The STEMDL key names are defined here, once.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mlperf_logging.mllog import constants as C
from mlperf_logging.mllog.mllog import MLLogger

BENCHMARK_NAME = "stemdl"  # classification's (Task.benchmark)


class Keys:
    """Every key a STEMDL log uses: mllog's constants where they exist, ours otherwise."""

    # submission
    SUBMISSION_BENCHMARK = C.SUBMISSION_BENCHMARK
    SUBMISSION_ORG = C.SUBMISSION_ORG
    SUBMISSION_DIVISION = C.SUBMISSION_DIVISION
    SUBMISSION_STATUS = C.SUBMISSION_STATUS
    SUBMISSION_PLATFORM = C.SUBMISSION_PLATFORM
    # the Science working group's identity keys (policy.adoc v0.5 spells the version key
    # `submissiom_version`; we write the correct spelling, the rules accept both)
    SUBMISSION_VERSION = "submission_version"
    SUBMISSION_COMMIT = "submission_github_commit_version"
    SUBMISSION_USER = "submission_user"
    SUBMISSION_EMAIL = "submission_email"
    RESULT = "result"  # the last event: the result and what it means
    # phases
    CACHE_CLEAR = C.CACHE_CLEAR
    INIT_START = C.INIT_START
    INIT_STOP = C.INIT_STOP
    RUN_START = C.RUN_START
    RUN_STOP = C.RUN_STOP
    STAGING_START = C.STAGING_START  # copying the data to memory, local disk or the device
    STAGING_STOP = C.STAGING_STOP
    EPOCH_START = C.EPOCH_START
    EPOCH_STOP = C.EPOCH_STOP
    EVAL_START = C.EVAL_START
    EVAL_STOP = C.EVAL_STOP
    # hyperparameters and sizes
    SEED = C.SEED
    GLOBAL_BATCH_SIZE = C.GLOBAL_BATCH_SIZE
    TRAIN_SAMPLES = C.TRAIN_SAMPLES
    EVAL_SAMPLES = C.EVAL_SAMPLES
    OPT_NAME = C.OPT_NAME
    OPT_BASE_LR = C.OPT_BASE_LR
    OPT_WEIGHT_DECAY = C.OPT_WEIGHT_DECAY
    OPT_LR_WARMUP_EPOCHS = C.OPT_LR_WARMUP_EPOCHS
    NUMBER_OF_NODES = "number_of_nodes"
    ACCELERATORS_PER_NODE = "accelerators_per_node"
    # STEMDL-specific
    RECIPE = "stemdl_recipe"  # "stfc" or "ornl"
    MODEL_NAME = "stemdl_model"  # e.g. "resnet50"
    TARGET_F1 = "stemdl_target_f1"  # classification's (Task.target_log_key)
    INPUT_NORM = "stemdl_input_norm"  # {mode, mean, std, samples}: what the network is fed
    DATA = "stemdl_data"  # "files", or "synthetic" (timing only: never a result)
    STAGING = "stemdl_staging"  # none, memory, local:DIR or device (common/data/staging.py)
    WORLD_SIZE = "stemdl_world_size"  # processes (data-parallel replicas) that trained together
    # metrics (logged with metadata epoch_num)
    EVAL_ACCURACY = C.EVAL_ACCURACY  # top-1 on the validation set
    EVAL_F1 = "eval_macro_f1"  # classification's primary metric (Task.metric_log_keys)
    TRAIN_LOSS = "train_loss"
    # metadata
    EPOCH_NUM = C.EPOCH_NUM
    STATUS = C.STATUS
    SUCCESS = C.SUCCESS
    ABORTED = C.ABORTED


_instance_ids = itertools.count()


class MLPerfLogger:
    """Writes `:::MLLOG` lines to one file, from rank 0 only.

    `rank` and `barrier` are callables supplied by the framework (torch.distributed,
    tf.distribute); the defaults suit a single process.
    """

    def __init__(
        self,
        rank: Callable[[], int] = lambda: 0,
        barrier: Callable[[], None] = lambda: None,
    ) -> None:
        self._rank = rank
        self._barrier = barrier
        self._logger = logging.getLogger(f"stemdl.mllog.{os.getpid()}.{next(_instance_ids)}")
        self._logger.setLevel(logging.INFO)
        self._logger.propagate = False
        self._handler: logging.Handler | None = None
        self._mllogger = MLLogger(logger=self._logger)
        self.path: Path | None = None

    # -- configuration -------------------------------------------------------
    def configure(self, path: str | os.PathLike[str], append: bool = False) -> None:
        """Send lines to `path` (rank 0 only); reconfiguring replaces the old file handler."""
        self.close()
        self.path = Path(path)
        if self._rank() != 0:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(self.path, mode="a" if append else "w", encoding="utf-8")
        handler.setLevel(logging.INFO)
        self._logger.addHandler(handler)
        self._handler = handler

    def close(self) -> None:
        """Flush and detach the file handler (idempotent)."""
        if self._handler is not None:
            self._logger.removeHandler(self._handler)
            self._handler.close()
            self._handler = None

    def barrier(self) -> None:
        """Synchronise ranks (used around run_start so all ranks start together)."""
        self._barrier()

    @property
    def is_writer(self) -> bool:
        return self._rank() == 0 and self._handler is not None

    # -- events --------------------------------------------------------------
    # `depth` counts the frames between the user's call and `_emit`, so the log's
    # metadata.file/lineno name the caller, not this module.
    def _emit(self, kind: str, key: str, value: Any, metadata: Mapping[str, Any] | None,
              depth: int) -> None:
        if self.is_writer:
            getattr(self._mllogger, kind)(
                key=key, value=value, metadata=dict(metadata or {}), stack_offset=depth + 1
            )

    def event(self, key: str, value: Any = None, metadata: Mapping[str, Any] | None = None,
              _depth: int = 1) -> None:
        self._emit("event", key, value, metadata, _depth + 1)

    def start(self, key: str, value: Any = None, metadata: Mapping[str, Any] | None = None,
              _depth: int = 1) -> None:
        self._emit("start", key, value, metadata, _depth + 1)

    def end(self, key: str, value: Any = None, metadata: Mapping[str, Any] | None = None,
            _depth: int = 1) -> None:
        self._emit("end", key, value, metadata, _depth + 1)

    # -- STEMDL conveniences (the order the compliance rules expect) ----------
    def submission(self, org: str, division: str, status: str, platform: str,
                   benchmark: str = BENCHMARK_NAME, version: str | None = None,
                   commit: str | None = None, user: str | None = None,
                   email: str | None = None) -> None:
        """The submission_* events: benchmark (the task's), org, division, status,
        platform, then the code's version and commit, and the submitter's user and e-mail
        when given. The version and commit default to the running code's
        (common/run/identity.py)."""
        from stemdl.common.run.identity import code_commit, code_version

        version = code_version() if version is None else version
        commit = code_commit() if commit is None else commit
        self.event(Keys.SUBMISSION_BENCHMARK, benchmark, _depth=2)
        self.event(Keys.SUBMISSION_ORG, org, _depth=2)
        self.event(Keys.SUBMISSION_DIVISION, division, _depth=2)
        self.event(Keys.SUBMISSION_STATUS, status, _depth=2)
        self.event(Keys.SUBMISSION_PLATFORM, platform, _depth=2)
        for key, value in ((Keys.SUBMISSION_VERSION, version), (Keys.SUBMISSION_COMMIT, commit),
                           (Keys.SUBMISSION_USER, user), (Keys.SUBMISSION_EMAIL, email)):
            if value is not None:
                self.event(key, value, _depth=2)

    def result(self, value: Mapping[str, Any]) -> None:
        """The final POINT_IN_TIME `result`: the run's result and what it means."""
        self.event(Keys.RESULT, dict(value), _depth=2)

    def hyperparameters(self, values: Mapping[str, Any]) -> None:
        """One event per (key, value), e.g. seed, global_batch_size, opt_name."""
        for key, value in values.items():
            self.event(key, value, _depth=2)

    def epoch_start(self, epoch: int) -> None:
        self.start(Keys.EPOCH_START, metadata={Keys.EPOCH_NUM: epoch}, _depth=2)

    def epoch_stop(self, epoch: int) -> None:
        self.end(Keys.EPOCH_STOP, metadata={Keys.EPOCH_NUM: epoch}, _depth=2)

    def eval_start(self, epoch: int) -> None:
        self.start(Keys.EVAL_START, metadata={Keys.EPOCH_NUM: epoch}, _depth=2)

    def eval_stop(self, epoch: int) -> None:
        self.end(Keys.EVAL_STOP, metadata={Keys.EPOCH_NUM: epoch}, _depth=2)

    def eval_metrics(self, epoch: int, values: Mapping[str, float]) -> None:
        """The whole validation set's metrics at `epoch`, one event per MLPerf key (the
        task's keys, in its order: the primary metric first)."""
        for key, value in values.items():
            self.event(key, float(value), metadata={Keys.EPOCH_NUM: epoch}, _depth=2)

    def run_stop(self, reached_target: bool) -> None:
        """run_stop with an honest status: success only if the target was reached."""
        status = Keys.SUCCESS if reached_target else Keys.ABORTED
        self.end(Keys.RUN_STOP, metadata={Keys.STATUS: status}, _depth=2)


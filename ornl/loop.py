"""The ORNL custom training loop under a tf.distribute strategy.

Keras 3 `model.fit` fails under MultiWorkerMirroredStrategy (see FRAMEWORKS.md), so the
loop is written with `strategy.run` / `strategy.reduce`; it works unchanged with one
device, MirroredStrategy and MultiWorkerMirroredStrategy. The run's bookkeeping (MLPerf
log, results.json) is one `RunRecorder` that `stemdl.ornl.train` calls between epochs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf

from stemdl.common.data.normalize import InputNorm
from stemdl.common.data.samples import SampleReader
from stemdl.common.infra.progress import progress as progress_bar
from stemdl.common.infra.signals import raise_if_stopped
from stemdl.common.metrics import Metric
from stemdl.common.run.training import lr_factors
from stemdl.ornl import augment
from stemdl.ornl import data as pipeline
from stemdl.ornl.distributed import WorkerInfo
from stemdl.ornl.tasks import hooks
from stemdl.ornl.tracing import FirstStep, trace_once

SUM = tf.distribute.ReduceOp.SUM
MEAN = tf.distribute.ReduceOp.MEAN
UNBOUNDED_EPOCHS = 1 << 30  # a Trainer told no epoch count: its training data never ends


@keras.saving.register_keras_serializable(package="stemdl")
class WarmupSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up per step from base_lr * start_factor to base_lr, then constant.

    The ORNL recipe starts at base_lr / warmup_epochs (Goyal et al. style); upstream had
    this schedule commented out.
    """

    def __init__(self, base_lr: float, warmup_steps: int, start_factor: float = 1.0) -> None:
        self.base_lr = float(base_lr)
        self.warmup_steps = int(warmup_steps)
        self.start_factor = float(start_factor)

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        if self.warmup_steps <= 0:
            return tf.constant(self.base_lr, tf.float32)
        frac = tf.minimum(step / float(self.warmup_steps), 1.0)
        return self.base_lr * (self.start_factor + (1.0 - self.start_factor) * frac)

    def get_config(self) -> dict:
        return {"base_lr": self.base_lr, "warmup_steps": self.warmup_steps,
                "start_factor": self.start_factor}


@keras.saving.register_keras_serializable(package="stemdl")
class TableSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """base_lr x factors[step] (the last factor after the table): the warm-up and decay of
    `common.run.training.lr_factors`, the same curve the STFC implementation follows."""

    def __init__(self, base_lr: float, factors) -> None:
        self.base_lr = float(base_lr)
        self.factors = [float(f) for f in factors]
        self._table = tf.constant(self.factors, tf.float32)

    def __call__(self, step):
        i = tf.minimum(tf.cast(step, tf.int32), len(self.factors) - 1)
        return self.base_lr * tf.gather(self._table, i)

    def get_config(self) -> dict:
        return {"base_lr": self.base_lr, "factors": self.factors}


def make_optimizer(base_lr: float, weight_decay: float, warmup_steps: int, warmup_epochs: int,
                   mixed_float16: bool = False, schedule: str = "constant",
                   total_steps: int = 1) -> keras.optimizers.Optimizer:
    """AdamW with the warm-up schedule, then constant (the recipe) or a decay
    (`schedule`, over `total_steps`); loss-scaled under mixed float16."""
    start = 1.0 / warmup_epochs if warmup_epochs > 0 else 1.0
    if schedule == "constant":
        lr = WarmupSchedule(base_lr, warmup_steps, start)
    else:
        lr = TableSchedule(base_lr, lr_factors(schedule, total_steps, warmup_steps, start))
    opt = keras.optimizers.AdamW(learning_rate=lr, weight_decay=weight_decay)
    return keras.optimizers.LossScaleOptimizer(opt) if mixed_float16 else opt


@dataclass
class EvalOutput:
    """The whole set's metric (summed over replicas and workers) and this worker's predictions."""

    metric: Metric
    indices: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    preds: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


class Trainer:
    """Train and evaluate one Keras model under `strategy` (built in its scope)."""

    def __init__(
        self,
        strategy: tf.distribute.Strategy,
        info: WorkerInfo,
        model: keras.Model,
        optimizer: keras.optimizers.Optimizer,
        *,
        seed: int,
        per_replica_batch: int,
        eval_batch: int | None = None,
        random_erasing_p: float = 0.8,
        mixup_alpha: float = 0.0,
        xla: bool = False,
        task: str = "classify",
        progress: bool = True,
        input_norm: InputNorm | None = None,
        label_smoothing: float = 0.0,
        parallel_reads: int | None = None,
        epochs: int | None = None,
        loss: str = "cross_entropy",
    ) -> None:
        self.strategy, self.info, self.model, self.optimizer = strategy, info, model, optimizer
        self.seed = int(seed)
        self.per_replica_batch = int(per_replica_batch)
        self.eval_batch = int(eval_batch or per_replica_batch)
        self.random_erasing_p = float(random_erasing_p)
        self.mixup_alpha = float(mixup_alpha)
        self.hooks = hooks(task)
        self.loss = loss
        self.input_norm = input_norm
        self.label_smoothing = float(label_smoothing)
        self.parallel_reads = parallel_reads or None  # per input pipeline; None: autotune
        self.epochs = epochs  # the run's epochs (the training iterator ends there); None: open
        self._train_iter = self._train_at = None
        self.progress = progress and info.is_chief
        self.global_batch = self.per_replica_batch * strategy.num_replicas_in_sync
        self._scaled = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
        self._grads = tf.function(self._loss_and_grads, jit_compile=xla, reduce_retracing=True)
        self._forward = tf.function(self._eval_logits, jit_compile=xla, reduce_retracing=True)
        self._train_step = self._eval_step = None  # traced once from the data's spec (tracing.py)
        self._first_step = FirstStep()
        self.startup: dict[str, float] = {}  # tracing and first-step seconds (results.json)
        self._sync_step = tf.function(self._distributed_sync_statistics)

    # -- options per input pipeline ----------------------------------------------------
    def _opts(self, ctx: tf.distribute.InputContext, batch: int) -> pipeline.PipelineOptions:
        return pipeline.PipelineOptions(
            seed=self.seed,
            per_replica_batch=batch,
            replicas_per_pipeline=max(1, ctx.num_replicas_in_sync // ctx.num_input_pipelines),
            num_pipelines=ctx.num_input_pipelines,
            pipeline_id=ctx.input_pipeline_id,
            random_erasing_p=self.random_erasing_p,
            norm=self.input_norm,
            parallel=self.parallel_reads,
            all_patterns=self.hooks.all_patterns,
        )

    def steps_per_epoch(self, reader: SampleReader) -> int:
        return len(reader) // self.global_batch

    # -- training --------------------------------------------------------------------
    def _loss_and_grads(self, images, labels, mix_seed):
        with tf.GradientTape() as tape:
            if self.mixup_alpha > 0:
                images, y_a, y_b, lam = augment.mixup(images, labels, self.mixup_alpha, mix_seed)
                logits = self.model(images, training=True)
                ce_a = self._per_example_loss(y_a, logits)
                ce_b = self._per_example_loss(y_b, logits)
                per_example = lam * ce_a + (1.0 - lam) * ce_b
            else:
                logits = self.model(images, training=True)
                per_example = self._per_example_loss(labels, logits)
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=self.global_batch)
            scaled = self.optimizer.scale_loss(loss) if self._scaled else loss
        grads = tape.gradient(scaled, self.model.trainable_variables)
        return loss, grads

    def _per_example_loss(self, labels, logits):
        return self.hooks.per_example_loss(labels, logits, self.label_smoothing, self.loss)

    def _replica_train(self, images, labels):
        ctx = tf.distribute.get_replica_context()
        step = tf.cast(self.optimizer.iterations, tf.int64)
        replica = tf.cast(ctx.replica_id_in_sync_group, tf.int64)
        mix_seed = tf.stack([tf.constant(self.seed + 7919, tf.int64), step * 4096 + replica])
        loss, grads = self._grads(images, labels, mix_seed)
        self.optimizer.apply_gradients(zip(grads, self.model.trainable_variables))
        return loss

    def _distributed_train_step(self, batch):
        images, labels = batch
        per_replica = self.strategy.run(self._replica_train, args=(images, labels))
        return self.strategy.reduce(SUM, per_replica, axis=None)

    def train_epoch(self, reader: SampleReader, epoch: int,
                    on_step: Callable[[int], None] | None = None) -> tuple[float, int]:
        """One epoch (0-based `epoch` seeds the shuffle); returns (mean loss, samples)."""
        batches = self._train_batches(reader, epoch)
        losses = []
        steps = self.steps_per_epoch(reader)
        bar = self._bar(steps, f"train epoch {epoch + 1}")
        for i in range(steps):  # exactly one epoch of the run's iterator
            batch = next(batches)
            losses.append(self._first_step(self._train_step, batch))
            raise_if_stopped()
            if i == 0 and "first_step_s" not in self.startup:
                self._log_startup()
            bar.update(1)
            if on_step is not None:
                on_step(i)
        bar.close()
        mean = float(np.mean([float(v) for v in losses])) if losses else float("nan")
        return mean, len(losses) * self.global_batch

    def _train_batches(self, reader: SampleReader, epoch: int):
        """The run's one training iterator, at the start of `epoch`.

        Made once and kept from epoch to epoch (its dataset holds the epochs one after the
        other): tearing down an iterator per epoch often waited 3 to 3.5 s for tf.data's
        threads, so that 7 s demo epochs took 10.35 s (docs/BENCH.md). Made again only for
        another reader or an epoch out of sequence (a resumed run starts at its epoch)."""
        at = self._train_at
        if self._train_iter is None or at is None or at[0] is not reader or at[1] != epoch:
            self._train_iter = None  # the old one goes first
            count = (self.epochs - epoch) if self.epochs else UNBOUNDED_EPOCHS
            dist = self.strategy.distribute_datasets_from_function(
                lambda ctx: pipeline.train_dataset(
                    reader, epoch, self._opts(ctx, self.per_replica_batch), epochs=max(1, count)))
            if self._train_step is None:
                self._train_step, self.startup["train_trace_s"] = trace_once(
                    self._distributed_train_step, dist.element_spec)
            self._train_iter = iter(dist)
        self._train_at = (reader, epoch + 1)
        return self._train_iter

    def _bar(self, steps: int, desc: str):
        """A bar on a terminal, rate/ETA lines in a batch job's log (chief only)."""
        return progress_bar(steps, desc, "step", enabled=None if self.progress else False,
                            leave=False)

    def _log_startup(self) -> None:
        self.startup["first_step_s"] = float(self._first_step.seconds or 0.0)
        if self.info.is_chief:
            print(f"ornl: training step traced in {self.startup['train_trace_s']:.1f} s (once); "
                  f"first step {self.startup['first_step_s']:.1f} s", flush=True)

    # -- evaluation ------------------------------------------------------------------
    def _eval_logits(self, stacks):
        return self.hooks.eval_forward(self.model, stacks)

    def _replica_eval(self, indices, stacks, labels):
        # a worker whose shard ran out gets empty batches (MultiWorkerMirroredStrategy keeps
        # workers in step without padding): skip the forward pass for them
        logits = tf.cond(
            tf.shape(stacks)[0] > 0,
            lambda: self._forward(stacks),
            lambda: self.hooks.empty_outputs(stacks),
        )
        preds = self.hooks.predict(logits)
        return self.hooks.state_update(labels, preds), indices, labels, preds

    def _distributed_eval_step(self, batch):
        counts, indices, labels, preds = self.strategy.run(self._replica_eval, args=batch)
        return self.strategy.reduce(SUM, counts, axis=None), indices, labels, preds

    # -- BatchNorm statistics -------------------------------------------------------------
    def _statistics(self) -> list:
        """The non-trainable float variables: BatchNorm's moving means and variances."""
        return [v for v in self.model.non_trainable_variables if v.dtype in ("float16", "bfloat16", "float32", "float64")]

    def _distributed_sync_statistics(self):
        def replica_fn():
            stats = self._statistics()
            local = [tf.identity(v.value) for v in stats]  # this replica's copies, as tensors
            means = tf.distribute.get_replica_context().all_reduce(MEAN, local)
            for var, mean in zip(stats, means, strict=True):
                var.assign(mean)

        self.strategy.run(replica_fn)

    def sync_statistics(self) -> None:
        """Every replica's BatchNorm moving statistics become their mean over all replicas.

        Keras updates them per replica (aggregation NONE: only the local copy), so workers
        that saw different shards hold different statistics, and a checkpoint keeps only the
        chief's. Synchronised before each evaluation, every worker scores the very model the
        checkpoint saves: a single-process `stemdl evaluate` then gives the same F1 (found by
        `make slurm-smoke`). A no-op with one replica.
        """
        if self.strategy.num_replicas_in_sync > 1 and self._statistics():
            self._sync_step()

    def evaluate(self, reader: SampleReader, keep_predictions: bool = False) -> EvalOutput:
        """The task's outputs (classification: logits averaged over the 3 patterns); the
        metric's state summed over all replicas/workers.

        The replicas' BatchNorm statistics are synchronised first (`sync_statistics`)."""
        self.sync_statistics()
        dist = self.strategy.distribute_datasets_from_function(
            lambda ctx: pipeline.eval_dataset(reader, self._opts(ctx, self.eval_batch))
        )
        if self._eval_step is None:  # batch dimension None: the short last batch reuses it
            self._eval_step, self.startup["eval_trace_s"] = trace_once(
                self._distributed_eval_step, dist.element_spec)
        total = np.zeros(self.hooks.state_size, self.hooks.state_dtype)
        kept: list[list[np.ndarray]] = [[], [], []]
        local = self.strategy.experimental_local_results
        steps = math.ceil(len(reader) / (self.eval_batch * self.strategy.num_replicas_in_sync))
        bar = self._bar(steps, "evaluate")
        for batch in pipeline.one_pass(dist):  # its teardown out of the way
            counts, indices, labels, preds = self._eval_step(batch)
            total += counts.numpy()
            raise_if_stopped()
            bar.update(1)
            if keep_predictions:
                for store, value in zip(kept, (indices, labels, preds), strict=True):
                    store.extend(np.asarray(v).reshape(-1, *np.shape(v)[1:]) for v in local(value))
        bar.close()
        out = EvalOutput(self.hooks.metric(total))
        if keep_predictions and kept[0]:
            out.indices, out.labels, out.preds = (self.hooks.host_view(np.concatenate(k))
                                                  for k in kept)
        return out

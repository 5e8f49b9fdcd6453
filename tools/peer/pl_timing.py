"""A Lightning callback that records wall-clock times of the training loop (peer measurements).

Works with pytorch_lightning 1.9 and 2.x. It records perf_counter at every training batch
start/end, epoch start/end and validation start/end, and writes them to the JSON file named
by $PEER_TIMING_JSON when training ends (and after every epoch, so a crash keeps them).

`install()` patches pytorch_lightning.Trainer so that every Trainer built afterwards gets
this callback appended to its callbacks (it changes nothing else).
"""
from __future__ import annotations

import json
import os
import time

import pytorch_lightning as pl


class LoopTimer(pl.Callback):
    def __init__(self, path: str | None = None):
        self.path = path or os.environ.get("PEER_TIMING_JSON")
        self.rec = {"batch_start": [], "batch_end": [], "batch_size": [], "epoch_start": [],
                    "epoch_end": [], "val_start": [], "val_end": [], "fit_start": None,
                    "fit_end": None,
                    "_clock": [time.perf_counter(), time.time()]}

    def _t(self):
        return time.perf_counter()

    def on_fit_start(self, trainer, pl_module):
        self.rec["fit_start"] = self._t()

    def on_fit_end(self, trainer, pl_module):
        self.rec["fit_end"] = self._t()
        self._dump()

    def on_train_epoch_start(self, trainer, pl_module):
        self.rec["epoch_start"].append(self._t())

    def on_train_epoch_end(self, trainer, pl_module):
        self.rec["epoch_end"].append(self._t())
        self._dump()

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx, *args):
        self.rec["batch_start"].append(self._t())
        try:
            self.rec["batch_size"].append(int(len(batch[1])))
        except Exception:
            self.rec["batch_size"].append(None)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, *args):
        self.rec["batch_end"].append(self._t())

    def on_validation_start(self, trainer, pl_module):
        self.rec["val_start"].append(self._t())

    def on_validation_end(self, trainer, pl_module):
        self.rec["val_end"].append(self._t())

    def _dump(self):
        if self.path and getattr(self, "_rank0", True):
            with open(self.path, "w") as fh:
                json.dump(self.rec, fh)


def install(extra_kwargs=None):
    """Patch pl.Trainer: append LoopTimer to callbacks; apply `extra_kwargs(kwargs)` if given."""
    base = pl.Trainer

    class TimedTrainer(base):
        def __init__(self, *args, **kwargs):
            if extra_kwargs is not None:
                kwargs = extra_kwargs(dict(kwargs))
            cbs = list(kwargs.get("callbacks") or [])
            cbs.append(LoopTimer())
            kwargs["callbacks"] = cbs
            super().__init__(*args, **kwargs)

    pl.Trainer = TimedTrainer
    pl.trainer.Trainer = TimedTrainer
    return TimedTrainer

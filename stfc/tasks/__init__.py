"""The PyTorch half of each task: the hooks the task-neutral Lightning runtime calls.

One module per task (`classify.py`, `density.py`), each defining `HOOKS`; `hooks(name)` imports it on
first use. A task's hooks build its model and loss, keep its evaluation state on the
device (one vector that ranks all-reduce: the task's `Metric.state`), and predict.
"""

from __future__ import annotations

import importlib
from typing import Any

from stemdl.common.task import get_task

HOOK_MODULES = {"classify": "stemdl.stfc.tasks.classify", "density": "stemdl.stfc.tasks.density"}


def hooks(name: str) -> Any:
    """The torch hooks of task `name` (a one-line error for an unknown task)."""
    task = get_task(name)  # the name's check
    return importlib.import_module(HOOK_MODULES[task.name]).HOOKS

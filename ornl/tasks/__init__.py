"""The TensorFlow half of each task: the hooks the task-neutral ORNL loop calls.

One module per task (`classify.py`, `density.py`), each defining `HOOKS`; `hooks(name)` imports it on
first use. A task's hooks build its Keras model, give its per-example loss, predict, and
turn a batch into the increment of the task's metric state (one vector the replicas sum).
"""

from __future__ import annotations

import importlib
from typing import Any

from stemdl.common.task import get_task

HOOK_MODULES = {"classify": "stemdl.ornl.tasks.classify", "density": "stemdl.ornl.tasks.density"}


def hooks(name: str) -> Any:
    """The Keras hooks of task `name` (a one-line error for an unknown task)."""
    task = get_task(name)
    return importlib.import_module(HOOK_MODULES[task.name]).HOOKS

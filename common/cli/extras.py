"""Optional extras: a missing one gives the install line, never a traceback.

`stemdl-bench` installs without frameworks; `sim`, `stfc` and `ornl`/`ornl-cpu` add them.
Commands check the modules they need before any work starts (`require`), and `run_main`
turns a late `ModuleNotFoundError` of a known module into the same line (`install_hint`).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable

from stemdl.common.cli.errors import StemdlError

# top-level module -> the extra that installs it
EXTRA_OF = {
    "abtem": "sim", "pyxtal": "sim", "spglib": "sim", "ase": "sim",
    "torch": "stfc", "pytorch_lightning": "stfc", "lightning_fabric": "stfc",
    "torchmetrics": "stfc",
    "tensorflow": "ornl-cpu", "keras": "ornl-cpu",
}
# what each extra means to a user (GPU machines take `ornl`, the CUDA TensorFlow)
EXTRA_NOTE = {"ornl-cpu": " (or 'stemdl-bench[ornl]' on a GPU machine)"}


class MissingExtra(StemdlError):
    """A module of an optional extra is not installed."""


def _missing(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is None
    except (ImportError, ValueError):  # a parent package missing, or a broken __spec__
        return True


def hint(command: str, module: str) -> MissingExtra:
    """The one-line error for `command` needing `module` of an extra."""
    extra = EXTRA_OF.get(module.split(".")[0], "")
    install = f"pip install 'stemdl-bench[{extra}]'{EXTRA_NOTE.get(extra, '')}" if extra else (
        f"pip install {module.split('.')[0]}")
    return MissingExtra(f"`{command}` needs {module.split('.')[0]}, which is not installed: "
                        f"{install}")


def require(command: str, modules: Iterable[str]) -> None:
    """Raise the install hint for the first of `modules` that is not installed (cheap: the
    modules are found, not imported)."""
    for module in modules:
        if _missing(module):
            raise hint(command, module)


def install_hint(err: ModuleNotFoundError, command: str = "stemdl") -> MissingExtra | None:
    """The install hint for a `ModuleNotFoundError` of a known extra's module, else None."""
    name = (err.name or "").split(".")[0]
    return hint(command, name) if name in EXTRA_OF else None

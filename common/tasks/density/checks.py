"""The density task's split checks: the split must carry target maps made by preprocessing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stemdl.common.cli.errors import DataError


def check_split(reader: Any, where: str | Path | None, min_classes: int | None = None) -> None:
    """One-line errors for a split without target maps (classification-only data, or raw
    data whose potentials preprocessing has not yet made into targets)."""
    kind = reader.target_kind()
    if kind == "raw":
        raise DataError(f"{where}: the density task trains on preprocessed data; run "
                        f"`stemdl preprocess {where} OUT` (it makes the target maps of the "
                        "potentials) and train on OUT")
    if kind is None:
        raise DataError(f"{where}: the {reader.split} split holds no target maps (the density "
                        "task needs data simulated by `stemdl simulate` and preprocessed)")

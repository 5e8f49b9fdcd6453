"""Configuration fields both implementations share; each recipe subclasses it.

Defaults are the closed-division recipe's; anything changed from them makes the run
open division (see `closed_division_violations`).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

from stemdl.common.config import build, parse_overrides, read_yaml
from stemdl.common.errors import StemdlError
from stemdl.common.workload import TARGET_F1

C = TypeVar("C", bound="BaseRunConfig")
PATH_KEYS = ("data_dir", "train_dir", "val_dir", "test_dir", "inference_dir", "run_dir")

RUN_MODES = ("epochs", "target")
DIVISIONS = ("closed", "open")
SUBMISSION_STATUSES = ("onprem", "cloud", "preview", "research")


@dataclass
class BaseRunConfig:
    """Shared run settings. Paths may be None where a phase is not run."""

    data_dir: str | None = None  # a folder holding the splits; the *_dir keys override it
    train_dir: str | None = None
    val_dir: str | None = None
    test_dir: str | None = None
    inference_dir: str | None = None
    run_dir: str | None = None  # output folder (log, results.json, checkpoint, TensorBoard)
    epochs: int = 10
    mode: str = "epochs"  # "epochs": fixed epochs; "target": stop when val macro F1 >= target_f1
    target_f1: float = TARGET_F1
    seed: int = 1234
    resnet: int = 50
    batch_size: int = 32  # per process / replica
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    num_workers: int = 2
    num_threads: int | None = None  # compute threads per process; None = fit the cores (common/threads.py)
    precision: str = "32"
    nodes: int = 1
    devices: int | None = None  # per node; None = all visible accelerators (1 process on CPU)
    accelerator: str = "auto"  # auto, cpu, gpu
    organisation: str = "stemdl-bench"
    division: str = "closed"
    status: str = "onprem"
    platform: str | None = None  # None = hostname
    resume: bool = False

    def validate(self) -> None:
        """Raise a one-line StemdlError for values that can never work."""
        if self.mode not in RUN_MODES:
            raise StemdlError(f"config key 'mode': '{self.mode}' is not one of {', '.join(RUN_MODES)}")
        if self.division not in DIVISIONS:
            raise StemdlError(
                f"config key 'division': '{self.division}' is not one of {', '.join(DIVISIONS)}"
            )
        if self.status not in SUBMISSION_STATUSES:
            raise StemdlError(
                f"config key 'status': '{self.status}' is not one of {', '.join(SUBMISSION_STATUSES)}"
            )
        for key in ("epochs", "batch_size", "nodes"):
            if getattr(self, key) < 1:
                raise StemdlError(f"config key '{key}': must be >= 1, got {getattr(self, key)}")
        if self.devices is not None and self.devices < 1:
            raise StemdlError(f"config key 'devices': must be >= 1, got {self.devices}")
        if self.num_workers < 0:
            raise StemdlError(f"config key 'num_workers': must be >= 0, got {self.num_workers}")
        if self.num_threads is not None and self.num_threads < 1:
            raise StemdlError(f"config key 'num_threads': must be >= 1, got {self.num_threads}")
        if not 0.0 < self.target_f1 <= 1.0:
            raise StemdlError(f"config key 'target_f1': must be in (0, 1], got {self.target_f1}")
        if self.learning_rate <= 0:
            raise StemdlError(f"config key 'learning_rate': must be > 0, got {self.learning_rate}")

    def split_dir(self, split: str) -> Path | None:
        """The folder of `split` (train/val/test/inference): its *_dir key, else data_dir."""
        explicit = getattr(self, f"{split}_dir")
        if explicit:
            return Path(explicit)
        return Path(self.data_dir) if self.data_dir else None


def closed_division_violations(config: object, recipe: object) -> list[str]:
    """`key: value != recipe value` for every recipe field the config changes."""
    recipe_fields = {f.name for f in fields(recipe)}  # type: ignore[arg-type]
    out = []
    for f in fields(config):  # type: ignore[arg-type]
        if f.name in recipe_fields and f.name != "name":
            have, want = getattr(config, f.name), getattr(recipe, f.name)
            if have != want:
                out.append(f"{f.name}: {have!r} != {want!r}")
    return out


def normalise_upstream(values: dict[str, Any]) -> dict[str, Any]:
    """Accept upstream spellings: `resnet: resnet50` -> 50; a division that is not an MLPerf
    one (SciML-Bench's `SciML`) -> `open`, with a note on stderr."""
    values = dict(values)
    resnet = values.get("resnet")
    if isinstance(resnet, str):
        match = re.fullmatch(r"\s*resnet[-_]?(\d+)\s*", resnet, flags=re.IGNORECASE)
        if match:
            values["resnet"] = int(match.group(1))
    division = values.get("division")
    if isinstance(division, str):
        if division.lower() in DIVISIONS:
            values["division"] = division.lower()
        else:
            print(f"stemdl: note: division '{division}' is not an MLPerf division "
                  f"({' or '.join(DIVISIONS)}); the run is logged as open", file=sys.stderr)
            values["division"] = "open"
    return values


def settle_division(config: BaseRunConfig, recipe: object, explicit: bool) -> None:
    """A closed-division config that changes the recipe: an error if `division: closed` was
    asked for explicitly, else the run becomes open division, with a note on stderr."""
    if config.division != "closed":
        return
    changed = closed_division_violations(config, recipe)
    if not changed:
        return
    name = getattr(recipe, "name", "reference")
    if explicit:
        raise StemdlError(
            f"closed division runs the {name.upper()} recipe unchanged ({'; '.join(changed)}): "
            "set division=open"
        )
    print(f"stemdl: note: open division (changed from the {name.upper()} recipe: "
          f"{'; '.join(changed)})", file=sys.stderr)
    config.division = "open"


def run_config_from_values(
    schema: type[C],
    values: Mapping[str, Any],
    aliases: Mapping[str, str] | None = None,
    recipe: object | None = None,
) -> C:
    """A checked run config from raw key/values: upstream spellings accepted, `~` expanded in
    paths, the division settled against `recipe`, values validated."""
    values = normalise_upstream(dict(values))
    config = build(schema, values, aliases)
    for key in PATH_KEYS:
        value = getattr(config, key)
        if value:
            setattr(config, key, str(Path(value).expanduser()))
    if recipe is not None:
        settle_division(config, recipe, explicit="division" in values)
    config.validate()
    return config


def load_run_config(
    schema: type[C],
    path: str | os.PathLike[str] | None,
    overrides: Iterable[str] = (),
    aliases: Mapping[str, str] | None = None,
    recipe: object | None = None,
    flags: Mapping[str, Any] | None = None,
) -> C:
    """Defaults < the YAML file (ours or upstream's) < `key=value` overrides < `flags`."""
    values: dict[str, Any] = read_yaml(path) if path else {}
    values.update(parse_overrides(overrides))
    values.update(flags or {})
    return run_config_from_values(schema, values, aliases, recipe)

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
from typing import Any, ClassVar, TypeVar

from stemdl.common.cli.errors import StemdlError, check_choice, closest
from stemdl.common.data.staging import DATA_SOURCES, parse_staging
from stemdl.common.modelspec import resnet_spec
from stemdl.common.run.bounds import check_workers
from stemdl.common.run.config import build, parse_overrides, read_yaml
from stemdl.common.run.numbers import check_numbers
from stemdl.common.run.rundir import default_run_dir
from stemdl.common.run.training import check_options
from stemdl.common.task import DEFAULT_TASK, Task, get_task, task_names

C = TypeVar("C", bound="BaseRunConfig")
PATH_KEYS = ("data_dir", "train_dir", "val_dir", "test_dir", "inference_dir", "run_dir")

RUN_MODES = ("epochs", "target")
ACCELERATORS = ("auto", "cpu", "gpu")
DIVISIONS = ("closed", "open")
UPSTREAM_DIVISIONS = ("sciml", "sciml-bench", "sciml_bench", "scimlbench")  # -> open, a note
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
    task: str = DEFAULT_TASK  # which STEMDL task (common/task.py); upstream configs: classify
    epochs: int = 10
    mode: str = "epochs"  # "epochs": fixed epochs; "target": stop when the primary metric reaches its target
    target_f1: float = get_task(DEFAULT_TASK).target  # classification's target (Task.target_key)
    target_nmse: float = get_task("density").target  # the density task's target
    seed: int = 1234
    resnet: int = 50  # classification's network
    unet_depth: int = 3  # the density task's network: pooling levels and base width
    unet_width: int = 16
    density_net: str = "unet"  # or fcdensenet (ORNL's GPU network) of fcd_growth, fcd_kernel
    fcd_growth: int = 256
    fcd_kernel: int = 5
    batch_size: int = 32  # per process / replica
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    num_workers: int = 2
    num_threads: int | None = None  # compute threads per process; None = fit the cores (common/run/threads.py)
    precision: str = "32"
    nodes: int = 1
    devices: int | None = None  # per node; None = all visible accelerators (1 process on CPU); 0 = CPU
    accelerator: str = "auto"  # auto, cpu, gpu
    eval_batch_size: int | None = None  # per process / replica; None = batch_size
    train_samples: int | None = None  # a seeded random subset of this many training samples
    eval_samples: int | None = None  # a seeded random subset of this many validation samples
    min_classes: int | None = None  # error if the (subset of the) training split holds fewer
    save_predictions: bool = False  # each rank writes its last validation predictions (npz)
    deterministic: bool = False  # deterministic kernels (slower)
    organisation: str = "stemdl-bench"
    division: str = "closed"
    status: str = "onprem"
    platform: str | None = None  # None = hostname
    submitter_user: str | None = None  # the Science working group's `user` (logged when given)
    submitter_email: str | None = None  # its `e-mail`
    resume: bool = False
    data_source: str = "files"  # or synthetic: random stacks of the workload's shapes (timing only;
    # not `data`, which is ORNL upstream's spelling of data_dir)
    staging: str = "none"  # memory, local:DIR or device: copy the data there first (timed)

    # the settings a resumed run must share with the run that wrote its checkpoint
    RESUME_FIELDS: ClassVar[tuple[str, ...]] = (
        "task", "resnet", "unet_depth", "unet_width", "density_net", "fcd_growth", "fcd_kernel",
        "batch_size", "learning_rate", "weight_decay", "seed", "precision",
        "train_samples", "nodes", "devices", "input_norm", "lr_schedule", "label_smoothing")

    # output files a config may name (upstream's log_file, mlperf_logfile, model_file):
    # relative to the run folder unless the config names them and gives no run_dir
    OUTPUT_KEYS: ClassVar[tuple[str, ...]] = ()
    IMPL: ClassVar[str] = ""  # the implementation whose recipe the defaults are ("stfc", "ornl")

    def outputs_outside(self, run_dir: str | Path) -> dict[str, Path]:
        """The output files (key -> path) that do not go into `run_dir`."""
        out = {}
        for key in self.OUTPUT_KEYS:
            path = Path(run_dir) / getattr(self, key)
            if not path.resolve().is_relative_to(Path(run_dir).resolve()):
                out[key] = path
        return out

    def fingerprint(self) -> dict[str, Any]:
        """This run's values of RESUME_FIELDS (a checkpoint records them; common.run.runpolicy);
        the other task's network keys are left out (they have no effect)."""
        other = {key for name in task_names() for key in get_task(name).network_keys
                 } - set(self.task_spec.network_keys)
        return {k: getattr(self, k) for k in self.RESUME_FIELDS
                if hasattr(self, k) and k not in other}

    @property
    def recipe(self) -> Any:
        """The closed-division recipe of this run's task for this implementation."""
        return self.task_spec.recipes[self.IMPL]

    def model_spec(self, image_size: int) -> Any:
        """The task's network for images of `image_size` px (one-line errors: a U-Net depth
        that does not divide the size)."""
        return self.task_spec.model_spec(self, int(image_size))

    def validate(self) -> None:
        """Raise a one-line StemdlError for values that can never work."""
        check_choice("config key 'task'", self.task, task_names())
        check_choice("config key 'mode'", self.mode, RUN_MODES)
        check_choice("config key 'division'", self.division, DIVISIONS)
        check_choice("config key 'status'", self.status, SUBMISSION_STATUSES)
        check_choice("config key 'accelerator'", self.accelerator, ACCELERATORS)
        check_choice("config key 'data_source'", self.data_source, DATA_SOURCES)
        self.staging = str(parse_staging(self.staging))
        for key in ("epochs", "batch_size", "nodes"):
            if getattr(self, key) < 1:
                raise StemdlError(f"config key '{key}': must be >= 1, got {getattr(self, key)}")
        for key in ("eval_batch_size", "train_samples", "eval_samples", "min_classes"):
            value = getattr(self, key)
            if value is not None and value < 1:
                raise StemdlError(f"config key '{key}': must be >= 1, got {value}")
        check_workers("config key 'devices'", self.devices)
        check_workers("config key 'num_workers'", self.num_workers)
        if self.num_threads is not None and self.num_threads < 1:
            raise StemdlError(f"config key 'num_threads': must be >= 1, got {self.num_threads}")
        if self.submitter_email is not None and "@" not in str(self.submitter_email):
            raise StemdlError(f"config key 'submitter_email': '{self.submitter_email}' is not an "
                              "e-mail address")
        check_numbers(self)  # every number finite; learning_rate, weight_decay, ... in range
        resnet_spec(self.resnet)  # an unknown depth: one line before any framework starts
        if self.IMPL:
            check_options(self, self.recipe.losses)

    @property
    def task_spec(self) -> Task:
        """The run's task (its metric, target and checks)."""
        return get_task(self.task)

    @property
    def target(self) -> float:
        """The primary metric's target, from the task's own config key."""
        return float(getattr(self, self.task_spec.target_key))

    def settle_devices(self) -> None:
        """devices 0 means: train on the CPU (one process); the run logs 0 accelerators."""
        if self.devices == 0:
            if self.accelerator == "gpu":
                raise StemdlError("config key 'devices': 0 devices with accelerator=gpu; "
                                  "use devices >= 1, or accelerator=cpu")
            self.accelerator, self.devices = "cpu", None

    def resolved_run_dir(self, impl: str) -> Path:
        """run_dir, else the default run folder shared by all ranks of this launch."""
        if self.run_dir:
            return Path(self.run_dir).expanduser()
        return default_run_dir(impl)

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
    """Accept upstream spellings: `resnet: resnet50` -> 50; SciML-Bench's division (`SciML`,
    `SciML-Bench`), which is not an MLPerf one, -> `open`, with a note on stderr. Any other
    division (a typo such as `closd`) is a one-line error, never a silent open run."""
    values = dict(values)
    resnet = values.get("resnet")
    if isinstance(resnet, str):
        match = re.fullmatch(r"\s*resnet[-_]?(\d+)\s*", resnet, flags=re.IGNORECASE)
        if match:
            values["resnet"] = int(match.group(1))
    division = values.get("division")
    if isinstance(division, str):
        spelled = division.strip().lower()
        if spelled in DIVISIONS:
            values["division"] = spelled
        elif spelled in UPSTREAM_DIVISIONS:
            print(f"stemdl: note: division '{division}' is not an MLPerf division "
                  f"({' or '.join(DIVISIONS)}); the run is logged as open", file=sys.stderr)
            values["division"] = "open"
        else:
            hint = closest(spelled, DIVISIONS)
            raise StemdlError(f"config key 'division': '{division}' is not closed or open "
                              "(SciML-Bench's 'SciML' is taken as open)"
                              + (f"; did you mean '{hint}'?" if hint else ""))
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


def task_recipe_defaults(schema: type, values: Mapping[str, Any],
                         aliases: Mapping[str, str] | None, recipe: object | None,
                         ) -> tuple[dict[str, Any], object | None]:
    """The values with the run's task's recipe filling every recipe key they do not set
    (the schema's defaults are classification's), and that recipe. `recipe` names the
    implementation (its `name`); the task is `values["task"]` (default classify)."""
    if recipe is None:
        return dict(values), None
    task = values.get("task", DEFAULT_TASK)
    if str(task) not in task_names():
        return dict(values), recipe  # validate() says what is wrong, in one line
    mine = get_task(str(task)).recipes.get(getattr(recipe, "name", ""), recipe)
    given = {(aliases or {}).get(k, k) for k in values}
    keys = {f.name for f in fields(schema)}
    filled = {f.name: getattr(mine, f.name) for f in fields(mine)  # type: ignore[arg-type]
              if f.name in keys and f.name not in given}
    return {**filled, **values}, mine


def run_config_from_values(
    schema: type[C],
    values: Mapping[str, Any],
    aliases: Mapping[str, str] | None = None,
    recipe: object | None = None,
) -> C:
    """A checked run config from raw key/values: upstream spellings accepted, `~` expanded in
    paths, the task's recipe as the defaults, the division settled against it, values
    validated."""
    values = normalise_upstream(dict(values))
    explicit_division = "division" in values
    values, recipe = task_recipe_defaults(schema, values, aliases, recipe)
    config = build(schema, values, aliases)
    for key in PATH_KEYS:
        value = getattr(config, key)
        if value:
            setattr(config, key, str(Path(value).expanduser()))
    config.validate()  # before the division note: a bad value is the only line shown
    place_named_outputs(config, {(aliases or {}).get(k, k) for k in values})
    if recipe is not None:
        settle_division(config, recipe, explicit=explicit_division)
    config.settle_devices()
    return config


def place_named_outputs(config: BaseRunConfig, named: set[str]) -> None:
    """Upstream wrote the files its config names (`log_file: ./stemdlLog`, `mlperf_logfile:
    ./mlperf_stemdl.log`, `model_file: ./stemdlModel.h5`) relative to the working folder,
    and a user's job script reads them there. So, in a config without run_dir, a file the
    config names with a folder (`./x`, `logs/x`, `/abs/x`, `~/x`) goes where it says (made
    absolute, for every rank); a bare file name (`mlperf.log`, as our configs give) and
    everything else stay in the run folder. With a run_dir, all are in the run folder."""
    if config.run_dir:
        return
    for key in config.OUTPUT_KEYS:
        value = str(getattr(config, key))
        if key in named and (os.sep in value or value.startswith("~")):
            setattr(config, key, os.path.abspath(os.path.expanduser(getattr(config, key))))


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

"""Hand-made STEMDL logs for the compliance tests: written by the real `MLPerfLogger`
in the order the implementations use, then optionally broken by editing lines (faults)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from stemdl.common.run.mllog import Keys, MLPerfLogger
from stemdl.common.tasks.classify import facts
from stemdl.common.tasks.classify import recipes as workload

TOKEN = ":::MLLOG "
Record = dict[str, Any]


def recipe_hyperparameters(recipe: str, replicas: int = 1) -> dict[str, Any]:
    """The closed-division hyperparameters of `recipe` for `replicas` replicas."""
    r = workload.RECIPES[recipe]
    lr = r.learning_rate * (replicas if getattr(r, "scale_lr_by_replicas", False) else 1)
    values = {
        Keys.GLOBAL_BATCH_SIZE: r.batch_size * replicas,
        Keys.OPT_NAME: r.optimizer,
        Keys.OPT_BASE_LR: lr,
        Keys.OPT_WEIGHT_DECAY: r.weight_decay,
    }
    if hasattr(r, "warmup_epochs"):
        values[Keys.OPT_LR_WARMUP_EPOCHS] = r.warmup_epochs
    return values


def write_log(
    path: Path,
    *,
    recipe: str = "stfc",
    division: str = "closed",
    replicas: int = 1,
    f1s: Iterable[float] = (0.4, 0.7, 0.95),
    reached: bool | None = None,
    hyper: Mapping[str, Any] | None = None,
    faults: Iterable[str] = (),
    seed: int = 1234,
) -> Path:
    """Write a log of one run with one eval per epoch (epoch_num 1, 2, ...), then apply faults.

    `reached` is what run_stop claims (default: whether some F1 reaches the target);
    `hyper` overrides or adds hyperparameter events.
    """
    f1s = list(f1s)
    if reached is None:
        reached = max(f1s) >= facts.TARGET_F1
    log = MLPerfLogger()
    log.configure(path)
    log.submission(org="stemdl-tests", division=division, status="onprem", platform="cpu-2core")
    log.event(Keys.CACHE_CLEAR, True)
    log.start(Keys.INIT_START)
    values = {
        Keys.SEED: seed,
        Keys.TRAIN_SAMPLES: 640,
        Keys.EVAL_SAMPLES: 64,
        **recipe_hyperparameters(recipe, replicas),
        Keys.NUMBER_OF_NODES: 1,
        Keys.ACCELERATORS_PER_NODE: replicas,
        Keys.RECIPE: recipe,
        Keys.MODEL_NAME: f"resnet{workload.RECIPES[recipe].resnet}",
        Keys.TARGET_F1: facts.TARGET_F1,
        **(hyper or {}),
    }
    log.hyperparameters(values)
    log.end(Keys.INIT_STOP)
    log.start(Keys.RUN_START)
    for epoch, f1 in enumerate(f1s, start=1):
        log.epoch_start(epoch)
        log.event(Keys.TRAIN_LOSS, 1.0 / epoch, metadata={Keys.EPOCH_NUM: epoch})
        log.epoch_stop(epoch)
        log.eval_start(epoch)
        log.eval_metrics(epoch, {"eval_macro_f1": f1, "eval_accuracy": min(1.0, f1 + 0.02)})
        log.eval_stop(epoch)
    log.run_stop(reached_target=reached)
    log.result({"metric": "macro_f1", "value": f1s[-1], "best": max(f1s),
                "target": facts.TARGET_F1, "reached_target": bool(reached),
                "time_to_train_min": 1.0, "epochs": len(f1s),
                "status": "success" if reached else "aborted",
                "definition": "macro F1 of the whole validation set"})
    log.close()
    if faults:
        records = read_records(path)
        for name in faults:
            records = FAULTS[name](records)
        write_records(path, records)
    return path


def read_records(path: Path) -> list[Record]:
    return [json.loads(line[len(TOKEN) :]) for line in path.read_text().splitlines()]


def write_records(path: Path, records: list[Record]) -> None:
    path.write_text("".join(f"{TOKEN}{json.dumps(r)}\n" for r in records))


def _index(records: list[Record], key: str, epoch: int | None = None) -> int:
    for i, r in enumerate(records):
        if r["key"] == key and (epoch is None or r["metadata"].get(Keys.EPOCH_NUM) == epoch):
            return i
    raise LookupError(f"no {key} (epoch {epoch}) in the log")


# -- faults: each takes the records and returns the broken records -------------------------
def _missing_run_stop(records: list[Record]) -> list[Record]:
    return [r for r in records if r["key"] != Keys.RUN_STOP]


def _two_run_starts(records: list[Record]) -> list[Record]:
    again = dict(records[_index(records, Keys.RUN_START)], time_ms=records[-1]["time_ms"])
    i = _index(records, Keys.EPOCH_START, epoch=2)
    return [*records[:i], again, *records[i:]]


def _eval_without_epoch_num(records: list[Record]) -> list[Record]:
    del records[_index(records, Keys.EVAL_START, epoch=2)]["metadata"][Keys.EPOCH_NUM]
    return records


def _f1_missing(records: list[Record]) -> list[Record]:
    del records[_index(records, Keys.EVAL_F1, epoch=2)]
    return records


def _epochs_out_of_order(records: list[Record]) -> list[Record]:
    swap = {2: 3, 3: 2}
    for r in records:
        epoch = r["metadata"].get(Keys.EPOCH_NUM)
        if epoch in swap:
            r["metadata"][Keys.EPOCH_NUM] = swap[epoch]
    return records


def _long_init(records: list[Record]) -> list[Record]:
    for r in records[_index(records, Keys.INIT_STOP) :]:
        r["time_ms"] += 31 * 60 * 1000
    return records


def _duplicated_lines(records: list[Record]) -> list[Record]:
    """What a logger with two file handlers writes: every line twice."""
    return [r for r in records for _ in range(2)]


def _other_benchmark(records: list[Record]) -> list[Record]:
    records[_index(records, Keys.SUBMISSION_BENCHMARK)]["value"] = "cosmoflow"
    return records


def _no_version(records: list[Record]) -> list[Record]:
    return [r for r in records if r["key"] != Keys.SUBMISSION_VERSION]


def _policy_spelling(records: list[Record]) -> list[Record]:
    """The policy's own spelling of the version key (not a fault: it must pass)."""
    records[_index(records, Keys.SUBMISSION_VERSION)]["key"] = "submissiom_version"
    return records


def _no_commit(records: list[Record]) -> list[Record]:
    return [r for r in records if r["key"] != Keys.SUBMISSION_COMMIT]


def _no_result(records: list[Record]) -> list[Record]:
    return [r for r in records if r["key"] != Keys.RESULT]


def _result_before_run_stop(records: list[Record]) -> list[Record]:
    result = records.pop(_index(records, Keys.RESULT))
    records.insert(_index(records, Keys.RUN_STOP), result)
    return records


def _result_not_described(records: list[Record]) -> list[Record]:
    records[_index(records, Keys.RESULT)]["value"] = 0.95
    return records


FAULTS: dict[str, Callable[[list[Record]], list[Record]]] = {
    "no_version": _no_version,
    "policy_spelling": _policy_spelling,
    "no_commit": _no_commit,
    "no_result": _no_result,
    "result_before_run_stop": _result_before_run_stop,
    "result_not_described": _result_not_described,
    "missing_run_stop": _missing_run_stop,
    "two_run_starts": _two_run_starts,
    "eval_without_epoch_num": _eval_without_epoch_num,
    "f1_missing": _f1_missing,
    "epochs_out_of_order": _epochs_out_of_order,
    "long_init": _long_init,
    "duplicated_lines": _duplicated_lines,
    "other_benchmark": _other_benchmark,
}

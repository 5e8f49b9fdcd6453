"""Timers, results.json round trip, and the run recorder's log and status."""

import json

import pytest

from stemdl.common.cli.errors import DataError
from stemdl.common.run.results import SCHEMA_VERSION, EpochRecord, RunResult
from stemdl.common.run.runrecorder import RunRecorder
from stemdl.common.run.timing import LatencyMeter, PhaseTimer, Throughput, TimeToTarget
from stemdl.common.task import get_task
from stemdl.common.tasks.classify.metric import ConfusionMatrix


def test_phase_timer_with_fake_clock_and_sync():
    ticks = iter([0.0, 2.0, 10.0, 13.0])
    synced = []
    timer = PhaseTimer(sync=lambda: synced.append(1), clock=lambda: next(ticks))
    with timer.phase("epoch"):
        pass
    timer.start("epoch")
    assert timer.stop("epoch") == 3.0
    assert timer.durations["epoch"] == [2.0, 3.0] and timer.total("epoch") == 5.0
    assert len(synced) == 4
    with pytest.raises(RuntimeError):
        timer.stop("epoch")


def test_meters():
    t = Throughput()
    t.add(100, 2.0)
    t.add(50, 1.0)
    assert t.per_second == 50.0
    ttt = TimeToTarget(0.9, run_start=100.0)
    assert not ttt.observe(1, 0.5, 110.0)
    assert ttt.observe(2, 0.95, 130.0) and not ttt.observe(3, 0.99, 140.0)
    assert ttt.seconds == 30.0 and ttt.reached_epoch == 2
    lat = LatencyMeter()
    lat.add(10, 1.0)
    lat.add(10, 3.0)
    s = lat.summary()
    assert s["samples"] == 20 and s["sample_latency_mean_s"] == 0.2 and s["samples_per_second"] == 5.0


def test_version_1_results_read_with_explicit_fields_not_recorded(tmp_path):
    """A results.json from before the explicit framework/device fields stays readable;
    nothing is guessed for them, and a rewrite is the current version."""
    data = RunResult(implementation="ornl", hardware={"devices": ["/device:CPU:0"]}).to_dict()
    for name in ("framework", "framework_version", "device", "device_count", "precision"):
        del data[name]
    data["schema_version"] = 1
    (tmp_path / "results.json").write_text(json.dumps(data))
    old = RunResult.read(tmp_path)
    assert (old.framework, old.device, old.device_count, old.precision) == (None,) * 4
    assert old.hardware == {"devices": ["/device:CPU:0"]}
    old.write(tmp_path)
    assert json.loads((tmp_path / "results.json").read_text())["schema_version"] == SCHEMA_VERSION == 3


def test_version_2_classification_results_read_as_schema_3(tmp_path):
    """A schema-2 file (classification's named fields) is read into the task-neutral
    fields: per-epoch metric dicts, best, test, detail, target; and written back as 3."""
    v2 = {"schema_version": 2, "implementation": "stfc", "target_f1": 0.9,
          "epochs": [{"epoch": 1, "train_loss": 2.0, "val_macro_f1": 0.3, "val_top1": 0.5},
                     {"epoch": 2, "train_loss": 1.0, "val_macro_f1": 0.6, "val_top1": 0.4}],
          "best_val_macro_f1": 0.6, "best_val_top1": 0.5, "test_macro_f1": 0.55,
          "test_top1": 0.7, "val_per_class_f1": {"3": 0.6},
          "val_confusion": {"num_classes": 231, "entries": [[3, 3, 2]]}}
    (tmp_path / "results.json").write_text(json.dumps(v2))
    r = RunResult.read(tmp_path)
    assert (r.task, r.primary_metric, r.higher_is_better, r.target) == ("classify", "macro_f1", True, 0.9)
    assert [e.val for e in r.epochs] == [{"macro_f1": 0.3, "top1": 0.5}, {"macro_f1": 0.6, "top1": 0.4}]
    assert r.best_val == {"macro_f1": 0.6, "top1": 0.5} and r.best() == 0.6 and r.last("top1") == 0.4
    assert r.test == {"macro_f1": 0.55, "top1": 0.7} and r.test_value() == 0.55
    assert r.detail == {"per_class_f1": {"3": 0.6}, "confusion": v2["val_confusion"]}
    r.write(tmp_path)
    assert json.loads((tmp_path / "results.json").read_text())["schema_version"] == 3
    assert RunResult.read(tmp_path) == r


def test_results_round_trip_and_bad_files(tmp_path):
    r = RunResult(implementation="stfc", seed=3, framework="torch", framework_version="2.13.0",
                  device="cpu", device_count=2, precision="bf16-mixed")
    r.add_epoch(EpochRecord(epoch=1, val={"macro_f1": 0.2}, epoch_time_s=4.0))
    r.add_epoch(EpochRecord(epoch=2, val={"macro_f1": 0.5}, epoch_time_s=2.0))
    r.write(tmp_path)
    back = RunResult.read(tmp_path)
    assert back == r and back.best_val["macro_f1"] == 0.5 and back.mean_epoch_time_s == 3.0
    assert not list(tmp_path.glob("*.tmp-*"))
    data = json.loads((tmp_path / "results.json").read_text())
    data["schema_version"] = 99
    (tmp_path / "results.json").write_text(json.dumps(data))
    with pytest.raises(DataError, match="schema version 99 .* newer stemdl-bench"):
        RunResult.read(tmp_path)
    data["schema_version"] = None
    (tmp_path / "results.json").write_text(json.dumps(data))
    with pytest.raises(DataError, match="schema version None is not one"):
        RunResult.read(tmp_path)
    with pytest.raises(DataError, match="no such results file"):
        RunResult.read(tmp_path / "nowhere")


def _started(rec, hyperparameters=None):
    """A recorder through init and run_start, as a training loop drives it."""
    rec.init_start("org", rec.result.division, "onprem", "test")
    if hyperparameters:
        rec.hyperparameters(hyperparameters)
    rec.init_stop()
    rec.run_start()
    return rec


def _one_epoch(rec, epoch, confusion, loss=None):
    rec.epoch_start(epoch)
    rec.epoch_stop(epoch, samples=8, train_loss=loss)
    rec.eval_start(epoch)
    return rec.eval_stop(epoch, confusion)


def _run(run_dir, f1s, stop_at_target, resume=False, log_name="mlperf.log"):
    rec = _started(
        RunRecorder(run_dir, "stfc", task=get_task(), division="closed", target=0.9,
                    stop_at_target=stop_at_target, resume=resume, log_name=log_name),
        {"seed": 1, "global_batch_size": 4, "train_samples": 8, "eval_samples": 4},
    )
    start = len(rec.result.epochs) + 1
    for epoch, f1 in enumerate(f1s, start=start):
        cm = ConfusionMatrix().update([1, 2, 3, 4], [1, 2, 3, 4] if f1 else [2, 3, 4, 1])
        if _one_epoch(rec, epoch, cm, loss=1.0 / epoch):
            break
    status = rec.run_stop()
    return rec.finish(test={"macro_f1": 0.1}), status


def keys(path):
    return [json.loads(line[9:])["key"] for line in path.read_text().splitlines()]


def test_recorder_time_to_target_stops_and_says_success(tmp_path):
    result, status = _run(tmp_path, [0, 1, 1], stop_at_target=True)
    assert status == "success" and len(result.epochs) == 2 and result.reached_target
    assert result.time_to_target_s is not None and result.test["macro_f1"] == 0.1
    k = keys(tmp_path / "mlperf.log")
    assert k[:9] == ["submission_benchmark", "submission_org", "submission_division",
                     "submission_status", "submission_platform", "submission_version",
                     "submission_github_commit_version", "cache_clear", "init_start"]
    assert k.count("run_start") == 1 and k[-2:] == ["run_stop", "result"] and k.count("eval_macro_f1") == 2
    assert RunResult.read(tmp_path).status == "success"


def test_recorder_missed_target_is_aborted(tmp_path):
    result, status = _run(tmp_path, [0, 0], stop_at_target=False)
    assert status == "aborted" and result.time_to_target_s is None and len(result.epochs) == 2


def test_recorder_resume_appends_without_second_header(tmp_path):
    _run(tmp_path, [0], stop_at_target=False)  # ended with run_stop: a finished run resumed
    result, _ = _run(tmp_path, [0], stop_at_target=False, resume=True)
    assert [e.epoch for e in result.epochs] == [1, 2]
    k = keys(tmp_path / "mlperf.log")
    assert k.count("run_start") == 1 and k.count("init_start") == 1


def test_resume_after_kill_cuts_the_interrupted_epoch(tmp_path):
    """A kill during epoch 2 leaves epoch_start 2 in the log; the resumed run must not
    repeat it, and the log name is configurable."""
    rec = _started(RunRecorder(tmp_path, "stfc", task=get_task(), division="closed", target=0.9,
                               stop_at_target=False, log_name="custom.log"))
    _one_epoch(rec, 1, ConfusionMatrix().update([1, 2], [1, 2]))
    rec.epoch_start(2)  # killed here: no run_stop
    rec.logger.close()
    result, _ = _run(tmp_path, [0], stop_at_target=False, resume=True, log_name="custom.log")
    k = keys(tmp_path / "custom.log")
    assert k.count("epoch_start") == 2 and k.count("run_start") == 1 and k.count("run_stop") == 1
    assert [e.epoch for e in result.epochs] == [1, 2] and result.mlperf_log == "custom.log"


def test_a_resumed_runs_run_time_is_its_logs_run_start_to_run_stop(tmp_path):
    """results.json said only the resumed process's part (issue 26 item 9): 2.1 s where
    the log's run_start to run_stop spanned 6.2 s."""
    import time

    rec = _started(RunRecorder(tmp_path, "stfc", task=get_task(), division="closed", target=0.9,
                               stop_at_target=False))
    _one_epoch(rec, 1, ConfusionMatrix().update([1, 2], [1, 2]))
    rec.epoch_start(2)  # killed here: no run_stop
    rec.logger.close()
    time.sleep(0.3)  # the interruption
    result, _ = _run(tmp_path, [0], stop_at_target=False, resume=True)
    events = [json.loads(line[9:]) for line in (tmp_path / "mlperf.log").read_text().splitlines()]
    at = {e["key"]: e["time_ms"] for e in events if e["key"] in ("run_start", "run_stop")}
    span = (at["run_stop"] - at["run_start"]) / 1000
    assert span >= 0.3 and result.run_time_s == pytest.approx(span, abs=0.02)


def test_each_evaluation_prints_one_epoch_line(tmp_path):
    lines = []
    rec = _started(RunRecorder(tmp_path, "ornl", task=get_task(), division="open", target=0.9,
                               stop_at_target=False, echo=lines.append))
    _one_epoch(rec, 1, ConfusionMatrix().update([1, 2], [1, 2]), loss=1.5)
    assert len(lines) == 1
    assert lines[0].startswith("ornl epoch 1: train loss 1.5000, val macro F1 1.0000, top-1 1.0000")
    assert lines[0].endswith("target reached")
    silent = _started(RunRecorder(tmp_path / "r1", "ornl", task=get_task(), division="open", target=0.9,
                                  stop_at_target=False, rank=lambda: 1, echo=lines.append))
    _one_epoch(silent, 1, ConfusionMatrix().update([1], [1]))
    assert len(lines) == 1  # only rank 0 prints

"""results.json and the MLPerf log agree on how a run ended (issue 13 items 2, 3, 5):
whatever stops a run early inside `recorder.recording()` ends both as aborted."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from stemdl.common.infra.signals import Terminated
from stemdl.common.run.results import RunResult
from stemdl.common.run.runrecorder import RunRecorder, TrainingDiverged
from stemdl.common.task import get_task
from stemdl.common.tasks.classify.metric import ConfusionMatrix


def _recorder(run_dir: Path, resume: bool = False, resume_epoch: int | None = None) -> RunRecorder:
    rec = RunRecorder(run_dir, "stfc", task=get_task(), division="open", target=0.9, stop_at_target=False,
                      resume=resume, resume_epoch=resume_epoch, echo=lambda line: None)
    rec.init_start("org", "open", "onprem", "test")
    rec.init_stop()
    return rec


def _epoch(rec: RunRecorder, epoch: int, loss: float = 1.0) -> None:
    rec.epoch_start(epoch)
    rec.epoch_stop(epoch, samples=8, train_loss=loss)
    rec.eval_start(epoch)
    rec.eval_stop(epoch, ConfusionMatrix().update([1, 2], [1, 2]))


def _events(run_dir: Path) -> list[dict]:
    lines = (run_dir / "mlperf.log").read_text().splitlines()
    return [json.loads(line[len(":::MLLOG "):]) for line in lines]


def _run_stops(run_dir: Path) -> list[str]:
    return [e["metadata"]["status"] for e in _events(run_dir) if e["key"] == "run_stop"]


@pytest.mark.parametrize(("error", "reason"), [
    (Terminated(signal.SIGTERM), "stopped by SIGTERM"),
    (KeyboardInterrupt(), "interrupted (SIGINT)"),
    (KeyError("test"), "KeyError: 'test'"),
])
def test_a_stop_after_run_start_ends_both_as_aborted(tmp_path, error, reason) -> None:
    rec = _recorder(tmp_path)
    with pytest.raises(type(error)), rec.recording():
        rec.run_start()
        _epoch(rec, 1)
        rec.epoch_start(2)
        raise error
    result = RunResult.read(tmp_path)
    assert result.status == "aborted" and result.stop_reason == reason
    assert _run_stops(tmp_path) == ["aborted"]
    assert [e.epoch for e in result.epochs] == [1] and result.run_time_s is not None


def test_a_failure_after_run_stop_keeps_the_logged_status(tmp_path) -> None:
    """STFC once crashed in its test phase (KeyError 'test'): results.json stayed `running`
    while the log's run_stop said the run ended; now both say the same."""
    rec = _recorder(tmp_path)
    with pytest.raises(KeyError), rec.recording():
        rec.run_start()
        _epoch(rec, 1)
        logged = rec.run_stop()
        raise KeyError("test")
    result = RunResult.read(tmp_path)
    assert _run_stops(tmp_path) == [logged] == [result.status]
    assert result.stop_reason == "KeyError: 'test'"


def test_a_failure_before_run_start_writes_no_run_stop(tmp_path) -> None:
    rec = _recorder(tmp_path)
    with pytest.raises(RuntimeError), rec.recording():
        raise RuntimeError("set-up failed")
    assert _run_stops(tmp_path) == [] and not (tmp_path / "results.json").exists()


@pytest.mark.parametrize("loss", [float("nan"), float("inf")])
def test_a_nan_loss_stops_the_run_as_aborted(tmp_path, loss) -> None:
    rec = _recorder(tmp_path)
    with pytest.raises(TrainingDiverged) as err, rec.recording():
        rec.run_start()
        _epoch(rec, 1)
        _epoch(rec, 2, loss=loss)
    message = str(err.value)
    assert f"training loss is {loss} in epoch 2" in message and "\n" not in message
    assert err.value.exit_code == 1
    result = RunResult.read(tmp_path)
    assert result.status == "aborted" and result.stop_reason == message
    assert _run_stops(tmp_path) == ["aborted"]
    assert [e.epoch for e in result.epochs] == [1]  # no NaN reaches results.json


def test_a_resumed_run_drops_the_earlier_stop(tmp_path) -> None:
    rec = _recorder(tmp_path)
    with pytest.raises(Terminated), rec.recording():
        rec.run_start()
        _epoch(rec, 1)
        rec.epoch_start(2)
        raise Terminated(signal.SIGTERM)
    rec = _recorder(tmp_path, resume=True)
    with rec.recording():
        rec.run_start()
        _epoch(rec, 2)
        rec.run_stop()
        result = rec.finish()
    assert result.stop_reason is None and _run_stops(tmp_path) == [result.status]
    keys = [e["key"] for e in _events(tmp_path)]
    assert keys.count("run_start") == 1 and keys.count("run_stop") == 1 and keys[-2:] == ["run_stop", "result"]
    assert [e.epoch for e in RunResult.read(tmp_path).epochs] == [1, 2]


def test_stopped_between_evaluation_and_checkpoint_resumes_without_a_repeated_epoch(tmp_path):
    """Ctrl-C after epoch 2's evaluation was logged but before its checkpoint was saved:
    the resumed run trains epoch 2 again, so the log and results.json drop the first try."""
    rec = _recorder(tmp_path)
    with pytest.raises(KeyboardInterrupt), rec.recording():
        rec.run_start()
        _epoch(rec, 1, loss=2.0)
        _epoch(rec, 2, loss=1.0)
        raise KeyboardInterrupt  # before the checkpoint of epoch 2
    rec = _recorder(tmp_path, resume=True, resume_epoch=1)  # the checkpoint holds epoch 1
    with rec.recording():
        rec.run_start()
        _epoch(rec, 2, loss=0.5)
        rec.run_stop()
        result = rec.finish()
    starts = [e["metadata"]["epoch_num"] for e in _events(tmp_path) if e["key"] == "epoch_start"]
    assert starts == [1, 2]
    assert [(e.epoch, e.train_loss) for e in result.epochs] == [(1, 2.0), (2, 0.5)]
    assert _run_stops(tmp_path) == [result.status]

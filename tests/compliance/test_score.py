"""Time to train and the MLPerf combination of runs."""

from __future__ import annotations

import itertools

import pytest

from stemdl.common.cli.errors import StemdlError
from stemdl.compliance.score import olympic_mean, score_runs, time_to_train
from tests.compliance.logs import read_records, write_log, write_records

_SEEDS = itertools.count(100)


def timed_run(folder, minutes: float, **options):
    """A run folder whose run_stop comes `minutes` after run_start (a seed of its own)."""
    folder.mkdir()
    options.setdefault("seed", next(_SEEDS))
    log = write_log(folder / "mlperf.log", **options)
    records = read_records(log)
    start = next(r["time_ms"] for r in records if r["key"] == "run_start")
    after = False
    for r in records:
        after = after or r["key"] == "run_start"
        if after and r["key"] != "run_start":
            r["time_ms"] = max(r["time_ms"], start + 1)
        if r["key"] == "run_stop":
            r["time_ms"] = start + round(minutes * 60000)
    write_records(log, records)
    return folder


def test_olympic_mean_drops_fastest_and_slowest():
    minutes, method = olympic_mean([10.0, 1.0, 4.0, 6.0, 100.0])
    assert minutes == pytest.approx((4.0 + 6.0 + 10.0) / 3)
    assert "fastest and slowest dropped" in method
    assert olympic_mean([3.0, 1.0, 2.0])[0] == 2.0


def test_fewer_than_three_runs_give_a_marked_plain_mean():
    minutes, method = olympic_mean([2.0, 4.0])
    assert minutes == 3.0 and "not an MLPerf-style score" in method
    with pytest.raises(ValueError):
        olympic_mean([])


def test_time_to_train_is_run_start_to_run_stop(tmp_path):
    run = timed_run(tmp_path / "run", 12.5)
    assert time_to_train(run / "mlperf.log") == (pytest.approx(12.5), "success")
    broken = write_log(tmp_path / "x.log", faults=["missing_run_stop"])
    with pytest.raises(StemdlError, match="one run_start and one run_stop"):
        time_to_train(broken)


def test_score_refuses_failing_and_unconverged_runs(tmp_path):
    runs = [timed_run(tmp_path / f"ok{i}", m) for i, m in enumerate([30.0, 10.0, 20.0, 25.0])]
    runs.append(timed_run(tmp_path / "aborted", 5.0, f1s=(0.3, 0.5)))
    runs.append(timed_run(tmp_path / "noncompliant", 1.0, hyper={"opt_name": "sgd"}))
    score = score_runs(runs)
    assert score.minutes == pytest.approx((20.0 + 25.0) / 2)
    assert not score.all_accepted
    refused = {r.log.parent.name: r.refused for r in score.runs if not r.accepted}
    assert set(refused) == {"aborted", "noncompliant"}
    assert "did not reach the target" in refused["aborted"]
    assert "fails compliance" in refused["noncompliant"]


def test_score_of_all_refused_runs_is_none(tmp_path):
    score = score_runs([timed_run(tmp_path / "a", 5.0, f1s=(0.3,))])
    assert score.minutes is None and not score.all_accepted


def test_the_same_run_twice_is_refused(tmp_path, capsys):
    from stemdl.cli import main

    run = timed_run(tmp_path / "a", 3.0)
    copy = tmp_path / "b"
    copy.mkdir()
    (copy / "mlperf.log").write_bytes((run / "mlperf.log").read_bytes())
    for args in ([str(run), str(run)], [str(run), str(run / "mlperf.log")], [str(run), str(copy)]):
        with pytest.raises(StemdlError, match="a score needs distinct runs"):
            score_runs(args)
    assert main(["score", str(run), str(copy)]) == 2
    err = capsys.readouterr().err
    assert "distinct runs" in err and err.count("\n") == 1


@pytest.mark.parametrize("alter", ["crlf", "extra_newline", "reordered_metadata"])
def test_an_altered_copy_of_one_run_is_still_the_same_run(tmp_path, alter):
    """Identity is the log's content (run_start time, seed, platform), not its bytes: a
    copy with CRLF line endings or one more newline was scored as a second run."""
    run = timed_run(tmp_path / "a", 3.0)
    text = (run / "mlperf.log").read_text()
    if alter == "crlf":
        text = text.replace("\n", "\r\n")
    elif alter == "extra_newline":
        text += "\n"
    else:  # the same events with their JSON keys in another order
        import json

        lines = []
        for line in text.splitlines():
            head, _, body = line.partition(" ")
            event = json.loads(body)
            lines.append(f"{head} " + json.dumps(dict(reversed(list(event.items())))))
        text = "\n".join(lines) + "\n"
    copy = tmp_path / "b"
    copy.mkdir()
    (copy / "mlperf.log").write_bytes(text.encode())
    with pytest.raises(StemdlError, match="copies of one run"):
        score_runs([run, copy])


def test_two_runs_with_other_start_times_are_distinct(tmp_path):
    a = timed_run(tmp_path / "a", 3.0)
    b = timed_run(tmp_path / "b", 4.0)
    records = read_records(b / "mlperf.log")
    for r in records:  # started a second later (both logs could share a millisecond)
        r["time_ms"] += 1000
    write_records(b / "mlperf.log", records)
    assert score_runs([a, b]).minutes == pytest.approx(3.5)


def test_runs_that_share_a_seed_are_refused_and_named(tmp_path, capsys):
    """MLPerf forbids reusing a seed across the runs of a score (issue 23)."""
    from stemdl.cli import main

    a, b = timed_run(tmp_path / "a", 3.0, seed=7), timed_run(tmp_path / "b", 4.0, seed=8)
    c = timed_run(tmp_path / "c", 5.0, seed=7)
    records = read_records(c / "mlperf.log")
    for r in records:  # another run (started later), the same seed as a
        r["time_ms"] += 1000
    write_records(c / "mlperf.log", records)
    with pytest.raises(StemdlError, match="share seed 7") as err:
        score_runs([a, b, c])
    assert str(a / "mlperf.log") in str(err.value) and str(c / "mlperf.log") in str(err.value)
    assert main(["score", str(a), str(b), str(c)]) == 2
    assert "share seed 7" in capsys.readouterr().err

"""MLPerfLogger: rank 0 only, no duplicated lines when configured twice."""

import json

from stemdl.common.run.mllog import Keys, MLPerfLogger


def events(path):
    out = []
    for line in path.read_text().splitlines():
        assert line.startswith(":::MLLOG "), line
        out.append(json.loads(line[len(":::MLLOG ") :]))
    return out


def test_configure_twice_does_not_duplicate(tmp_path):
    log = MLPerfLogger()
    log.configure(tmp_path / "a.log")
    log.configure(tmp_path / "b.log")
    log.configure(tmp_path / "b.log")
    log.event(Keys.SEED, 7)
    log.close()
    assert (tmp_path / "a.log").read_text() == ""
    recs = events(tmp_path / "b.log")
    assert [(r["key"], r["value"]) for r in recs] == [("seed", 7)]


def test_two_loggers_in_one_process_stay_separate(tmp_path):
    a, b = MLPerfLogger(), MLPerfLogger()
    a.configure(tmp_path / "a.log")
    b.configure(tmp_path / "b.log")
    a.event(Keys.SEED, 1)
    b.event(Keys.SEED, 2)
    a.close()
    b.close()
    assert [r["value"] for r in events(tmp_path / "a.log")] == [1]
    assert [r["value"] for r in events(tmp_path / "b.log")] == [2]


def test_only_rank_zero_writes(tmp_path):
    log = MLPerfLogger(rank=lambda: 1)
    log.configure(tmp_path / "r1.log")
    log.event(Keys.SEED, 3)
    log.close()
    assert not (tmp_path / "r1.log").exists()


def test_event_shapes_and_status(tmp_path):
    log = MLPerfLogger()
    log.configure(tmp_path / "x.log")
    log.submission("org", "closed", "onprem", "laptop")
    log.epoch_start(1)
    log.epoch_stop(1)
    log.eval_metrics(1, {"eval_macro_f1": 0.5, "eval_accuracy": 0.6})
    log.run_stop(reached_target=False)
    log.close()
    recs = events(tmp_path / "x.log")
    assert recs[0]["key"] == "submission_benchmark" and recs[0]["value"] == "stemdl"
    f1 = next(r for r in recs if r["key"] == Keys.EVAL_F1)
    assert f1["metadata"]["epoch_num"] == 1 and f1["value"] == 0.5
    assert recs[-1]["key"] == "run_stop" and recs[-1]["metadata"]["status"] == "aborted"
    assert recs[-1]["event_type"] == "INTERVAL_END"


def test_metadata_names_the_caller_not_the_wrapper(tmp_path):
    log = MLPerfLogger()
    log.configure(tmp_path / "c.log")
    log.event(Keys.SEED, 1)
    log.epoch_start(1)
    log.close()
    for rec in events(tmp_path / "c.log"):
        assert rec["metadata"]["file"].endswith("test_mllog.py")

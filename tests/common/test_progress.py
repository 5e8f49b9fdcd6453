"""Progress in a batch job's log: plain lines with rate and ETA, not tqdm redraws."""

import io

from stemdl.common.infra.progress import LineProgress, progress


def test_line_progress_prints_rate_and_eta_at_the_interval(monkeypatch):
    clock = iter([0.0, 5.0, 10.0, 20.0, 30.0])
    monkeypatch.setattr("stemdl.common.infra.progress.time.monotonic", lambda: next(clock))
    out = io.StringIO()
    bar = LineProgress(total=100, desc="simulate", unit="material", interval=9.0, file=out)
    bar.update(10)  # t=5: before the interval, nothing
    bar.set_postfix(failed=1)
    bar.update(10)  # t=10: a line
    bar.update(30)  # t=20: a line
    bar.close()  # t=30: a final line
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    assert "simulate: 20/100 materials" in lines[0] and "2 materials/s" in lines[0]
    assert "ETA 0:40" in lines[0] and "failed=1" in lines[0]
    assert "50/100" in lines[2] and "ETA 1:30" not in lines[2]


def test_no_terminal_means_lines_and_disabled_means_silence(capsys):
    bar = progress(3, "x", "sample")  # pytest's stderr is not a TTY
    assert isinstance(bar, LineProgress)
    quiet = progress(3, "x", "sample", enabled=False)
    quiet.update(3)
    quiet.close()
    assert capsys.readouterr().err == ""


def test_short_work_prints_nothing():
    out = io.StringIO()
    bar = LineProgress(total=5, desc="preprocess", unit="sample", interval=3600.0, file=out)
    bar.update(5)
    bar.close()
    assert out.getvalue() == ""

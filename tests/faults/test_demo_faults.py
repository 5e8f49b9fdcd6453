"""`stemdl demo` under faults (issue 13 items 1, 3, 6): two demos on one OUT, an OUT that
is a file, SIGTERM to the demo and Ctrl-C in its terminal leave no process behind."""

from __future__ import annotations

import os
import signal
import time

import pytest

from stemdl.cli import main
from stemdl.common.infra.lock import locked_folder
from tests.faults.procs import alive, descendants, stemdl, wait_for


def test_second_demo_on_the_same_out_is_refused(tmp_path, capsys):
    out = tmp_path / "demo"
    with locked_folder(out, "stemdl demo (first)"):
        code = main(["demo", "--out", str(out), "--preset", "tiny", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and "in use by another writer" in err
    assert "stemdl demo (first)" in err and f"pid {os.getpid()}" in err
    assert sorted(p.name for p in out.iterdir()) == []  # nothing started, the lock released


def test_out_that_is_a_file_is_a_usage_error(tmp_path, capsys):
    out = tmp_path / "demo"
    out.write_text("a file")
    code = main(["demo", "--out", str(out), "--preset", "tiny"])
    err = capsys.readouterr().err
    assert code == 2
    assert err == f"stemdl: error: {out}: exists and is not a folder (the --out must be a folder)\n"


@pytest.mark.slow
@pytest.mark.parametrize(("how", "code"), [("sigterm", 128 + signal.SIGTERM),
                                           ("ctrl-c", 128 + signal.SIGINT)])
def test_stopping_the_demo_leaves_no_process(tmp_path, how, code):
    pytest.importorskip("abtem", reason="the sim extra: pip install 'stemdl-bench[sim]'")
    out = tmp_path / "demo"
    demo = stemdl(["demo", "--out", str(out), "--preset", "tiny", "--impl", "stfc"],
                  start_new_session=True)  # its own process group, as a terminal's job
    # the simulate stage: its command and that command's worker processes
    wait_for(lambda: len(descendants(demo.pid)) >= 3, demo, 300, "the simulate stage's workers")
    time.sleep(1.0)
    family = descendants(demo.pid)
    if how == "sigterm":
        demo.send_signal(signal.SIGTERM)  # scancel, timeout, docker stop: the demo only
    else:
        os.killpg(demo.pid, signal.SIGINT)  # Ctrl-C reaches the whole foreground group
    out_text, err = demo.communicate(timeout=120)
    assert demo.returncode == code, err[-3000:]
    assert "Traceback" not in err
    deadline = time.monotonic() + 10
    while [p for p in family if alive(p)] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [p for p in family if alive(p)], "processes outlived `stemdl demo`"
    assert not (out / ".stemdl-lock").exists() and not (out / "raw" / ".stemdl-lock").exists()

"""A missing optional extra (sim, stfc, ornl) gives the install line, never a traceback;
a closed output pipe (`stemdl ... | head -1`) ends quietly."""

from __future__ import annotations

import subprocess
import sys

import pytest

from stemdl.common.cli.entry import run_main

# (module made unimportable, command, the extra the hint names)
CASES = [
    ("abtem", ["simulate", "{tmp}/out", "--preset", "tiny"], "sim"),
    ("pyxtal", ["simulate", "{tmp}/out", "--preset", "demo"], "sim"),
    ("torch", ["train", "stfc", "data_dir={tmp}"], "stfc"),
    ("pytorch_lightning", ["train", "stfc", "data_dir={tmp}"], "stfc"),
    ("tensorflow", ["train", "ornl", "--data-dir", "{tmp}"], "ornl-cpu"),
    ("tensorflow", ["evaluate", "ornl", "--run-dir", "{tmp}"], "ornl-cpu"),
]

# the module is made unimportable the way an uninstalled one is (import fails, spec is None)
BLOCK = ("import sys; sys.modules[{module!r}] = None\n"
         "from stemdl.cli import main\nraise SystemExit(main({argv!r}))\n")


@pytest.mark.parametrize("module,argv,extra", CASES, ids=[f"{c[0]}-{c[1][0]}" for c in CASES])
def test_missing_extra_gives_the_install_line(tmp_path, module, argv, extra):
    argv = [a.format(tmp=tmp_path) for a in argv]
    proc = subprocess.run([sys.executable, "-c", BLOCK.format(module=module, argv=argv)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"stemdl: error: `stemdl {' '.join(argv[:2 - (argv[0] == 'simulate')])}` "
                               f"needs {module}, which is not installed")
    assert f"pip install 'stemdl-bench[{extra}]'" in lines[0]
    assert not (tmp_path / "out").exists()  # nothing started


def test_late_import_failure_of_an_extra_is_the_install_line(capsys):
    """An import deep in a run (e.g. `python -m stemdl.stfc.train`, which skips the CLI's
    check) still gives the one line."""

    def run() -> int:
        raise ModuleNotFoundError("No module named 'torch'", name="torch")

    assert run_main(run) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["stemdl: error: `stemdl` needs torch, which is not installed: "
                   "pip install 'stemdl-bench[stfc]'"]

    def other() -> int:
        raise ModuleNotFoundError("No module named 'nosuch'", name="nosuch")

    with pytest.raises(ModuleNotFoundError):  # not an extra's module: a real bug, shown
        run_main(other)


def test_help_needs_no_framework():
    code = ("import sys; sys.modules['torch'] = None\nfrom stemdl.cli import main\n"
            "raise SystemExit(main(['train', 'stfc', '--help']))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0 and "usage: stemdl train stfc" in proc.stdout


def test_closed_pipe_exits_quietly(tmp_path):
    """`stemdl inspect DIR | head -1`: the reader leaves; exit 0, no 'Broken pipe'."""
    from tests.data.fixtures import write_raw_folder

    write_raw_folder(tmp_path / "raw", size=8)
    # the shell pipeline itself, with a reader that leaves at once (as head does when done)
    proc = subprocess.run(
        f"set -o pipefail; {sys.executable} -m stemdl inspect {tmp_path / 'raw'} | head -c0",
        shell=True, executable="/bin/bash", capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Broken pipe" not in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stderr == ""

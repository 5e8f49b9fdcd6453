"""The working group's submission folder (issue 23): five tiny runs of each implementation,
packaged by `stemdl package` and passed by `stemdl check-package`; five faulty packages
that each fail with their own reason; the bad inputs that `stemdl package` refuses."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from stemdl.common.run.identity import JOB_SCRIPT_ENV, JOB_SCRIPT_FILE
from stemdl.compliance.package import APPLICATION, MARKER, MIN_RUNS
from tests.contract.conftest import EXTRA, FRAMEWORK, train_args

pytestmark = pytest.mark.slow
SEEDS = (11, 12, 13, 14, 15)
ORG, SYSTEM = "stemdl-tests", "ci-2core"


@pytest.fixture(scope="module", params=["stfc", "ornl"])
def five_runs(request, contract_data, tmp_path_factory) -> tuple[str, list[Path]]:
    """Five one-epoch classification runs of one implementation, seeds 11..15."""
    impl = request.param
    pytest.importorskip(FRAMEWORK[impl], reason=f"the {impl} extra: pip install "
                        f"'stemdl-bench[{EXTRA[impl]}]' (make test installs it)")
    root = tmp_path_factory.mktemp(f"package-{impl}")
    runs = []
    from stemdl import cli

    script = root / "job.sbatch"
    script.write_text("#!/bin/bash\n#SBATCH --nodes=1\nstemdl train ...\n")
    for seed in SEEDS:
        run_dir = root / f"seed{seed}"
        if seed == SEEDS[0]:  # the first run was started by a job script the templates name
            os.environ[JOB_SCRIPT_ENV] = str(script)
        try:
            assert cli.main(train_args("classify", impl, contract_data, run_dir, f"seed={seed}")) == 0
        finally:
            os.environ.pop(JOB_SCRIPT_ENV, None)
        runs.append(run_dir)
    return impl, runs


@pytest.fixture(scope="module")
def package(five_runs, tmp_path_factory) -> tuple[str, Path, Path]:
    """(implementation, the --out folder, the descriptor folder) of the five runs."""
    from stemdl import cli

    impl, runs = five_runs
    out = tmp_path_factory.mktemp(f"pkg-{impl}") / "submission"
    assert cli.main(["package", *map(str, runs), "--out", str(out), "--org", ORG,
                     "--system", SYSTEM]) == 0
    return impl, out, out / ORG / APPLICATION / SYSTEM / f"classify-{impl}-open"


def tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_the_package_has_the_working_groups_layout(package, five_runs):
    impl, out, folder = package
    files = tree(folder)
    for n in range(1, 6):
        assert f"result-{n}.txt" in files
        for name in ("mlperf.log", "results.json", "system.json"):
            assert f"logs/run-{n}/{name}" in files
    for name in ("README.md", "config.yaml", "system.json", MARKER):
        assert name in files
    assert [p.name for p in out.iterdir()] == [ORG]  # nothing else beside it: no temp folder left
    result = (folder / "result-1.txt").read_text()
    assert "| measurement | reference value | submitted value |" in result
    assert "| time to train (minutes, run_start to run_stop) |" in result
    assert "| seed | - | 11 |" in result
    import yaml

    config = yaml.safe_load((folder / "config.yaml").read_text())
    assert config["seeds"] == list(SEEDS) and config["data"]
    assert config["github"]["commit"] and config["github"]["version"]
    assert "seed" not in config["config"] and config["benchmark"]["implementation"] == impl
    readme = (folder / "README.md").read_text()
    assert f"train {impl}" in readme and "seed=11" in readme  # the commands, as the runs recorded them
    system = json.loads((folder / "system.json").read_text())
    assert (system["system_name"], system["submitter"]) == (SYSTEM, ORG)
    # the job script the first run recorded (STEMDL_JOB_SCRIPT), kept and named
    assert (five_runs[1][0] / JOB_SCRIPT_FILE).read_text().startswith("#!/bin/bash\n#SBATCH")
    assert f"scripts/run-1-{JOB_SCRIPT_FILE}" in files
    assert f"`scripts/run-1-{JOB_SCRIPT_FILE}`" in readme
    assert not (five_runs[1][1] / JOB_SCRIPT_FILE).exists()  # no job script: none invented


def test_check_package_passes_it(package, capsys):
    from stemdl import cli

    _, out, _ = package
    assert cli.main(["check-package", str(out)]) == 0
    assert "check-package: passed: 1 package(s), 0 problem(s)" in capsys.readouterr().out


def _copy(package, tmp_path) -> tuple[Path, Path]:
    _, out, folder = package
    shutil.copytree(out, tmp_path / "copy")
    return tmp_path / "copy", tmp_path / "copy" / folder.relative_to(out)


def _reused_seed(folder: Path) -> str:
    shutil.copytree(folder / "logs" / "run-1", folder / "logs" / "run-6")
    shutil.copy(folder / "result-1.txt", folder / "result-6.txt")
    marker = json.loads((folder / MARKER).read_text())
    marker["runs"].append({"n": 6, "seed": 11, "source": "copy"})
    (folder / MARKER).write_text(json.dumps(marker))
    return "run-1 and run-6 share seed 11"


def _missing_result(folder: Path) -> str:
    (folder / "result-3.txt").unlink()
    return "missing result-3.txt"


def _noncompliant_log(folder: Path) -> str:
    log = folder / "logs" / "run-2" / "mlperf.log"
    log.write_text("".join(line + "\n" for line in log.read_text().splitlines()
                           if '"key": "run_stop"' not in line))
    return "logs/run-2/mlperf.log fails compliance"


def _two_systems(folder: Path) -> str:
    path = folder / "logs" / "run-4" / "system.json"
    system = json.loads(path.read_text())
    system["host_processor_model_name"] = "another CPU"
    path.write_text(json.dumps(system))
    return "run-4 ran on another system than run-1"


def _too_few_runs(folder: Path) -> str:
    shutil.rmtree(folder / "logs" / "run-5")
    (folder / "result-5.txt").unlink()
    marker = json.loads((folder / MARKER).read_text())
    marker["runs"] = marker["runs"][:4]
    (folder / MARKER).write_text(json.dumps(marker))
    return f"4 run(s): a STEMDL submission needs at least {MIN_RUNS}"


@pytest.mark.parametrize("fault", [_reused_seed, _missing_result, _noncompliant_log, _two_systems,
                                   _too_few_runs], ids=lambda f: f.__name__.strip("_"))
def test_a_faulty_package_fails_with_its_own_reason(package, tmp_path, capsys, fault):
    from stemdl import cli

    root, folder = _copy(package, tmp_path)
    reason = fault(folder)
    assert cli.main(["check-package", str(root)]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].startswith("check-package: FAILED")
    problems = lines[:-1]
    assert problems and all(reason.split(" ")[0] in line or reason in line for line in problems)
    assert any(reason in line for line in problems), problems


def test_check_package_of_a_folder_that_is_not_one_is_exit_2(tmp_path, capsys):
    from stemdl import cli

    assert cli.main(["check-package", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "not a stemdl package" in err and err.count("\n") == 1


def _bad_inputs(runs: list[Path], tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    """name -> (package arguments, the one line it must print)."""
    out = ["--out", str(tmp_path / "out"), "--org", ORG, "--system", SYSTEM]
    full = tmp_path / "full"
    full.mkdir()
    (full / "x").write_text("x")
    running = tmp_path / "running"
    shutil.copytree(runs[0], running)
    data = json.loads((running / "results.json").read_text())
    (running / "results.json").write_text(json.dumps({**data, "status": "running"}))
    no_log = tmp_path / "no_log"
    shutil.copytree(runs[1], no_log)
    (no_log / "mlperf.log").unlink()
    other_task = tmp_path / "other_task"
    shutil.copytree(runs[2], other_task)
    data = json.loads((other_task / "results.json").read_text())
    (other_task / "results.json").write_text(json.dumps({**data, "task": "density",
                                                         "primary_metric": "nmse"}))
    other_system = tmp_path / "other_system"
    shutil.copytree(runs[3], other_system)
    system = json.loads((other_system / "system.json").read_text())
    (other_system / "system.json").write_text(json.dumps({**system, "number_of_nodes": "2"}))
    return {
        "not empty": ([*map(str, runs), "--out", str(full), "--org", ORG, "--system", SYSTEM],
                      "exists and is not an empty folder"),
        "running": ([str(runs[1]), str(running), *out], "the run is still running"),
        "missing log": ([str(runs[0]), str(no_log), *out], "run folder has no mlperf.log"),
        "other task": ([str(runs[0]), str(other_task), *out], "one package holds one task"),
        "other system": ([str(runs[0]), str(other_system), *out], "one package holds one system"),
        "shared seed": ([str(runs[0]), str(runs[1]), str(runs[0]), *out], "share seed 11"),
        "bad org": ([str(runs[0]), "--out", str(tmp_path / "o2"), "--org", "a/b", "--system", "s"],
                    "give a folder name"),
    }


def test_package_refuses_bad_input_with_one_line_and_writes_nothing(five_runs, tmp_path, capsys):
    from stemdl import cli

    _, runs = five_runs
    for name, (args, line) in _bad_inputs(runs, tmp_path).items():
        assert cli.main(["package", *args]) == 2, name
        err = capsys.readouterr().err
        assert line in err and err.count("\n") == 1, (name, err)
        assert not (tmp_path / "out").exists(), name
        assert not list(tmp_path.glob(".out.*")), name  # no temporary folder left

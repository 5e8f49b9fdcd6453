"""The SLURM job templates, run with a stand-in `srun` that prints the command it was given.

Fast checks of what each template builds from its environment: the CPU/GPU switch (from the
job's GPU allocation: --nv and accelerator=), --resume on a requeued job, IMAGE=none (the
venv), job-array ranks, and the environment variables each template reads (all documented).
The real run under a scheduler is `make slurm-smoke` (containers/slurm-smoke.sh).
"""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
JOBS = ROOT / "containers" / "jobs"
DOC = ROOT / "docs" / "CONTAINERS.md"

TRAIN = {
    "slurm-stfc-1node.sbatch": "stfc",
    "slurm-stfc-multinode.sbatch": "stfc",
    "slurm-ornl-1node.sbatch": "ornl",
    "slurm-ornl-multinode.sbatch": "ornl",
}
DATA = ("slurm-simulate.sbatch", "slurm-preprocess.sbatch")

# the variables a user may set for each template (SLURM_* come from the scheduler)
READS = {
    "slurm-stfc-1node.sbatch": {"IMAGE", "DATA", "OUT", "CONFIG", "APPTAINER", "ACCELERATOR"},
    "slurm-stfc-multinode.sbatch": {"IMAGE", "DATA", "OUT", "CONFIG", "APPTAINER", "ACCELERATOR"},
    "slurm-ornl-1node.sbatch": {"IMAGE", "DATA", "OUT", "APPTAINER", "ACCELERATOR", "STRATEGY"},
    "slurm-ornl-multinode.sbatch": {"IMAGE", "DATA", "OUT", "APPTAINER", "ACCELERATOR", "STRATEGY"},
    "slurm-simulate.sbatch": {"SIM_OUT", "IMAGE", "APPTAINER"},
    "slurm-preprocess.sbatch": {"RAW", "PRE_OUT", "IMAGE", "APPTAINER"},
}
SLURM_VARS = {
    "SLURM_GPUS_ON_NODE", "SLURM_GPUS_PER_NODE", "SLURM_NTASKS_PER_NODE", "SLURM_CPUS_PER_TASK",
    "SLURM_RESTART_COUNT", "SLURM_JOB_ID", "SLURM_JOB_NUM_NODES", "SLURM_NTASKS",
    "SLURM_ARRAY_TASK_COUNT", "SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_MAX",
}


@pytest.fixture
def fake_srun(tmp_path):
    """A PATH folder whose `srun` prints its arguments, one shell-quoted line."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    srun = bin_dir / "srun"
    srun.write_text('#!/bin/bash\nprintf "SRUN"; printf " %q" "$@"; echo\n')
    srun.chmod(0o755)
    return bin_dir


def run_template(name, fake_srun, tmp_path, env, *args):
    base = {"PATH": f"{fake_srun}:/usr/bin:/bin", "HOME": str(tmp_path), "SLURM_JOB_ID": "42",
            "SLURM_JOB_NUM_NODES": "1", "SLURM_NTASKS": "2", "SLURM_NTASKS_PER_NODE": "2",
            "SLURM_CPUS_PER_TASK": "1", "DATA": str(tmp_path / "data"), "OUT": str(tmp_path / "out"),
            "SIM_OUT": str(tmp_path / "raw"), "RAW": str(tmp_path / "raw"),
            "PRE_OUT": str(tmp_path / "pre")}
    proc = subprocess.run(["bash", str(JOBS / name), *args], capture_output=True, text=True,
                          env={**base, **env}, cwd=tmp_path, timeout=30)
    srun = [line for line in proc.stdout.splitlines() if line.startswith("SRUN")]
    return proc, (shlex.split(srun[0])[1:] if srun else None)


@pytest.mark.parametrize("name", sorted(TRAIN) + list(DATA))
def test_syntax(name):
    proc = subprocess.run(["bash", "-n", str(JOBS / name)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("name", sorted(READS))
def test_environment_variables_read_are_the_documented_ones(name):
    text = (JOBS / name).read_text()
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    read = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*):[-?]", body)) - SLURM_VARS  # ${VAR:-default}
    assert read == READS[name]
    doc = DOC.read_text()
    for var in READS[name]:
        assert f"`{var}`" in doc or f"`{var}=" in doc, f"{var} ({name}) is not in docs/CONTAINERS.md"
    assert not (set(re.findall(r"\$\{(SLURM_[A-Z_]+)", body)) - SLURM_VARS)


@pytest.mark.parametrize("name", sorted(TRAIN))
def test_gpu_allocation_gives_nv_and_gpu(name, fake_srun, tmp_path):
    proc, cmd = run_template(name, fake_srun, tmp_path, {"SLURM_GPUS_ON_NODE": "4"})
    assert proc.returncode == 0, proc.stderr
    assert cmd[cmd.index("apptainer"):][:2] == ["apptainer", "exec"]
    assert "--nv" in cmd and "accelerator=gpu" in cmd
    assert f"stemdl train {TRAIN[name]}" in " ".join(cmd)
    assert any(str(tmp_path / "data") + ":/data:ro" == a for a in cmd)
    assert "--resume" not in cmd


@pytest.mark.parametrize("name", sorted(TRAIN))
@pytest.mark.parametrize("gpu_env", [{"SLURM_GPUS_PER_NODE": "0"}, {}])
def test_no_gpu_allocation_is_cpu_without_nv(name, gpu_env, fake_srun, tmp_path):
    proc, cmd = run_template(name, fake_srun, tmp_path, gpu_env)
    assert proc.returncode == 0, proc.stderr
    assert "--nv" not in cmd and "accelerator=cpu" in cmd and "apptainer" in cmd


def test_typed_gpu_count_and_explicit_accelerator(fake_srun, tmp_path):
    _, cmd = run_template("slurm-stfc-1node.sbatch", fake_srun, tmp_path, {"SLURM_GPUS_PER_NODE": "a100:4"})
    assert "--nv" in cmd and "accelerator=gpu" in cmd
    _, cmd = run_template("slurm-stfc-1node.sbatch", fake_srun, tmp_path,
                          {"SLURM_GPUS_ON_NODE": "4", "ACCELERATOR": "cpu"})
    assert "--nv" not in cmd and "accelerator=cpu" in cmd


@pytest.mark.parametrize("name", sorted(TRAIN))
def test_requeued_job_resumes(name, fake_srun, tmp_path):
    _, cmd = run_template(name, fake_srun, tmp_path, {"SLURM_RESTART_COUNT": "1"})
    train = cmd.index("train")
    assert cmd[train + 2] == "--resume"
    _, cmd = run_template(name, fake_srun, tmp_path, {"SLURM_RESTART_COUNT": "0"})
    assert "--resume" not in cmd


@pytest.mark.parametrize("name", sorted(TRAIN))
def test_image_none_runs_stemdl_from_path_on_host_paths(name, fake_srun, tmp_path):
    proc, cmd = run_template(name, fake_srun, tmp_path, {"IMAGE": "none"}, "epochs=1")
    assert proc.returncode == 0, proc.stderr
    assert "apptainer" not in cmd and cmd[cmd.index("--cpu-bind=none") + 1] == "stemdl"
    line = " ".join(cmd)
    assert str(tmp_path / "data") in line and str(tmp_path / "out" / f"{TRAIN[name]}-42") in line
    assert cmd[-1] == "epochs=1"


@pytest.mark.parametrize("name", sorted(TRAIN))
@pytest.mark.parametrize(("image", "inside"), [("stemdl.sif", "/out"), ("none", None)])
def test_the_run_is_told_where_a_copy_of_its_job_script_is(name, image, inside, tmp_path):
    """The script is copied into OUT and STEMDL_JOB_SCRIPT names the copy as the run sees
    it (the image's /out, or the host path): the run keeps it as job-script.sh."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text('#!/bin/bash\necho "SRUN JOB_SCRIPT=$STEMDL_JOB_SCRIPT"\n')
    (bin_dir / "srun").chmod(0o755)
    (tmp_path / "out").mkdir()
    proc, cmd = run_template(name, bin_dir, tmp_path, {"IMAGE": image})
    assert proc.returncode == 0, proc.stderr
    copy = tmp_path / "out" / ".stemdl-job-42.sh"
    assert copy.read_text() == (JOBS / name).read_text()
    assert cmd == [f"JOB_SCRIPT={inside or tmp_path / 'out'}/.stemdl-job-42.sh"]


def test_stfc_devices_and_workers_from_the_allocation(fake_srun, tmp_path):
    _, cmd = run_template("slurm-stfc-1node.sbatch", fake_srun, tmp_path,
                          {"SLURM_NTASKS_PER_NODE": "2", "SLURM_CPUS_PER_TASK": "8"})
    assert {"devices=2", "nodes=1", "num_workers=7"} <= set(cmd)


@pytest.mark.parametrize("tasks, strategy", [("2", "multi_worker"), ("1", "mirrored")])
def test_ornl_strategy_from_the_task_count(tasks, strategy, fake_srun, tmp_path):
    _, cmd = run_template("slurm-ornl-1node.sbatch", fake_srun, tmp_path, {"SLURM_NTASKS": tasks})
    assert cmd[cmd.index("--strategy") + 1] == strategy


@pytest.mark.parametrize("name", DATA)
def test_data_array_task_is_one_rank(name, fake_srun, tmp_path):
    env = {"SLURM_NTASKS": "1", "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_ID": "7",
           "SLURM_ARRAY_TASK_MIN": "5", "SLURM_ARRAY_TASK_MAX": "8"}
    proc, cmd = run_template(name, fake_srun, tmp_path, env, "--size", "32")
    assert proc.returncode == 0, proc.stderr
    assert cmd[cmd.index("--rank") + 1] == "2" and cmd[cmd.index("--world") + 1] == "4"
    assert cmd[-2:] == ["--size", "32"] and "apptainer" not in cmd


@pytest.mark.parametrize("name", DATA)
def test_data_without_array_takes_ranks_from_srun(name, fake_srun, tmp_path):
    proc, cmd = run_template(name, fake_srun, tmp_path, {"SLURM_NTASKS": "4"})
    assert proc.returncode == 0, proc.stderr
    assert "--rank" not in cmd and "--world" not in cmd


@pytest.mark.parametrize("name", DATA)
def test_data_stepped_array_is_refused(name, fake_srun, tmp_path):
    env = {"SLURM_NTASKS": "1", "SLURM_ARRAY_TASK_COUNT": "2", "SLURM_ARRAY_TASK_ID": "0",
           "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_MAX": "2"}
    proc, cmd = run_template(name, fake_srun, tmp_path, env)
    assert proc.returncode == 2 and cmd is None
    assert "the array must be contiguous" in proc.stderr


def test_preprocess_in_an_image_binds_raw_and_out(fake_srun, tmp_path):
    proc, cmd = run_template("slurm-preprocess.sbatch", fake_srun, tmp_path, {"IMAGE": "/x/stemdl-ornl.sif"})
    assert proc.returncode == 0, proc.stderr
    assert cmd[:2] == ["--cpu-bind=none", "apptainer"] and "/x/stemdl-ornl.sif" in cmd
    assert cmd[cmd.index("preprocess") + 1:cmd.index("preprocess") + 3] == ["/raw", "/out"]

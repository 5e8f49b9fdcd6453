"""Definition files parse; pinned versions agree with pyproject; job templates are sound."""

from __future__ import annotations

import re
import subprocess

import pytest

IMPLS = ("stfc", "ornl")


@pytest.mark.parametrize("impl", IMPLS)
def test_definition_file_structure(checker, containers_dir, impl):
    d = checker.parse_def(containers_dir / f"{impl}.def")
    assert d.problems == []
    # templated header: registry image by default, switchable to a local docker-archive
    assert d.header["bootstrap"] == "{{ BOOTSTRAP }}"
    assert d.header["from"] == "{{ BASE_IMAGE }}"
    assert d.arguments["BOOTSTRAP"] == "docker"
    assert "/" in d.arguments["BASE_IMAGE"] and ":" in d.arguments["BASE_IMAGE"]
    assert {"arguments", "post", "runscript", "test", "labels", "environment"} <= set(d.sections)
    assert "stemdl" in d.sections["runscript"] and '"$@"' in d.sections["runscript"]
    assert f"selfcheck.py {impl}" in d.sections["test"]
    assert f"install.sh {impl}" in d.sections["post"]


@pytest.mark.parametrize("impl", IMPLS)
def test_images_carry_the_commit_they_were_built_from(checker, containers_dir, impl):
    """An image has no .git: build.sh passes git's HEAD as STEMDL_COMMIT, and the runs in
    it log that commit (submission_github_commit_version, issue 23)."""
    d = checker.parse_def(containers_dir / f"{impl}.def")
    assert d.arguments["STEMDL_COMMIT"] == "unknown"
    assert "export STEMDL_COMMIT={{ STEMDL_COMMIT }}" in d.sections["environment"]
    args = checker.dockerfile_stage_args(containers_dir / "Dockerfile")["base"]
    assert args["STEMDL_COMMIT"] == "unknown"
    assert "ENV STEMDL_COMMIT=${STEMDL_COMMIT}" in (containers_dir / "Dockerfile").read_text()
    build = (containers_dir / "build.sh").read_text()
    assert build.count('--build-arg "STEMDL_COMMIT=$STEMDL_COMMIT"') == 2  # the image and the SIF
    assert 'git -C "$ROOT" rev-parse HEAD' in build


def test_default_bases(checker, containers_dir):
    stfc = checker.parse_def(containers_dir / "stfc.def").arguments["BASE_IMAGE"]
    ornl = checker.parse_def(containers_dir / "ornl.def").arguments["BASE_IMAGE"]
    assert stfc.startswith("nvcr.io/nvidia/pytorch:")
    assert ornl.startswith("nvidia/cuda:") and "cudnn" in ornl


def test_parser_reports_bad_files(checker, tmp_path):
    """The parse is a real check: each kind of mistake is reported."""
    bad = tmp_path / "bad.def"
    bad.write_text(
        "Bootstrap: {{ BOOTSTRAP }}\n"
        "Form: {{ IMAGE }}\n"
        "%arguments\n    BOOTSTRAP=docker\n    UNUSED=1\n"
        "%post\n    true\n%runscrpt\n    exec stemdl\n%post\n"
    )
    problems = "\n".join(checker.parse_def(bad).problems)
    assert "unknown section '%runscrpt'" in problems
    assert "'%post' appears twice" in problems
    assert "no 'From:' line" in problems
    assert "'{{ IMAGE }}' is used but has no %arguments default" in problems
    assert "'UNUSED' is never used" in problems


def test_recipes_agree_with_pyproject(checker):
    assert checker.version_problems() == []
    pins = checker.recipe_pins()
    # each pin is written in the Dockerfile, the definition file and install.sh
    assert len(pins["TORCH_VERSION"]) >= 3 and len(pins["TF_VERSION"]) >= 3


def test_version_check_catches_disagreement(checker, monkeypatch):
    real = checker.recipe_pins()
    pins = {k: list(v) for k, v in real.items()}
    pins["TF_VERSION"].append(("somewhere", "2.10.0"))
    monkeypatch.setattr(checker, "recipe_pins", lambda: pins)
    problems = "\n".join(checker.version_problems())
    assert "TF_VERSION=2.10.0 does not satisfy pyproject [ornl] tensorflow>=" in problems
    assert "TF_VERSION differs between recipes" in problems


JOBS = {
    "slurm-stfc-1node.sbatch": ("stfc", "slurm"),
    "slurm-stfc-multinode.sbatch": ("stfc", "slurm"),
    "slurm-ornl-1node.sbatch": ("ornl", "slurm"),
    "slurm-ornl-multinode.sbatch": ("ornl", "slurm"),
    "lsf-stfc.lsf": ("stfc", "lsf"),
    "lsf-ornl.lsf": ("ornl", "lsf"),
}


@pytest.mark.parametrize("name", sorted(JOBS))
def test_job_templates(containers_dir, name):
    impl, kind = JOBS[name]
    path = containers_dir / "jobs" / name
    text = path.read_text()
    assert subprocess.run(["bash", "-n", str(path)], capture_output=True).returncode == 0
    launcher = "srun" if kind == "slurm" else "jsrun"
    line = re.search(rf"^\s*{launcher} .*$(?:\n.*\\$)*(?:\n.*)?", text, re.M)
    assert line, f"{name}: no {launcher} line"
    cmd = re.sub(r"\\\n\s*", " ", text[line.start():])
    assert f"stemdl train {impl}" in cmd
    if kind == "slurm":  # the container prefix is built from the allocation: tests/containers/test_jobs.py
        assert "#SBATCH --nodes=" in text and '"${run[@]}"' in cmd
    else:  # LSF cannot run here: kept to the jsrun documentation, GPU only
        assert "apptainer exec --nv" in cmd and "--bind" in cmd
        assert "#BSUB -nnodes" in text

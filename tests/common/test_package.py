"""Packaging boundaries: import names, framework-free `common/`, the command's basics."""

import subprocess
import sys
from types import SimpleNamespace

import pytest

from stemdl.cli import main

CHECK_COMMON = """
import importlib, pkgutil, sys
import stemdl.common as c
for m in pkgutil.walk_packages(c.__path__, "stemdl.common."):
    importlib.import_module(m.name)
import stemdl.cli
stemdl.cli.build_parser()
heavy = sorted(n for n in ("torch", "tensorflow", "keras", "pytorch_lightning") if n in sys.modules)
print(",".join(heavy))
"""


def run_python(code, cwd):
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True)


def test_common_and_the_command_import_no_framework(tmp_path):
    proc = run_python(CHECK_COMMON, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", f"common/ or the CLI imported: {proc.stdout.strip()}"


@pytest.mark.parametrize("name", ["common", "compliance", "stfc", "ornl"])
def test_no_generic_top_level_module_is_installed(tmp_path, name):
    proc = run_python(f"import {name}", tmp_path)
    assert proc.returncode != 0 and "ModuleNotFoundError" in proc.stderr


def test_help_version_and_usage_errors(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and "stemdl-bench" in capsys.readouterr().out
    assert main(["no-such-command"]) == 2
    err = capsys.readouterr().err
    assert "usage: stemdl" in err and "Traceback" not in err
    assert [line for line in err.splitlines() if line.startswith("stemdl: error:")] == [
        err.splitlines()[-1]]


def test_environment_errors_are_one_line_with_exit_1(monkeypatch, capsys):
    import stemdl.cli as cli

    def denied(args):
        raise PermissionError(13, "Permission denied", "/scratch/out")

    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    monkeypatch.setattr(parser, "parse_args", lambda argv: SimpleNamespace(func=denied))
    monkeypatch.delenv("STEMDL_DEBUG", raising=False)
    assert cli.main([]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Permission denied: '/scratch/out'" in err
    monkeypatch.setenv("STEMDL_DEBUG", "1")
    with pytest.raises(PermissionError):
        cli.main([])

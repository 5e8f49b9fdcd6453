"""No package-index or Debian-mirror host is written in the code or the docs: the build
takes them from its environment (PIP_INDEX_URL / pip's configuration, TORCH_INDEX, apt's
sources), as `make` does."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HOSTS = re.compile(r"pypi\.org|pythonhosted\.org|download\.pytorch\.org|deb\.debian\.org|"
                   r"archive\.ubuntu\.com|security\.debian\.org|mirrors?\.[a-z0-9-]+\.(?:org|com|edu)")
FOLDERS = ("containers", "docs", "stemdl", "common", "stfc", "ornl", "compliance", "configs", "tools")


def test_no_index_or_mirror_host_is_named():
    files = [ROOT / "README.md", ROOT / "Makefile", ROOT / "pyproject.toml"]
    for folder in FOLDERS:
        files += [p for p in (ROOT / folder).rglob("*") if p.is_file() and p.suffix != ".png"]
    named = [f"{p.relative_to(ROOT)}:{n}: {m.group(0)}"
             for p in files for n, line in enumerate(p.read_text(errors="ignore").splitlines(), 1)
             for m in [HOSTS.search(line)] if m]
    assert named == []


def test_container_install_takes_the_indexes_from_the_environment():
    install = (ROOT / "containers" / "install.sh").read_text()
    assert 'extra=(--extra-index-url "$TORCH_INDEX")' in install
    assert "unset PIP_INDEX_URL" in install  # an empty build-arg leaves pip's own default
    dockerfile = (ROOT / "containers" / "Dockerfile").read_text()
    assert "ARG PIP_INDEX_URL=\n" in dockerfile and "ARG TORCH_INDEX=\n" in dockerfile
    assert "PIP_INDEX_URL=${PIP_INDEX_URL}" not in dockerfile  # never baked into the image
    for impl in ("stfc", "ornl"):
        assert 'TORCH_INDEX="{{ TORCH_INDEX }}"' in (ROOT / "containers" / f"{impl}.def").read_text()

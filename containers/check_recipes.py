"""Static checks of the container recipes: definition-file structure and version agreement.

    python containers/check_recipes.py      # prints the problems, exit 1 if any

Used by tests/containers (in `make test`) and by containers/build.sh before a build.
The definition-file parser is hand-written (about 40 lines) because no maintained library
validates Apptainer files: spython parses only `Bootstrap: docker`, lowercases template
variables and silently drops unknown sections. The Dockerfile is parsed with
dockerfile-parse; hadolint lints it (see tests/containers).
"""

from __future__ import annotations

import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
IMPLEMENTATIONS = ("stfc", "ornl")

# Sections Apptainer/SingularityCE accept (app sections take an app name).
SECTIONS = {
    "arguments", "setup", "files", "post", "environment", "runscript", "startscript",
    "test", "labels", "help",
}
APP_SECTIONS = {"appinstall", "appfiles", "appenv", "apprun", "applabels", "apptest", "apphelp",
                "appstart"}
HEADER_KEYS = {"bootstrap", "from", "stage", "registry", "namespace", "includecmd", "mirrorurl",
               "osversion", "include", "fingerprints", "product", "user", "confurl",
               "updateurl", "setopt"}
TEMPLATE = re.compile(r"{{\s*([A-Za-z_][A-Za-z0-9_]*)\s*}}")

# Which version argument pins which package, and the pyproject extra it must satisfy.
PINS = {
    "TORCH_VERSION": ("torch", "stfc"),
    "TF_VERSION": ("tensorflow", "ornl"),
}


@dataclass
class DefFile:
    """A parsed definition file: header keys, sections in order, %arguments defaults."""

    path: Path
    header: dict[str, str] = field(default_factory=dict)
    sections: dict[str, str] = field(default_factory=dict)
    arguments: dict[str, str] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)

    def labels(self) -> dict[str, str]:
        out = {}
        for line in self.sections.get("labels", "").splitlines():
            if line.strip() and not line.strip().startswith("#"):
                key, _, value = line.strip().partition(" ")
                out[key] = value.strip()
        return out


def parse_def(path: Path) -> DefFile:
    """Parse `path`; structural problems go to `.problems` (one line each, with line number)."""
    text = path.read_text()
    d = DefFile(path)
    d.used = set(TEMPLATE.findall(text))
    current: str | None = None
    for n, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("%"):
            name = stripped[1:].split()[0].lower() if len(stripped) > 1 else ""
            if name in APP_SECTIONS:
                name = f"{name} {stripped.split()[1] if len(stripped.split()) > 1 else ''}"
            elif name not in SECTIONS:
                d.problems.append(f"{path.name}:{n}: unknown section '%{name}'")
            if name in d.sections:
                d.problems.append(f"{path.name}:{n}: section '%{name}' appears twice")
            current = name
            d.sections[name] = ""
        elif current is None:
            if not stripped or stripped.startswith("#"):
                continue
            key, sep, value = stripped.partition(":")
            if not sep or key.strip().lower() not in HEADER_KEYS:
                d.problems.append(f"{path.name}:{n}: header line is not 'Key: value': {stripped!r}")
                continue
            d.header[key.strip().lower()] = value.strip()
        else:
            d.sections[current] += line + "\n"
    for n, line in enumerate(d.sections.get("arguments", "").splitlines(), 1):
        if line.strip() and not line.strip().startswith("#"):
            key, sep, value = line.strip().partition("=")
            if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
                d.problems.append(f"{path.name}: %arguments line {n} is not KEY=value: {line!r}")
            d.arguments[key] = value
    for key in ("bootstrap", "from"):
        if key not in d.header:
            d.problems.append(f"{path.name}: header has no '{key.capitalize()}:' line")
    for name in sorted(d.used - set(d.arguments)):
        d.problems.append(f"{path.name}: '{{{{ {name} }}}}' is used but has no %arguments default")
    for name in sorted(set(d.arguments) - d.used):
        d.problems.append(f"{path.name}: %arguments '{name}' is never used")
    return d


def dockerfile_stage_args(path: Path) -> dict[str, dict[str, str]]:
    """ARG defaults per stage name ('' = before the first FROM), via dockerfile-parse."""
    from dockerfile_parse import DockerfileParser

    parser = DockerfileParser(path=str(path), env_replace=False)
    stages: dict[str, dict[str, str]] = {"": {}}
    stage = ""
    for ins in parser.structure:
        if ins["instruction"] == "FROM":
            words = ins["value"].split()
            stage = words[2] if len(words) >= 3 and words[1].lower() == "as" else words[0]
            stages.setdefault(stage, {})
        elif ins["instruction"] == "ARG":
            key, _, value = ins["value"].partition("=")
            stages[stage][key.strip()] = value.strip().strip('"')
    return stages


def pyproject_requirement(package: str, extra: str) -> Requirement:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for spec in data["project"]["optional-dependencies"][extra]:
        req = Requirement(spec)
        if req.name == package:
            return req
    raise LookupError(f"pyproject.toml: extra '{extra}' has no requirement on {package}")


def project_version() -> str:
    text = (ROOT / "stemdl" / "__init__.py").read_text()
    return re.search(r'__version__\s*=\s*"([^"]+)"', text).group(1)


def recipe_pins() -> dict[str, list[tuple[str, str]]]:
    """Every place a version argument is pinned: {ARG: [(where, version), ...]}."""
    pins: dict[str, list[tuple[str, str]]] = {name: [] for name in PINS}
    for stage, args in dockerfile_stage_args(HERE / "Dockerfile").items():
        for name in PINS:
            if name in args:
                pins[name].append((f"Dockerfile (stage {stage or 'global'})", args[name]))
    for impl in IMPLEMENTATIONS:
        d = parse_def(HERE / f"{impl}.def")
        for name in PINS:
            if name in d.arguments:
                pins[name].append((f"{impl}.def %arguments", d.arguments[name]))
    install = (HERE / "install.sh").read_text()
    for name, var in (("TORCH_VERSION", "torch_version"), ("TF_VERSION", "tf_version")):
        m = re.search(rf"^{var}=(\S+)$", install, re.M)
        if m:
            pins[name].append(("install.sh default", m.group(1)))
    m = re.search(r"^\s*TORCH\s*:=\s*torch==(\S+)", (ROOT / "Makefile").read_text(), re.M)
    if m:
        pins["TORCH_VERSION"].append(("Makefile TORCH (CPU wheel)", m.group(1)))
    return pins


def version_problems() -> list[str]:
    """Pins that do not satisfy pyproject, pins that disagree, labels with another version."""
    problems = []
    for name, places in recipe_pins().items():
        package, extra = PINS[name]
        req = pyproject_requirement(package, extra)
        if not places:
            problems.append(f"{name}: pinned nowhere in containers/")
        for where, value in places:
            if not req.specifier.contains(Version(value), prereleases=True):
                problems.append(f"{where}: {name}={value} does not satisfy pyproject "
                                f"[{extra}] {req}")
        if len({v for _, v in places}) > 1:
            problems.append(f"{name} differs between recipes: "
                            + ", ".join(f"{w}={v}" for w, v in places))
    version = project_version()
    dockerfile = (HERE / "Dockerfile").read_text()
    for found in re.findall(r'org\.opencontainers\.image\.version="([^"]+)"', dockerfile):
        if found != version:
            problems.append(f"Dockerfile: label version {found} != stemdl {version}")
    for impl in IMPLEMENTATIONS:
        found = parse_def(HERE / f"{impl}.def").labels().get("org.opencontainers.image.version")
        if found != version:
            problems.append(f"{impl}.def: %labels org.opencontainers.image.version is {found}, "
                            f"stemdl is {version}")
    return problems


def all_problems() -> list[str]:
    problems = []
    for impl in IMPLEMENTATIONS:
        problems += parse_def(HERE / f"{impl}.def").problems
    return problems + version_problems()


def main() -> int:
    problems = all_problems()
    for p in problems:
        print(f"containers: {p}", file=sys.stderr)
    if not problems:
        print("containers: recipes OK (definition files parse, pins agree with pyproject)")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())

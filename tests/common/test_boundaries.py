"""Import boundaries between the rooms of the house, read from the source (AST).

Every import counts, also one inside a function: a lazy import still ties a room to the
one it names. `common/` is framework-free and imports nothing above it; each
implementation imports only its own framework; `compliance/` judges finished runs and
imports neither implementation.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# folder -> its import name
ROOMS = {"common": "stemdl.common", "stfc": "stemdl.stfc", "ornl": "stemdl.ornl",
         "compliance": "stemdl.compliance"}

ABOVE_COMMON = ("stemdl.cli", "stemdl.commands", "stemdl.demo", "stemdl.compliance",
                "stemdl.stfc", "stemdl.ornl")
TORCH = ("torch", "pytorch_lightning", "lightning", "lightning_fabric", "torchmetrics",
         "torchvision")
TENSORFLOW = ("tensorflow", "keras", "tf_keras")

FORBIDDEN = {
    "common": ABOVE_COMMON + TORCH + TENSORFLOW,
    "stfc": TENSORFLOW + ("stemdl.ornl",),
    "ornl": TORCH + ("stemdl.stfc",),
    "compliance": ("stemdl.stfc", "stemdl.ornl") + TORCH + TENSORFLOW,
}


def _module_name(path: Path, folder: str, root: Path) -> str:
    rel = path.relative_to(root / folder).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    return ".".join([ROOMS[folder], *parts])


def imported_names(path: Path, folder: str, root: Path = ROOT) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in a file, relative ones resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _module_name(path, folder, root)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")
                parent = parent[: len(parent) - (node.level - 1)]
                base = ".".join(parent + ([base] if base else []))
            names.append((node.lineno, base))
            # `from stemdl import stfc` names stemdl.stfc
            names += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return sorted(names)


def _hits(name: str, forbidden: tuple[str, ...]) -> bool:
    return any(name == f or name.startswith(f + ".") for f in forbidden)


def violations(folder: str, root: Path = ROOT) -> list[str]:
    found = []
    for path in sorted((root / folder).rglob("*.py")):
        for line, name in imported_names(path, folder, root):
            if _hits(name, FORBIDDEN[folder]):
                found.append(f"{path.relative_to(root).as_posix()}:{line} imports {name}")
    return found


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_room_imports_stay_inside_its_boundary(folder):
    assert list((ROOT / folder).rglob("*.py")), f"no sources found under {folder}/"
    assert violations(folder) == []


def test_the_check_sees_lazy_relative_and_from_imports(tmp_path):
    """The checker itself: each form of a forbidden import is reported."""
    fake = tmp_path / "common"
    (fake / "data").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "data" / "__init__.py").write_text("")
    (fake / "data" / "x.py").write_text(
        "import os\n"
        "def f():\n    import torch.nn\n"
        "from stemdl import ornl\n"
        "from ... import cli\n"
        "from ..metrics import ConfusionMatrix\n"
    )
    assert violations("common", tmp_path) == [
        "common/data/x.py:3 imports torch.nn",
        "common/data/x.py:4 imports stemdl.ornl",
        "common/data/x.py:5 imports stemdl.cli",
    ]


# A task's package (common/tasks/<name>/) is imported by the registry (common/task.py), by
# its own modules, and by that task's framework halves (stfc/tasks/<name>.py,
# ornl/tasks/<name>.py) only: everything else asks `get_task(name)`, so a second task never
# forks the shared code. The frameworks' hook registries import the halves by name, lazily.
TASK_PACKAGE = "stemdl.common.tasks."


def task_package_importers(root: Path = ROOT) -> list[str]:
    found = []
    for folder in ROOMS:
        for path in sorted((root / folder).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            for line, name in imported_names(path, folder, root):
                if not name.startswith(TASK_PACKAGE):
                    continue
                task = name[len(TASK_PACKAGE):].split(".")[0]
                allowed = (rel == "common/task.py" or rel.startswith(f"common/tasks/{task}/")
                           or rel in (f"stfc/tasks/{task}.py", f"ornl/tasks/{task}.py"))
                if not allowed:
                    found.append(f"{rel}:{line} imports {name}")
    return sorted(set(found))


def test_only_the_registry_and_the_tasks_own_halves_import_a_task_package():
    assert (ROOT / "common" / "tasks" / "classify" / "__init__.py").is_file()
    assert task_package_importers() == []


def test_task_packages_are_framework_free_and_registered():
    from stemdl.common.task import TASK_PACKAGES, get_task

    packages = sorted(p.name for p in (ROOT / "common" / "tasks").iterdir()
                      if (p / "__init__.py").is_file())
    assert packages == sorted(TASK_PACKAGES)
    for name in packages:
        assert get_task(name).name == name
        for path in sorted((ROOT / "common" / "tasks" / name).rglob("*.py")):
            bad = [n for _, n in imported_names(path, "common") if _hits(n, TORCH + TENSORFLOW)]
            assert bad == [], path
    for impl in ("stfc", "ornl"):
        halves = sorted(p.stem for p in (ROOT / impl / "tasks").glob("*.py") if p.stem != "__init__")
        assert halves == packages, impl


def test_the_task_package_check_sees_a_stray_import(tmp_path):
    (tmp_path / "stfc").mkdir()
    (tmp_path / "stfc" / "module.py").write_text("from stemdl.common.tasks.classify import facts\n")
    for folder in ROOMS:
        (tmp_path / folder).mkdir(exist_ok=True)
    assert task_package_importers(tmp_path) == [
        "stfc/module.py:1 imports stemdl.common.tasks.classify",
        "stfc/module.py:1 imports stemdl.common.tasks.classify.facts"]

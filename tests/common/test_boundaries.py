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

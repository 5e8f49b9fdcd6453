"""Shared fixtures: the containers/ folder and its checker module (containers/ is no package)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

CONTAINERS = Path(__file__).resolve().parents[2] / "containers"


def load_checker():
    """Import containers/check_recipes.py by path."""
    name = "stemdl_containers_check_recipes"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, CONTAINERS / "check_recipes.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def checker():
    return load_checker()


@pytest.fixture(scope="session")
def containers_dir() -> Path:
    return CONTAINERS

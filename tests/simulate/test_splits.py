"""Split by material, fixed fractions, deterministic and rank-independent."""

from __future__ import annotations

from collections import Counter

import pytest

from stemdl.common.cli.errors import StemdlError
from stemdl.common.simulation.plan import make_plan, parse_space_groups


def test_no_material_in_two_splits_on_disk(tiny_samples):
    splits_of = {}
    for split, _stack, attrs in tiny_samples.values():
        splits_of.setdefault(attrs["material"], set()).add(split)
    assert all(len(s) == 1 for s in splits_of.values())
    assert {next(iter(s)) for s in splits_of.values()} == {"train", "dev", "test"}


def test_demo_plan_splits_each_group_80_10_10():
    plan = make_plan("demo", seed=3)
    assert len(plan.materials) == 500
    for group in plan.space_groups:
        counts = Counter(m.split for m in plan.materials if m.space_group == group)
        assert counts == {"train": 40, "dev": 5, "test": 5}
    # at least 100 validation stacks of held-out materials (2 energies each)
    assert sum(m.split == "dev" for m in plan.materials) * len(plan.energies_kev) >= 100


def test_material_is_a_function_of_seed_group_and_member():
    a = make_plan("demo", seed=5, space_groups="14,225")
    b = make_plan("demo", seed=5, space_groups="2,14,62,225")
    pick = {(m.space_group, m.member): (m.split, m.seed_sequence().spawn_key) for m in a.materials}
    for m in b.materials:
        if (m.space_group, m.member) in pick:
            assert pick[(m.space_group, m.member)] == (m.split, m.seed_sequence().spawn_key)
    c = make_plan("demo", seed=6, space_groups="14,225")
    assert [m.split for m in a.materials] != [m.split for m in c.materials]


def test_parse_space_groups():
    assert parse_space_groups("225, 1-3,2") == (1, 2, 3, 225)
    assert len(parse_space_groups("all")) == 230
    for bad in ("0", "231", "abc", "5-1", ""):
        with pytest.raises(StemdlError):
            parse_space_groups(bad)

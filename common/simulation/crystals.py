"""Crystals to simulate: random ones of a requested space group (pyxtal) or a fixed set (ase).

A crystal is accepted only when every lattice constant is below `MAX_LATTICE_A` and spglib
finds exactly the requested space group at `SYMPREC` (pseudo-symmetric crystals, whose
higher symmetry spglib sees at that tolerance, are rejected rather than mislabelled).
"""

from __future__ import annotations

import contextlib
import io
import signal
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

MAX_LATTICE_A = 10.0  # Angstrom; the original generator skipped larger cells
SYMPREC = 0.1  # Angstrom; spglib tolerance for the label check (pymatgen's default too)
ANGLE_TOLERANCE = 5.0  # degrees; spglib's angle tolerance for the label check
ATTEMPT_SECONDS = 10.0  # time limit of one pyxtal attempt
MAX_ATTEMPTS = 24  # attempts per material before it is reported as a failure
MAX_ATOMS = 40  # atoms per conventional cell asked from pyxtal (keeps cells < 10 A)

# Elements pyxtal packs well (metals, metalloids, common anions); no H/noble gases.
ELEMENTS = (
    "Li", "Be", "B", "C", "N", "O", "F", "Na", "Mg", "Al", "Si", "P", "S", "Cl", "K", "Ca",
    "Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn", "Ga", "Ge", "As", "Se", "Br",
    "Rb", "Sr", "Y", "Zr", "Nb", "Mo", "Ru", "Rh", "Pd", "Ag", "Cd", "In", "Sn", "Sb", "Te",
    "I", "Cs", "Ba", "La", "Hf", "Ta", "W", "Ir", "Pt", "Au", "Pb", "Bi",
)  # fmt: skip


@dataclass(frozen=True)
class Crystal:
    """An accepted crystal: ase Atoms in its conventional cell and its verified label."""

    atoms: object  # ase.Atoms (kept untyped so importing this module stays light)
    space_group: int
    name: str  # a short name: the fixed structure's name, or the formula

    @property
    def formula(self) -> str:
        return self.atoms.get_chemical_formula(mode="hill")


class CrystalFailure(Exception):
    """No acceptable crystal could be made; the message says why (one line)."""


def symmetry_dataset(atoms, symprec: float = SYMPREC):
    """spglib's symmetry dataset of `atoms` (None when spglib fails)."""
    import spglib

    cell = (atoms.cell.array, atoms.get_scaled_positions(), atoms.numbers)
    with warnings.catch_warnings():  # spglib 2.x warns about its own error-handling switch
        warnings.simplefilter("ignore", DeprecationWarning)
        return spglib.get_symmetry_dataset(cell, symprec=symprec, angle_tolerance=ANGLE_TOLERANCE)


def spglib_space_group(atoms, symprec: float = SYMPREC) -> int | None:
    """spglib's space-group number of `atoms` at the project's fixed tolerance."""
    dataset = symmetry_dataset(atoms, symprec)
    return None if dataset is None else int(dataset.number)


def symmetry_rotations(atoms, symprec: float = SYMPREC) -> np.ndarray:
    """The crystal's point-group rotations (n, 3, 3) in the basis of its own cell."""
    return np.unique(np.asarray(symmetry_dataset(atoms, symprec).rotations, dtype=int), axis=0)


def check(atoms, space_group: int) -> str | None:
    """Why `atoms` is not acceptable for `space_group`, or None when it is."""
    abc = atoms.cell.cellpar()[:3]
    if np.any(abc >= MAX_LATTICE_A):
        return f"lattice constant >= {MAX_LATTICE_A:g} A"
    found = spglib_space_group(atoms)
    if found != space_group:
        return f"spglib finds space group {found} at symprec {SYMPREC:g} A"
    return None


# --- the fixed set ------------------------------------------------------------


def _fixed_builders() -> dict[str, tuple[int, object]]:
    from ase.build import bulk
    from ase.spacegroup import crystal

    return {
        "NaCl": (225, lambda: bulk("NaCl", "rocksalt", a=5.64, cubic=True)),
        "Si": (227, lambda: bulk("Si", "diamond", a=5.431, cubic=True)),
        "Mg": (194, lambda: bulk("Mg", "hcp", a=3.209, c=5.211)),
        "SrTiO3": (
            221,
            lambda: crystal(
                ["Sr", "Ti", "O"],
                basis=[(0, 0, 0), (0.5, 0.5, 0.5), (0.5, 0.5, 0)],
                spacegroup=221,
                cellpar=[3.905, 3.905, 3.905, 90, 90, 90],
            ),
        ),
        "TiO2-rutile": (
            136,
            lambda: crystal(
                ["Ti", "O"],
                basis=[(0, 0, 0), (0.3048, 0.3048, 0)],
                spacegroup=136,
                cellpar=[4.594, 4.594, 2.959, 90, 90, 90],
            ),
        ),
        "GaN": (186, lambda: bulk("GaN", "wurtzite", a=3.189, c=5.185, u=0.377)),
    }


FIXED_NAMES = ("NaCl", "Si", "Mg", "SrTiO3", "TiO2-rutile", "GaN")
FIXED_SPACE_GROUPS = {"NaCl": 225, "Si": 227, "Mg": 194, "SrTiO3": 221, "TiO2-rutile": 136,
                      "GaN": 186}  # fmt: skip


def fixed_crystal(name: str) -> Crystal:
    """One well-known structure built with ase, checked like a random one."""
    space_group, build = _fixed_builders()[name]
    atoms = build()
    why = check(atoms, space_group)
    if why is not None:  # a bug in the table above, not a user error
        raise CrystalFailure(f"fixed crystal {name}: {why}")
    return Crystal(atoms=atoms, space_group=space_group, name=name)


# --- random crystals ----------------------------------------------------------


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Raise TimeoutError after `seconds` (SIGALRM; only in the main thread on POSIX).

    Elsewhere there is no limit; pyxtal's own `max_count` still bounds its loops.
    """
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable or seconds <= 0:
        yield
        return

    def _alarm(signum, frame):
        raise TimeoutError

    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _composition(group, rng: np.random.Generator) -> tuple[list[str], list[int]] | None:
    """Random species and atom counts that the group's Wyckoff positions can hold.

    Counts are drawn from the smallest Wyckoff multiplicities (small cells stay under
    10 A); 2 to 4 species make accidental extra symmetry (a supergroup) less likely.
    """
    multiplicities = sorted({w.multiplicity for w in group.Wyckoff_positions})
    small = multiplicities[:4]
    n_species = int(rng.integers(1, 5))
    species = [str(s) for s in rng.choice(ELEMENTS, size=n_species, replace=False)]
    counts = [int(rng.choice(small)) for _ in species]
    while sum(counts) > MAX_ATOMS and len(counts) > 1:
        species, counts = species[:-1], counts[:-1]
    if not group.check_compatible(counts)[0]:
        return None
    return species, counts


def random_crystal(
    space_group: int,
    seed: np.random.SeedSequence,
    attempts: int = MAX_ATTEMPTS,
    attempt_seconds: float = ATTEMPT_SECONDS,
) -> Crystal:
    """A random acceptable crystal of `space_group`, a pure function of `seed`.

    Each attempt draws a composition and a pyxtal structure from its own child seed, so
    the result does not depend on the machine's speed unless an attempt times out.
    Raises CrystalFailure naming the last reason when no attempt is accepted.
    """
    from pyxtal import pyxtal
    from pyxtal.symmetry import Group

    group = Group(space_group)
    reasons: dict[str, int] = {}
    for child in seed.spawn(attempts):
        rng = np.random.default_rng(child)
        comp = _composition(group, rng)
        if comp is None:
            reasons["no compatible composition"] = reasons.get("no compatible composition", 0) + 1
            continue
        species, counts = comp
        xtal = pyxtal()
        try:
            with _time_limit(attempt_seconds), contextlib.redirect_stdout(io.StringIO()):
                xtal.from_random(3, space_group, species, counts, random_state=rng)
        except TimeoutError:
            reasons[f"pyxtal attempt over {attempt_seconds:g} s"] = (
                reasons.get(f"pyxtal attempt over {attempt_seconds:g} s", 0) + 1
            )
            continue
        except Exception as err:  # pyxtal raises assorted errors for impossible requests
            why = f"pyxtal: {type(err).__name__}"
            reasons[why] = reasons.get(why, 0) + 1
            continue
        if not xtal.valid:
            reasons["pyxtal found no valid structure"] = (
                reasons.get("pyxtal found no valid structure", 0) + 1
            )
            continue
        atoms = xtal.to_ase()
        why = check(atoms, space_group)
        if why is None:
            return Crystal(atoms=atoms, space_group=space_group, name=atoms.get_chemical_formula())
        key = why if not why.startswith("spglib") else "spglib finds another space group"
        reasons[key] = reasons.get(key, 0) + 1
    worst = max(reasons, key=reasons.get) if reasons else "no attempts"
    raise CrystalFailure(f"no acceptable crystal in {attempts} attempts (mostly: {worst})")

"""User-facing errors: the `stemdl` command prints them as one line and exits 2."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class StemdlError(Exception):
    """A usage or data error the user can fix (bad path, bad value, corrupt file).

    The command line prints ``stemdl: error: <message>`` and exits with code 2;
    no traceback is shown for these.
    """

    exit_code = 2


class DataError(StemdlError):
    """A data file or folder that cannot be used; the message names the file."""


def closest(name: str, choices: Iterable[str]) -> str | None:
    """The valid name closest to ``name`` (for 'did you mean' hints), or None."""
    found = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return found[0] if found else None


def unknown_name(kind: str, name: str, choices: Iterable[str]) -> StemdlError:
    """An error for an unknown key/option that names the closest valid one."""
    choices = list(choices)
    hint = closest(name, choices)
    suffix = f"; did you mean '{hint}'?" if hint else f"; valid: {', '.join(sorted(choices))}"
    return StemdlError(f"unknown {kind} '{name}'{suffix}")


def check_choice(key: str, value: object, choices: Iterable[object]) -> None:
    """A one-line error unless `value` is one of `choices` (key: the config key / flag)."""
    choices = list(choices)
    if value not in choices:
        raise StemdlError(f"{key}: '{value}' is not one of {', '.join(map(str, choices))}")

"""YAML configuration against a dataclass schema, with `key=value` overrides.

Unknown keys are errors that name the closest valid key; values are checked against
the field's type (int, float, str, bool, Optional[...], list[...]), so a typo never
silently falls back to a default. Hand-written because the schema is a plain
dataclass (no pydantic/omegaconf dependency in `common/`).
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

from stemdl.common.cli.errors import StemdlError, unknown_name

T = TypeVar("T")


class _DuplicateKey(yaml.YAMLError):
    pass


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one mapping (it keeps the last
    one silently: `epochs: 2` then `epochs: 3` trained 3 epochs without a word)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, str | int | float | bool) and key in seen:
                raise _DuplicateKey(f"key '{key}' given twice (line {key_node.start_mark.line + 1})")
            seen.add(key)
        return super().construct_mapping(node, deep)


def read_yaml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A YAML file's top-level mapping (empty file -> {}); a key given twice is an error."""
    path = Path(path)
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506
    except FileNotFoundError:
        raise StemdlError(f"{path}: no such config file") from None
    except UnicodeDecodeError:  # a binary file (a checkpoint, an image) given as --config
        raise StemdlError(f"{path}: not a YAML text file (not UTF-8 text)") from None
    except _DuplicateKey as err:
        raise StemdlError(f"{path}: {err}; a config names each key once") from None
    except (OSError, yaml.YAMLError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise StemdlError(f"{path}: not a readable YAML file ({first})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise StemdlError(f"{path}: the config must be a mapping of key: value")
    return data


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """`["lr=0.01", "resnet=18"]` -> {"lr": 0.01, "resnet": 18} (values parsed as YAML)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise StemdlError(f"override '{item}' is not of the form key=value")
        try:
            out[key.strip()] = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            out[key.strip()] = raw
    return out


def _coerce(name: str, value: Any, hint: Any) -> Any:
    """Check/convert `value` to the type `hint`; raise a one-line error naming `name`."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(name, value, arg)
            except StemdlError as err:
                errors.append(str(err))
        raise StemdlError(errors[0] if errors else f"config key '{name}': bad value {value!r}")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            value = [value]
        inner = args[0] if args else Any
        return [_coerce(name, v, inner) for v in value]
    if origin is dict or hint is dict:
        if not isinstance(value, Mapping):
            raise StemdlError(f"config key '{name}': expected a mapping, got {value!r}")
        return dict(value)
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "1", "false", "no", "0"):
            return value.lower() in ("true", "yes", "1")
        raise StemdlError(f"config key '{name}': expected true/false, got {value!r}")
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, (int, str, float)):
            raise StemdlError(f"config key '{name}': expected an integer, got {value!r}")
        if isinstance(value, int):
            return value  # exactly: a float round trip turns 10**23 into 99999999999999991611392
        try:
            if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
                return int(value)
            as_float = float(value)
            if as_float != int(as_float):
                raise ValueError
            return int(as_float)
        except (ValueError, OverflowError):
            raise StemdlError(f"config key '{name}': expected an integer, got {value!r}") from None
    if hint is float:
        if isinstance(value, bool):
            raise StemdlError(f"config key '{name}': expected a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise StemdlError(f"config key '{name}': expected a number, got {value!r}") from None
    if hint is str:
        if isinstance(value, (dict, list)):
            raise StemdlError(f"config key '{name}': expected a string, got {value!r}")
        return str(value)
    return value


def build(schema: type[T], values: Mapping[str, Any], aliases: Mapping[str, str] | None = None) -> T:
    """An instance of the dataclass `schema` from `values`, checked key by key.

    `aliases` maps other accepted names (e.g. upstream ones) to schema field names.
    """
    aliases = dict(aliases or {})
    hints = typing.get_type_hints(schema)
    names = [f.name for f in dataclasses.fields(schema) if f.init]
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        field_name = aliases.get(key, key)
        if field_name not in names:
            raise unknown_name("config key", str(key), [*names, *aliases])
        kwargs[field_name] = _coerce(key, value, hints[field_name])
    return schema(**kwargs)


def load_config(
    schema: type[T],
    path: str | os.PathLike[str] | None = None,
    overrides: Iterable[str] = (),
    aliases: Mapping[str, str] | None = None,
    normalise: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> T:
    """Schema defaults, then the YAML file at `path`, then `key=value` overrides.

    `normalise` may rewrite the merged raw values (e.g. upstream spellings) before checking.
    """
    values: dict[str, Any] = read_yaml(path) if path else {}
    values.update(parse_overrides(overrides))
    if normalise is not None:
        values = normalise(values)
    return build(schema, values, aliases)


def to_dict(config: Any) -> dict[str, Any]:
    """A config dataclass as a plain dict (for results.json and logs)."""
    return dataclasses.asdict(config)

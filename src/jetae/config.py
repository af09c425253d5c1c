"""Config dataclasses <-> dicts, YAML/JSON files and ``--set key=value`` overrides."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from jetae.errors import JetaeError


def config_to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a config dataclass (nested dicts copied)."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def merge_options(base: dict, update: dict) -> dict:
    """``update`` merged into ``base`` key by key (recursively for nested dicts); neither is modified.

    A nested dict whose ``kind`` changes (e.g. ``representation.kind=image`` on a model
    whose default is constituents) replaces the old one: options of another kind would
    not apply to it.
    """
    merged = dict(base)
    for key, value in update.items():
        if (
            isinstance(value, dict)
            and isinstance(merged.get(key), dict)
            and value.get("kind", merged[key].get("kind")) == merged[key].get("kind")
        ):
            merged[key] = merge_options(merged[key], value)
        else:
            merged[key] = value
    return merged


def resolve_config(config_cls: type, config: Any = None, overrides: dict[str, Any] | None = None) -> Any:
    """Build a ``config_cls`` instance from a dataclass, a dict or None, plus overrides.

    Unknown keys raise a JetaeError listing the valid ones; dict-valued fields
    (e.g. ``representation``) are merged key by key rather than replaced.
    """
    if config is None:
        values: dict[str, Any] = {}
    elif dataclasses.is_dataclass(config):
        values = config_to_dict(config)
    elif isinstance(config, dict):
        values = dict(config)
    else:
        raise JetaeError(f"config must be a dict or a {config_cls.__name__}, got {type(config).__name__}")
    values = merge_options(values, overrides or {})
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise JetaeError(
            f"unknown option(s) {', '.join(unknown)} for {config_cls.__name__}; valid: {', '.join(sorted(fields))}"
        )
    defaults = config_to_dict(config_cls())
    for name, value in list(values.items()):
        if isinstance(value, dict) and isinstance(defaults.get(name), dict):
            values[name] = merge_options({name: defaults[name]}, {name: value})[name]
        elif isinstance(defaults.get(name), dict) and not isinstance(value, dict):
            raise JetaeError(f"option {name} must be a mapping of option: value, got {value!r}")
    hints = typing.get_type_hints(config_cls)
    for name, value in list(values.items()):
        values[name] = _coerce(name, value, hints.get(name))
    return config_cls(**values)


def _coerce(name: str, value: Any, hint: Any) -> Any:
    """Coerce simple scalar types (int given for a float field, '1e-3' strings from the CLI)."""
    if hint is None or value is None:
        return value
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        options = [h for h in typing.get_args(hint) if h is not type(None)]
        hint = options[0] if len(options) == 1 else None
        if hint is None:
            return value
    try:
        if hint in (int, float) and isinstance(value, bool):
            raise ValueError(value)
        if hint is float and isinstance(value, (int, float, str)) and not isinstance(value, bool):
            if not math.isfinite(float(value)):
                raise ValueError(value)
            return float(value)
        if hint is int and isinstance(value, (int, float, str)) and not isinstance(value, bool):
            number = float(value) if isinstance(value, (float, str)) else value
            if number != int(number):
                raise ValueError(value)
            return int(number)
        if hint in (int, float) and not isinstance(value, (int, float, str)):
            raise ValueError(value)
        if hint in (list, tuple) and not isinstance(value, (list, tuple)):
            raise ValueError(value)
        if hint is dict and not isinstance(value, dict):
            raise ValueError(value)
        if hint is bool and isinstance(value, str):
            if value.lower() in ("true", "1", "yes", "on"):
                return True
            if value.lower() in ("false", "0", "no", "off"):
                return False
            raise ValueError(value)
        if hint is str and not isinstance(value, str):
            raise ValueError(value)
    except (ValueError, OverflowError):
        raise JetaeError(f"option {name}: cannot use {value!r} as {getattr(hint, '__name__', hint)}") from None
    return value


def parse_set_options(assignments: list[str] | None) -> dict[str, Any]:
    """Turn ``["lr=1e-3", "representation.kind=image"]`` into a nested dict (values parsed as YAML).

    Kept hand-written rather than OmegaConf's ``from_dotlist``: that would read ``${...}`` as an
    interpolation, an empty value as None instead of '', and a YAML error as an exception instead
    of the raw string, i.e. change what ``--set`` accepts; PyYAML already does the value typing.
    """
    result: dict[str, Any] = {}
    for item in assignments or []:
        key, separator, raw = item.partition("=")
        parts = key.strip().split(".")
        if not separator or not all(parts):
            raise JetaeError(f"--set expects key=value, got {item!r}")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        node = result
        for depth, part in enumerate(parts[:-1]):
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise JetaeError(
                    f"--set {item}: {'.'.join(parts[: depth + 1])} is already set to a value, not a mapping"
                )
        node[parts[-1]] = value
    return result


def load_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read a YAML or JSON mapping from ``path``."""
    path = Path(path)
    if path.is_dir():
        raise JetaeError("is a directory, not a config file", path)
    if not path.exists():
        raise JetaeError("config file not found", path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise JetaeError(f"not valid YAML/JSON: {exc}", path) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise JetaeError("config file must contain a mapping of option: value", path)
    return data

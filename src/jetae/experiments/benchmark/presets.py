"""The benchmark's presets and published reference numbers, read from the package's YAML files.

``presets.yaml`` holds the samples (process and seed of each), the signal zoo (card and seed of
each), the table order and, per preset (``quick``, ``full``, ``zoo-quick``, ``zoo``), the sizes,
the per-model options, the per-model training caps and the zoo signals; a preset may ``extends``
another (its sizes, options and caps, each key of its own replacing the other's);
``published_reference.yaml`` the published numbers with their sources and caveats. The loaders
check the types, so a typo in a file fails at import with the file and key named.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from importlib import resources
from typing import Any, Mapping

import yaml

from jetae.errors import JetaeError

PRESETS_FILE = "presets.yaml"
PUBLISHED_FILE = "published_reference.yaml"


@dataclass(frozen=True)
class PresetDefaults:
    """Sizes and places of one preset (each can be overridden from the command line)."""

    data_dir: str
    #: Forward training jets (first n_train of qcd_train); the reverse direction trains on
    #: the first min(n_train, len(top_train) - n_test) top jets.
    n_train: int
    #: Jets of each test sample (qcd_test, top_test, w_test and the held-out top jets).
    n_test: int
    #: Outlier jets for oe_vae (first n_outliers of w_outliers).
    n_outliers: int
    #: Generate missing samples (quick) or stop with an error pointing at bench/make_samples.sh (full).
    generate: bool
    #: torch CPU threads (None: torch's default, one per core). One thread is robust on a small CPU
    #: shared with other work: oversubscribed threads made training 10-90x slower on the 2-core machine.
    threads: int | None = None


@dataclass(frozen=True)
class Preset:
    """One preset of ``presets.yaml``."""

    name: str
    defaults: PresetDefaults
    #: ``{model: options}`` merged over the model's defaults (``jetae models --options MODEL``).
    model_options: dict[str, dict[str, Any]]
    #: ``{model: (n_jets, reason)}``: models trained on only the first n_jets of each training sample.
    model_train_jets: dict[str, tuple[int, str]]
    #: Zoo signals (names of ``zoo_samples``) added to the forward direction, every score of every model.
    zoo: tuple[str, ...] = ()


@dataclass(frozen=True)
class PublishedReference:
    """The published numbers of ``published_reference.yaml`` (other samples: orientation only)."""

    heading: str
    #: ``{"source", "model", "data", "top_auc", "r30", "reverse_auc", "jetae_model"}`` each; None = not given.
    rows: tuple[dict[str, Any], ...]
    caveats: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """The ``published_reference`` block of ``benchmark.json``."""
        return {"heading": self.heading, "rows": [dict(row) for row in self.rows], "caveats": list(self.caveats)}


def read_data_file(name: str) -> Any:
    """A YAML file shipped in this package (``importlib.resources``, so it works from a wheel too)."""
    text = resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
    return yaml.safe_load(text)


def _check_value(value: Any, where: str) -> None:
    """Refuse a number YAML read as text, at any depth of nested mappings and lists."""
    if isinstance(value, Mapping):
        _check_options(value, where)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_value(item, f"{where}[{index}]")
    elif isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return
        raise JetaeError(
            f"{where}: the number {value!r} was read as text; write it with a dot (e.g. 1.0e-3)", PRESETS_FILE
        )


def _check_options(options: Any, where: str) -> dict[str, Any]:
    """A mapping of options whose values are plain YAML data (nested mappings and lists allowed, e.g. the
    member specs of a model made of models); a string that is a number is refused (YAML 1.1 reads
    ``1e-3`` as a string: write ``1.0e-3``)."""
    if not isinstance(options, Mapping):
        raise JetaeError(f"{where}: expected a mapping of options, got {options!r}", PRESETS_FILE)
    for key, value in options.items():
        _check_value(value, f"{where}.{key}")
    return dict(options)


#: Names the zoo signals may not take: the other signals and classes of the benchmark.
RESERVED_SIGNALS = ("top", "w", "qcd", "background")


def _extended(name: str, blocks: Mapping[str, Any], seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """The block of preset ``name`` with the keys of the preset it ``extends`` filled in."""
    block = dict(blocks[name])
    base = block.pop("extends", None)
    if base is None:
        return block
    if base not in blocks or base in seen:
        raise JetaeError(f"presets.{name}.extends: {base!r} is not another preset", PRESETS_FILE)
    return {**_extended(base, blocks, (*seen, name)), **block}


def _preset(name: str, data: Mapping[str, Any], zoo_samples: Mapping[str, int]) -> Preset:
    zoo = tuple(data.get("zoo") or ())
    unknown = [signal for signal in zoo if signal not in zoo_samples]
    if unknown or len(set(zoo)) != len(zoo):
        raise JetaeError(
            f"presets.{name}.zoo: each name once, from zoo_samples ({', '.join(zoo_samples)}); got {', '.join(zoo)}",
            PRESETS_FILE,
        )
    defaults = dict(data["defaults"])
    expected = {f.name: f.type for f in fields(PresetDefaults)}
    if set(defaults) - set(expected) or {"data_dir", "n_train", "n_test", "n_outliers", "generate"} - set(defaults):
        raise JetaeError(
            f"presets.{name}.defaults: expected the keys {', '.join(expected)}, got {', '.join(defaults)}", PRESETS_FILE
        )
    for key in ("n_train", "n_test", "n_outliers"):
        if not isinstance(defaults[key], int) or defaults[key] < 1:
            raise JetaeError(f"presets.{name}.defaults.{key} must be a positive integer", PRESETS_FILE)
    caps = {}
    for model, cap in (data.get("model_train_jets") or {}).items():
        caps[model] = (int(cap["n_jets"]), str(cap["reason"]))
    options = {
        model: _check_options(opts or {}, f"presets.{name}.model_options.{model}")
        for model, opts in (data.get("model_options") or {}).items()
    }
    return Preset(name=name, defaults=PresetDefaults(**defaults), model_options=options, model_train_jets=caps, zoo=zoo)


def load_presets() -> tuple[dict[str, tuple[str, int]], dict[str, int], tuple[str, ...], dict[str, Preset]]:
    """``(samples {name: (process, seed)}, zoo {card: seed}, model order, {preset name: Preset})`` from
    ``presets.yaml``."""
    data = read_data_file(PRESETS_FILE)
    samples = {name: (str(process), int(seed)) for name, (process, seed) in data["samples"].items()}
    zoo = {str(name): int(seed) for name, seed in (data.get("zoo_samples") or {}).items()}
    clash = [name for name in zoo if name in RESERVED_SIGNALS or name in samples]
    if clash:
        raise JetaeError(f"zoo_samples: {', '.join(clash)} is already a benchmark sample or class", PRESETS_FILE)
    blocks = data["presets"]
    presets = {name: _preset(name, _extended(name, blocks), zoo) for name in blocks}
    return samples, zoo, tuple(data["model_order"]), presets


def load_published_reference() -> PublishedReference:
    """The published reference numbers of ``published_reference.yaml``."""
    data = read_data_file(PUBLISHED_FILE)
    rows = []
    for row in data["rows"]:
        for key in ("top_auc", "r30", "reverse_auc"):
            value = row.get(key)
            if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value)):
                raise JetaeError(
                    f"rows: {row.get('model')}: {key} must be a number or null, got {value!r}", PUBLISHED_FILE
                )
        rows.append(dict(row))
    return PublishedReference(
        heading=str(data["heading"]), rows=tuple(rows), caveats=tuple(str(caveat) for caveat in data["caveats"])
    )


SAMPLES, ZOO_SAMPLES, MODEL_ORDER, _PRESETS = load_presets()
#: The preset names (``quick``, ``full``, ``zoo-quick``, ``zoo``).
PRESETS: tuple[str, ...] = tuple(_PRESETS)
PRESET_DEFAULTS: dict[str, PresetDefaults] = {name: preset.defaults for name, preset in _PRESETS.items()}
#: Per-model options of each preset: the one place to tune the benchmark (``presets.yaml``).
MODEL_OPTIONS: dict[str, dict[str, dict[str, Any]]] = {name: preset.model_options for name, preset in _PRESETS.items()}
#: ``{preset: {model: (n_jets, reason)}}``: models trained on only the first n_jets of each training sample.
MODEL_TRAIN_JETS: dict[str, dict[str, tuple[int, str]]] = {
    name: preset.model_train_jets for name, preset in _PRESETS.items()
}

#: ``{preset: zoo signal names}`` (empty for the presets without a zoo).
PRESET_ZOO: dict[str, tuple[str, ...]] = {name: preset.zoo for name, preset in _PRESETS.items()}

PUBLISHED = load_published_reference()
#: Heading of the published table: other samples, never to be read as a comparison on ours.
PUBLISHED_HEADING: str = PUBLISHED.heading
PUBLISHED_REFERENCE: tuple[dict[str, Any], ...] = PUBLISHED.rows
PUBLISHED_CAVEATS: tuple[str, ...] = PUBLISHED.caveats

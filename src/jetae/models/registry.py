"""Model registry: one name -> (config dataclass, detector class, description).

:data:`MODEL_MODULES` lists the modules of ``jetae.models`` that define models; each registers
its detectors with the ``@register`` decorator when imported. Adding a model touches its own
file and that one line.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable

from jetae.errors import JetaeError

#: The modules of ``jetae.models`` that define registered models (the one place to add one).
MODEL_MODULES = (
    "pca",
    "autoencoders",
    "vae",
    "nae",
    "ensemble",
    "lola_ae",
    "particle_ae",
    "seq_ae",
    "density",
)


@dataclass(frozen=True)
class ModelSpec:
    """What the registry knows about one model."""

    name: str
    config_cls: type
    detector_cls: type
    description: str

    def option_names(self) -> list[str]:
        """Every option ``create_model(name, ...)`` and ``--set`` accept: model options, then trainer options."""
        model, trainer = self.detector_cls.option_names()
        return model + trainer

    def has_option(self, option: str) -> bool:
        """Whether ``option`` is one of :meth:`option_names` (e.g. ``epochs``, ``progress``)."""
        return option in self.option_names()


_REGISTRY: dict[str, ModelSpec] = {}
_LOADED = False


def register(name: str, config_cls: type, description: str = "") -> Callable[[type], type]:
    """Class decorator adding a detector under ``name`` with its config dataclass."""

    def decorate(detector_cls: type) -> type:
        if name in _REGISTRY and _REGISTRY[name].detector_cls is not detector_cls:
            raise ValueError(f"model name {name!r} registered twice")
        doc = description or next(iter((detector_cls.__doc__ or "").strip().splitlines()), "")
        _REGISTRY[name] = ModelSpec(name, config_cls, detector_cls, doc)
        detector_cls.name = name
        detector_cls.config_cls = config_cls
        return detector_cls

    return decorate


def load_models() -> None:
    """Import every module of :data:`MODEL_MODULES` (once), which registers its models."""
    global _LOADED
    if not _LOADED:
        for module in MODEL_MODULES:
            importlib.import_module(f"jetae.models.{module}")
        _LOADED = True


def available_models() -> list[ModelSpec]:
    """All registered models, sorted by name."""
    load_models()
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]


def get_model_spec(name: str) -> ModelSpec:
    """Look a model up by name; an unknown name raises a JetaeError listing the known ones."""
    load_models()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise JetaeError(f"unknown model {name!r}; available models: {known}") from None


def create_model(name: str, config: Any = None, **overrides: Any):
    """Instantiate detector ``name`` from options: ``config`` (a dict or a config dataclass) plus keyword
    overrides; model and trainer options alike (each goes to the detector's config or trainer config)."""
    spec = get_model_spec(name)
    return spec.detector_cls(config, **overrides)

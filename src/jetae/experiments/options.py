"""Per-model options of an experiment: model names checked, preset options merged, configs resolved."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from jetae.config import merge_options
from jetae.errors import JetaeError
from jetae.models import create_model, get_model_spec


def check_models(models: Sequence[str]) -> list[str]:
    """Validate model names (unknown names raise a JetaeError listing the known ones)."""
    models = list(models)
    if not models:
        raise JetaeError("no model given")
    if len(set(models)) != len(models):
        raise JetaeError(f"model given twice: {', '.join(models)}")
    for name in models:
        get_model_spec(name)
    return models


def has_option(model: str, option: str) -> bool:
    """Whether model ``model`` takes option ``option`` (model or trainer option, e.g. ``progress``, ``epochs``)."""
    return get_model_spec(model).has_option(option)


def model_options_for(
    models: Sequence[str],
    model_options: Mapping[str, Mapping[str, Any]] | None,
    defaults: Mapping[str, Mapping[str, Any]] | None = None,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """Per-model overrides: ``defaults[name]``, then ``seed``, then ``model_options[name]``, merged.

    Every result is checked by building the model's config now, so a wrong option fails
    before any data is read or any model trained.
    """
    model_options = dict(model_options or {})
    unknown = sorted(set(model_options) - set(models))
    if unknown:
        raise JetaeError(f"options given for model(s) not in the study: {', '.join(unknown)}")
    options = {}
    for name in models:
        merged = merge_options(dict((defaults or {}).get(name, {})), {"seed": seed})
        options[name] = merge_options(merged, dict(model_options.get(name, {})))
        try:
            create_model(name, options[name])
        except JetaeError as exc:
            raise JetaeError(f"model {name}: {exc}") from None
    return options


def resolved_configs(options: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """``{model: fully resolved config}`` (every option with its value), for ``config.json``."""
    return {name: create_model(name, dict(opts)).get_params() for name, opts in options.items()}

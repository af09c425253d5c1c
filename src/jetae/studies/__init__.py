"""Self-contained studies that train and compare detectors (``jetae study ...``).

One module per study, each a plain function returning a JSON-ready dict plus a
``write_*`` / plot helper:

* :mod:`.contamination`: AUC vs the fraction of signal mixed into the training jets;
* :mod:`.reverse`: train on QCD and tag the signal, train on the signal and tag QCD;
* :mod:`.digits`: hold one of scikit-learn's 8x8 digit classes out, score it;
* :mod:`.toy`: the function autoencoder, points on a curve y = f(x) (the classroom picture).

This module holds the small helpers they share (model options, reading samples, scoring
a background / anomaly pair, writing a study directory atomically). Heavy imports
(torch, matplotlib) happen inside the functions so importing a study stays cheap.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from jetae.errors import JetaeError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from jetae.data.jets import Jets

log = logging.getLogger(__name__)

RESULTS_FILE = "results.json"
CONFIG_FILE = "config.json"

def check_models(models: Sequence[str]) -> list[str]:
    """Validate model names (unknown names raise a JetaeError listing the known ones)."""
    from jetae.models import get_model_spec

    models = list(models)
    if not models:
        raise JetaeError("no model given")
    if len(set(models)) != len(models):
        raise JetaeError(f"model given twice: {', '.join(models)}")
    for name in models:
        get_model_spec(name)
    return models


def model_options_for(models: Sequence[str], model_options: Mapping[str, Mapping[str, Any]] | None,
                      defaults: Mapping[str, Mapping[str, Any]] | None = None, seed: int = 0,
                      ) -> dict[str, dict[str, Any]]:
    """Per-model overrides: ``defaults[name]``, then ``seed``, then ``model_options[name]``, merged.

    Every result is checked by building the model's config now, so a wrong option fails
    before any data is read or any model trained.
    """
    from jetae.config import _merge
    from jetae.models import create_model

    model_options = dict(model_options or {})
    unknown = sorted(set(model_options) - set(models))
    if unknown:
        raise JetaeError(f"options given for model(s) not in the study: {', '.join(unknown)}")
    options = {}
    for name in models:
        merged = _merge(dict((defaults or {}).get(name, {})), {"seed": seed})
        options[name] = _merge(merged, dict(model_options.get(name, {})))
        try:
            create_model(name, options[name])
        except JetaeError as exc:
            raise JetaeError(f"model {name}: {exc}") from None
    return options


def resolved_configs(options: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """``{model: fully resolved config}`` (every option with its value), for ``config.json``."""
    from jetae.config import config_to_dict
    from jetae.models import create_model

    return {name: config_to_dict(create_model(name, dict(opts)).config) for name, opts in options.items()}


def has_option(model: str, option: str) -> bool:
    """Whether model ``model``'s config has a field ``option`` (e.g. ``progress``, ``epochs``)."""
    import dataclasses

    from jetae.models import get_model_spec

    return any(f.name == option for f in dataclasses.fields(get_model_spec(model).config_cls))


def read_sample(sample: str | os.PathLike | Jets, role: str, n_max: int | None = None) -> "Jets":
    """Jets as given or read from a reference-layout file (at most ``n_max``); errors name the role."""
    from jetae.data.jets import Jets
    from jetae.data.toptag import read_jets

    if n_max is not None and n_max < 1:
        raise JetaeError(f"{role}: number of jets must be >= 1, got {n_max}")
    if isinstance(sample, Jets):
        if len(sample) == 0:
            raise JetaeError(f"{role}: no jets", sample.source)
        return sample if n_max is None else sample[:n_max]
    path = Path(os.fspath(sample))
    if not path.exists():
        raise JetaeError(f"{role} file not found", path)
    jets = read_jets(path, n_max=n_max)
    log.info("%s: %d jets from %s", role, len(jets), path)
    return jets


def sample_name(sample: str | os.PathLike | Jets) -> str | None:
    """The path of a file sample (or the source of in-memory jets), for provenance."""
    from jetae.data.jets import Jets

    if isinstance(sample, Jets):
        return sample.source
    return os.fspath(sample)


def score_pair(detector: Any, background: Any, anomalies: Any, n_bootstrap: int = 100, seed: int = 0
               ) -> dict[str, Any]:
    """Score both samples with ``detector`` and summarise: AUC (± bootstrap), R30, R50, counts.

    ``background`` plays the role of the known class, ``anomalies`` that of the signal
    (higher score = more anomalous). Uses :func:`jetae.evaluation.metrics.summarize`.
    """
    from jetae.evaluation.metrics import summarize

    return summarize(detector.anomaly_score(background), detector.anomaly_score(anomalies),
                     n_bootstrap=n_bootstrap, seed=seed)


def study_config(study: str, parameters: Mapping[str, Any], model_configs: Mapping[str, Any] | None = None,
                 command: str | None = None) -> dict[str, Any]:
    """The fully resolved configuration of a study run, with versions and the command."""
    import numpy as np

    from jetae import __version__

    versions = {"jetae": __version__, "numpy": np.__version__, "python": platform.python_version()}
    for module in ("torch", "lightning", "sklearn"):
        loaded = sys.modules.get(module)
        if loaded is not None:
            versions[module] = getattr(loaded, "__version__", None)
    config = {"study": study, "command": command, "parameters": dict(parameters)}
    if model_configs is not None:
        config["models"] = dict(model_configs)
    config["versions"] = versions
    return config


def check_out_dir(out: str | os.PathLike, overwrite: bool) -> Path:
    """Refuse an existing output directory unless ``overwrite`` (checked before any work)."""
    out = Path(out)
    if out.exists() and not overwrite:
        raise JetaeError("output directory already exists; pass --overwrite to replace it", out)
    if out.exists() and not out.is_dir():
        raise JetaeError("output path exists and is not a directory", out)
    return out


def write_study(out: str | os.PathLike, results: Mapping[str, Any], config: Mapping[str, Any],
                figures: Mapping[str, "Figure"], overwrite: bool = False) -> Path:
    """Write ``results.json``, ``config.json`` and each figure as ``<stem>.png|pdf`` into ``out``.

    Everything goes into a temporary directory renamed onto ``out`` at the end: after an
    error there is no ``out`` (or the old one is untouched).
    """
    from jetae._atomic import atomic_dir
    from jetae.evaluation.jsonify import json_ready
    from jetae.evaluation.plots import save_figure

    out = check_out_dir(out, overwrite)
    with atomic_dir(out, overwrite=overwrite) as tmp:
        (tmp / RESULTS_FILE).write_text(json.dumps(json_ready(results), indent=2) + "\n")
        (tmp / CONFIG_FILE).write_text(json.dumps(json_ready(config), indent=2) + "\n")
        for stem, figure in figures.items():
            save_figure(figure, tmp, stem)
    log.info("wrote %s", out)
    return out

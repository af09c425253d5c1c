"""Both directions: train on QCD and tag the signal, train on the signal and tag QCD.

A model-agnostic anomaly detector should work either way round. Plain autoencoders do
not: QCD jets have fewer hard prongs and fewer constituents than top jets, so they are
*simpler* and reconstruct well whatever the network was trained on. An AE trained on top
jets therefore gives QCD jets a lower anomaly score than the top jets it was trained on,
an AUC well below 0.5 (Finke et al., arXiv:2104.09051; Dillon et al., arXiv:2206.14225).
The study records each model's AUC (and R30) in both directions.

``forward``: trained on the background training jets; background test = known class,
signal test = anomaly. ``reverse``: trained on the signal training jets; signal test =
known class, background test = anomaly.
"""

from __future__ import annotations

import logging
import math
import os
import time
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from jetae.evaluation.direction import tag_direction
from jetae.evaluation.plots import COLOURS, new_figure, plot_style
from jetae.evaluation.resolvability import not_resolvable_text
from jetae.evaluation.samples import read_sample, sample_source
from jetae.experiments.options import check_models, model_options_for, resolved_configs
from jetae.experiments.studies.common import study_config, write_study
from jetae.jets import Jets
from jetae.models import create_model

if TYPE_CHECKING:
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

DIRECTIONS = ("forward", "reverse")


def reverse_study(
    background_train: str | os.PathLike | Jets,
    signal_train: str | os.PathLike | Jets,
    background_test: str | os.PathLike | Jets,
    signal_test: str | os.PathLike | Jets,
    models: Sequence[str] = ("conv_ae",),
    n_train: int | None = None,
    n_test: int | None = None,
    seed: int = 0,
    model_options: Mapping[str, Mapping[str, Any]] | None = None,
    n_bootstrap: int = 100,
) -> dict[str, Any]:
    """Train each model on background and on signal; tag the other class in each case.

    Parameters
    ----------
    background_train, signal_train:
        Training jets of each class (reference-layout files or Jets); the first
        ``n_train`` of each are used.
    background_test, signal_test:
        Test jets of each class (the first ``n_test`` of each).
    models, seed, model_options, n_bootstrap:
        As in :func:`jetae.experiments.studies.contamination.contamination_study`.

    Returns
    -------
    JSON-ready dict with ``results[model][direction]`` = the
    :func:`~jetae.evaluation.metrics.summarize` block (``auc``, ``auc_err``, ``r30``,
    ``r50``, ...; ``n`` counts the anomalies, ``n_background`` the known class) plus
    ``n_train`` and ``seconds`` (fit + score time), for ``direction`` in ``forward``
    (trained on background, anomaly = signal) and ``reverse`` (trained on signal,
    anomaly = background).
    """
    models = check_models(models)
    options = model_options_for(models, model_options, seed=seed)
    train = {
        "forward": read_sample(background_train, "background training", n_train),
        "reverse": read_sample(signal_train, "signal training", n_train),
    }
    background = read_sample(background_test, "background test", n_test)
    signal = read_sample(signal_test, "signal test", n_test)
    roles = {"forward": (background, signal), "reverse": (signal, background)}

    results: dict[str, dict[str, Any]] = {name: {} for name in models}
    steps = [(name, d) for name in models for d in DIRECTIONS]
    for step, (name, direction) in enumerate(steps, 1):
        jets = train[direction]
        log.info(
            "[%d/%d] %s, %s: training on %d %s jets",
            step,
            len(steps),
            name,
            direction,
            len(jets),
            "background" if direction == "forward" else "signal",
        )
        began = time.perf_counter()
        known, anomalies = roles[direction]
        result = tag_direction(
            create_model(name, options[name]),
            known,
            {"anomaly": anomalies},
            train=jets,
            sculpting=False,
            n_bootstrap=n_bootstrap,
            seed=seed,
        )
        record = dict(result.signals["anomaly"])
        record["n_train"] = len(jets)
        record["seconds"] = time.perf_counter() - began
        log.info(
            "[%d/%d] %s, %s: AUC %s +- %s, R30 %s (%.0f s)",
            step,
            len(steps),
            name,
            direction,
            not_resolvable_text(record["auc"], ".4f"),
            not_resolvable_text(record["auc_err"], ".4f"),
            not_resolvable_text(record["r30"], ".2f"),
            record["seconds"],
        )
        results[name][direction] = record
    return {
        "study": "reverse",
        "models": models,
        "n_train": {d: len(train[d]) for d in DIRECTIONS},
        "n_test_background": len(background),
        "n_test_signal": len(signal),
        "seed": seed,
        "directions": {
            "forward": "trained on background, anomaly = signal",
            "reverse": "trained on signal, anomaly = background",
        },
        "inputs": {
            "background_train": sample_source(background_train),
            "signal_train": sample_source(signal_train),
            "background_test": sample_source(background_test),
            "signal_test": sample_source(signal_test),
        },
        "results": results,
        "options": options,
    }


def _finite(value: Any, default: float = 0.0) -> float:
    return float(value) if value is not None and math.isfinite(value) else default


def plot_reverse(results: Mapping[str, Any]) -> "Figure":
    """Grouped bars: AUC per model in both directions (bootstrap errors), values written on the bars."""
    names = list(results["results"])
    x = np.arange(len(names))
    width = 0.38
    labels = {"forward": "trained on background, tag signal", "reverse": "trained on signal, tag background"}
    with plot_style():
        figure, axes = new_figure(size=(max(6.0, 1.6 * len(names) + 3.0), 6.0))
        ax = axes[0, 0]
        for i, direction in enumerate(DIRECTIONS):
            aucs = [results["results"][n][direction]["auc"] for n in names]  # None: not resolvable
            errs = [_finite(results["results"][n][direction]["auc_err"]) for n in names]
            bars = ax.bar(
                x + (i - 0.5) * width,
                [_finite(a) for a in aucs],
                width,
                yerr=errs,
                capsize=3,
                color=COLOURS[1 + i],
                label=labels[direction],
            )
            for bar, value in zip(bars, aucs):
                ax.text(
                    bar.get_x() + bar.get_width() / 2,
                    _finite(value) + 0.02,
                    not_resolvable_text(value, ".3f"),
                    ha="center",
                    va="bottom",
                    fontsize="x-small",
                )
        ax.axhline(0.5, ls="--", color="grey", lw=1.5, label="random")
        ax.set_xticks(x, names)
        ax.set_ylim(0.0, 1.4)  # room for the legend above the bars
        ax.set_ylabel("AUC")
        ax.set_title("Both directions", fontsize="small")
        ax.legend(loc="upper left", fontsize="x-small")
    return figure


def summary_lines(results: Mapping[str, Any]) -> list[str]:
    """A terminal table: one line per model, both directions."""
    lines = [f"{'model':<14} {'AUC forward':>16} {'R30 fwd':>9} {'AUC reverse':>16} {'R30 rev':>9}"]
    for name, record in results["results"].items():
        cells = []
        for direction in DIRECTIONS:
            r = record[direction]
            auc = not_resolvable_text(r["auc"], ".4f") + (f"±{r['auc_err']:.4f}" if r["auc_err"] is not None else "")
            cells.append(f"{auc:>16} {not_resolvable_text(r['r30'], '.2f'):>9}")
        lines.append(f"{name:<14} " + " ".join(cells))
    return lines


def write_reverse(
    out: str | os.PathLike, results: Mapping[str, Any], command: str | None = None, overwrite: bool = False
) -> None:
    """``out/results.json``, ``out/config.json`` (resolved model configs) and ``out/reverse.png|pdf``."""
    parameters = {k: results[k] for k in ("models", "n_train", "seed", "inputs")}
    config = study_config("reverse", parameters, resolved_configs(results["options"]), command)
    write_study(out, results, config, {"reverse": plot_reverse(results)}, overwrite=overwrite)

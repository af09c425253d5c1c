"""Signal contamination: how does a detector cope with signal hiding in its training data?

In a real search the "background" training sample is data, and data may already contain
the signal. The study trains each model on ``N`` jets of which a fraction ``f`` is signal
(``(1 - f) N`` QCD + ``f N`` signal, seeded) and evaluates every model on the same clean
test set (QCD test vs signal test). An autoencoder learns whatever it is shown: the more
signal it sees, the better it reconstructs it and the lower the AUC. At ``f = 0.5`` the
"background" is half signal, and a purely data-driven method should be close to random
(AUC 0.5) or, if the signal is simpler than QCD, even below.

Samples are nested: the QCD jets at a larger ``f`` are a subset of those at a smaller
``f`` and the signal jets a superset, and every model uses the same seed at every ``f``,
so the curve differs only through the contamination.
"""

from __future__ import annotations

import logging
import math
import os
import time
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from jetae.errors import JetaeError
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

#: Signal fractions of the literature's contamination studies.
DEFAULT_FRACTIONS = (0.0, 0.01, 0.05, 0.10, 0.50)


def check_fractions(fractions: Sequence[float]) -> list[float]:
    """Fractions as floats, each in [0, 1], no duplicates; raises a JetaeError otherwise."""
    try:
        values = [float(f) for f in fractions]
    except (TypeError, ValueError):
        raise JetaeError(f"signal fractions must be numbers, got {list(fractions)!r}") from None
    if not values:
        raise JetaeError("no signal fraction given")
    bad = [f for f in values if not (math.isfinite(f) and 0.0 <= f <= 1.0)]
    if bad:
        raise JetaeError(f"signal fractions must be in [0, 1], got {', '.join(f'{f:g}' for f in bad)}")
    if len(set(values)) != len(values):
        raise JetaeError(f"signal fraction given twice: {', '.join(f'{f:g}' for f in values)}")
    return values


def signal_count(fraction: float, n_train: int) -> int:
    """Number of signal jets ``round(f * N)`` in a training sample of ``N`` jets."""
    return int(round(fraction * n_train))


def mix_training_sample(background: Jets, signal: Jets, fraction: float, n_train: int, seed: int = 0) -> Jets:
    """``n_train`` jets: ``n_train - round(f n_train)`` background + ``round(f n_train)`` signal, shuffled.

    The jets are drawn from seeded permutations of each pool, taking a prefix of each, so
    for one seed the samples of different fractions are nested. Labels (``is_signal``) are
    kept; the detectors never look at them.
    """
    if n_train < 1:
        raise JetaeError(f"n_train must be >= 1, got {n_train}")
    n_signal = signal_count(fraction, n_train)
    n_background = n_train - n_signal
    if n_background > len(background):
        raise JetaeError(
            f"f = {fraction:g} needs {n_background} background training jets, only {len(background)} available",
            background.source,
        )
    if n_signal > len(signal):
        raise JetaeError(
            f"f = {fraction:g} needs {n_signal} signal training jets, only {len(signal)} available; "
            "lower --n-train or give a larger signal file",
            signal.source,
        )
    rng_background, rng_signal = (np.random.default_rng([seed, k]) for k in (0, 1))
    parts = [
        background[np.sort(rng_background.permutation(len(background))[:n_background])],
        signal[np.sort(rng_signal.permutation(len(signal))[:n_signal])],
    ]
    mixed = Jets.concatenate([p for p in parts if len(p)])
    mixed.source = f"{background.source} + {fraction:g} x {signal.source}"
    return mixed.shuffled(seed)


def contamination_study(
    background_train: str | os.PathLike | Jets,
    signal_train: str | os.PathLike | Jets,
    background_test: str | os.PathLike | Jets,
    signal_test: str | os.PathLike | Jets,
    models: Sequence[str] = ("conv_ae",),
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    n_train: int | None = None,
    n_test: int | None = None,
    seed: int = 0,
    model_options: Mapping[str, Mapping[str, Any]] | None = None,
    n_bootstrap: int = 100,
) -> dict[str, Any]:
    """Train each model at each signal fraction and evaluate it on the clean test set.

    Parameters
    ----------
    background_train, signal_train:
        Training pools (reference-layout files or :class:`~jetae.data.jets.Jets`).
    background_test, signal_test:
        The clean test set: background (QCD) and signal jets.
    models:
        Registered model names (``jetae models``).
    fractions:
        Signal fractions ``f`` in [0, 1] of the training sample.
    n_train:
        Size ``N`` of every training sample (default: the number of background training
        jets). The first ``N`` background jets and the first ``round(max(f) N)`` signal
        jets of the files are read.
    n_test:
        Use at most the first ``n_test`` jets of each test file.
    seed:
        Seed of the mixing and of every model (unless its options set ``seed``).
    model_options:
        Per-model option overrides, e.g. ``{"conv_ae": {"epochs": 10}}``.
    n_bootstrap:
        Bootstrap replicas of the AUC error.

    Returns
    -------
    JSON-ready dict: ``fractions``, ``n_train``, the inputs, and ``results[model]`` = one
    record per fraction ``{"fraction", "n_signal_train", "n_background_train", "auc",
    "auc_err", "r30", "r50", "eps_s_at_1e-2", "eps_s_at_1e-3", "n", "n_background",
    "seconds"}`` (AUC etc. on the clean test set; ``seconds`` = fit + score time).
    """
    models = check_models(models)
    fractions = check_fractions(fractions)
    options = model_options_for(models, model_options, seed=seed)
    if n_train is not None and n_train < 1:
        raise JetaeError(f"n_train must be >= 1, got {n_train}")
    background_pool = read_sample(background_train, "background training", n_train)
    n_train = len(background_pool) if n_train is None else n_train
    if len(background_pool) < n_train:
        raise JetaeError(
            f"asked for {n_train} training jets, the background training sample has only {len(background_pool)}",
            background_pool.source,
        )
    n_signal_max = max(signal_count(f, n_train) for f in fractions)
    signal_pool = read_sample(signal_train, "signal training", max(n_signal_max, 1))
    if len(signal_pool) < n_signal_max:  # fail now, not after training the smaller fractions
        raise JetaeError(
            f"f = {max(fractions):g} needs {n_signal_max} signal training jets, only {len(signal_pool)} "
            "available; lower --n-train or give a larger signal file",
            signal_pool.source,
        )
    background = read_sample(background_test, "background test", n_test)
    signal = read_sample(signal_test, "signal test", n_test)

    results: dict[str, list[dict[str, Any]]] = {name: [] for name in models}
    steps = [(name, f) for name in models for f in fractions]
    for step, (name, fraction) in enumerate(steps, 1):
        train = mix_training_sample(background_pool, signal_pool, fraction, n_train, seed)
        n_signal = int(train.is_signal.sum())
        log.info(
            "[%d/%d] %s, f = %g: training on %d jets (%d signal)",
            step,
            len(steps),
            name,
            fraction,
            len(train),
            n_signal,
        )
        began = time.perf_counter()
        direction = tag_direction(
            create_model(name, options[name]),
            background,
            {"signal": signal},
            train=train,
            sculpting=False,
            n_bootstrap=n_bootstrap,
            seed=seed,
        )
        record = {"fraction": fraction, "n_signal_train": n_signal, "n_background_train": len(train) - n_signal}
        record.update(direction.signals["signal"])
        record["seconds"] = time.perf_counter() - began
        log.info(
            "[%d/%d] %s, f = %g: AUC %s +- %s, R30 %s (%.0f s)",
            step,
            len(steps),
            name,
            fraction,
            not_resolvable_text(record["auc"], ".4f"),
            not_resolvable_text(record["auc_err"], ".4f"),
            not_resolvable_text(record["r30"], ".1f"),
            record["seconds"],
        )
        results[name].append(record)
    return {
        "study": "contamination",
        "models": models,
        "fractions": fractions,
        "n_train": n_train,
        "n_test_background": len(background),
        "n_test_signal": len(signal),
        "seed": seed,
        "inputs": {
            "background_train": sample_source(background_train),
            "signal_train": sample_source(signal_train),
            "background_test": sample_source(background_test),
            "signal_test": sample_source(signal_test),
        },
        "results": results,
        "options": options,
    }


def plot_contamination(results: Mapping[str, Any]) -> "Figure":
    """AUC on the clean test set vs training signal fraction, one line per model (with errors)."""
    with plot_style():
        figure, axes = new_figure()
        ax = axes[0, 0]
        for i, (name, records) in enumerate(results["results"].items()):
            # an AUC the test samples do not resolve (null) is not drawn
            records = sorted((r for r in records if r["auc"] is not None), key=lambda r: r["fraction"])
            x = [r["fraction"] for r in records]
            y = [r["auc"] for r in records]
            err = [r["auc_err"] if r["auc_err"] is not None and math.isfinite(r["auc_err"]) else 0.0 for r in records]
            ax.errorbar(
                x, y, yerr=err, marker="o", lw=2, capsize=3, color=COLOURS[1 + i % (len(COLOURS) - 1)], label=name
            )
        ax.axhline(0.5, ls="--", color="grey", lw=1.5, label="random")
        # Linear below 1 %, logarithmic above: f = 0 and f = 0.01 ... 0.5 are all readable.
        ax.set_xscale("symlog", linthresh=0.01, linscale=0.5)
        ax.set_xlim(0.0, 1.0)
        ax.set_ylim(min(0.0, ax.get_ylim()[0]), 1.0)
        ax.set_xlabel(r"Signal fraction $f$ in the training sample")
        ax.set_ylabel("AUC (clean test set)")
        ax.set_title(f"Signal contamination, N = {results['n_train']} training jets", fontsize="small")
        ax.legend(loc="lower left", fontsize="x-small")
    return figure


def summary_lines(results: Mapping[str, Any]) -> list[str]:
    """A terminal table: one line per model and fraction."""
    lines = [f"{'model':<14} {'f':>6} {'n_signal':>9} {'AUC':>15} {'R30':>9} {'seconds':>8}"]
    for name, records in results["results"].items():
        for r in records:
            auc = not_resolvable_text(r["auc"], ".4f") + (f"±{r['auc_err']:.4f}" if r["auc_err"] is not None else "")
            lines.append(
                f"{name:<14} {r['fraction']:>6g} {r['n_signal_train']:>9d} "
                f"{auc:>15} {not_resolvable_text(r['r30'], '.2f'):>9} {r['seconds']:>8.1f}"
            )
    return lines


def write_contamination(
    out: str | os.PathLike, results: Mapping[str, Any], command: str | None = None, overwrite: bool = False
) -> None:
    """``out/results.json``, ``out/config.json`` (resolved model configs) and ``out/contamination.png|pdf``."""
    parameters = {k: results[k] for k in ("models", "fractions", "n_train", "seed", "inputs")}
    config = study_config("contamination", parameters, resolved_configs(results["options"]), command)
    write_study(out, results, config, {"contamination": plot_contamination(results)}, overwrite=overwrite)

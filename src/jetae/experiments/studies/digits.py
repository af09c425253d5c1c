"""The digits hold-out study: does a detector flag a class it never saw, simple or not?

scikit-learn's bundled 8x8 handwritten digits (``sklearn.datasets.load_digits``, no
download) play the role of jets: train on nine digit classes, score test images of those
nine (background) and all images of the held-out class (anomalies), and record the AUC per
held-out digit. This is the MNIST experiment of the normalized-autoencoder paper (Yoon,
Noh, Park, arXiv:2105.05735) in small. There, plain autoencoders fail on the *simple*
held-out digits (a "1" is easy to reconstruct whatever the training set was), just as an
AE trained on top jets fails to flag QCD jets, and the NAE lifts those worst digits.
``docs/studies.md`` has what jetae's models do on the 8x8 version.

Images are scaled to [0, 1] (pixel value / 16) with shape ``(n, 1, 8, 8)``; the conv
models use one 2x down-sampling stage (8 -> 4).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
from sklearn.datasets import load_digits
from tqdm import tqdm

from jetae.config import merge_options
from jetae.errors import JetaeError
from jetae.evaluation.metrics import auc
from jetae.evaluation.plots import COLOURS, new_figure, plot_style
from jetae.experiments.options import check_models, has_option, model_options_for, resolved_configs
from jetae.experiments.studies.common import study_config, write_study
from jetae.models import create_model

if TYPE_CHECKING:
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

#: Options tuned for 8x8 digits on a CPU (merged under the caller's ``model_options``).
DIGITS_MODEL_OPTIONS: dict[str, dict[str, Any]] = {
    "conv_ae": {
        "latent_dim": 16,
        "epochs": 40,
        "batch_size": 128,
        "patience": 5,
        "scaler": "none",
        "output_activation": "sigmoid",
    },
    "nae": {
        "latent_dim": 16,
        "ae_epochs": 40,
        "epochs": 30,
        "batch_size": 128,
        "patience": 5,
        "scaler": "none",
        "output_activation": "sigmoid",
        "nae_lr": 1e-4,
        # As measured: nae's defaults before they became the tuned jet setting (issue #22).
        "gamma": 1.0,
        "nae_lr_schedule": "constant",
    },
    "dense_ae": {
        "hidden": [64, 32],
        "latent_dim": 8,
        "epochs": 40,
        "batch_size": 128,
        "patience": 5,
        "scaler": "none",
        "output_activation": "sigmoid",
    },
    "pca": {"n_components": 10, "scaler": "none"},
}


def load_digit_images() -> tuple[np.ndarray, np.ndarray]:
    """``(images (1797, 1, 8, 8) float32 in [0, 1], labels (1797,) int64)``."""
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[:, None]
    return images, digits.target.astype(np.int64)


def holdout_split(
    labels: np.ndarray, holdout: int, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Index arrays ``(train, test_inliers, anomalies)`` for one held-out class (seeded)."""
    order = np.random.default_rng(seed).permutation(len(labels))
    inliers = order[labels[order] != holdout]
    n_test = int(round(test_fraction * len(inliers)))
    return np.sort(inliers[n_test:]), np.sort(inliers[:n_test]), np.sort(order[labels[order] == holdout])


def digits_holdout_study(
    models: Sequence[str] = ("conv_ae", "nae"),
    digits: Sequence[int] = tuple(range(10)),
    test_fraction: float = 0.25,
    seed: int = 0,
    model_options: Mapping[str, Mapping[str, Any]] | None = None,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Train each model on nine digit classes and score the held-out one, for each digit.

    Parameters
    ----------
    models:
        Registered model names (``jetae models``); each must take ``(n, 1, 8, 8)`` arrays
        (the image models; ``dense_ae`` and ``pca`` flatten them).
    digits:
        The classes to hold out in turn (0-9).
    test_fraction:
        Fraction of the nine inlier classes kept out of training as test background.
    seed:
        Seed of the split and of every model (unless its options set ``seed``).
    model_options:
        Per-model option overrides, e.g. ``{"nae": {"epochs": 10}}``, merged over
        :data:`DIGITS_MODEL_OPTIONS`; checked before any training.
    progress:
        Show a progress bar over (model, digit) fits (default: when stderr is a terminal);
        the per-epoch bars of the models are switched off unless their options ask for them.

    Returns
    -------
    JSON-ready dict: ``auc[model][digit]`` (held-out digit as anomaly vs test inliers),
    ``mean_auc[model]``, ``worst_auc[model]`` / ``worst_digit[model]``,
    ``seconds[model]`` (total fit + score time), the merged ``options`` and the split
    sizes per digit.
    """
    try:
        digits = [int(d) for d in digits]
    except (TypeError, ValueError):
        raise JetaeError(f"digits must be integers between 0 and 9, got {list(digits)!r}") from None
    if not digits or any(d < 0 or d > 9 for d in digits):
        raise JetaeError(f"digits must be classes between 0 and 9, got {digits}")
    if len(set(digits)) != len(digits):
        raise JetaeError(f"digit given twice: {digits}")
    if not 0 < test_fraction < 1:
        raise JetaeError(f"test_fraction must be in (0, 1), got {test_fraction}")
    models = check_models(models)
    defaults = {
        name: merge_options(
            DIGITS_MODEL_OPTIONS.get(name, {}), {"progress": False} if has_option(name, "progress") else {}
        )
        for name in models
    }
    options = model_options_for(models, model_options, defaults=defaults, seed=seed)
    images, labels = load_digit_images()
    result: dict[str, Any] = {
        "study": "digits",
        "models": list(models),
        "digits": digits,
        "seed": seed,
        "test_fraction": test_fraction,
        "options": options,
        "auc": {name: {} for name in models},
        "seconds": {name: 0.0 for name in models},
        "n_train": {},
        "n_test_inliers": {},
        "n_anomalies": {},
    }
    show = progress if progress is not None else sys.stderr.isatty()
    jobs = [(name, digit) for digit in digits for name in models]
    for name, digit in tqdm(jobs, desc="digits hold-out", disable=not show, file=sys.stderr):
        train, test, anomalies = holdout_split(labels, digit, test_fraction, seed)
        began = time.perf_counter()
        detector = create_model(name, options[name]).fit(images[train])
        score_inliers = detector.anomaly_score(images[test])
        score_anomalies = detector.anomaly_score(images[anomalies])
        result["seconds"][name] += time.perf_counter() - began
        result["auc"][name][str(digit)] = auc(score_inliers, score_anomalies)
        result["n_train"][str(digit)] = int(len(train))
        result["n_test_inliers"][str(digit)] = int(len(test))
        result["n_anomalies"][str(digit)] = int(len(anomalies))
        log.info("digits hold-out %d, %s: AUC %.3f", digit, name, result["auc"][name][str(digit)])
    result["mean_auc"] = {name: float(np.mean(list(result["auc"][name].values()))) for name in models}
    result["worst_digit"] = {name: int(min(result["auc"][name], key=result["auc"][name].get)) for name in models}
    result["worst_auc"] = {name: result["auc"][name][str(result["worst_digit"][name])] for name in models}
    return result


def plot_digits(result: Mapping[str, Any]) -> "Figure":
    """AUC per held-out digit, one marker series per model, with the random line."""
    markers = ("o", "s", "^", "D", "v", "P")
    with plot_style():
        figure, axes = new_figure()
        ax = axes[0, 0]
        for i, name in enumerate(result["models"]):
            digits = sorted(int(d) for d in result["auc"][name])
            values = [result["auc"][name][str(d)] for d in digits]
            # Markers only: neighbouring digits are not related, a line would suggest a trend.
            ax.plot(
                digits,
                values,
                marker=markers[i % len(markers)],
                ms=10,
                ls="none",
                color=COLOURS[1 + i % (len(COLOURS) - 1)],
                label=f"{name} (mean {result['mean_auc'][name]:.3f})",
            )
        ax.axhline(0.5, ls="--", color="grey", lw=1.5, label="random")
        ax.set_xticks(range(10))
        ax.set_xlim(-0.5, 9.5)
        ax.set_ylim(0.0, 1.05)
        ax.set_xlabel("Held-out digit (the anomaly)")
        ax.set_ylabel("AUC")
        ax.set_title("8x8 digits: train on nine classes, score the tenth", fontsize="small")
        ax.legend(loc="lower left", fontsize="x-small")
    return figure


def summary_lines(result: Mapping[str, Any]) -> list[str]:
    """A terminal table: one row per model, one column per held-out digit, then mean and time."""
    digits = result["digits"]
    lines = [f"{'model':<14} " + " ".join(f"{d:>6d}" for d in digits) + f" {'mean':>7} {'seconds':>8}"]
    for name in result["models"]:
        cells = " ".join(f"{result['auc'][name][str(d)]:>6.3f}" for d in digits)
        lines.append(f"{name:<14} {cells} {result['mean_auc'][name]:>7.3f} {result['seconds'][name]:>8.1f}")
    return lines


def write_digits(
    out: str | os.PathLike, result: Mapping[str, Any], command: str | None = None, overwrite: bool = False
) -> None:
    """``out/results.json``, ``out/config.json`` (resolved model configs) and ``out/digits.png|pdf``."""
    parameters = {k: result[k] for k in ("models", "digits", "test_fraction", "seed")}
    parameters["data"] = "sklearn.datasets.load_digits (1797 8x8 images, pixel value / 16)"
    config = study_config("digits", parameters, resolved_configs(result["options"]), command)
    write_study(out, result, config, {"digits": plot_digits(result)}, overwrite=overwrite)

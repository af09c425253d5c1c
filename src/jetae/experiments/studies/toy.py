"""The function autoencoder: the classroom picture behind reconstruction-based anomaly detection.

Points ``(x, y)`` on a curve ``y = f(x)`` are both input and output of a small dense
autoencoder whose bottleneck is one number. Squeezing a 2-d point through a 1-d code
only works for points the network can describe by one coordinate along a curve, so
after training the decoder *is* a curve: the one the data lie on. A point on that curve
reconstructs almost perfectly; a point off it is mapped onto the curve and its
reconstruction error grows with its distance from it. The reconstruction error over the
plane is the anomaly score, and the learned curve is where it vanishes.

Everything here uses jetae's own ``dense_ae`` (a plain ``(n, 2)`` array goes straight to
the network, no jet representation involved) and runs in seconds on a CPU.
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

import numpy as np
from matplotlib.colors import LogNorm

from jetae.errors import JetaeError
from jetae.evaluation.metrics import auc
from jetae.evaluation.plots import COLOURS, new_figure, plot_style
from jetae.experiments.options import model_options_for
from jetae.experiments.studies.common import study_config, write_study
from jetae.models import create_model

if TYPE_CHECKING:
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

#: Named curves ``y = f(x)`` and their default x range.
FUNCTIONS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], str, tuple[float, float]]] = {
    "sin": (np.sin, r"$y = \sin x$", (-math.pi, math.pi)),
    "parabola": (lambda x: x**2, r"$y = x^2$", (-1.5, 1.5)),
    "cubic": (lambda x: x**3 - x, r"$y = x^3 - x$", (-1.5, 1.5)),
    "tanh": (lambda x: np.tanh(2 * x), r"$y = \tanh 2x$", (-2.0, 2.0)),
    "gauss": (lambda x: np.exp(-(x**2)), r"$y = e^{-x^2}$", (-2.5, 2.5)),
}

#: A tiny dense AE with a 1-d code; smooth (tanh) activations give a smooth learned curve.
TOY_MODEL_OPTIONS: dict[str, Any] = {
    "hidden": [32, 32],
    "latent_dim": 1,
    "activation": "tanh",
    "scaler": "standard",
    "epochs": 150,
    "batch_size": 64,
    "lr": 1e-2,
    "patience": 20,
    "device": "cpu",
    "progress": False,
}


@dataclass
class ToyResult:
    """Outcome of :func:`toy_study`: the JSON-ready ``summary`` and the arrays to plot.

    Attributes
    ----------
    summary:
        Settings and numbers: mean reconstruction error of fresh points on the curve
        (``error_on_curve``) and of points shifted by ``off_curve_distance`` in y
        (``error_off_curve``), their ratio, the AUC of off- vs on-curve points, timing.
    points:
        ``(n_points, 2)`` training points (x, y).
    curve:
        ``(n_curve, 2)`` the learned curve: the decoder swept over the latent range of the
        training points (or, for models without a decoder, reconstructions of points on
        the true curve).
    grid_x, grid_y:
        ``(grid_size,)`` axes of the score map.
    score_map:
        ``(grid_size, grid_size)`` reconstruction error (the anomaly score) at
        ``(grid_x[j], grid_y[i])`` in row ``i``, column ``j``.
    """

    summary: dict[str, Any]
    points: np.ndarray
    curve: np.ndarray
    grid_x: np.ndarray
    grid_y: np.ndarray
    score_map: np.ndarray
    extra: dict[str, Any] = field(default_factory=dict)


def resolve_function(
    function: str | Callable[[np.ndarray], np.ndarray], x_range: tuple[float, float] | None
) -> tuple[Callable[[np.ndarray], np.ndarray], str, tuple[float, float]]:
    """``(f, label, x_range)`` for a named curve (see :data:`FUNCTIONS`) or a numpy callable."""
    if callable(function):
        if x_range is None:
            raise JetaeError("give x_range for a custom function")
        label = getattr(function, "__name__", "f")
        return function, f"$y = {label}(x)$", x_range
    if function not in FUNCTIONS:
        raise JetaeError(f"unknown function {function!r}; choose one of {', '.join(FUNCTIONS)}")
    f, label, default_range = FUNCTIONS[function]
    return f, label, default_range if x_range is None else x_range


def curve_points(
    f: Callable[[np.ndarray], np.ndarray], n: int, x_range: tuple[float, float], noise: float = 0.0, seed: int = 0
) -> np.ndarray:
    """``(n, 2)`` float32 points ``(x, f(x) + noise * N(0, 1))`` with x uniform in ``x_range``."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(x_range[0], x_range[1], n)
    y = np.asarray(f(x), dtype=np.float64) + noise * rng.normal(size=n)
    return np.column_stack([x, y]).astype(np.float32)


def learned_curve(detector: Any, points: np.ndarray, n: int = 400, margin: float = 0.05) -> np.ndarray:
    """``(n, 2)`` the decoder's image of a 1-d latent interval covering the training points.

    For a model without a dense decoder (or with a code of more than one number) the
    reconstructions of ``points`` sorted by x are returned instead.
    """
    network = getattr(detector, "network_", None)
    decoder = getattr(network, "decoder", None)
    if decoder is None or getattr(detector.config, "latent_dim", None) != 1:
        order = np.argsort(points[:, 0])
        return detector.reconstruct(points[order])[1]
    code = detector.encode(points)[:, 0]
    lo, hi = float(code.min()), float(code.max())
    pad = margin * (hi - lo)
    latent = np.linspace(lo - pad, hi + pad, n, dtype=np.float32)[:, None]
    decoded = detector.run_network(latent, lambda net, batch: net.decoder(batch))
    return detector.scaler_.inverse_transform(decoded)


def toy_study(
    function: str | Callable[[np.ndarray], np.ndarray] = "sin",
    n_points: int = 1000,
    x_range: tuple[float, float] | None = None,
    noise: float = 0.0,
    seed: int = 0,
    model: str = "dense_ae",
    model_options: Mapping[str, Any] | None = None,
    grid_size: int = 120,
    off_curve_distance: float = 0.5,
) -> ToyResult:
    """Fit an autoencoder with a 1-d bottleneck on points of ``y = f(x)``; map its error over the plane.

    Parameters
    ----------
    function:
        A name from :data:`FUNCTIONS` (``sin``, ``parabola``, ``cubic``, ``tanh``,
        ``gauss``) or a vectorised callable (then ``x_range`` is required).
    n_points:
        Number of training points.
    x_range:
        ``(x_min, x_max)`` of the training points (default: the function's).
    noise:
        Gaussian noise added to y (standard deviation, same units as y).
    seed:
        Seed of the points and of the model (unless ``model_options`` sets one).
    model:
        A registered model that takes ``(n, 2)`` arrays (``dense_ae`` by default; ``pca``
        works too and learns a straight line).
    model_options:
        Overrides merged over :data:`TOY_MODEL_OPTIONS` (for ``dense_ae``; ``pca`` defaults to
        one component).
    grid_size:
        Points per axis of the score map.
    off_curve_distance:
        Vertical shift of the off-curve test points (units of y).
    """
    if n_points < 10:
        raise JetaeError(f"n_points must be >= 10, got {n_points}")
    if grid_size < 2:
        raise JetaeError(f"grid_size must be >= 2, got {grid_size}")
    if noise < 0 or off_curve_distance <= 0:
        raise JetaeError("noise must be >= 0 and off_curve_distance > 0")
    f, label, x_range = resolve_function(function, x_range)
    x_range = (float(x_range[0]), float(x_range[1]))
    if not x_range[1] > x_range[0]:
        raise JetaeError(f"x_range must be (x_min, x_max) with x_max > x_min, got {x_range}")
    # pca's one component is the straight-line version of the same picture.
    defaults = {"dense_ae": TOY_MODEL_OPTIONS, "pca": {"n_components": 1}}
    options = model_options_for([model], {model: dict(model_options or {})}, defaults=defaults, seed=seed)[model]

    points = curve_points(f, n_points, x_range, noise, seed)
    began = time.perf_counter()
    detector = create_model(model, options).fit(points)
    fit_seconds = time.perf_counter() - began
    log.info("toy: %s fitted on %d points of %s in %.1f s", model, n_points, label, fit_seconds)

    # Fresh points on the curve vs the same x shifted off it by +-d in y.
    test = curve_points(f, 1000, x_range, 0.0, seed + 1)
    shift = np.where(np.arange(len(test)) % 2 == 0, 1.0, -1.0).astype(np.float32) * off_curve_distance
    off = test + np.column_stack([np.zeros(len(test), np.float32), shift])
    error_on = detector.anomaly_score(test)
    error_off = detector.anomaly_score(off)

    curve = learned_curve(detector, points)
    x_pad = 0.25 * (x_range[1] - x_range[0])
    y_lo, y_hi = float(points[:, 1].min()), float(points[:, 1].max())
    y_pad = 0.5 * max(y_hi - y_lo, 1e-3)
    grid_x = np.linspace(x_range[0] - x_pad, x_range[1] + x_pad, grid_size, dtype=np.float32)
    grid_y = np.linspace(y_lo - y_pad, y_hi + y_pad, grid_size, dtype=np.float32)
    plane = np.stack(np.meshgrid(grid_x, grid_y), axis=-1).reshape(-1, 2)
    score_map = detector.anomaly_score(plane).reshape(grid_size, grid_size)
    # Distance of the learned curve from the true one (y units), where x is inside the range.
    inside = (curve[:, 0] >= x_range[0]) & (curve[:, 0] <= x_range[1])
    curve_error = (
        float(np.sqrt(np.mean((curve[inside, 1] - f(curve[inside, 0].astype(np.float64))) ** 2)))
        if inside.any()
        else math.nan
    )

    summary = {
        "study": "toy",
        "function": function if isinstance(function, str) else label,
        "label": label,
        "x_range": list(x_range),
        "n_points": n_points,
        "noise": noise,
        "seed": seed,
        "model": model,
        "options": options,
        "off_curve_distance": off_curve_distance,
        "error_on_curve": float(error_on.mean()),
        "error_off_curve": float(error_off.mean()),
        "error_ratio": float(error_off.mean() / max(error_on.mean(), 1e-30)),
        "auc_off_vs_on": auc(error_on, error_off),
        "learned_curve_rms_y": curve_error,
        "epochs_trained": len(detector.history_),
        "fit_seconds": fit_seconds,
        "units": "errors are the model's reconstruction loss in scaled input units (standard scaler)",
    }
    log.info(
        "toy: error on curve %.3g, off curve (|dy| = %g) %.3g, AUC %.3f",
        summary["error_on_curve"],
        off_curve_distance,
        summary["error_off_curve"],
        summary["auc_off_vs_on"],
    )
    return ToyResult(summary, points, curve, grid_x, grid_y, score_map, {"detector": detector})


def plot_toy(result: ToyResult) -> "Figure":
    """Left: training points, true and learned curve. Right: log reconstruction error over the plane."""
    summary = result.summary
    f = FUNCTIONS[summary["function"]][0] if summary["function"] in FUNCTIONS else None
    with plot_style():
        figure, axes = new_figure(1, 2, size=(15.0, 6.0))
        left, right = axes[0]
        left.scatter(
            result.points[:, 0],
            result.points[:, 1],
            s=6,
            color="grey",
            alpha=0.5,
            label=f"training points ({len(result.points)})",
        )
        if f is not None:
            x = np.linspace(*summary["x_range"], 400)
            left.plot(x, f(x), ls="--", color="black", lw=1.2, label=summary["label"])
        left.plot(result.curve[:, 0], result.curve[:, 1], color=COLOURS[2], lw=2.5, label="learned curve")
        left.set_xlabel("$x$")
        left.set_ylabel("$y$")
        left.set_title(f"{summary['model']}, 1-d code", fontsize="small")
        left.legend(loc="best", fontsize="x-small")

        positive = result.score_map[result.score_map > 0]
        floor = float(positive.min()) if positive.size else 1e-12
        mesh = right.pcolormesh(
            result.grid_x,
            result.grid_y,
            np.maximum(result.score_map, floor),
            norm=LogNorm(vmin=floor, vmax=max(float(result.score_map.max()), floor * 10)),
            cmap="viridis",
            shading="auto",
        )
        figure.colorbar(mesh, ax=right, label="reconstruction error (anomaly score)")
        right.scatter(result.points[:, 0], result.points[:, 1], s=2, color="white", alpha=0.4)
        right.plot(result.curve[:, 0], result.curve[:, 1], color=COLOURS[1], lw=2)
        right.set_xlim(result.grid_x[0], result.grid_x[-1])
        right.set_ylim(result.grid_y[0], result.grid_y[-1])
        right.set_xlabel("$x$")
        right.set_ylabel("$y$")
        right.set_title(
            f"off/on-curve error ratio {summary['error_ratio']:.0f} (|dy| = {summary['off_curve_distance']:g})",
            fontsize="small",
        )
    return figure


def summary_lines(result: ToyResult) -> list[str]:
    """A few lines for the terminal."""
    s = result.summary
    return [
        f"function {s['function']} on x in [{s['x_range'][0]:.3g}, {s['x_range'][1]:.3g}], {s['n_points']} points, "
        f"{s['model']} with a {s['options'].get('latent_dim', '?')}-d code, {s['epochs_trained']} epochs "
        f"({s['fit_seconds']:.1f} s)",
        f"mean reconstruction error on the curve  {s['error_on_curve']:.4g}",
        f"mean reconstruction error |dy| = {s['off_curve_distance']:g} off it  {s['error_off_curve']:.4g}  "
        f"(x{s['error_ratio']:.1f}, AUC {s['auc_off_vs_on']:.3f})",
        f"learned curve vs true curve: rms dy = {s['learned_curve_rms_y']:.3g}",
    ]


def write_toy(out: str | os.PathLike, result: ToyResult, command: str | None = None, overwrite: bool = False) -> None:
    """``out/results.json`` (the summary), ``out/config.json`` (resolved model config) and ``out/toy.png|pdf``."""
    s = result.summary
    parameters = {k: s[k] for k in ("function", "x_range", "n_points", "noise", "seed", "model", "off_curve_distance")}
    parameters["grid_size"] = int(len(result.grid_x))
    detector = result.extra.get("detector")
    models = {s["model"]: detector.get_params()} if detector is not None else None
    config = study_config("toy", parameters, models, command)
    write_study(out, s, config, {"toy": plot_toy(result)}, overwrite=overwrite)

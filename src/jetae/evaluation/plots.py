"""Evaluation plots of the figures of merit (ROC, sensitivity vs sculpting, scores, mass
sculpting) and the figure style every jetae plot shares.

Every ``plot_*`` function takes plain numpy arrays and returns a matplotlib
:class:`~matplotlib.figure.Figure` built without pyplot (Agg canvas, no global backend
switch, no open-figure bookkeeping), styled with a compact variant of mplhep's CMS style
(no experiment label). :func:`save_figure` writes PNG and PDF. Pictures of what a model
does (reconstructions, latent space, negative samples, training energies) are in
:mod:`jetae.evaluation.model_plots`.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import mplhep
import numpy as np
from matplotlib import style as mpl_style
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from jetae.evaluation.metrics import MASS_BINS_GEV, select_top_fraction

log = logging.getLogger(__name__)

#: Background efficiencies of the successive cuts in :func:`plot_mass_sculpting`.
SCULPTING_EFFICIENCIES = (1.0, 0.5, 0.1, 0.01)

#: Class colours: background first, then signals (colour-blind friendly, Petroff 2021).
COLOURS = ("#5790fc", "#f89c20", "#e42536", "#964a8b", "#9c9ca1", "#7a21dd", "#3f90da", "#bd1f01")

LINE_STYLES = ("-", "--", ":", "-.")

PNG_DPI = 100


def _style() -> dict:
    style = dict(mplhep.style.CMS)
    # CMS style is made for 10x10 inch single plots; report figures are smaller.
    style.update(
        {
            "font.size": 15,
            "figure.figsize": (8.0, 6.0),
            "legend.frameon": False,
            "xtick.major.size": 8,
            "ytick.major.size": 8,
            "xtick.minor.size": 4,
            "ytick.minor.size": 4,
            "axes.titlesize": "medium",
        }
    )
    return style


@contextlib.contextmanager
def plot_style() -> Iterator[None]:
    """Apply the report style to figures created and saved inside the block."""
    with mpl_style.context(_style()):
        yield


def new_figure(
    n_rows: int = 1, n_cols: int = 1, size: tuple[float, float] | None = None, **kwargs
) -> tuple[Figure, np.ndarray]:
    """A figure with an Agg canvas and an ``(n_rows, n_cols)`` array of axes."""
    figure = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(n_rows, n_cols, squeeze=False, **kwargs)
    return figure, axes


def show_log_image(ax, image: np.ndarray) -> None:
    """Draw one image ``(height, width)`` on ``ax`` in its own log colour scale (pixels <= 0 blank, no
    ticks): the thumbnails of jet-image grids."""
    from matplotlib.colors import LogNorm

    positive = image[image > 0]
    norm = LogNorm(vmin=float(positive.min()), vmax=float(positive.max())) if positive.size > 1 else None
    ax.imshow(np.where(image > 0, image, np.nan), origin="lower", norm=norm)
    ax.set_xticks([])
    ax.set_yticks([])


def save_figure(figure: Figure, directory: str | os.PathLike, stem: str) -> dict[str, Path]:
    """Write ``stem.png`` and ``stem.pdf`` into ``directory``; returns ``{"png": ..., "pdf": ...}``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {"png": directory / f"{stem}.png", "pdf": directory / f"{stem}.pdf"}
    with plot_style():
        figure.savefig(paths["png"], dpi=PNG_DPI)
        figure.savefig(paths["pdf"])
    return paths


# --------------------------------------------------------------------------- ROC
def plot_roc(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], title: str | None = None) -> Figure:
    """Background rejection ``1/eps_B`` (log) vs signal efficiency ``eps_S``.

    Parameters
    ----------
    curves:
        ``{label: (eps_s, eps_b)}`` as returned by :func:`jetae.evaluation.metrics.roc_curve`;
        several curves (signals, scores, runs) are overlaid. Points with ``eps_b = 0``
        (infinite rejection) are not drawn.
    """
    with plot_style():
        figure, axes = new_figure()
        ax = axes[0, 0]
        max_rejection = 10.0
        for i, (label, (eps_s, eps_b)) in enumerate(curves.items()):
            eps_s = np.asarray(eps_s)
            eps_b = np.asarray(eps_b)
            finite = eps_b > 0
            rejection = 1.0 / eps_b[finite]
            if rejection.size:
                max_rejection = max(max_rejection, float(rejection.max()))
            # Background colour (index 0) is skipped; line styles cycle once colours run out.
            ax.plot(
                eps_s[finite],
                rejection,
                color=COLOURS[1 + i % (len(COLOURS) - 1)],
                ls=LINE_STYLES[(i // (len(COLOURS) - 1)) % len(LINE_STYLES)],
                lw=2,
                label=label,
            )
        grid = np.linspace(1e-3, 1.0, 400)
        ax.plot(grid, 1.0 / grid, ls="--", color="grey", lw=1.5, label=r"random ($1/\varepsilon_S$)")
        ax.set_yscale("log")
        ax.set_xlim(0.0, 1.0)
        ax.set_ylim(1.0, max_rejection * 2.0)
        ax.set_xlabel(r"Signal efficiency $\varepsilon_S$")
        ax.set_ylabel(r"Background rejection $1/\varepsilon_B$")
        ax.legend(loc="upper right", fontsize="x-small")
        if title:
            ax.set_title(title, fontsize="small")
    return figure


# --------------------------------------------------------------------------- sensitivity vs sculpting
#: Where 1/JSD is infinite (no sculpting measurable), points are drawn at this value.
TRADEOFF_INFINITE_INV_JSD = 1e4


def plot_tradeoff(
    series: Mapping[str, Sequence[tuple[float | None, float, str]]],
    signal: str,
    target_inv_jsd: float | None = 10.0,
    target_auc: float | None = None,
) -> Figure:
    """Sensitivity vs mass sculpting: AUC (y) against 1/JSD of the background mass (x, log).

    Parameters
    ----------
    series:
        ``{curve label: [(inv_jsd, auc, point label), ...]}`` in drawing order (e.g. runs
        of one model ordered by their DisCo lambda); each curve is a connected line and
        each point is annotated with its label. ``inv_jsd = None`` (infinite: the cut does
        not sculpt at all) is drawn at the right edge. No series: an empty plot that says so.
    signal:
        Name of the signal the AUCs belong to (axis label).
    target_inv_jsd, target_auc:
        Optional guide lines (e.g. the goal 1/JSD >= 10).
    """
    with plot_style():
        figure, axes = new_figure(size=(8.0, 6.0))
        ax = axes[0, 0]
        for i, (label, points) in enumerate(series.items()):
            colour = COLOURS[1 + i % (len(COLOURS) - 1)]
            xs = [TRADEOFF_INFINITE_INV_JSD if x is None else x for x, _, _ in points]
            ys = [y for _, y, _ in points]
            ax.plot(xs, ys, "o-", color=colour, lw=2, ms=7, label=label)
            for x, y, (_, _, name) in zip(xs, ys, points):
                if name:
                    ax.annotate(name, (x, y), textcoords="offset points", xytext=(5, 5), fontsize=10, color=colour)
        if target_inv_jsd is not None:
            ax.axvline(target_inv_jsd, color="grey", lw=1, ls="--")
        if target_auc is not None:
            ax.axhline(target_auc, color="grey", lw=1, ls=":")
        ax.axhline(0.5, color="grey", lw=1, ls="-", alpha=0.5)
        ax.set_xscale("log")
        ax.set_xlabel(r"1/JSD of the background mass ($\varepsilon_B$ = 50%)")
        ax.set_ylabel(f"AUC ({signal} vs background)")
        ax.set_title("Sensitivity vs mass sculpting (up and right is better)", fontsize="small")
        if series:
            ax.legend(loc="best", fontsize="x-small")
        else:  # every AUC or JSD is n/a: too few jets
            ax.text(
                0.5,
                0.5,
                "no point: the samples resolve no AUC and 1/JSD",
                transform=ax.transAxes,
                ha="center",
                va="center",
                color="grey",
            )
    return figure


# --------------------------------------------------------------------------- scores
def _score_bins(values: Sequence[np.ndarray], n_bins: int = 60) -> tuple[np.ndarray, bool]:
    """Common bins for all classes: log-spaced for positive scores spanning > 2 decades."""
    everything = np.concatenate([np.asarray(v, dtype=np.float64).reshape(-1) for v in values])
    everything = everything[np.isfinite(everything)]
    lo, hi = np.quantile(everything, [0.0, 0.999]) if everything.size else (0.0, 1.0)
    hi = max(hi, everything.max() if everything.size else hi)
    if lo > 0 and hi / lo > 100:
        return np.geomspace(lo, hi, n_bins + 1), True
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    return np.linspace(lo, hi, n_bins + 1), False


def plot_score_distributions(scores: Mapping[str, np.ndarray], score_name: str = "score") -> Figure:
    """Normalised anomaly-score histograms per class (log y).

    ``scores`` maps class label to ``(n,)`` scores; the first entry is the background.
    """
    with plot_style():
        figure, axes = new_figure()
        ax = axes[0, 0]
        bins, log_x = _score_bins(list(scores.values()))
        for i, (label, values) in enumerate(scores.items()):
            values = np.clip(np.asarray(values, dtype=np.float64), bins[0], bins[-1])
            ax.hist(
                values,
                bins=bins,
                density=True,
                histtype="step" if i else "stepfilled",
                alpha=1.0 if i else 0.35,
                lw=2,
                color=COLOURS[i % len(COLOURS)],
                label=f"{label} ({values.size})",
            )
        if log_x:
            ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(f"Anomaly score ({score_name})")
        ax.set_ylabel("Normalised to unit area")
        ax.legend(loc="upper right", fontsize="x-small")
    return figure


# --------------------------------------------------------------------------- sculpting
def plot_mass_sculpting(
    mass_background: np.ndarray,
    scores_background: np.ndarray,
    efficiencies: Sequence[float] = SCULPTING_EFFICIENCIES,
    bins: np.ndarray = MASS_BINS_GEV,
    score_name: str = "score",
) -> Figure:
    """Background jet-mass shape (GeV, normalised) after cuts keeping each background fraction.

    Overflow is folded into the edge bins, as in :func:`~jetae.evaluation.metrics.mass_histogram`.
    """
    mass = np.asarray(mass_background, dtype=np.float64)
    clipped = np.clip(mass, bins[0], np.nextafter(bins[-1], -np.inf))
    greys = ("black", "#5790fc", "#f89c20", "#e42536", "#964a8b")
    with plot_style():
        figure, axes = new_figure()
        ax = axes[0, 0]
        for i, efficiency in enumerate(efficiencies):
            kept = select_top_fraction(scores_background, efficiency)
            label = "no cut" if efficiency >= 1.0 else rf"$\varepsilon_B$ = {efficiency:g}"
            ax.hist(
                clipped[kept],
                bins=bins,
                density=True,
                histtype="step",
                lw=2,
                color=greys[i % len(greys)],
                label=f"{label} ({int(kept.sum())} jets)",
            )
        ax.set_xlim(bins[0], bins[-1])
        ax.set_xlabel(r"Jet mass $m_J$ [GeV]")
        ax.set_ylabel("Normalised to unit area")
        ax.set_title(f"Background mass after cuts on {score_name}", fontsize="small")
        ax.legend(loc="upper right", fontsize="x-small")
    return figure

"""Anomaly-detection figures of merit with the names used in HEP (numpy arrays in, floats out).

The ROC curve and its area are scikit-learn's, under HEP names and conventions.

Conventions
-----------
* A higher score is more signal-like (more anomalous); a jet passes a cut at threshold
  ``t`` when ``score >= t``.
* ``eps_s`` / ``eps_b`` are the signal / background efficiencies (true / false positive
  rates); the background rejection is ``1 / eps_b``.
* Every function takes the background scores first, then the signal scores, as 1-d
  arrays of any length >= 1 (NaN is an error; so is inf for the ROC-based figures).

Figures a sample cannot resolve
-------------------------------
The functions below compute a number for any input of at least one jet. The headline
blocks (:func:`summarize`, :func:`mass_sculpting`) quote a figure only where the sample
resolves it, following the rules of :mod:`jetae.evaluation.resolvability`
(:data:`MIN_JETS_PER_CLASS`, :data:`MIN_PASSING_JETS`, :data:`MIN_JETS_SCULPTING`,
re-exported here); otherwise the figure is ``None`` (JSON ``null``, "n/a" in
tables) and ``"<figure>_reason"`` says why (e.g. ``"eps_s_at_1e-3": None,
"eps_s_at_1e-3_reason": "needs >= 10000 background jets (10 passing at eps_B = 0.001),
have 300"``). Every ``None`` figure has a reason, and no block holds inf or NaN.
"""

from __future__ import annotations

import logging
import math
from typing import Callable

import numpy as np
from sklearn import metrics as sklearn_metrics

from jetae.evaluation.resolvability import (
    MIN_BACKGROUND_JETS_ALL_FIGURES,
    MIN_JETS_PER_CLASS,
    MIN_JETS_SCULPTING,
    MIN_PASSING_JETS,
    MIN_SIGNAL_JETS_ALL_FIGURES,
    NOT_AVAILABLE,
    REASON_SUFFIX,
    REJECTION_WORKING_POINTS,
    SCULPTING_WORKING_POINTS,
    SIGNAL_EFFICIENCY_WORKING_POINTS,
    auc_reason,
    background_jets_needed,
    not_resolvable_text,
    put_figure,
    rejection_reason,
    sculpting_jets_needed,
    sculpting_reason,
    signal_efficiency_reason,
    signal_jets_needed,
)

log = logging.getLogger(__name__)

#: The figures of merit, and the resolvability rules of :mod:`jetae.evaluation.resolvability`
#: (re-exported: they belong to the metrics' API).
__all__ = [
    "MASS_BINS_GEV",
    "DCOR_MAX_SAMPLES",
    "roc_curve",
    "auc",
    "background_efficiency_at",
    "rejection_at",
    "r30",
    "r50",
    "signal_efficiency_at",
    "bootstrap",
    "jensen_shannon_divergence",
    "select_top_fraction",
    "mass_histogram",
    "mass_sculpting_jsd",
    "distance_correlation",
    "mass_sculpting",
    "summarize",
    "MIN_BACKGROUND_JETS_ALL_FIGURES",
    "MIN_JETS_PER_CLASS",
    "MIN_JETS_SCULPTING",
    "MIN_PASSING_JETS",
    "MIN_SIGNAL_JETS_ALL_FIGURES",
    "NOT_AVAILABLE",
    "REASON_SUFFIX",
    "REJECTION_WORKING_POINTS",
    "SCULPTING_WORKING_POINTS",
    "SIGNAL_EFFICIENCY_WORKING_POINTS",
    "auc_reason",
    "background_jets_needed",
    "not_resolvable_text",
    "put_figure",
    "rejection_reason",
    "sculpting_jets_needed",
    "sculpting_reason",
    "signal_efficiency_reason",
    "signal_jets_needed",
]

#: Default jet-mass binning for sculpting studies: 10 GeV bins from 0 to 300 GeV
#: (masses outside are put in the first / last bin, so no jet is dropped).
MASS_BINS_GEV = np.linspace(0.0, 300.0, 31)

#: Above this many jets :func:`distance_correlation` uses a random subsample (O(n^2) cost).
DCOR_MAX_SAMPLES = 5000

MetricFn = Callable[[np.ndarray, np.ndarray], float]


def _as_scores(values: np.ndarray, what: str) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if values.size == 0:
        raise ValueError(f"{what}: no scores given")
    if np.isnan(values).any():
        raise ValueError(f"{what}: scores contain NaN")
    return values


# --------------------------------------------------------------------------- ROC
def _labelled(background: np.ndarray, signal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(labels, scores)`` for scikit-learn: signal = 1 (the positive class), background = 0.

    Infinite scores are refused here with a clear message (scikit-learn would refuse them too).
    """
    for values, what in ((background, "background"), (signal, "signal")):
        if np.isinf(values).any():
            raise ValueError(f"{what}: scores contain inf (the ROC curve needs finite scores)")
    labels = np.concatenate([np.zeros(background.size, dtype=np.int8), np.ones(signal.size, dtype=np.int8)])
    return labels, np.concatenate([background, signal])


def roc_curve(scores_background: np.ndarray, scores_signal: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC curve: efficiencies for a cut ``score >= threshold`` at every distinct score.

    ``sklearn.metrics.roc_curve`` with ``drop_intermediate=False`` under HEP names.

    Parameters
    ----------
    scores_background, scores_signal:
        ``(n_b,)`` and ``(n_s,)`` scores, higher = more signal-like.

    Returns
    -------
    eps_s, eps_b, thresholds:
        ``(m,)`` arrays ordered by decreasing threshold, so ``eps_s`` and ``eps_b`` are
        non-decreasing. The first point is ``threshold = +inf`` (nothing passes,
        ``(0, 0)``), the last is the lowest score (everything passes, ``(1, 1)``).
        Tied scores form one threshold: jets with equal scores always pass together, so
        a tie between a signal and a background jet gives a diagonal ROC segment.
    """
    background = _as_scores(scores_background, "background")
    signal = _as_scores(scores_signal, "signal")
    # drop_intermediate=False keeps one point per distinct score (the interpolations below need them all).
    eps_b, eps_s, thresholds = sklearn_metrics.roc_curve(*_labelled(background, signal), drop_intermediate=False)
    return eps_s, eps_b, thresholds


def auc(scores_background: np.ndarray, scores_signal: np.ndarray) -> float:
    """Area under the ROC curve: P(random signal scores above random background).

    ``sklearn.metrics.roc_auc_score``: ties count 1/2 (Mann-Whitney U / (n_s n_b)), the
    trapezoid area under :func:`roc_curve`. 0.5 = no separation; values below 0.5 mean the
    score is anti-correlated with signal.
    """
    background = _as_scores(scores_background, "background")
    signal = _as_scores(scores_signal, "signal")
    return float(sklearn_metrics.roc_auc_score(*_labelled(background, signal)))


def _interpolate_curve(x: np.ndarray, y: np.ndarray, target: float, at_equal_x: str) -> float:
    """y(x = target) along a monotone piecewise-linear curve.

    Where the curve is vertical at ``target`` (several points with that x), take the
    ``"min"`` or ``"max"`` of their y, i.e. the best working point for the caller.
    """
    if at_equal_x == "min":
        idx = int(np.searchsorted(x, target, side="left"))  # first point with x >= target
        if idx < x.size and x[idx] == target:
            return float(y[idx])
        lo, hi = idx - 1, idx
    else:
        idx = int(np.searchsorted(x, target, side="right")) - 1  # last point with x <= target
        if idx >= 0 and x[idx] == target:
            return float(y[idx])
        lo, hi = idx, idx + 1
    # lo is the last point of the lower-x group, hi the first of the upper one.
    weight = (target - x[lo]) / (x[hi] - x[lo])
    return float(y[lo] + weight * (y[hi] - y[lo]))


def _check_efficiency(value: float, name: str) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value}")
    return value


def background_efficiency_at(scores_background: np.ndarray, scores_signal: np.ndarray, eps_s: float = 0.3) -> float:
    """eps_B at signal efficiency ``eps_s``, linearly interpolated along the ROC curve.

    Where the ROC has several points at exactly ``eps_s``, the smallest eps_B is taken.
    """
    eps_s = _check_efficiency(eps_s, "eps_s")
    curve_s, curve_b, _ = roc_curve(scores_background, scores_signal)
    return _interpolate_curve(curve_s, curve_b, eps_s, at_equal_x="min")


def rejection_at(scores_background: np.ndarray, scores_signal: np.ndarray, eps_s: float = 0.3) -> float:
    """Background rejection ``1 / eps_B`` at signal efficiency ``eps_s`` (interpolated).

    Returns ``math.inf`` where eps_B = 0 (no background jet passes at that signal
    efficiency: the sample is too small to measure the rejection, or the separation
    is perfect). See :func:`background_efficiency_at` for the interpolation.
    """
    eps_b = background_efficiency_at(scores_background, scores_signal, eps_s)
    return math.inf if eps_b <= 0.0 else 1.0 / eps_b


def r30(scores_background: np.ndarray, scores_signal: np.ndarray) -> float:
    """Background rejection at 30% signal efficiency (the top-tagging standard)."""
    return rejection_at(scores_background, scores_signal, 0.3)


def r50(scores_background: np.ndarray, scores_signal: np.ndarray) -> float:
    """Background rejection at 50% signal efficiency."""
    return rejection_at(scores_background, scores_signal, 0.5)


def signal_efficiency_at(scores_background: np.ndarray, scores_signal: np.ndarray, eps_b: float = 1e-2) -> float:
    """eps_S at background efficiency (mistag rate) ``eps_b``, interpolated along the ROC.

    Where the ROC has several points at exactly ``eps_b``, the largest eps_S is taken.
    For ``eps_b < 1 / n_background`` the result interpolates towards the ``eps_b = 0``
    point and is not a measurement.
    """
    eps_b = _check_efficiency(eps_b, "eps_b")
    curve_s, curve_b, _ = roc_curve(scores_background, scores_signal)
    return _interpolate_curve(curve_b, curve_s, eps_b, at_equal_x="max")


def bootstrap(
    metric_fn: MetricFn,
    scores_bg: np.ndarray,
    scores_sig: np.ndarray,
    n: int = 100,
    seed: int = 0,
) -> tuple[float, float]:
    """A metric and its bootstrap standard deviation.

    Background and signal scores are resampled independently with replacement ``n``
    times (seeded, so the result is reproducible).

    Returns
    -------
    (value, std):
        ``value`` = ``metric_fn`` on the full samples; ``std`` = sample standard
        deviation (ddof=1) of the finite resampled values (infinite rejections are left
        out), NaN if fewer than two are finite or ``n < 2``.
    """
    background = _as_scores(scores_bg, "background")
    signal = _as_scores(scores_sig, "signal")
    value = float(metric_fn(background, signal))
    if n < 2:
        return value, math.nan
    rng = np.random.default_rng(seed)
    replicas = np.empty(n)
    for i in range(n):
        replicas[i] = metric_fn(
            background[rng.integers(0, background.size, background.size)],
            signal[rng.integers(0, signal.size, signal.size)],
        )
    finite = replicas[np.isfinite(replicas)]
    std = float(np.std(finite, ddof=1)) if finite.size >= 2 else math.nan
    return value, std


# --------------------------------------------------------------------------- sculpting
def jensen_shannon_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """JSD in bits (base 2, in [0, 1]) of two histograms (normalised here)."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if p.sum() <= 0 or q.sum() <= 0:
        raise ValueError("histograms must have positive total")
    p = p / p.sum()
    q = q / q.sum()
    m = 0.5 * (p + q)

    def kl(a: np.ndarray) -> float:
        nonzero = a > 0  # 0 log 0 = 0; m > 0 wherever a > 0
        return float(np.sum(a[nonzero] * np.log2(a[nonzero] / m[nonzero])))

    return float(min(max(0.5 * kl(p) + 0.5 * kl(q), 0.0), 1.0))


def select_top_fraction(scores: np.ndarray, fraction: float) -> np.ndarray:
    """Boolean mask keeping the ``round(fraction * n)`` highest scores (at least one).

    Equivalent to a cut on the score at the ``1 - fraction`` quantile; ties at the
    threshold are broken by position (stable sort), so the kept fraction is exact.
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    fraction = _check_efficiency(fraction, "background_efficiency")
    n_keep = max(1, int(round(fraction * scores.size)))
    order = np.argsort(-scores, kind="stable")
    mask = np.zeros(scores.size, dtype=bool)
    mask[order[:n_keep]] = True
    return mask


def mass_histogram(mass: np.ndarray, bins: np.ndarray = MASS_BINS_GEV) -> np.ndarray:
    """Counts of ``mass`` (GeV) in ``bins``, with under/overflow folded into the edge bins."""
    bins = np.asarray(bins, dtype=np.float64)
    clipped = np.clip(np.asarray(mass, dtype=np.float64), bins[0], np.nextafter(bins[-1], -np.inf))
    return np.histogram(clipped, bins=bins)[0]


def mass_sculpting_jsd(
    mass_background: np.ndarray,
    scores_background: np.ndarray,
    background_efficiency: float = 0.5,
    bins: np.ndarray = MASS_BINS_GEV,
) -> float:
    """How much a score cut distorts the background jet-mass distribution.

    Jensen-Shannon divergence (base 2, in [0, 1]; 0 = shape unchanged) between the
    histogram of ``mass_background`` (GeV, ``(n_b,)``) of all background jets and of
    the jets kept by the cut on ``scores_background`` that keeps the fraction
    ``background_efficiency`` (see :func:`select_top_fraction`). Binned in ``bins``
    (default :data:`MASS_BINS_GEV`). The usual figure of merit is ``1 / JSD`` (higher =
    less sculpting). Finite statistics bias the JSD upwards: compare models at equal
    sample size.
    """
    mass = np.asarray(mass_background, dtype=np.float64).reshape(-1)
    scores = _as_scores(scores_background, "background")
    if mass.shape != scores.shape:
        raise ValueError(f"mass {mass.shape} and scores {scores.shape} must have the same length")
    kept = select_top_fraction(scores, background_efficiency)
    return jensen_shannon_divergence(mass_histogram(mass, bins), mass_histogram(mass[kept], bins))


def distance_correlation(
    x: np.ndarray,
    y: np.ndarray,
    max_samples: int | None = DCOR_MAX_SAMPLES,
    seed: int = 0,
) -> float:
    """Squared sample distance correlation dCor^2(x, y) in [0, 1] of two 1-d arrays.

    A thin numpy wrapper over :func:`jetae.train.disco.distance_correlation` (the DisCo
    training loss, in torch; float64 here), so evaluation and training share one
    definition: the V-statistic (biased) estimator, as ``dcor.distance_correlation_sqr``;
    0 for independent variables (in the large-n limit), 1 for a linear relation. Cost is
    O(n^2) time and memory, so above ``max_samples`` pairs a random subsample of
    ``max_samples`` pairs is used (``numpy`` generator with ``seed``, so the value is
    reproducible); ``max_samples=None`` uses everything. Returns 0 if either variable is
    constant.
    """
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if x.shape != y.shape:
        raise ValueError(f"x {x.shape} and y {y.shape} must have the same length")
    if x.size < 2:
        raise ValueError("distance correlation needs at least two points")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("distance correlation of non-finite values")
    if max_samples is not None and x.size > max_samples:
        pick = np.random.default_rng(seed).choice(x.size, size=max_samples, replace=False)
        x, y = x[pick], y[pick]
    # torch is heavy: imported on first use, so the other metrics stay light to import.
    import torch

    from jetae.train.disco import distance_correlation as torch_distance_correlation

    with torch.no_grad():
        value = float(torch_distance_correlation(torch.from_numpy(x), torch.from_numpy(y)))
    return min(max(value, 0.0), 1.0)


def mass_sculpting(
    mass_background: np.ndarray,
    scores_background: np.ndarray,
    bins: np.ndarray = MASS_BINS_GEV,
    seed: int = 0,
) -> dict[str, float | str | None]:
    """The sculpting block of a report for background jets.

    Returns ``{"jsd_eff50", "jsd_eff10", "inv_jsd_eff50", "inv_jsd_eff10", "dcorr"}``:
    JSD of the mass shape after cuts keeping 50% / 10% of the background, its inverse, and
    dCor^2(mass, score) on at most :data:`DCOR_MAX_SAMPLES` background jets. A figure the
    sample does not resolve (:data:`MIN_JETS_SCULPTING`) is ``None`` with a
    ``"<figure>_reason"``; so is 1/JSD for JSD = 0 (infinite).
    """
    scores = _as_scores(scores_background, "background")
    n = scores.size
    block: dict[str, float | str | None] = {}
    for label, efficiency in SCULPTING_WORKING_POINTS.items():
        reason = sculpting_reason(n, efficiency)
        jsd = None if reason else mass_sculpting_jsd(mass_background, scores, efficiency, bins)
        put_figure(block, f"jsd_{label}", jsd, reason)
        if reason is None and jsd <= 0.0:
            reason = "JSD = 0 (the cut leaves the binned mass shape unchanged): 1/JSD is infinite"
        put_figure(block, f"inv_jsd_{label}", None if reason else 1.0 / jsd, reason)
    reason = sculpting_reason(n)
    put_figure(block, "dcorr", None if reason else distance_correlation(mass_background, scores, seed=seed), reason)
    return block


# --------------------------------------------------------------------------- summary
def summarize(
    scores_bg: np.ndarray,
    scores_sig: np.ndarray,
    n_bootstrap: int = 100,
    seed: int = 0,
) -> dict[str, float | int | str | None]:
    """All headline numbers for one background / signal pair.

    Returns
    -------
    dict with ``auc``, ``auc_err`` (bootstrap std, ``n_bootstrap`` replicas), ``r30``,
    ``r50`` (rejections 1/eps_B at eps_S = 0.3 / 0.5), ``eps_s_at_1e-2``,
    ``eps_s_at_1e-3`` (signal efficiency at eps_B = 1e-2 / 1e-3), ``n`` (number of
    signal jets) and ``n_background``. A figure these samples do not resolve (see
    :data:`MIN_JETS_PER_CLASS`, :data:`MIN_PASSING_JETS`) is ``None``, followed by
    ``"<figure>_reason"``; no value is inf or NaN.
    """
    background = _as_scores(scores_bg, "background")
    signal = _as_scores(scores_sig, "signal")
    n_b, n_s = background.size, signal.size
    block: dict[str, float | int | str | None] = {}
    reason = auc_reason(n_b, n_s)
    if reason:
        put_figure(block, "auc", None, reason)
        put_figure(block, "auc_err", None, reason)
    else:
        value, err = bootstrap(auc, background, signal, n=n_bootstrap, seed=seed)
        put_figure(block, "auc", value)
        if n_bootstrap < 2:
            err_reason = f"no bootstrap error with n_bootstrap = {n_bootstrap} (needs >= 2 replicas)"
        else:
            err_reason = None if math.isfinite(err) else "fewer than two finite bootstrap replicas"
        put_figure(block, "auc_err", err, err_reason)
    for key, eps_s in REJECTION_WORKING_POINTS.items():
        eps_b = None if rejection_reason(eps_s, None, n_b, n_s) else background_efficiency_at(background, signal, eps_s)
        reason = rejection_reason(eps_s, eps_b, n_b, n_s, name=key.upper())
        put_figure(block, key, None if reason else 1.0 / eps_b, reason)
    for key, eps_b in SIGNAL_EFFICIENCY_WORKING_POINTS.items():
        reason = signal_efficiency_reason(eps_b, n_b, n_s)
        put_figure(block, key, None if reason else signal_efficiency_at(background, signal, eps_b), reason)
    block["n"] = int(n_s)
    block["n_background"] = int(n_b)
    return block

"""When a sample resolves a figure of merit: the rules, their numbers and the reasons given.

The functions of :mod:`jetae.evaluation.metrics` compute a number for any input of at least
one jet. The headline blocks (:func:`~jetae.evaluation.metrics.summarize`,
:func:`~jetae.evaluation.metrics.mass_sculpting`) quote a figure only where the sample
resolves it, following :data:`MIN_JETS_PER_CLASS`, :data:`MIN_PASSING_JETS` and
:data:`MIN_JETS_SCULPTING`; otherwise the figure is ``None`` (JSON ``null``, "n/a" in
tables) and ``"<figure>_reason"`` says why. Plain Python, no numpy.
"""

from __future__ import annotations

import math

#: Jets of each class (background and signal) needed before an AUC, its bootstrap error or
#: an efficiency is quoted. The AUC's standard error is about sqrt(AUC (1 - AUC) / n) for n
#: jets per class (Hanley & McNeil): 0.1 to 0.15 at 10 jets, already no separation power to
#: speak of; below that the bootstrap resamples the same few jets and its spread means
#: nothing (one signal jet gave "AUC 0.82 +- 0.02").
MIN_JETS_PER_CLASS = 10

#: Jets that must pass a cut for an efficiency counted from them to be a measurement: k
#: counted jets have a relative (Poisson) error of 1/sqrt(k), 32% at 10. So eps_S at
#: eps_B = x needs MIN_PASSING_JETS / x background jets (1000 at 1e-2, 10 000 at 1e-3);
#: the rejection at eps_S = x (R30, R50) needs MIN_PASSING_JETS / x signal jets to place
#: the working point (34 for R30, 20 for R50) and MIN_PASSING_JETS background jets passing
#: it (none passing: the rejection is only a lower bound, R > n_background).
MIN_PASSING_JETS = 10

#: Jets a mass-sculpting figure is computed from: the background jets kept by the cut of a
#: JSD (30 mass bins), the background jets of dCor^2(mass, score). For a score independent
#: of the mass both estimators are biased upwards by about 3 / n (measured on toy QCD-like
#: masses: JSD 0.026 (cut keeping 50%) to 0.046 (10%) with 100 kept jets, dCor^2 0.03 with
#: 100 jets), as large as the smallest sculpting of the benchmark models (JSD50 ~ 0.02-0.13,
#: dCor^2 ~ 0.06-0.6 on 10 000 jets); fewer jets measure the sample size, not the model.
MIN_JETS_SCULPTING = 100

#: Figures of :func:`~jetae.evaluation.metrics.summarize`: rejections ``1 / eps_B`` at these signal efficiencies ...
REJECTION_WORKING_POINTS = {"r30": 0.3, "r50": 0.5}
#: ... and signal efficiencies at these background efficiencies.
SIGNAL_EFFICIENCY_WORKING_POINTS = {"eps_s_at_1e-2": 1e-2, "eps_s_at_1e-3": 1e-3}
#: Figures of :func:`~jetae.evaluation.metrics.mass_sculpting`: JSD after cuts keeping these background fractions.
SCULPTING_WORKING_POINTS = {"eff50": 0.5, "eff10": 0.1}

#: Suffix of the key that says why a figure is ``None``: ``"r30"`` -> ``"r30_reason"``.
REASON_SUFFIX = "_reason"
#: How tables show a figure the sample does not resolve.
NOT_AVAILABLE = "n/a"


def _jets_needed(count: float, efficiency: float) -> int:
    """Smallest n with ``efficiency * n >= count`` (rounded, so 10 / 1e-3 is 10000, not 10001)."""
    return math.ceil(round(count / efficiency, 6))


def background_jets_needed(eps_b: float) -> int:
    """Background jets needed for eps_S at ``eps_b``: :data:`MIN_PASSING_JETS` / ``eps_b``."""
    return _jets_needed(MIN_PASSING_JETS, eps_b)


def signal_jets_needed(eps_s: float) -> int:
    """Signal jets needed to place the working point eps_S = ``eps_s``: :data:`MIN_PASSING_JETS` / ``eps_s``."""
    return _jets_needed(MIN_PASSING_JETS, eps_s)


def sculpting_jets_needed(background_efficiency: float) -> int:
    """Background jets for a JSD after a cut keeping ``background_efficiency``: :data:`MIN_JETS_SCULPTING` / it."""
    return _jets_needed(MIN_JETS_SCULPTING, background_efficiency)


#: Below this many background jets some figure of ``summarize`` / ``mass_sculpting`` (metrics)
#: is never resolved (eps_S at eps_B = 1e-3 needs 10 000); ``jetae evaluate`` warns.
MIN_BACKGROUND_JETS_ALL_FIGURES = max(
    [background_jets_needed(e) for e in SIGNAL_EFFICIENCY_WORKING_POINTS.values()]
    + [sculpting_jets_needed(e) for e in SCULPTING_WORKING_POINTS.values()]
    + [MIN_JETS_SCULPTING]
)
#: Below this many signal jets some figure is never resolved (R30 needs 34); ``jetae evaluate`` warns.
MIN_SIGNAL_JETS_ALL_FIGURES = max(
    [signal_jets_needed(e) for e in REJECTION_WORKING_POINTS.values()] + [MIN_JETS_PER_CLASS]
)


def not_resolvable_text(value: float | None, spec: str = "", text: str = NOT_AVAILABLE) -> str:
    """``format(value, spec)``, or ``text`` ("n/a") for a figure that is ``None`` or not finite."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return text
    return format(value, spec)


def put_figure(block: dict, key: str, value: float | None, reason: str | None = None) -> None:
    """``block[key] = value``, or ``None`` plus ``block[key + "_reason"] = reason`` when ``reason`` is given.

    A value that is ``None`` or not finite without a reason is a bug in the caller.
    """
    if reason is None and (value is None or not math.isfinite(value)):
        raise ValueError(f"{key} = {value} needs a reason")
    if reason is None:
        block[key] = float(value)
    else:
        block[key] = None
        block[key + REASON_SUFFIX] = reason


def auc_reason(n_background: int, n_signal: int) -> str | None:
    """Why the AUC of these sample sizes is not quoted (None: it is); see :data:`MIN_JETS_PER_CLASS`."""
    if min(n_background, n_signal) < MIN_JETS_PER_CLASS:
        return f"needs >= {MIN_JETS_PER_CLASS} jets of each class, have {n_background} background and {n_signal} signal"
    return None


def signal_efficiency_reason(eps_b: float, n_background: int, n_signal: int) -> str | None:
    """Why eps_S at eps_B = ``eps_b`` is not quoted (None: it is); see :data:`MIN_PASSING_JETS`."""
    need = background_jets_needed(eps_b)
    if n_background < need:
        return f"needs >= {need} background jets ({MIN_PASSING_JETS} passing at eps_B = {eps_b:g}), have {n_background}"
    if n_signal < MIN_JETS_PER_CLASS:
        return f"needs >= {MIN_JETS_PER_CLASS} signal jets, have {n_signal}"
    return None


def rejection_reason(
    eps_s: float, eps_b: float | None, n_background: int, n_signal: int, name: str = "R"
) -> str | None:
    """Why the rejection at eps_S = ``eps_s`` is not quoted (None: it is).

    ``eps_b`` is the background efficiency at that working point (None: not computed yet;
    then only the signal count is checked). See :data:`MIN_PASSING_JETS`.
    """
    need = signal_jets_needed(eps_s)
    if n_signal < need:
        return f"needs >= {need} signal jets ({MIN_PASSING_JETS} passing at eps_S = {eps_s:g}), have {n_signal}"
    if eps_b is None:
        return None
    passing = eps_b * n_background
    if passing <= 0.0:
        return f"no background jet passes at eps_S = {eps_s:g}; {name} > {n_background}"
    if passing < MIN_PASSING_JETS - 1e-9:
        return (
            f"only {passing:.3g} background jets pass at eps_S = {eps_s:g}, needs >= {MIN_PASSING_JETS} "
            f"({name} ~ {1.0 / eps_b:.3g} is not resolved)"
        )
    return None


def sculpting_reason(n_background: int, background_efficiency: float | None = None) -> str | None:
    """Why a sculpting figure is not quoted (None: it is): the JSD after a cut keeping
    ``background_efficiency``, or dCor^2 for ``None``. See :data:`MIN_JETS_SCULPTING`."""
    if background_efficiency is None:
        if n_background < MIN_JETS_SCULPTING:
            return f"needs >= {MIN_JETS_SCULPTING} background jets, have {n_background}"
        return None
    need = sculpting_jets_needed(background_efficiency)
    if n_background < need:
        return (
            f"needs >= {need} background jets ({MIN_JETS_SCULPTING} kept by the cut at "
            f"eps_B = {background_efficiency:g}), have {n_background}"
        )
    return None

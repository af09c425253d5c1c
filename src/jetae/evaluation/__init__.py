"""Evaluation: figures of merit (:mod:`.metrics`), one tagging direction (:mod:`.direction`),
plots, the HTML report and ``evaluate_model`` (:mod:`.evaluate`, which lists the other modules).

Only the metrics are imported here, so ``from jetae.evaluation import auc`` stays light
(no torch, no matplotlib); plotting and model loading live in :mod:`jetae.evaluation.evaluate`.
"""

from __future__ import annotations

from jetae.evaluation.metrics import (
    auc,
    background_efficiency_at,
    bootstrap,
    distance_correlation,
    jensen_shannon_divergence,
    mass_sculpting,
    mass_sculpting_jsd,
    r30,
    r50,
    rejection_at,
    roc_curve,
    signal_efficiency_at,
    summarize,
)

__all__ = [
    "auc",
    "background_efficiency_at",
    "bootstrap",
    "distance_correlation",
    "jensen_shannon_divergence",
    "mass_sculpting",
    "mass_sculpting_jsd",
    "r30",
    "r50",
    "rejection_at",
    "roc_curve",
    "signal_efficiency_at",
    "summarize",
]


def __getattr__(name: str):
    # evaluate_model pulls in matplotlib and torch: imported only when asked for (see the docstring).
    if name == "evaluate_model":
        from jetae.evaluation.evaluate import evaluate_model

        return evaluate_model
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

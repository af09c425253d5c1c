"""Compatibility shim: moved to :mod:`jetae.experiments.studies.toy` (issue #17). Import from there."""

from __future__ import annotations

from jetae.experiments.studies.toy import (  # noqa: F401 (re-exported)
    FUNCTIONS,
    TOY_MODEL_OPTIONS,
    ToyResult,
    curve_points,
    learned_curve,
    plot_toy,
    resolve_function,
    summary_lines,
    toy_study,
    write_toy,
)

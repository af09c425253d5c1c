"""Compatibility shim: moved to :mod:`jetae.experiments.studies.contamination` (issue #17). Import from there."""

from __future__ import annotations

from jetae.experiments.studies.contamination import (  # noqa: F401 (re-exported)
    DEFAULT_FRACTIONS,
    check_fractions,
    contamination_study,
    mix_training_sample,
    plot_contamination,
    signal_count,
    summary_lines,
    write_contamination,
)

"""Compatibility shim: moved to :mod:`jetae.experiments.studies.digits` (issue #17). Import from there."""

from __future__ import annotations

from jetae.experiments.studies.digits import (  # noqa: F401 (re-exported)
    DIGITS_MODEL_OPTIONS,
    digits_holdout_study,
    holdout_split,
    load_digit_images,
    plot_digits,
    summary_lines,
    write_digits,
)

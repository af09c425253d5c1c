"""Compatibility shim: moved to :mod:`jetae.experiments.studies.reverse` (issue #17). Import from there."""

from __future__ import annotations

from jetae.experiments.studies.reverse import (  # noqa: F401 (re-exported)
    DIRECTIONS,
    plot_reverse,
    reverse_study,
    summary_lines,
    write_reverse,
)

"""Compatibility shim: moved to :mod:`jetae.experiments.seeds` (issue #17). Import from there."""

from __future__ import annotations

from jetae.experiments.seeds import (  # noqa: F401 (re-exported)
    AUC_METRICS,
    JSON_FILE,
    MARKDOWN_FILE,
    METRICS,
    SPEED_METRICS,
    markdown_summary,
    run_seed,
    summarize_seeds,
    summary_rows,
    summary_table,
    write_summary,
)

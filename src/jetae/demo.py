"""Compatibility shim: moved to :mod:`jetae.experiments.demo` (issue #17). Import from there."""

from __future__ import annotations

from jetae.experiments.demo import (  # noqa: F401 (re-exported)
    DemoConfig,
    demo_samples,
    ensure_samples,
    run_demo,
)
from jetae.experiments.sample_files import ensure_sample_files  # noqa: F401 (re-exported)

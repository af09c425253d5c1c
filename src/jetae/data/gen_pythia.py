"""Compatibility: moved to :mod:`jetae.generation.pythia`; import from there."""

from jetae.generation.pythia import (
    PYTHIA_SEED_MAX,
    EventBatch,
    VisibilityTable,
    capture_stdout,
    make_pythia,
    next_batch,
    physics_settings,
    pythia_version,
    stdout_to_stderr,
)

__all__ = [
    "PYTHIA_SEED_MAX",
    "EventBatch",
    "VisibilityTable",
    "capture_stdout",
    "make_pythia",
    "next_batch",
    "physics_settings",
    "pythia_version",
    "stdout_to_stderr",
]

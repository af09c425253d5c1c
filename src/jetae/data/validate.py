"""Compatibility: moved to :mod:`jetae.io.validate`; import from there."""

from jetae.io.validate import (
    ABS_TOLERANCE_GEV,
    N_EXAMPLES,
    REL_TOLERANCE,
    Problem,
    find_problems,
    padding_report,
    unphysical_constituents,
)

__all__ = [
    "ABS_TOLERANCE_GEV",
    "N_EXAMPLES",
    "REL_TOLERANCE",
    "Problem",
    "find_problems",
    "padding_report",
    "unphysical_constituents",
]

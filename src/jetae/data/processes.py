"""Compatibility: moved to :mod:`jetae.generation.processes`; import from there."""

from jetae.generation.processes import (
    BUILTIN_PROCESSES,
    DEFAULT_PTHAT_FRACTIONS,
    RESERVED_SETTINGS,
    ProcessSpec,
    get_process,
    read_card,
)

__all__ = [
    "BUILTIN_PROCESSES",
    "DEFAULT_PTHAT_FRACTIONS",
    "RESERVED_SETTINGS",
    "ProcessSpec",
    "get_process",
    "read_card",
]

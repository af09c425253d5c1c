"""Compatibility: moved to :mod:`jetae.io.check`; import from there."""

from jetae.io.check import (
    PROBLEM_KINDS,
    check_exit_code,
    check_sample,
    format_check,
)

__all__ = ["PROBLEM_KINDS", "check_exit_code", "check_sample", "format_check"]

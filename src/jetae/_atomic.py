"""Compatibility: moved to :mod:`jetae.io.atomic`; import from there."""

from jetae.io.atomic import (
    atomic_dir,
    atomic_path,
    check_not_input,
    check_writable,
    write_text_atomic,
)

__all__ = ["atomic_dir", "atomic_path", "check_not_input", "check_writable", "write_text_atomic"]

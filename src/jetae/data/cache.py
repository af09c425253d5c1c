"""Compatibility: moved to :mod:`jetae.io.cache`; import from there."""

from jetae.io.cache import (
    CACHE_FORMAT,
    build_cache,
    cache_dir,
    cache_path,
    read_cached,
)

__all__ = ["CACHE_FORMAT", "build_cache", "cache_dir", "cache_path", "read_cached"]

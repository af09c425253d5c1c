"""argparse ``type=`` functions: a nonsensical number ends in one usage error naming the option."""

from __future__ import annotations

import argparse

#: Largest seed Lightning / numpy accept (unsigned 32-bit; as jetae.models.base.SEED_MAX, not imported
#: here so that the CLI starts without numpy or torch).
SEED_MAX = 2**32 - 1


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None


def positive_int(text: str) -> int:
    """An integer >= 1 (counts of jets, epochs, devices, workers, ...)."""
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    """An integer >= 0."""
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text!r}")
    return value


def seed_int(text: str) -> int:
    """A random seed: an integer in 0..2**32-1."""
    value = _integer(text)
    if not 0 <= value <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"must be an integer from 0 to {SEED_MAX}, got {text!r}")
    return value

"""Compatibility: moved to :mod:`jetae.jets`; import from there."""

from jetae.jets import (
    N_CONSTITUENTS_MAX,
    TTV_TEST,
    TTV_TRAIN,
    TTV_VAL,
    Jets,
)

__all__ = ["N_CONSTITUENTS_MAX", "TTV_TEST", "TTV_TRAIN", "TTV_VAL", "Jets"]

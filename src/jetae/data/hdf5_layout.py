"""Compatibility: split into :mod:`jetae.io.hdf5_frame` (the reader) and :mod:`jetae.io.safe_pickle`."""

from jetae.io.hdf5_frame import (
    BATCH_ROWS,
    Block,
    FrameLayout,
    FrameReader,
    NodeInfo,
)
from jetae.io.safe_pickle import SAFE_OPCODES, decode_pickle

__all__ = ["BATCH_ROWS", "SAFE_OPCODES", "Block", "FrameLayout", "FrameReader", "NodeInfo", "decode_pickle"]

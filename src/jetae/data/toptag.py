"""Compatibility: moved to :mod:`jetae.io.toptag`; import from there."""

from jetae.io.toptag import (
    KEY,
    LABEL_COLUMNS,
    MOMENTUM_PREFIXES,
    TRUTH_COLUMNS,
    UNPHYSICAL_POLICIES,
    constituent_columns,
    count_jets,
    iter_jets,
    jets_to_frame,
    layout_columns,
    open_frame,
    read_chunk,
    read_jets,
    reference_columns,
    write_jets,
)

__all__ = [
    "KEY",
    "LABEL_COLUMNS",
    "MOMENTUM_PREFIXES",
    "TRUTH_COLUMNS",
    "UNPHYSICAL_POLICIES",
    "constituent_columns",
    "count_jets",
    "iter_jets",
    "jets_to_frame",
    "layout_columns",
    "open_frame",
    "read_chunk",
    "read_jets",
    "reference_columns",
    "write_jets",
]

"""Read and write the Top Quark Tagging Reference dataset layout (zenodo 2603256).

The layout is a pandas ``HDFStore`` with key ``table``: one row per jet, float columns
``E_i, PX_i, PY_i, PZ_i`` for ``i < 200`` (GeV, zero-padded, ordered by pT), the matched
parton ``truthE, truthPX, truthPY, truthPZ``, the split flag ``ttv`` (0 train, 1 test,
2 validation) and the label ``is_signal_new``. Files downloaded from zenodo are read
unchanged, and files written here open with plain ``pandas.read_hdf(path, "table")``.

Reading never goes through pandas or PyTables, which unpickle object columns and some
attributes: :mod:`jetae.io.hdf5_frame` reads the same files with h5py and refuses
anything that is not plain numbers, and :mod:`jetae.io.validate` checks every chunk.
Repeated reads of one file go faster through :func:`jetae.io.cache.read_cached`.

:func:`read_jets`, :func:`iter_jets` and :func:`count_jets` also accept the field's other
datasets, JetClass ROOT and JetNet HDF5 files: :func:`jetae.io.datasets.detect_format`
recognises them by content and :mod:`jetae.io.datasets` reads them (``jetae convert``
writes them in this layout).
"""

from __future__ import annotations

import itertools
import logging
import os
import re
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import pandas as pd

from jetae.errors import JetaeError
from jetae.io.atomic import atomic_path
from jetae.io.datasets import count_dataset, detect_format, iter_dataset
from jetae.io.hdf5_frame import FrameReader
from jetae.io.validate import (  # noqa: F401 - UNPHYSICAL_POLICIES: re-exported, its old home
    UNPHYSICAL_POLICIES,
    check_policy,
    find_problems,
    resolve_problems,
)
from jetae.jets import N_CONSTITUENTS_MAX, Jets

log = logging.getLogger(__name__)

KEY = "table"
MOMENTUM_PREFIXES = ("E", "PX", "PY", "PZ")
TRUTH_COLUMNS = ["truthE", "truthPX", "truthPY", "truthPZ"]
LABEL_COLUMNS = ["ttv", "is_signal_new"]
_MOMENTUM_COLUMN = re.compile(r"(E|PX|PY|PZ)_(\d+)")


def constituent_columns(n_constituents: int = N_CONSTITUENTS_MAX) -> list[str]:
    """Column names ``E_0, PX_0, PY_0, PZ_0, E_1, ...`` in reference order."""
    return [f"{p}_{i}" for i in range(n_constituents) for p in MOMENTUM_PREFIXES]


def reference_columns(n_constituents: int = N_CONSTITUENTS_MAX) -> list[str]:
    """All columns of the reference layout, in order."""
    return constituent_columns(n_constituents) + TRUTH_COLUMNS + LABEL_COLUMNS


def jets_to_frame(jets: Jets, n_constituents: int = N_CONSTITUENTS_MAX) -> pd.DataFrame:
    """Convert :class:`Jets` into a reference-layout DataFrame (float32 momenta)."""
    n = len(jets)
    width = min(jets.n_constituents_max, n_constituents)
    momenta = np.zeros((n, n_constituents, 4), dtype=np.float32)
    momenta[:, :width] = jets.constituents[:, :width]
    frame = pd.DataFrame(momenta.reshape(n, 4 * n_constituents), columns=constituent_columns(n_constituents))
    for i, name in enumerate(TRUTH_COLUMNS):
        frame[name] = jets.truth[:, i].astype(np.float32)
    frame["ttv"] = jets.ttv.astype(np.int64)
    frame["is_signal_new"] = jets.is_signal.astype(np.int64)
    return frame


def write_jets(path: str | os.PathLike, jets: Jets, n_constituents: int = N_CONSTITUENTS_MAX) -> Path:
    """Write ``jets`` to ``path`` in the reference layout, atomically.

    The file appears only when complete; an existing file is replaced. Writing no jets
    is refused: pandas would silently leave out the table, and the file would not read
    back as the reference layout.
    """
    path = Path(path)
    if len(jets) == 0:
        raise JetaeError("no jets to write", path)
    frame = jets_to_frame(jets, n_constituents)
    with atomic_path(path, suffix=".h5") as tmp:
        frame.to_hdf(tmp, key=KEY, mode="w", format="table", complevel=1, complib="zlib")
    log.info("wrote %d jets to %s", len(jets), path)
    return path


def write_jet_chunks(path: str | os.PathLike, chunks: Iterable[Jets], n_constituents: int = N_CONSTITUENTS_MAX) -> int:
    """Write ``chunks`` one after the other into a new reference-layout file; returns the number of jets.

    Same layout as :func:`write_jets` (one pandas table under ``table``, zlib level 1), with
    only one chunk in memory at a time. ``path`` is written in place, not atomically: give
    the temporary path of :func:`jetae.io.atomic.atomic_path`.
    """
    offset = 0
    with pd.HDFStore(path, mode="w", complevel=1, complib="zlib") as store:
        for jets in chunks:
            frame = jets_to_frame(jets, n_constituents)
            frame.index = pd.RangeIndex(offset, offset + len(frame))
            store.append(KEY, frame, format="table", index=False)
            offset += len(frame)
    return offset


def open_frame(path: str | os.PathLike) -> FrameReader:
    """Open a reference-layout file for reading, checking its structure; never unpickles.

    Raises
    ------
    JetaeError
        Missing, damaged or foreign file (see :class:`jetae.io.hdf5_frame.FrameReader`).
    """
    return FrameReader(path, KEY)


def count_jets(path: str | os.PathLike) -> int:
    """Number of jets in a reference-layout (or JetClass / JetNet) file without reading it."""
    if detect_format(path) != "toptag":
        return count_dataset(path)
    with open_frame(path) as frame:
        return frame.layout.n_rows


def layout_columns(frame: FrameReader) -> tuple[list[str], list[str], list[str]]:
    """``(constituent columns, truth columns present, label columns present)`` of an open file.

    Raises
    ------
    JetaeError
        No or incomplete constituent columns, or no ``is_signal_new`` label column.
    """
    columns = {c for c in frame.layout.columns if isinstance(c, str)}
    # Slots = the highest index of any momentum column, so a slot lacking E_i (or PX_i, ...)
    # is reported missing instead of being read as extra columns.
    slots = [int(match[2]) for match in map(_MOMENTUM_COLUMN.fullmatch, columns) if match]
    n_constituents = max(slots) + 1 if slots else 0
    if n_constituents == 0:
        raise frame.fail("no constituent columns E_0, PX_0, ... found; expected the Top Tagging Reference layout")
    # The first few missing names only: a crafted E_99999999 must not build 4e8 names.
    names = (f"{p}_{i}" for i in range(n_constituents) for p in MOMENTUM_PREFIXES)
    missing = list(itertools.islice((c for c in names if c not in columns), 9))
    if missing:
        raise frame.fail(f"missing constituent columns: {', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''}")
    wanted = constituent_columns(n_constituents)
    if "is_signal_new" not in columns:
        raise frame.fail("missing label column 'is_signal_new'")
    truth = TRUTH_COLUMNS if all(c in columns for c in TRUTH_COLUMNS) else []
    labels = [c for c in LABEL_COLUMNS if c in columns]
    return wanted, truth, labels


def read_chunk(frame: FrameReader, lo: int, hi: int, on_unphysical: str = "error") -> Jets:
    """Rows ``lo:hi`` of an open reference-layout file as validated :class:`Jets`.

    Applies :func:`jetae.io.validate.find_problems`: NaN/inf, empty jets and non-integer
    labels always raise; unphysical constituents raise with ``on_unphysical="error"`` or
    drop their jets (with a warning giving the counts) with ``"drop"``.
    """
    check_policy(on_unphysical)
    momentum_columns, truth_columns, label_columns = layout_columns(frame)
    n = max(0, min(hi, frame.layout.n_rows) - lo)
    # One read for the float columns, one for the integer labels (exact in float64).
    values = frame.read(momentum_columns + truth_columns, lo, hi, np.float32)
    momenta = values[:, : len(momentum_columns)].reshape(n, -1, 4)
    labels = dict(zip(label_columns, frame.read(label_columns, lo, hi, np.float64).T))
    keep = resolve_problems(find_problems(momenta, labels, offset=lo), frame.path, on_unphysical)
    truth = values[:, len(momentum_columns) :] if truth_columns else np.zeros((n, 4), np.float32)
    jets = Jets(
        constituents=momenta,
        truth=truth,
        ttv=labels.get("ttv", np.zeros(n)).astype(np.int64),
        is_signal=labels["is_signal_new"].astype(np.int64),
        source=str(frame.path),
    )
    return jets if keep is None else jets[keep]


def iter_jets(
    path: str | os.PathLike,
    chunk_size: int = 100_000,
    start: int = 0,
    stop: int | None = None,
    on_unphysical: str = "error",
) -> Iterator[Jets]:
    """Stream a reference-layout file in chunks of at most ``chunk_size`` jets.

    Memory stays bounded by one chunk (a 100k-jet chunk is about 320 MB of float32).
    ``start``/``stop`` are file rows; with ``on_unphysical="drop"`` a chunk may hold fewer jets.
    JetClass ROOT and JetNet HDF5 files are streamed by :func:`jetae.io.datasets.iter_dataset`
    (200 constituent slots, default class-to-label mapping).
    """
    check_policy(on_unphysical)
    if detect_format(path) != "toptag":
        yield from iter_dataset(path, chunk_size=chunk_size, start=start, stop=stop, on_unphysical=on_unphysical)
        return
    with open_frame(path) as frame:
        total = frame.layout.n_rows
        stop = total if stop is None else min(stop, total)
        for lo in range(start, stop, chunk_size):
            yield read_chunk(frame, lo, min(lo + chunk_size, stop), on_unphysical)


def read_jets(
    path: str | os.PathLike,
    n_max: int | None = None,
    start: int = 0,
    on_unphysical: str = "error",
) -> Jets:
    """Read jets from a reference-layout, JetClass ROOT or JetNet HDF5 file into memory.

    The file is read with h5py (:mod:`jetae.io.hdf5_frame`): nothing in it is ever
    unpickled, and every node is checked to be plain numbers before a row is read.
    For repeated reads of the same file use :func:`jetae.io.cache.read_cached`.

    Parameters
    ----------
    path:
        HDF5 file with key ``table`` (the zenodo files or ``jetae generate`` output), or a
        JetClass ROOT or JetNet HDF5 file (recognised by content, see :mod:`jetae.io.datasets`).
    n_max:
        Read at most this many jets (from ``start``).
    on_unphysical:
        ``"error"`` (default) refuses a file with negative-energy or E < |p| constituents;
        ``"drop"`` drops the jets holding them and logs how many.

    Raises
    ------
    JetaeError
        Missing or damaged file, wrong columns or dtypes, Python objects in the file,
        NaN/inf momenta, empty jets, unphysical constituents, non-integer labels, no jets.
    """
    path = Path(path)
    check_policy(on_unphysical)
    stop = None if n_max is None else start + n_max
    chunks = [chunk for chunk in iter_jets(path, start=start, stop=stop, on_unphysical=on_unphysical) if len(chunk)]
    if not chunks:
        raise JetaeError("contains no jets" if start == 0 else f"contains no jets from row {start}", path)
    jets = Jets.concatenate(chunks)
    jets.source = str(path)
    return jets

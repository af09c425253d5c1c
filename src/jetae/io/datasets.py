"""The field's other jet datasets, read into :class:`~jetae.jets.Jets`: format detection and streaming.

:func:`jetae.io.toptag.read_jets` (and ``iter_jets``, ``count_jets``) call
:func:`detect_format` first, so every command that reads jets accepts these files as they are:

``toptag``
    the Top Tagging Reference layout (pandas HDF5, key ``table``; :mod:`jetae.io.toptag`);
``jetclass``
    JetClass ROOT files (:mod:`jetae.io.jetclass`);
``jetnet``
    JetNet HDF5 files (:mod:`jetae.io.jetnet`).

The format is found from the file's content, never its name: the ROOT signature ``root`` in
the first four bytes means JetClass; an HDF5 file (signature ``\\x89HDF\\r\\n\\x1a\\n``) with a
``particle_features`` or ``jet_features`` dataset at its root means JetNet; anything else goes
to the reference-layout reader, which explains what is wrong with it.

Every chunk goes through the readers' usual checks (:func:`jetae.io.validate.find_problems`:
finite momenta, non-empty jets, physical constituents), then is cut or zero-padded to
``n_constituents`` slots (default 200, the reference layout's width; a warning counts the jets
that lost soft constituents). Labels become ``is_signal``: 0 for the background classes
(JetClass ``QCD``, JetNet ``g`` and ``q`` unless ``background`` names others), 1 for the rest.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Iterable, Iterator

import h5py
import numpy as np

from jetae.errors import JetaeError
from jetae.io.dataset_base import DatasetFile, fit_width
from jetae.io.jetclass import ROOT_MAGIC, JetClassFile
from jetae.io.jetnet import KEYS as JETNET_KEYS
from jetae.io.jetnet import JetNetFile
from jetae.io.validate import check_policy, find_problems, resolve_problems
from jetae.jets import N_CONSTITUENTS_MAX, Jets

log = logging.getLogger(__name__)

#: The formats :func:`detect_format` tells apart, with their names for people.
FORMATS = {
    "toptag": "Top Tagging Reference layout (pandas HDF5)",
    "jetclass": "JetClass (ROOT)",
    "jetnet": "JetNet (HDF5)",
}
#: The HDF5 format signature (at offset 0, or 512, 1024, ... after a user block).
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_READERS = {"jetclass": JetClassFile, "jetnet": JetNetFile}


def detect_format(path: str | os.PathLike) -> str:
    """``"toptag"``, ``"jetclass"`` or ``"jetnet"``, from the file's content (see the module docstring).

    A missing, unreadable or unrecognised file is ``"toptag"``: the reference reader then
    gives its usual error (file not found, not HDF5, no ``table``, ...).
    """
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            head = handle.read(len(HDF5_SIGNATURE))
    except OSError:
        return "toptag"
    if head[: len(ROOT_MAGIC)] == ROOT_MAGIC:
        return "jetclass"
    try:
        if not h5py.is_hdf5(path):
            return "toptag"
        with h5py.File(path, "r") as file:
            if any(key in file for key in JETNET_KEYS):
                return "jetnet"
    except Exception:  # noqa: BLE001 - a damaged file is the reference reader's to explain
        return "toptag"
    return "toptag"


def open_dataset(path: str | os.PathLike, kind: str | None = None) -> DatasetFile:
    """Open a JetClass or JetNet file (``kind`` from :func:`detect_format` if not given).

    Raises
    ------
    JetaeError
        The file is in the reference layout or unrecognised (use :mod:`jetae.io.toptag`), or
        the reader refuses it.
    """
    kind = kind or detect_format(path)
    if kind not in _READERS:
        raise JetaeError(f"not a JetClass ROOT or JetNet HDF5 file (detected: {FORMATS.get(kind, kind)})", path)
    return _READERS[kind](path)


def is_signal(class_index: np.ndarray, background_indices: np.ndarray) -> np.ndarray:
    """``(n_jets,)`` int64 label: 0 for background classes and unknown ones (index -1), else 1."""
    return ((class_index >= 0) & ~np.isin(class_index, background_indices)).astype(np.int64)


def count_dataset(path: str | os.PathLike) -> int:
    """Number of jets in a JetClass or JetNet file, without reading them."""
    with open_dataset(path) as data:
        return data.n_jets


def iter_dataset(
    path: str | os.PathLike,
    chunk_size: int = 100_000,
    start: int = 0,
    stop: int | None = None,
    on_unphysical: str = "error",
    n_constituents: int | None = N_CONSTITUENTS_MAX,
    background: Iterable[str] | None = None,
) -> Iterator[Jets]:
    """Stream a JetClass or JetNet file as validated :class:`Jets` chunks.

    Parameters
    ----------
    path:
        The file (format detected from its content).
    chunk_size, start, stop:
        Jets per chunk, and the file rows read (``stop=None``: to the end).
    on_unphysical:
        ``"error"`` refuses constituents with E < 0 or E < |p|; ``"drop"`` drops their jets (logged).
    n_constituents:
        Constituent slots per jet (``(n_jets, n_constituents, 4)``); jets with more lose their
        softest constituents (counted in one warning per file). None keeps each chunk's own
        width, the largest multiplicity in it.
    background:
        Class names labelled ``is_signal = 0`` (default: the format's, QCD or g and q).

    Raises
    ------
    JetaeError
        Every problem the reader or :func:`jetae.io.validate.find_problems` finds, naming the file.
    """
    check_policy(on_unphysical)
    if n_constituents is not None and n_constituents < 1:
        raise JetaeError(f"n_constituents must be at least 1, got {n_constituents}")
    if chunk_size < 1:
        raise JetaeError(f"chunk_size must be at least 1, got {chunk_size}")
    n_truncated = n_read = 0
    with open_dataset(path) as data:
        background_indices = data.background_indices(background)
        stop = data.n_jets if stop is None else min(stop, data.n_jets)
        for lo in range(start, stop, chunk_size):
            hi = min(lo + chunk_size, stop)
            raw = data.read(lo, hi)
            keep = resolve_problems(find_problems(raw.constituents, offset=lo), data.path, on_unphysical)
            constituents, truncated = fit_width(raw.constituents, n_constituents)
            n_truncated += int(truncated.sum())
            n_read += hi - lo
            n = len(constituents)
            jets = Jets(
                constituents=constituents,
                truth=np.zeros((n, 4), np.float32),
                ttv=np.zeros(n, np.int64),
                is_signal=is_signal(raw.class_index, background_indices),
                source=str(data.path),
            )
            yield jets if keep is None else jets[keep]
    if n_truncated:
        log.warning(
            "%s: %d of %d jets have more than %d constituents; their softest constituents were dropped",
            path,
            n_truncated,
            n_read,
            n_constituents,
        )


def class_counts(path: str | os.PathLike, start: int = 0, stop: int | None = None) -> dict[str, int]:
    """``{class name: number of jets}`` over file rows ``start:stop`` (labels only, no particles).

    Jets of unknown class (a JetNet file without a type) count as ``"unknown"``; classes
    without jets are left out.
    """
    counts: dict[str, int] = {}
    with open_dataset(path) as data:
        stop = data.n_jets if stop is None else min(stop, data.n_jets)
        for lo in range(start, stop, 1_000_000):
            index = data.read_classes(lo, min(lo + 1_000_000, stop))
            codes, numbers = np.unique(index, return_counts=True)
            for code, number in zip(codes, numbers):
                name = data.classes[code] if code >= 0 else "unknown"
                counts[name] = counts.get(name, 0) + int(number)
        order = {name: i for i, name in enumerate(data.classes)}
    return dict(sorted(counts.items(), key=lambda item: order.get(item[0], len(order))))


def describe_dataset(path: str | os.PathLike) -> str:
    """One line on the layout of a JetClass or JetNet file (e.g. for ``jetae info``)."""
    with open_dataset(path) as data:
        return data.describe()

"""What the readers of the field's other datasets (JetClass, JetNet) share.

Each reader opens its file as a :class:`DatasetFile`: the number of jets, the class names
the file's labels can take, and :meth:`DatasetFile.read`, which turns rows ``lo:hi`` into a
:class:`RawChunk` of constituents in jetae's convention (``(n_jets, width, 4)`` float32,
``(E, px, py, pz)`` in GeV, ordered by decreasing pT, all-zero rows = padding) plus one class
index per jet. :mod:`jetae.io.datasets` validates the chunks, maps the classes to
``is_signal`` and pads them to the reference width.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from jetae.errors import JetaeError
from jetae.features.kinematics import padding_mask

#: How many example rows an error message names.
N_EXAMPLES = 5


@dataclass
class RawChunk:
    """Rows ``lo:hi`` of a dataset file, before validation.

    Attributes
    ----------
    constituents:
        ``(n_jets, width, 4)`` float32 ``(E, px, py, pz)`` in GeV, decreasing pT, zero rows =
        padding; ``width`` is the largest multiplicity in the chunk (at least 1).
    class_index:
        ``(n_jets,)`` int64 index into :attr:`DatasetFile.classes`; -1 where the class is unknown.
    """

    constituents: np.ndarray
    class_index: np.ndarray


class DatasetFile:
    """An open dataset file (base class of the JetClass and JetNet readers).

    Attributes
    ----------
    format:
        ``"jetclass"`` or ``"jetnet"`` (see :data:`jetae.io.datasets.FORMATS`).
    path:
        The file.
    n_jets:
        Number of jets (rows) in the file.
    classes:
        Class names the file's labels can take (``["QCD", "Hbb", ...]``, ``["g", "q", ...]``).
    default_background:
        The classes that get ``is_signal = 0`` unless the caller says otherwise.
    """

    format: str = ""
    default_background: tuple[str, ...] = ()

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.n_jets = 0
        self.classes: list[str] = []

    def __enter__(self) -> "DatasetFile":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the file (idempotent)."""

    def fail(self, message: str) -> JetaeError:
        """A JetaeError about this file."""
        return JetaeError(message, self.path)

    def describe(self) -> str:
        """One line on the layout found (for ``jetae check`` and ``jetae info``)."""
        raise NotImplementedError

    def read_classes(self, lo: int, hi: int) -> np.ndarray:
        """``(n_jets,)`` int64 class index of rows ``lo:hi`` (-1 = unknown), read without the particles."""
        raise NotImplementedError

    def read(self, lo: int, hi: int) -> RawChunk:
        """Rows ``lo:hi`` as constituents and class indices (not yet validated)."""
        raise NotImplementedError

    def background_indices(self, background: Iterable[str] | None = None) -> np.ndarray:
        """Class indices of ``background`` (names, case-insensitive; a ``label_`` prefix is allowed).

        Raises
        ------
        JetaeError
            A name that is not one of :attr:`classes`.
        """
        names = self.default_background if background is None else tuple(background)
        lookup = {name.lower(): i for i, name in enumerate(self.classes)}
        indices = []
        for name in names:
            key = name.lower().removeprefix("label_")
            if key not in lookup:
                raise self.fail(f"unknown background class {name!r}; the file's classes are {', '.join(self.classes)}")
            indices.append(lookup[key])
        return np.asarray(indices, dtype=np.int64)


def example_rows(mask: np.ndarray, offset: int = 0) -> list[int]:
    """The first few file rows where ``mask`` is True (for error messages)."""
    return (np.flatnonzero(mask)[:N_EXAMPLES] + offset).tolist()


def sort_by_pt(constituents: np.ndarray, real: np.ndarray) -> np.ndarray:
    """Order each jet's constituents by decreasing pT, padding (``real`` False) last.

    ``constituents`` is ``(n_jets, width, 4)`` ``(E, px, py, pz)``; ``real`` is ``(n_jets, width)``
    bool. Padding rows are set to zero. The sort is stable, so equal pTs keep their order.
    """
    transverse = np.hypot(constituents[..., 1], constituents[..., 2])
    key = np.where(real, transverse, -1.0)
    order = np.argsort(-key, axis=1, kind="stable")
    ordered = np.take_along_axis(np.where(real[..., None], constituents, 0.0), order[..., None], axis=1)
    return ordered.astype(np.float32, copy=False)


def pack_particles(flat: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Jagged particles into a padded, pT-ordered ``(n_jets, width, 4)`` float32 array.

    Parameters
    ----------
    flat:
        ``(n_particles, 4)`` ``(E, px, py, pz)`` in GeV, the particles of jet 0, then jet 1, ...
    counts:
        ``(n_jets,)`` number of particles of each jet (summing to ``n_particles``).

    Returns
    -------
    ``(n_jets, width, 4)`` with ``width = max(counts)`` (at least 1), zero rows = padding.
    """
    counts = np.asarray(counts, dtype=np.int64)
    n = len(counts)
    width = max(int(counts.max()) if n else 0, 1)
    padded = np.zeros((n, width, 4), dtype=np.float32)  # the momenta are float32 in the files
    starts = np.cumsum(counts) - counts
    rows = np.repeat(np.arange(n), counts)
    slots = np.arange(len(flat)) - np.repeat(starts, counts)
    padded[rows, slots] = flat
    real = np.arange(width)[None, :] < counts[:, None]
    return sort_by_pt(padded, real)


def fit_width(constituents: np.ndarray, n_constituents: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Cut or zero-pad the constituent axis to ``n_constituents`` (None: keep it).

    Returns ``(constituents, truncated)``: ``truncated`` is ``(n_jets,)`` bool, True for jets that
    lost real constituents (the softest ones, as the input is ordered by decreasing pT).
    """
    width = constituents.shape[1]
    if n_constituents is None or n_constituents == width:
        return constituents, np.zeros(len(constituents), dtype=bool)
    if n_constituents < width:
        truncated = padding_mask(constituents[:, n_constituents:]).any(axis=1)
        return np.ascontiguousarray(constituents[:, :n_constituents]), truncated
    padded = np.zeros((len(constituents), n_constituents, 4), dtype=np.float32)
    padded[:, :width] = constituents
    return padded, np.zeros(len(constituents), dtype=bool)


def one_hot_classes(values: np.ndarray, names: Sequence[str], offset: int, path: str | os.PathLike) -> np.ndarray:
    """``(n_jets,)`` class index from one-hot label columns ``(n_jets, n_classes)``.

    Raises
    ------
    JetaeError
        A value other than 0 or 1 (NaN included), or a jet with no label or more than one.
    """
    values = np.asarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        bad = ~((values == 0.0) | (values == 1.0))
    if bad.any():
        column = int(np.flatnonzero(bad.any(axis=0))[0])
        rows = example_rows(bad[:, column], offset)
        raise JetaeError(
            f"label branch '{names[column]}' holds values other than 0 and 1 (NaN included) "
            f"in {int(bad[:, column].sum())} jet(s), e.g. rows {rows}",
            path,
        )
    n_set = values.sum(axis=1)
    if (n_set != 1).any():
        none, several = n_set == 0, n_set > 1
        what = []
        if none.any():
            what.append(f"{int(none.sum())} jet(s) without any label, e.g. rows {example_rows(none, offset)}")
        if several.any():
            what.append(f"{int(several.sum())} jet(s) with several labels, e.g. rows {example_rows(several, offset)}")
        raise JetaeError("labels are not one-hot: " + "; ".join(what), path)
    return np.argmax(values, axis=1).astype(np.int64)

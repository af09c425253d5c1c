"""Read JetNet HDF5 files (Kansal et al., arXiv:2106.11535; zenodo 6975118 and 6975117).

The layout, as described on the dataset's zenodo pages and read by the ``jetnet`` package
(``jetnet.datasets.JetNet``): one HDF5 file per jet type, named ``g.hdf5``, ``q.hdf5``,
``t.hdf5``, ``w.hdf5``, ``z.hdf5`` (30 particles) or ``g150.hdf5``, ... (150 particles), with
two datasets:

``particle_features``  ``(n_jets, 30 or 150, 4)``
    per particle ``(etarel, phirel, ptrel, mask)``: ``etarel = eta - eta_jet``,
    ``phirel = phi - phi_jet``, ``ptrel = pT / pT_jet``; ``mask`` is 1 for a particle and 0
    for padding;
``jet_features``  ``(n_jets, 4)``
    ``(pt, eta, mass, num_particles)`` of the jet (pT and mass in GeV; ``num_particles``
    counts the particles before the cut to 30). ``(n_jets, 5)`` with the jet type first,
    ``(type, pt, eta, mass, num_particles)`` as ``jetnet.datasets.JetNet.getData`` returns it,
    is read too (type codes in the ``jetnet`` package's order: g=0, q=1, t=2, w=3, z=4).

Reconstruction of the four-momenta, and what it approximates:

* ``pT = ptrel * pt_jet``, ``eta = etarel + eta_jet``, ``phi = phirel + phi_jet`` with
  ``phi_jet = 0``: the files do not store the jet's azimuth, so every jet is rotated to
  ``phi = 0`` (harmless for jet substructure, which is invariant under rotations about the beam);
* ``E = pT cosh(eta)``, ``p = (pT cos phi, pT sin phi, pT sinh eta)``: the constituents are
  taken as **massless** (JetNet keeps no particle masses or energies). This lowers jet masses:
  on jetae's Pythia test samples by 7.8 % on average for QCD jets (up to 71 %), 1.4 % for top
  and 2.4 % for W jets (``bench/jetnet_massless.py``, ``docs/data.md``);
* only the 30 (or 150) leading particles are in the file, so the jet rebuilt from them
  can have a somewhat lower pT and mass than ``jet_features`` says (those are not used).

The class is the jet type, from the type column if there is one, else from the file name
(``t.hdf5``, ``t150.hdf5`` -> ``t``; -1, unknown, otherwise: the jets are then labelled
background with a warning). ``is_signal`` is 0 for gluon and light-quark jets (``g``, ``q``)
and 1 for ``t``, ``w`` and ``z`` by default. ``truth`` is zero and ``ttv`` is 0 (JetNet has
no fixed split).
"""

from __future__ import annotations

import logging
import os
import re

import h5py
import numpy as np

from jetae.io.dataset_base import DatasetFile, RawChunk, example_rows, sort_by_pt

log = logging.getLogger(__name__)

#: Jet types in the ``jetnet`` package's order (the codes of a type column).
JET_TYPES = ("g", "q", "t", "w", "z")
#: Classes read as background (``is_signal = 0``) by default: gluon and light-quark jets.
DEFAULT_BACKGROUND = ("g", "q")
#: The two datasets of a JetNet file.
KEYS = ("particle_features", "jet_features")
PARTICLE_FEATURES = ("etarel", "phirel", "ptrel", "mask")
JET_FEATURES = ("pt", "eta", "mass", "num_particles")
_FILE_NAME = re.compile(r"([gqtwz])(150)?")


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{exc.__class__.__name__}: {lines[0]}" if lines else exc.__class__.__name__


class JetNetFile(DatasetFile):
    """An open JetNet HDF5 file (see the module docstring for the layout and the approximations).

    Raises
    ------
    JetaeError
        Not readable HDF5, a missing dataset, a shape other than ``(n, m, 4)`` and
        ``(n, 4 or 5)``, different jet counts, non-numeric data.
    """

    format = "jetnet"
    default_background = DEFAULT_BACKGROUND

    def __init__(self, path: str | os.PathLike):
        super().__init__(path)
        if not self.path.exists():
            raise self.fail("file not found")
        try:
            self.file = h5py.File(self.path, "r")
        except Exception as exc:  # noqa: BLE001
            raise self.fail(f"not a readable HDF5 file (truncated or damaged?): {_first_line(exc)}") from None
        try:
            self._inspect()
        except BaseException:
            self.close()
            raise

    def _dataset(self, key: str, ndim: int, widths: tuple[int, ...]) -> h5py.Dataset:
        node = self.file.get(key, getlink=True)
        if node is None:
            raise self.fail(f"missing dataset '{key}'; expected the JetNet layout ({' and '.join(KEYS)})")
        if not isinstance(node, h5py.HardLink) or not isinstance(self.file[key], h5py.Dataset):
            raise self.fail(f"'{key}' is not a dataset")
        dataset = self.file[key]
        if dataset.is_virtual or dataset.external:
            raise self.fail(f"dataset '{key}' is stored outside the file (virtual or external); refused")
        if dataset.dtype.kind not in "biuf":
            raise self.fail(f"dataset '{key}' holds {dataset.dtype}, expected plain numbers")
        if dataset.ndim != ndim or dataset.shape[-1] not in widths:
            want = " or ".join(str(w) for w in widths)
            shape = "(n_jets, n_particles, 4)" if ndim == 3 else f"(n_jets, {want})"
            raise self.fail(f"dataset '{key}' has shape {dataset.shape}, expected {shape}")
        return dataset

    def _inspect(self) -> None:
        self.particles = self._dataset("particle_features", 3, (4,))
        self.jet_data = self._dataset("jet_features", 2, (4, 5))
        if self.particles.shape[0] != self.jet_data.shape[0]:
            raise self.fail(
                f"particle_features has {self.particles.shape[0]} jets but jet_features has {self.jet_data.shape[0]}"
            )
        if self.particles.shape[1] < 1:
            raise self.fail("particle_features has no particle slots")
        self.n_jets = int(self.particles.shape[0])
        self.classes = list(JET_TYPES)
        self.has_type_column = self.jet_data.shape[1] == 5
        match = _FILE_NAME.fullmatch(self.path.stem.lower())
        self.file_type = JET_TYPES.index(match[1]) if match else -1
        if not self.has_type_column and self.file_type < 0:
            log.warning(
                "%s: jet type unknown (no type column, and the file name is not g/q/t/w/z[150].hdf5): "
                "the jets are labelled background",
                self.path,
            )

    def close(self) -> None:
        file = getattr(self, "file", None)
        if file is not None:
            try:
                file.close()
            except Exception:  # noqa: BLE001
                pass

    def describe(self) -> str:
        if self.has_type_column:
            kind = "type column"
        else:
            kind = f"type '{JET_TYPES[self.file_type]}' from the file name" if self.file_type >= 0 else "type unknown"
        slots, columns = self.particles.shape[1], self.jet_data.shape[1]
        return f"JetNet (HDF5, {slots} particle slots, jet_features {columns} columns, {kind})"

    def read_classes(self, lo: int, hi: int) -> np.ndarray:
        if not self.has_type_column:
            return np.full(max(0, min(hi, self.n_jets) - lo), self.file_type, dtype=np.int64)
        codes = np.asarray(self.jet_data[lo:hi, 0], dtype=np.float64)
        with np.errstate(invalid="ignore"):
            bad = ~np.isin(codes, np.arange(len(JET_TYPES)))
        if bad.any():
            raise self.fail(
                f"jet type (jet_features column 0) is not one of the codes 0-{len(JET_TYPES) - 1} "
                f"({', '.join(JET_TYPES)}) in {int(bad.sum())} jet(s), e.g. rows {example_rows(bad, lo)}"
            )
        return codes.astype(np.int64)

    def read(self, lo: int, hi: int) -> RawChunk:
        try:
            features = np.asarray(self.particles[lo:hi], dtype=np.float64)
            jets = np.asarray(self.jet_data[lo:hi], dtype=np.float64)
        except Exception as exc:  # noqa: BLE001 - damaged chunks, missing filters
            raise self.fail(f"cannot read rows {lo}-{hi}: {_first_line(exc)}") from None
        mask = features[..., 3]
        with np.errstate(invalid="ignore"):
            bad = ~((mask == 0.0) | (mask == 1.0))
        if bad.any():
            jets_bad = bad.any(axis=1)
            raise self.fail(
                f"particle mask (particle_features[..., 3]) is not 0 or 1 in {int(jets_bad.sum())} jet(s), "
                f"e.g. rows {example_rows(jets_bad, lo)}"
            )
        offset = 1 if self.has_type_column else 0
        jet_pt, jet_eta = jets[:, offset, None], jets[:, offset + 1, None]
        real = mask == 1.0
        with np.errstate(invalid="ignore", over="ignore"):
            pt = features[..., 2] * jet_pt
            eta = features[..., 0] + jet_eta
            phi = features[..., 1]  # + phi_jet, which the files do not store: 0
            momenta = np.stack([pt * np.cosh(eta), pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)], axis=-1)
        return RawChunk(constituents=sort_by_pt(momenta, real), class_index=self.read_classes(lo, hi))

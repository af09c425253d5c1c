"""Jet substructure: N-subjettiness with exclusive-kT axes (FastJet), and jet images as pseudo-constituents.

N-subjettiness (Thaler, Van Tilburg, arXiv:1011.2268) of a jet with constituents ``i``::

    tau_N = sum_i pT_i * min_k dR(i, k)^beta / (sum_i pT_i * R0^beta)

with ``N`` axes ``k`` = the jet's exclusive kT subjets (FastJet's ``kt_algorithm``, E-scheme
recombination, clustered back to exactly ``N`` subjets: the ``KT_Axes`` of fjcontrib's
Nsubjettiness, without the one-pass minimisation), distances in (rapidity, azimuth) and the
normalisation ``d0 = sum_i pT_i R0^beta`` of fjcontrib's ``NormalizedMeasure``. A jet with at
most ``N`` constituents has ``tau_N = 0`` (every constituent is its own axis). The ratios
``tau21 = tau2 / tau1`` and ``tau32 = tau3 / tau2`` are small for two- and three-prong jets
(W, top) and near 1 for one-prong QCD jets; they are 0 where the denominator is 0.

:func:`image_constituents` turns jet images back into massless pseudo-particles (one per
pixel, at the pixel centre in the image's (eta, phi) frame), so that mass, pT and
N-subjettiness of images, generated ones included, are measured the same way as for jets.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from typing import Iterator

import numpy as np

from jetae.errors import JetaeError
from jetae.features import kinematics
from jetae.features.images import PIXEL_ETA, PIXEL_PHI
from jetae.features.kinematics import padding_mask

log = logging.getLogger(__name__)

#: Jets per FastJet call: bounds the awkward and ``(jets, constituents, axes)`` temporaries.
_CHUNK_JETS = 20_000
#: FastJet prints a banner on first use; it goes to stderr, never to stdout (which holds results).
_BANNER = {"shown": False}


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """C++ writes to file descriptor 1 (FastJet's banner) go to stderr for the block."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _exclusive_kt_axes(constituents: np.ndarray, mask: np.ndarray, n_axes: int) -> list[np.ndarray]:
    """For ``N = 1 .. n_axes``: ``(n_jets, N, 4)`` ``(E, px, py, pz)`` exclusive-kT axes, missing axes
    (jets with fewer than ``N`` constituents) as all-zero rows. Every jet has >= 1 constituent."""
    import awkward as ak
    import fastjet

    counts = mask.sum(axis=1)
    flat = constituents[mask].astype(np.float64)
    particles = ak.unflatten(ak.zip({"px": flat[:, 1], "py": flat[:, 2], "pz": flat[:, 3], "E": flat[:, 0]}), counts)
    # kT with R far beyond any jet: everything merges into one jet; exclusive_jets_up_to(N) undoes
    # the last N - 1 merges (fjcontrib's KT_Axes use JetDefinition::max_allowable_R = 1000 alike).
    definition = fastjet.JetDefinition(fastjet.kt_algorithm, 1000.0)
    axes = []
    with warnings.catch_warnings():
        # fastjet's python layer warns about exclusive jets for every algorithm; kT is the right one
        warnings.filterwarnings("ignore", message=".*exclusive jets.*")
        with _stdout_to_stderr() if not _BANNER["shown"] else contextlib.nullcontext():
            sequence = fastjet.ClusterSequence(particles, definition)
            _BANNER["shown"] = True
            for n in range(1, n_axes + 1):
                jets = ak.pad_none(sequence.exclusive_jets_up_to(n), n, clip=True)
                columns = [ak.to_numpy(ak.fill_none(jets[field], 0.0)) for field in ("E", "px", "py", "pz")]
                axes.append(np.stack(columns, axis=-1).astype(np.float64))
    return axes


def nsubjettiness(constituents: np.ndarray, n_max: int = 4, beta: float = 1.0, radius: float = 0.8) -> np.ndarray:
    """N-subjettiness ``tau_1 .. tau_{n_max}`` of every jet (see the module docstring).

    Parameters
    ----------
    constituents:
        ``(n_jets, n_constituents, 4)`` ``(E, px, py, pz)`` in GeV, all-zero rows = padding.
    n_max:
        Largest ``N``.
    beta:
        Angular exponent (> 0); 1 is the usual choice for tagging.
    radius:
        Jet radius ``R0`` of the normalisation (the anti-kT radius, 0.8 for the reference jets).

    Returns
    -------
    ``(n_jets, n_max)`` float64, column ``N - 1`` = ``tau_N`` (dimensionless, in [0, 1] for jets
    within ``radius`` of their axes). Jets without constituents get zeros.
    """
    constituents = np.asarray(constituents)
    if constituents.ndim != 3 or constituents.shape[2] != 4:
        raise JetaeError(f"constituents must have shape (n_jets, n_constituents, 4), got {constituents.shape}")
    if int(n_max) != n_max or n_max < 1:
        raise JetaeError(f"n_max must be a positive integer, got {n_max!r}")
    if not (np.isfinite(beta) and beta > 0 and np.isfinite(radius) and radius > 0):
        raise JetaeError(f"beta and radius must be positive numbers, got beta={beta!r}, radius={radius!r}")
    n_max = int(n_max)
    taus = np.zeros((len(constituents), n_max), dtype=np.float64)
    for lo in range(0, len(constituents), _CHUNK_JETS):
        chunk = constituents[lo : lo + _CHUNK_JETS]
        mask = padding_mask(chunk)
        filled = np.flatnonzero(mask.any(axis=1))
        if len(filled) == 0:
            continue
        chunk, mask = chunk[filled], mask[filled]
        p4 = chunk.astype(np.float64)
        pt = kinematics.pt(p4)
        rapidity = np.where(mask, kinematics.rapidity_fastjet(p4[..., 0], p4[..., 3]), 0.0)
        phi = kinematics.phi(p4)
        d0 = (pt * mask).sum(axis=1) * radius**beta
        for n, axes in enumerate(_exclusive_kt_axes(chunk, mask, n_max), start=1):
            present = (axes != 0.0).any(axis=-1)  # (jets, N)
            axis_rapidity = kinematics.rapidity_fastjet(axes[..., 0], axes[..., 3])
            axis_phi = kinematics.phi(axes)
            distance = kinematics.delta_r_eta_phi(
                rapidity[:, :, None], phi[:, :, None], axis_rapidity[:, None, :], axis_phi[:, None, :]
            )
            distance = np.where(present[:, None, :], distance, np.inf).min(axis=2)
            numerator = np.where(mask, pt * distance**beta, 0.0).sum(axis=1)
            taus[filled, n - 1] = np.divide(numerator, d0, out=np.zeros_like(d0), where=d0 > 0)
    return taus


def ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator``, 0 where the denominator is 0 (e.g. ``tau32 = ratio(tau3, tau2)``)."""
    numerator, denominator = np.asarray(numerator, np.float64), np.asarray(denominator, np.float64)
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)


def image_constituents(
    images: np.ndarray,
    pixel_eta: float = PIXEL_ETA,
    pixel_phi: float = PIXEL_PHI,
    pt_scale: float = 1.0,
    min_fraction: float = 0.0,
) -> np.ndarray:
    """Jet images as massless pseudo-constituents, one per pixel, pT-ordered.

    Parameters
    ----------
    images:
        ``(n_jets, n_pixels, n_pixels)`` or ``(n_jets, 1, n_pixels, n_pixels)`` images indexed
        ``[jet, y (phi), x (eta)]`` as :func:`jetae.features.images.jet_images` makes them, the
        origin in pixel ``(n_pixels // 2, n_pixels // 2)``. Negative intensities (a decoder's
        output) count as 0.
    pixel_eta, pixel_phi:
        Pixel size of the images.
    pt_scale:
        GeV per unit of intensity: 1 for images in GeV, the jet pT for unit-sum images.
    min_fraction:
        Pixels below this fraction of their image's sum are dropped (0: keep every pixel > 0).

    Returns
    -------
    ``(n_jets, n_kept, 4)`` float64 ``(E, px, py, pz)`` in GeV of massless particles with
    ``pT = intensity * pt_scale`` at ``eta = x``, ``phi = y`` (the jet near eta = phi = 0),
    ordered by decreasing pT, zero rows = padding; ``n_kept`` = the largest number of pixels
    kept in one image (at least 1).
    """
    images = np.asarray(images, dtype=np.float64)
    if images.ndim == 4 and images.shape[1] == 1:
        images = images[:, 0]
    if images.ndim != 3 or images.shape[1] != images.shape[2]:
        raise JetaeError(f"images must have shape (n_jets, [1,] n_pixels, n_pixels), got {images.shape}")
    n_jets, n = images.shape[:2]
    flat = np.clip(images.reshape(n_jets, -1), 0.0, None)
    total = flat.sum(axis=1, keepdims=True)
    flat = np.where(flat > min_fraction * total, flat, 0.0)
    rows, columns = np.divmod(np.arange(n * n), n)
    eta = (columns - n // 2) * pixel_eta
    phi = (rows - n // 2) * pixel_phi
    order = np.argsort(-flat, axis=1, kind="stable")
    n_kept = max(1, int((flat > 0).sum(axis=1).max(initial=0)))
    order = order[:, :n_kept]
    pt = np.take_along_axis(flat, order, axis=1) * pt_scale
    eta, phi = eta[order], phi[order]
    return np.stack([pt * np.cosh(eta), pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)], axis=-1)

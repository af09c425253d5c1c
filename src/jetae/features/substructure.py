"""Jet substructure observables: N-subjettiness and a compact IRC-safe basis built from it.

N-subjettiness (Thaler & Van Tilburg, arXiv:1011.2268) with exclusive-kT axes from the real
FastJet, winner-take-all recombination (axes on hard constituents, insensitive to soft recoil)::

    tau_N^beta = sum_i pT_i min_k dR_ik^beta / (sum_i pT_i R0^beta)

``dR`` in (rapidity, phi). The set ``{tau_N^beta : N = 1..n_max, beta in (0.5, 1, 2)}`` is the
N-subjettiness basis of Datta & Larkoski (arXiv:1704.08249): it resolves the phase space of
``n_max + 1`` emissions and is infrared- and collinear-safe, which makes it the compact physics
feature space :mod:`jetae.models.density` fits densities on (energyflow's EFPs would be the other
choice; its compiled dependency does not load with numpy 2 here).

Inputs are constituent arrays ``(n_jets, n_constituents, 4)`` of ``(E, px, py, pz)`` in GeV with
all-zero rows as padding.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import awkward as ak
import fastjet
import numpy as np
from tqdm.auto import tqdm

from jetae.errors import JetaeError
from jetae.features.cpp_output import capture_stdout
from jetae.features.images import PIXEL_ETA, PIXEL_PHI
from jetae.features.kinematics import jet_kinematics, padding_mask, pt, rapidity_fastjet, wrap_phi

#: The angular exponents of the N-subjettiness basis.
BASIS_BETAS = (0.5, 1.0, 2.0)

_KT_DEFINITIONS: dict[float, object] = {}

#: Samples at least this large get a progress bar on an interactive terminal (~20 s per 50 000 jets).
PROGRESS_MIN_JETS = 50_000


def _kt_definition(radius: float):
    key = float(radius)
    if key not in _KT_DEFINITIONS:
        _KT_DEFINITIONS[key] = fastjet.JetDefinition(fastjet.kt_algorithm, key, fastjet.WTA_pt_scheme)
    return _KT_DEFINITIONS[key]


def exclusive_kt_axes(constituents: np.ndarray, n_axes: int, radius: float = 0.8) -> np.ndarray:
    """``(n_jets, n_axes, 2)`` (rapidity, phi) of the exclusive-kT subjets of each jet.

    The constituents are reclustered with the kT algorithm (WTA pT scheme) and the sequence is run back to
    ``n_axes`` subjets. A jet with fewer constituents than ``n_axes`` gets its constituents as
    axes (and copies of its hardest one for the missing axes), so its ``tau_N`` is 0.
    """
    constituents = np.asarray(constituents, dtype=np.float64)
    n_jets = len(constituents)
    axes = np.zeros((n_jets, n_axes, 2))
    if n_jets == 0:
        return axes
    real = padding_mask(constituents)
    counts = real.sum(axis=1)
    enough = counts >= n_axes
    if enough.any():
        selected = constituents[enough]
        flat = selected[real[enough]]
        particles = ak.unflatten(
            ak.zip({"px": flat[:, 1], "py": flat[:, 2], "pz": flat[:, 3], "E": flat[:, 0]}),
            counts[enough],
        )
        # FastJet prints its banner once per process on stdout (kept clean for results); its Python
        # wrapper warns about exclusive jets for any algorithm it does not recognise, kT included.
        with capture_stdout(), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            sequence = fastjet.ClusterSequence(particles, _kt_definition(radius))
            subjets = sequence.exclusive_jets(n_jets=n_axes)
        e, pz = (ak.to_numpy(ak.flatten(subjets[c])).reshape(-1, n_axes) for c in ("E", "pz"))
        px, py = (ak.to_numpy(ak.flatten(subjets[c])).reshape(-1, n_axes) for c in ("px", "py"))
        axes[enough, :, 0] = rapidity_fastjet(e, pz)
        axes[enough, :, 1] = np.arctan2(py, px)
    few = np.flatnonzero(~enough)
    for jet in few:  # rare: jets with fewer constituents than axes
        rows = constituents[jet][real[jet]]
        if len(rows) == 0:
            continue
        order = np.argsort(-pt(rows), kind="stable")
        rows = rows[np.concatenate([order, np.repeat(order[:1], n_axes - len(rows))])]
        axes[jet, :, 0] = rapidity_fastjet(rows[:, 0], rows[:, 3])
        axes[jet, :, 1] = np.arctan2(rows[:, 2], rows[:, 1])
    return axes


def nsubjettiness(
    constituents: np.ndarray,
    n_max: int = 4,
    betas: tuple[float, ...] = (1.0,),
    radius: float = 0.8,
    batch_size: int = 5000,
) -> np.ndarray:
    """``(n_jets, n_max, len(betas))`` N-subjettiness ``tau_N^beta`` for ``N = 1..n_max``.

    Dimensionless, in [0, 1] up to edge effects; 0 for empty jets. The axes are the
    exclusive-kT subjets (:func:`exclusive_kt_axes`), the same for every beta.
    """
    constituents = np.asarray(constituents)
    taus = np.zeros((len(constituents), n_max, len(betas)))
    betas_array = np.asarray(betas, dtype=np.float64)
    bar = tqdm(
        total=len(constituents),
        desc="N-subjettiness",
        unit="jets",
        leave=False,
        disable=None if len(constituents) >= PROGRESS_MIN_JETS else True,  # None: only on a terminal
    )
    for start in range(0, len(constituents), batch_size):
        chunk = np.asarray(constituents[start : start + batch_size], dtype=np.float64)
        real = padding_mask(chunk)
        weights = np.where(real, pt(chunk), 0.0)
        y = rapidity_fastjet(chunk[..., 0], chunk[..., 3])
        phi = np.arctan2(chunk[..., 2], chunk[..., 1])
        total = weights.sum(axis=1)
        for n in range(1, n_max + 1):
            axes = exclusive_kt_axes(chunk, n, radius)
            d_y = y[:, :, None] - axes[:, None, :, 0]
            d_phi = wrap_phi(phi[:, :, None] - axes[:, None, :, 1])
            min_dr = np.sqrt(d_y**2 + d_phi**2).min(axis=2)  # (jets, constituents)
            powered = min_dr[:, :, None] ** betas_array  # (jets, constituents, betas)
            numerator = np.einsum("jc,jcb->jb", weights, powered)
            normalisation = total[:, None] * radius**betas_array
            taus[start : start + len(chunk), n - 1] = np.divide(
                numerator, normalisation, out=np.zeros_like(numerator), where=normalisation > 0
            )
        bar.update(len(chunk))
    bar.close()
    return taus


def observable_names(n_max: int = 5, betas: tuple[float, ...] = BASIS_BETAS) -> list[str]:
    """Column names of :func:`observables`: ``mass``, then ``tau{N}_b{beta}``."""
    return ["mass"] + [f"tau{n}_b{beta:g}" for n in range(1, n_max + 1) for beta in betas]


def observables(
    constituents: np.ndarray, n_max: int = 5, betas: tuple[float, ...] = BASIS_BETAS, radius: float = 0.8
) -> np.ndarray:
    """``(n_jets, 1 + n_max * len(betas))`` jet mass (GeV) and the N-subjettiness basis.

    Columns as :func:`observable_names`. All IRC-safe; the multiplicity is left out on purpose.
    """
    mass = jet_kinematics(constituents)["mass"]
    taus = nsubjettiness(constituents, n_max=n_max, betas=betas, radius=radius)
    return np.concatenate([np.asarray(mass, dtype=np.float64)[:, None], taus.reshape(len(taus), -1)], axis=1)


@dataclass
class ObservableConfig:
    """Options of the ``observables`` representation (:func:`observable_inputs`).

    Attributes
    ----------
    n_max:
        N-subjettiness up to ``tau_{n_max}``.
    betas:
        Angular exponents (the Datta-Larkoski basis uses 0.5, 1, 2).
    ratios:
        Replace ``tau_N`` by ``tau_N / tau_{N-1}`` for ``N >= 2`` (mass-independent prong measures).
    radius:
        Jet radius R0 in the normalisation.
    """

    n_max: int = 5
    betas: tuple = (1.0,)
    ratios: bool = False
    radius: float = 0.8

    def __post_init__(self) -> None:
        if isinstance(self.n_max, bool) or not isinstance(self.n_max, (int, np.integer)) or not 1 <= self.n_max <= 8:
            raise JetaeError(f"observables n_max must be an integer from 1 to 8, got {self.n_max!r}")
        betas = self.betas if isinstance(self.betas, (list, tuple)) else [self.betas]
        if not betas or any(isinstance(b, bool) or not isinstance(b, (int, float)) or not 0 < b <= 4 for b in betas):
            raise JetaeError(f"observables betas must be numbers in (0, 4], got {self.betas!r}")
        self.betas = tuple(float(b) for b in betas)
        if not isinstance(self.ratios, (bool, np.bool_)):
            raise JetaeError(f"observables option ratios must be true or false, got {self.ratios!r}")
        if isinstance(self.radius, bool) or not isinstance(self.radius, (int, float)) or not 0 < self.radius <= 2:
            raise JetaeError(f"observables radius must be in (0, 2], got {self.radius!r}")
        self.radius = float(self.radius)


#: Added before taking logarithms: taus of jets with fewer constituents than axes are exactly 0.
LOG_FLOOR = 1.0e-6


def observable_inputs(constituents: np.ndarray, **options) -> np.ndarray:
    """``(n_jets, 1 + n_max * len(betas))`` float32 model inputs (options: :class:`ObservableConfig`):
    ``log(1 + mass / GeV)``, then per N and beta ``log(tau_N^beta + 1e-6)``
    (or, with ``ratios``, ``tau_N / tau_{N-1}`` for N >= 2).

    Logarithms spread the steep, positive distributions so that a density model sees them on an even
    footing; the ratios live in [0, 1] already.
    """
    config = ObservableConfig(**options)
    mass = jet_kinematics(constituents)["mass"]
    taus = nsubjettiness(constituents, n_max=config.n_max, betas=config.betas, radius=config.radius)
    columns = np.log(taus + LOG_FLOOR)
    if config.ratios and config.n_max > 1:
        columns[:, 1:] = (taus[:, 1:] + LOG_FLOOR) / (taus[:, :-1] + LOG_FLOOR)
    log_mass = np.log1p(np.asarray(mass, dtype=np.float64))
    return np.concatenate([log_mass[:, None], columns.reshape(len(taus), -1)], axis=1).astype(np.float32)


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

"""Rescale and boost every jet to one mass and one energy (Roy & Vijay, arXiv:1903.02032).

A jet image's size and intensity pattern depend on the jet's mass and boost: heavier jets spread
wider and look "more complex", which is most of what a reconstruction error learns (the complexity
bias). Bringing every jet to the same mass ``m0`` and energy ``E0`` leaves only its shape:

1. scale all constituent four-momenta by ``m0 / m_jet`` (the jet mass becomes ``m0``; angles and
   momentum fractions are unchanged);
2. boost along the jet axis so that the jet energy becomes ``E0`` (the jet direction is unchanged,
   angles to it scale like ``1 / gamma``: a two-prong jet's prongs land ~``2 m0 / E0`` apart
   whatever its original mass).

Inputs and outputs are constituent arrays ``(n_jets, n_constituents, 4)`` of ``(E, px, py, pz)``
in GeV, all-zero rows = padding (kept as padding).
"""

from __future__ import annotations

import numpy as np

from jetae.features.kinematics import jet_four_momentum, padding_mask

#: Jets lighter than this (GeV) are left unscaled: a single massless constituent has no scale.
MIN_MASS = 1.0e-3


def rescale_and_boost(constituents: np.ndarray, mass: float = 100.0, energy: float = 500.0) -> np.ndarray:
    """Constituents of each jet scaled to jet mass ``mass`` and boosted to jet energy ``energy`` (GeV).

    ``energy`` must exceed ``mass``. Returns float64 ``(n_jets, n_constituents, 4)``; the
    jet four-momentum of every jet with mass above :data:`MIN_MASS` becomes
    ``(energy, sqrt(energy^2 - mass^2) * axis)`` along its original axis.
    """
    if not (np.isfinite(mass) and np.isfinite(energy) and 0 < mass < energy):
        raise ValueError(f"need 0 < mass < energy, got mass={mass!r}, energy={energy!r}")
    p4 = np.asarray(constituents, dtype=np.float64)
    real = padding_mask(p4)
    jet = jet_four_momentum(p4)
    jet_p = np.linalg.norm(jet[:, 1:], axis=1)
    jet_mass = np.sqrt(np.clip(jet[:, 0] ** 2 - jet_p**2, 0.0, None))
    massive = jet_mass > MIN_MASS
    scale = np.where(massive, mass / np.where(massive, jet_mass, 1.0), 1.0)
    scaled = p4 * scale[:, None, None]
    # rapidity along the jet axis now and as wanted; boost by the difference
    jet_energy = jet[:, 0] * scale
    jet_p_scaled = jet_p * scale
    velocity = np.divide(jet_p_scaled, jet_energy, out=np.zeros_like(jet_p), where=jet_energy > 0)
    current = np.arctanh(np.clip(velocity, 0.0, 1.0 - 1e-15))
    target = np.arctanh(np.sqrt(1.0 - (mass / energy) ** 2))
    rapidity = np.where(massive, target - current, 0.0)
    gamma, gamma_beta = np.cosh(rapidity), np.sinh(rapidity)
    axis = np.divide(jet[:, 1:], jet_p[:, None], out=np.zeros((len(jet), 3)), where=jet_p[:, None] > 0)
    longitudinal = np.einsum("jck,jk->jc", scaled[..., 1:], axis)
    new_energy = gamma[:, None] * scaled[..., 0] + gamma_beta[:, None] * longitudinal
    new_longitudinal = gamma_beta[:, None] * scaled[..., 0] + gamma[:, None] * longitudinal
    out = np.empty_like(scaled)
    out[..., 0] = new_energy
    out[..., 1:] = scaled[..., 1:] + (new_longitudinal - longitudinal)[..., None] * axis[:, None, :]
    out[~real] = 0.0
    return out

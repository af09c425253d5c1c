"""Fixed-length constituent arrays: per-constituent features of the leading constituents.

Features are either relative to the jet axis (the summed four-momentum of all
constituents) or the raw four-momenta:

``delta_eta``, ``delta_phi``
    pseudorapidity and azimuth minus the jet's, ``delta_phi`` wrapped into ``[-pi, pi)``;
``log_pt``, ``log_e``
    natural log of constituent pT and energy in GeV;
``pt_rel``, ``e_rel``
    constituent pT / jet pT and E / jet E;
``delta_r``
    ``sqrt(delta_eta^2 + delta_phi^2)``;
``E``, ``px``, ``py``, ``pz``
    the raw four-momentum in GeV (e.g. the OE-VAE input: 20 leading constituents x
    ``(E, px, py, pz)``); no rotation or boost, the model-side scaler handles the scale.

Constituents are ordered by decreasing pT and cut or zero-padded to ``n_constituents``;
padding slots are all zero in every feature and False in the mask.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from jetae.errors import JetaeError
from jetae.features import kinematics
from jetae.features.images import positive_int
from jetae.features.kinematics import padding_mask

log = logging.getLogger(__name__)

RELATIVE_FEATURES = ("delta_eta", "delta_phi", "log_pt", "log_e", "pt_rel", "e_rel", "delta_r")
RAW_FEATURES = ("E", "px", "py", "pz")
#: Every feature name :func:`constituent_features` knows.
FEATURES = RELATIVE_FEATURES + RAW_FEATURES


@dataclass
class ConstituentConfig:
    """Options of :func:`constituent_features`.

    Attributes
    ----------
    n_constituents:
        Number of leading (highest-pT) constituents kept per jet.
    features:
        Feature names, in output order (see the module docstring).
    """

    n_constituents: int = 50
    features: tuple[str, ...] = field(default=RELATIVE_FEATURES)

    def __post_init__(self) -> None:
        self.n_constituents = positive_int("n_constituents", self.n_constituents)
        if isinstance(self.features, str):
            self.features = (self.features,)
        self.features = tuple(self.features)
        if not self.features:
            raise JetaeError(f"no constituent features chosen; valid: {', '.join(FEATURES)}")
        unknown = [f for f in self.features if f not in FEATURES]
        if unknown:
            raise JetaeError(
                f"unknown constituent feature(s) {', '.join(map(str, unknown))}; valid: {', '.join(FEATURES)}"
            )


def _log_or_zero(values: np.ndarray, real: np.ndarray) -> np.ndarray:
    return np.log(values, out=np.zeros_like(values), where=real & (values > 0.0))


def constituent_features(
    constituents: np.ndarray,
    n_constituents: int = 50,
    features: tuple[str, ...] | list[str] = RELATIVE_FEATURES,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-constituent features of the ``n_constituents`` leading constituents.

    Parameters
    ----------
    constituents:
        ``(n_jets, n_max, 4)`` ``(E, px, py, pz)`` in GeV, all-zero rows = padding.
    n_constituents:
        Output length of the constituent axis (cut or zero-padded).
    features:
        Feature names in output order, from :data:`FEATURES`.

    Returns
    -------
    features:
        ``(n_jets, n_constituents, n_features)`` float32, ordered by decreasing pT,
        zero in padding slots.
    mask:
        ``(n_jets, n_constituents)`` bool, True for real constituents.
    """
    config = ConstituentConfig(n_constituents, features)
    constituents = np.asarray(constituents)
    if constituents.ndim != 3 or constituents.shape[2] != 4:
        raise JetaeError(f"constituents must have shape (n_jets, n_constituents, 4), got {constituents.shape}")
    n_jets, n_keep = len(constituents), config.n_constituents

    # Jet axis from all constituents, not only the kept ones (einsum: a fast exact float64 sum).
    jet = np.einsum("jck->jk", constituents, dtype=np.float64)
    real_all = padding_mask(constituents)
    # Sort by decreasing pT with padding last; files are normally sorted already, which
    # is checked first because argsort over (n_jets, 200) is the slowest step.
    sort_key = np.where(real_all, -(constituents[..., 1] ** 2 + constituents[..., 2] ** 2), np.inf)
    if np.all(sort_key[:, 1:] >= sort_key[:, :-1]):
        n_sorted = min(n_keep, constituents.shape[1])
        order = np.broadcast_to(np.arange(n_sorted), (n_jets, n_sorted))
    else:
        order = np.argsort(sort_key, axis=1, kind="stable")[:, :n_keep]
    p4 = np.take_along_axis(constituents, order[..., None], axis=1).astype(np.float64)
    real = np.take_along_axis(real_all, order, axis=1)
    if p4.shape[1] < n_keep:
        pad = n_keep - p4.shape[1]
        p4 = np.pad(p4, ((0, 0), (0, pad), (0, 0)))
        real = np.pad(real, ((0, 0), (0, pad)))
    pt = kinematics.pt(p4)

    jet_pt = kinematics.pt(jet)[:, None]
    jet_eta = kinematics.eta(jet, jet_pt[:, 0])[:, None]
    jet_phi = kinematics.phi(jet)[:, None]
    delta_eta = np.where(real, kinematics.eta(p4, pt) - jet_eta, 0.0)
    delta_phi = np.where(real, kinematics.delta_phi(kinematics.phi(p4), jet_phi), 0.0)

    makers = {
        "delta_eta": lambda: delta_eta,
        "delta_phi": lambda: delta_phi,
        "log_pt": lambda: _log_or_zero(pt, real),
        "log_e": lambda: _log_or_zero(p4[..., 0], real),
        "pt_rel": lambda: np.divide(pt, jet_pt, out=np.zeros_like(pt), where=real & (jet_pt > 0.0)),
        "e_rel": lambda: np.divide(p4[..., 0], jet[:, :1], out=np.zeros_like(pt), where=real & (jet[:, :1] > 0.0)),
        "delta_r": lambda: np.where(real, np.hypot(delta_eta, delta_phi), 0.0),
        "E": lambda: p4[..., 0],
        "px": lambda: p4[..., 1],
        "py": lambda: p4[..., 2],
        "pz": lambda: p4[..., 3],
    }
    out = np.empty((n_jets, n_keep, len(config.features)), dtype=np.float32)
    for i, name in enumerate(config.features):
        out[..., i] = makers[name]()
    out[~real] = 0.0
    return out, real


def flatten(features: np.ndarray) -> np.ndarray:
    """``(n_jets, n_constituents, n_features)`` -> ``(n_jets, n_constituents * n_features)``.

    Constituent-major order: all features of constituent 0, then constituent 1, ...
    """
    features = np.asarray(features)
    if features.ndim != 3:
        raise JetaeError(f"expected (n_jets, n_constituents, n_features), got shape {features.shape}")
    return features.reshape(len(features), -1)

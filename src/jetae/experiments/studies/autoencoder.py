"""The autoencoder as a tool: its encoder, its decoder, and what the decoder's outputs mean as jets.

Shared by the studies that use a trained autoencoder for something other than its anomaly score
(:mod:`.pretrain`, :mod:`.features`, :mod:`.sample`, :mod:`.morph`):

* :func:`load_autoencoder`: a run directory (or detector) whose network has an ``encoder`` and a
  ``decoder`` (``dense_ae``, ``conv_ae``, ``vae``, ...);
* :func:`decode`: latent codes ``(n, K)`` -> outputs in representation units (scaling undone);
* :func:`project`: a decoder's outputs made valid for the representation (see there);
* :func:`representation_observables`: jet mass, pT, multiplicity and N-subjettiness measured on
  representation rows (real or decoded), so that generated and real jets are measured alike.

Observables need a representation that holds the jet's pT flow: ``image`` (any options), or
``constituents`` whose features include ``delta_eta``, ``delta_phi`` and ``pt_rel``.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Mapping

import numpy as np

from jetae.errors import JetaeError
from jetae.evaluation.evaluate import load_detector
from jetae.features.constituents import ConstituentConfig
from jetae.features.images import ImageConfig
from jetae.features.kinematics import jet_kinematics
from jetae.features.substructure import image_constituents, nsubjettiness, ratio
from jetae.jets import Jets
from jetae.models import Detector

#: Pixels (or constituent slots) below this fraction of the jet's pT are empty after :func:`project`.
MIN_FRACTION = 1e-3
#: Rows per batch of :func:`representation_observables`.
_CHUNK_ROWS = 1000
#: Observables of :func:`representation_observables`, with units.
OBSERVABLES = {
    "mass": "GeV",
    "pt": "GeV",
    "multiplicity": "pixels or constituents with pT",
    "tau21": "",
    "tau32": "",
}
#: Constituent features an observable needs (pt_rel carries the pT, the deltas the direction).
FLOW_FEATURES = ("delta_eta", "delta_phi", "pt_rel")


def check_autoencoder(detector: Detector, where: str | None = None) -> Detector:
    """``detector`` if it is a fitted autoencoder (a network with an ``encoder`` and a ``decoder`` and a
    ``latent_dim`` option); a JetaeError naming ``where`` (the run directory) otherwise."""
    network = getattr(detector, "network_", None)
    usable = network is not None and hasattr(network, "encoder") and hasattr(network, "decoder")
    if not usable or not hasattr(detector.config, "latent_dim"):
        raise JetaeError(
            f"model {detector.name!r} is not an autoencoder with an encoder and a decoder "
            "(use dense_ae, conv_ae, vae, ...)",
            where,
        )
    return detector


def load_autoencoder(model: str | os.PathLike | Detector) -> tuple[Detector, str | None, dict[str, Any]]:
    """``(detector, run_dir or None, metadata)`` of a fitted autoencoder (:func:`check_autoencoder`)."""
    detector, run_dir, metadata = load_detector(model)
    return check_autoencoder(detector, run_dir), run_dir, metadata


def is_variational(detector: Detector) -> bool:
    """True for a VAE: its network's ``encode`` gives ``(mu, logvar)`` and the prior is N(0, 1)."""
    return callable(getattr(detector.network_, "encode", None))


def latent_dim(detector: Detector) -> int:
    """Dimension ``K`` of the latent code."""
    return int(detector.config.latent_dim)


def decode(detector: Detector, codes: np.ndarray) -> np.ndarray:
    """``(n, *input_shape)`` decoder outputs for codes ``(n, K)``, in representation units (the
    inverse of the model's input scaling applied), as :meth:`Detector.reconstruct` returns them."""
    codes = np.asarray(codes, dtype=np.float32)
    if codes.ndim != 2 or codes.shape[1] != latent_dim(detector):
        raise JetaeError(f"latent codes must have shape (n, {latent_dim(detector)}), got {codes.shape}")
    outputs = detector.run_network(codes, lambda network, batch: network.decoder(batch))
    return detector.scaler_.inverse_transform(outputs.reshape(len(codes), *detector.input_shape_))


def representation_kind(representation: Mapping[str, Any]) -> str:
    return str(representation.get("kind"))


def image_config(representation: Mapping[str, Any]) -> ImageConfig:
    return ImageConfig(**{k: v for k, v in representation.items() if k != "kind"})


def constituent_config(representation: Mapping[str, Any]) -> ConstituentConfig:
    return ConstituentConfig(**{k: v for k, v in representation.items() if k not in ("kind", "flatten")})


def has_observables(representation: Mapping[str, Any]) -> bool:
    """Whether jet observables can be measured on rows of this representation."""
    if representation_kind(representation) == "image":
        return True
    if representation_kind(representation) == "constituents":
        return all(f in constituent_config(representation).features for f in FLOW_FEATURES)
    return False


def _constituent_rows(rows: np.ndarray, config: ConstituentConfig) -> np.ndarray:
    """``(n, n_constituents, n_features)`` view of (possibly flattened) constituent rows."""
    return np.asarray(rows, dtype=np.float32).reshape(len(rows), config.n_constituents, len(config.features))


def project(rows: np.ndarray, representation: Mapping[str, Any], min_fraction: float = MIN_FRACTION) -> np.ndarray:
    """Decoder outputs made valid rows of ``representation`` (same shape, float32).

    ``image``: negative pixels and pixels below ``min_fraction`` of the image's sum are set to 0
    (a real image's smallest pixel is one constituent, ~1e-3 of the jet pT); with
    ``normalize`` every image is scaled to unit sum (an image with nothing left stays empty).
    ``constituents`` with ``pt_rel``: ``pt_rel`` clipped at 0, slots with ``pt_rel`` below
    ``min_fraction`` become padding (all-zero rows), the rest sorted by decreasing ``pt_rel``
    (the representation's order). Other constituent features are returned as decoded.
    """
    rows = np.asarray(rows, dtype=np.float32)
    kind = representation_kind(representation)
    if kind == "image":
        config = image_config(representation)
        flat = np.clip(rows.reshape(len(rows), -1), 0.0, None)
        total = flat.sum(axis=1, keepdims=True)
        flat = np.where(flat >= min_fraction * total, flat, 0.0)
        if config.normalize:
            total = flat.sum(axis=1, keepdims=True)
            flat = np.divide(flat, total, out=np.zeros_like(flat), where=total > 0)
        return flat.reshape(rows.shape).astype(np.float32)
    if kind == "constituents":
        config = constituent_config(representation)
        if "pt_rel" not in config.features:
            return rows
        table = _constituent_rows(rows, config).copy()
        column = config.features.index("pt_rel")
        pt_rel = np.clip(table[..., column], 0.0, None)
        keep = pt_rel >= min_fraction
        table[..., column] = pt_rel
        table[~keep] = 0.0
        order = np.argsort(-np.where(keep, pt_rel, -1.0), axis=1, kind="stable")
        table = np.take_along_axis(table, order[..., None], axis=1)
        return table.reshape(rows.shape).astype(np.float32)
    return rows


def pseudo_constituents(rows: np.ndarray, representation: Mapping[str, Any], pt_scale: float) -> np.ndarray:
    """``(n, m, 4)`` ``(E, px, py, pz)`` massless pseudo-particles in GeV of representation rows.

    Images: one particle per pixel (:func:`jetae.features.substructure.image_constituents`),
    pT = intensity x ``pt_scale`` (GeV per unit: the jet pT for unit-sum images, 1 for images in
    GeV). Constituents: pT = ``pt_rel`` x ``pt_scale`` at (``delta_eta``, ``delta_phi``).
    Negative intensities (raw decoder outputs) count as 0.
    """
    kind = representation_kind(representation)
    if kind == "image":
        config = image_config(representation)
        return image_constituents(rows, config.pixel_eta, config.pixel_phi, pt_scale)
    if not has_observables(representation):
        raise JetaeError(
            f"cannot measure jet observables on representation {dict(representation)}: it needs images, or "
            f"constituents with the features {', '.join(FLOW_FEATURES)}"
        )
    config = constituent_config(representation)
    table = _constituent_rows(rows, config).astype(np.float64)
    index = {name: config.features.index(name) for name in FLOW_FEATURES}
    pt = np.clip(table[..., index["pt_rel"]], 0.0, None) * pt_scale
    eta, phi = table[..., index["delta_eta"]], table[..., index["delta_phi"]]
    return np.stack([pt * np.cosh(eta), pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)], axis=-1)


def representation_observables(
    rows: np.ndarray, representation: Mapping[str, Any], pt_scale: float, radius: float = 0.8
) -> dict[str, np.ndarray]:
    """Per-jet observables measured on representation rows (real or decoded), each ``(n,)`` float64.

    ``mass`` and ``pt`` in GeV of the summed pseudo-particles (:func:`pseudo_constituents`; for
    unit-sum images and ``pt_rel`` they scale with ``pt_scale``), ``multiplicity`` = pixels or
    slots with pT > 0, ``tau21`` and ``tau32`` = N-subjettiness ratios with exclusive-kT axes
    (:func:`jetae.features.substructure.nsubjettiness`, ``R0 = radius``).
    """
    parts: dict[str, list[np.ndarray]] = {name: [] for name in OBSERVABLES}
    for lo in range(0, len(rows), _CHUNK_ROWS):  # an image is up to n_pixels^2 particles: bound the memory
        particles = pseudo_constituents(rows[lo : lo + _CHUNK_ROWS], representation, pt_scale)
        kinematics = jet_kinematics(particles)
        taus = nsubjettiness(particles, n_max=3, radius=radius)[..., 0]  # beta = 1
        parts["mass"].append(kinematics["mass"])
        parts["pt"].append(kinematics["pt"])
        parts["multiplicity"].append(kinematics["multiplicity"])
        parts["tau21"].append(ratio(taus[:, 1], taus[:, 0]))
        parts["tau32"].append(ratio(taus[:, 2], taus[:, 1]))
    return {name: np.concatenate(values).astype(np.float64) for name, values in parts.items()}


def representation_summary(representation: Mapping[str, Any]) -> dict[str, Any]:
    """The representation spec with every option resolved (defaults filled in)."""
    kind = representation_kind(representation)
    if kind == "image":
        return {"kind": "image", **dataclasses.asdict(image_config(representation))}
    if kind == "constituents":
        config = constituent_config(representation)
        return {
            "kind": "constituents",
            "n_constituents": config.n_constituents,
            "features": list(config.features),
            "flatten": bool(representation.get("flatten", False)),
        }
    return dict(representation)


def pt_scale_for(representation: Mapping[str, Any], jets: Jets) -> float:
    """GeV per unit of row intensity: the real jets' mean pT for unit-sum images and ``pt_rel``
    constituents, 1 for images in GeV."""
    if representation_kind(representation) == "image" and not image_config(representation).normalize:
        return 1.0
    return float(jet_kinematics(jets.constituents)["pt"].mean())


def image_view(rows: np.ndarray) -> np.ndarray | None:
    """Rows ``(n, 1, h, w)`` or ``(n, h, w)`` of square images as ``(n, h, w)``; None for other rows."""
    rows = np.asarray(rows)
    if rows.ndim == 4 and rows.shape[1] == 1:
        return rows[:, 0]
    return rows if rows.ndim == 3 and rows.shape[1] == rows.shape[2] else None

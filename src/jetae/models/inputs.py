"""Model inputs: a representation spec checked early, and jets (or ready-made arrays) turned into inputs."""

from __future__ import annotations

from typing import Any

import numpy as np

from jetae.errors import JetaeError
from jetae.features import REPRESENTATIONS, make_representation, representation_options
from jetae.features.kinematics import jet_mass
from jetae.jets import Jets

#: What ``fit`` and the scoring methods take: jets, or an array of raw constituents or of inputs (see :func:`as_jets`).
JetsOrArray = Jets | np.ndarray


def check_representation(spec: Any) -> None:
    """Raise a JetaeError now for a representation spec that could not build inputs later."""
    if not isinstance(spec, dict):
        raise JetaeError(f"representation must be a mapping with a 'kind', got {spec!r}")
    kind = spec.get("kind")
    if kind not in REPRESENTATIONS:
        raise JetaeError(f"unknown representation kind {kind!r}; valid: {', '.join(REPRESENTATIONS)}")
    options = {k: v for k, v in spec.items() if k != "kind"}
    unknown = sorted(set(options) - set(representation_options(kind)))
    if unknown:
        raise JetaeError(
            f"unknown option(s) {', '.join(unknown)} for representation {kind!r}; "
            f"valid: {', '.join(representation_options(kind))}"
        )
    config_cls, extra, _ = REPRESENTATIONS[kind]
    try:
        config_cls(**{k: v for k, v in options.items() if k not in extra})
    except TypeError as exc:
        raise JetaeError(f"invalid representation options {options}: {exc}") from None


def representation_shape(representation: dict) -> tuple[int, ...]:
    """The shape of one jet's model inputs under ``representation`` (e.g. ``(1, 40, 40)`` for images)."""
    return tuple(make_representation(np.zeros((1, 1, 4), np.float32), representation).shape[1:])


def as_jets(data: JetsOrArray, representation: dict) -> JetsOrArray:
    """``data``, with a numpy array of raw constituents turned into :class:`~jetae.jets.Jets`.

    An array of shape ``(n_jets, n_constituents, 4)`` (E, px, py, pz in GeV, zero rows = padding, the
    layout of ``Jets.constituents``) is read as jets, unless its shape is already that of the
    representation's inputs (e.g. ``lola_ae``'s ``(n, 40, 4)`` four-vectors, which are the 40 leading
    constituents themselves when the array is pT-ordered): then, like any other array, it is taken as
    ready-made inputs. This is how scikit-learn, which indexes arrays but not ``Jets``, passes jets.
    """
    if isinstance(data, Jets) or not isinstance(data, np.ndarray):
        return data
    if np.iscomplexobj(data):
        raise JetaeError("inputs are complex numbers; expected real float arrays")
    if data.ndim == 3 and data.shape[2] == 4 and tuple(data.shape[1:]) != representation_shape(representation):
        if len(data) == 0:
            raise JetaeError("no jets given")
        if not np.isfinite(data).all():
            raise JetaeError("constituents contain NaN or inf")
        return Jets.from_constituents(data)
    return data


def make_inputs(data: JetsOrArray, representation: dict) -> np.ndarray:
    """Model inputs from jets (via the representation) or a ready-made array."""
    if isinstance(data, Jets):
        if len(data) == 0:
            raise JetaeError("no jets given", data.source)
        return np.asarray(make_representation(data, representation), dtype=np.float32)
    if np.iscomplexobj(data):
        raise JetaeError("inputs are complex numbers; expected real float arrays")
    inputs = np.asarray(data, dtype=np.float32)
    if inputs.ndim < 2 or inputs.shape[0] == 0:
        raise JetaeError(f"expected inputs of shape (n_samples, ...) with n_samples > 0, got {inputs.shape}")
    if not np.isfinite(inputs).all():
        raise JetaeError("inputs contain NaN or inf")
    return inputs


def jet_masses(data: JetsOrArray) -> np.ndarray | None:
    """``(n_jets,)`` jet mass in GeV, or None for plain arrays."""
    return jet_mass(data.constituents).astype(np.float32) if isinstance(data, Jets) else None

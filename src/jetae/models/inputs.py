"""Model inputs: a representation spec checked early, and jets (or ready-made arrays) turned into inputs."""

from __future__ import annotations

from typing import Any

import numpy as np

from jetae.errors import JetaeError
from jetae.features import REPRESENTATIONS, make_representation, representation_options
from jetae.features.kinematics import jet_mass
from jetae.jets import Jets

#: What ``fit`` and the scoring methods take: jets, or an array of inputs ``(n_samples, ...)``.
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


def make_inputs(data: JetsOrArray, representation: dict) -> np.ndarray:
    """Model inputs from jets (via the representation) or a ready-made array."""
    if isinstance(data, Jets):
        if len(data) == 0:
            raise JetaeError("no jets given", data.source)
        return np.asarray(make_representation(data, representation), dtype=np.float32)
    inputs = np.asarray(data, dtype=np.float32)
    if inputs.ndim < 2 or inputs.shape[0] == 0:
        raise JetaeError(f"expected inputs of shape (n_samples, ...) with n_samples > 0, got {inputs.shape}")
    if not np.isfinite(inputs).all():
        raise JetaeError("inputs contain NaN or inf")
    return inputs


def jet_masses(data: JetsOrArray) -> np.ndarray | None:
    """``(n_jets,)`` jet mass in GeV, or None for plain arrays."""
    return jet_mass(data.constituents).astype(np.float32) if isinstance(data, Jets) else None

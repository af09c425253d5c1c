"""Jet representations: images and constituent arrays, and one dispatch the models call.

``make_representation(jets, {"kind": "image", "n_pixels": 40})`` or
``make_representation(jets, {"kind": "constituents", "n_constituents": 20,
"features": ["E", "px", "py", "pz"], "flatten": True})``; the other keys of the spec
are the fields of :class:`ImageConfig` / :class:`ConstituentConfig`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import numpy as np

from jetae.errors import JetaeError
from jetae.features.constituents import ConstituentConfig, constituent_features, flatten
from jetae.features.images import ImageConfig, image_inputs, jet_images
from jetae.features.substructure import ObservableConfig, observable_inputs
from jetae.jets import Jets


def _image_inputs(constituents: np.ndarray, options: dict[str, Any]) -> np.ndarray:
    return image_inputs(constituents, ImageConfig(**options))[:, None]


def _constituent_inputs(constituents: np.ndarray, options: dict[str, Any]) -> np.ndarray:
    options = dict(options)
    flat = options.pop("flatten", False)
    if not isinstance(flat, (bool, np.bool_)):
        raise JetaeError(f"representation option 'flatten' must be true or false, got {flat!r}")
    config = ConstituentConfig(**options)
    features, _ = constituent_features(constituents, config.n_constituents, config.features)
    return flatten(features) if flat else features


#: kind -> (config dataclass, extra option names, builder(constituents, options)).
REPRESENTATIONS: dict[str, tuple[type, tuple[str, ...], Callable[[np.ndarray, dict[str, Any]], np.ndarray]]] = {
    "image": (ImageConfig, (), _image_inputs),
    "constituents": (ConstituentConfig, ("flatten",), _constituent_inputs),
    "observables": (ObservableConfig, (), lambda constituents, options: observable_inputs(constituents, **options)),
}


def representation_options(kind: str) -> list[str]:
    """Valid spec keys (besides ``kind``) for a representation kind."""
    config_cls, extra, _ = REPRESENTATIONS[kind]
    return [f.name for f in dataclasses.fields(config_cls)] + list(extra)


def make_representation(jets_or_constituents: Jets | np.ndarray, spec: dict[str, Any]) -> np.ndarray:
    """Model inputs for jets, as described by ``spec``.

    Parameters
    ----------
    jets_or_constituents:
        :class:`~jetae.jets.Jets` or a ``(n_jets, n_constituents, 4)``
        ``(E, px, py, pz)`` array in GeV (zero rows = padding).
    spec:
        ``{"kind": "image", ...ImageConfig fields}`` or
        ``{"kind": "constituents", ...ConstituentConfig fields, "flatten": bool}`` or
        ``{"kind": "observables", ...ObservableConfig fields}`` (mass and N-subjettiness).

    Returns
    -------
    float32 array: images ``(n_jets, 1, n_pixels, n_pixels)`` (channel axis for conv
    nets); constituents ``(n_jets, n_constituents, n_features)``, or
    ``(n_jets, n_constituents * n_features)`` with ``flatten``; observables
    ``(n_jets, 1 + n_max * len(betas))``.

    Raises
    ------
    JetaeError
        Unknown kind or option, or an invalid option value.
    """
    if not isinstance(spec, dict):
        raise JetaeError(f"representation must be a dict with a 'kind', got {type(spec).__name__}")
    kind = spec.get("kind")
    if kind not in REPRESENTATIONS:
        raise JetaeError(f"unknown representation kind {kind!r}; valid: {', '.join(REPRESENTATIONS)}")
    options = {k: v for k, v in spec.items() if k != "kind"}
    valid = representation_options(kind)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise JetaeError(
            f"unknown option(s) {', '.join(unknown)} for representation {kind!r}; valid: {', '.join(valid)}"
        )
    constituents = jets_or_constituents.constituents if isinstance(jets_or_constituents, Jets) else jets_or_constituents
    _, _, build = REPRESENTATIONS[kind]
    return np.asarray(build(np.asarray(constituents), options), dtype=np.float32)


__all__ = [
    "ConstituentConfig",
    "ImageConfig",
    "ObservableConfig",
    "REPRESENTATIONS",
    "constituent_features",
    "flatten",
    "jet_images",
    "make_representation",
    "representation_options",
]

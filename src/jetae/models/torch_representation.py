"""The jet representations of :mod:`jetae.features` as torch modules that ``torch.onnx.export`` can trace.

:class:`RepresentationModule` maps raw constituents ``(n_jets, n_constituents, 4)`` float32
``(E, px, py, pz)`` in GeV (all-zero rows = padding) to exactly the model inputs that
:func:`jetae.features.make_representation` builds with numpy: jet images
``(n_jets, 1, n_pixels, n_pixels)`` (centring, rotation, flip, nearest-centre pixelisation, unit-sum
normalisation, :mod:`jetae.features.images`) or constituent arrays ``(n_jets, n_constituents,
n_features)`` / flattened (pT ordering, cut / zero-padding, jet-axis-relative features,
:mod:`jetae.features.constituents`). Like the numpy code it computes in float64 and returns
float32; the numbers agree to float64 rounding (``tests/test_export.py``).

Only operators that the ONNX standard and onnxruntime's CPU kernels have in float64 are used:
``asinh`` is written with ``log``/``sqrt``, ``atan2`` is a float32 ``atan`` refined by one Newton
step in float64 (:func:`atan2_f64`), pixels are filled by ``scatter_add`` (ONNX
``ScatterElements`` with add-reduction, opset >= 16) and the pT ordering is ``topk`` (ONNX
``TopK``, which keeps the lower index first among equal keys, as numpy's stable sort does).
Both axes are dynamic: any number of jets and of constituent slots.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from jetae.errors import JetaeError
from jetae.features.constituents import ConstituentConfig
from jetae.features.images import ImageConfig

_TINY = 1e-12


def atan2_f64(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``atan2(y, x)`` in ``(-pi, pi]`` of float64 tensors to float64 precision; 0 at ``x = y = 0``.

    onnxruntime has no float64 ``Atan``: the angle is first taken in float32 (quadrants by hand,
    so that ``(0, 0)`` gives 0 rather than the NaN of the exporter's ``atan2``), then corrected by
    ``asin(d) ~ d`` with ``d = (cos t * y - sin t * x) / r``, the sine of the remaining error
    (~1e-7, so the correction is exact to ~1e-21).
    """
    zero, one = torch.zeros_like(x), torch.ones_like(x)
    safe_x = torch.where(x == 0, one, x)
    base = torch.atan((y / safe_x).float()).double()
    pi = torch.full_like(x, math.pi)
    left = torch.where(y >= 0, base + pi, base - pi)
    on_axis = torch.where(y > 0, 0.5 * pi, torch.where(y < 0, -0.5 * pi, zero))
    angle = torch.where(x > 0, base, torch.where(x < 0, left, on_axis))
    r = torch.sqrt(x * x + y * y)
    correction = (torch.cos(angle) * y - torch.sin(angle) * x) / torch.where(r > 0, r, one)
    return angle + correction


def asinh_f64(values: torch.Tensor) -> torch.Tensor:
    """``asinh`` written with ``log`` and ``sqrt`` (the exporter has no ``asinh``), odd by construction."""
    magnitude = values.abs()
    return torch.sign(values) * torch.log(magnitude + torch.sqrt(magnitude * magnitude + 1.0))


def wrap_phi(dphi: torch.Tensor) -> torch.Tensor:
    """An azimuth difference wrapped into ``[-pi, pi)`` (as :func:`jetae.features.kinematics.wrap_phi`)."""
    return torch.remainder(dphi + math.pi, 2.0 * math.pi) - math.pi


def padding_mask(constituents: torch.Tensor) -> torch.Tensor:
    """``(n, N)`` bool, True for real constituents (a non-zero component)."""
    return (constituents != 0).any(dim=-1)


def pseudorapidity(p4: torch.Tensor, pt: torch.Tensor) -> torch.Tensor:
    """eta of ``(..., 4)`` float64 four-momenta with transverse momenta ``pt``; 0 where ``pt <= 1e-12``."""
    ok = pt > _TINY
    return torch.where(ok, asinh_f64(p4[..., 3] / torch.where(ok, pt, torch.ones_like(pt))), torch.zeros_like(pt))


class ImageRepresentation(nn.Module):
    """Constituents -> ``(n_jets, 1, n_pixels, n_pixels)`` float32 jet images (:func:`jetae.features.jet_images`)."""

    def __init__(self, config: ImageConfig):
        super().__init__()
        self.config = config

    def forward(self, constituents: torch.Tensor) -> torch.Tensor:
        config = self.config
        n = config.n_pixels
        real = padding_mask(constituents)
        # Hardest constituent by pT^2 in the input precision, first one on ties (np.argmax).
        hardest = torch.argmax(constituents[..., 1] ** 2 + constituents[..., 2] ** 2, dim=1, keepdim=True)
        p4 = constituents.double()
        px, py = p4[..., 1], p4[..., 2]
        pt = torch.sqrt(px * px + py * py)
        phi = atan2_f64(py, px)
        x = pseudorapidity(p4, pt)
        y = wrap_phi(phi - torch.gather(phi, 1, hardest))
        weight = torch.where(real, pt, torch.zeros_like(pt))
        total = weight.sum(dim=1, keepdim=True)
        total = torch.where(total > 0.0, total, torch.ones_like(total))

        def per_jet_mean(values: torch.Tensor) -> torch.Tensor:
            return (weight * values).sum(dim=1, keepdim=True) / total

        x = x - per_jet_mean(x)
        y = y - per_jet_mean(y)
        if config.rotate:
            xx, xy, yy = per_jet_mean(x * x), per_jet_mean(x * y), per_jet_mean(y * y)
            angle = 0.5 * math.pi - 0.5 * atan2_f64(2.0 * xy, xx - yy)
            cos, sin = torch.cos(angle), torch.sin(angle)
            x, y = cos * x - sin * y, sin * x + cos * y
        if config.flip:
            zero = torch.zeros_like(weight)
            left = torch.where(x < 0.0, weight, zero).sum(dim=1, keepdim=True)
            right = torch.where(x > 0.0, weight, zero).sum(dim=1, keepdim=True)
            below = torch.where(y < 0.0, weight, zero).sum(dim=1, keepdim=True)
            above = torch.where(y > 0.0, weight, zero).sum(dim=1, keepdim=True)
            one = torch.ones_like(left)
            x = x * torch.where(left < right, -one, one)
            y = y * torch.where(below > above, -one, one)
        column = torch.floor(x / config.pixel_eta + 0.5) + n // 2
        row = torch.floor(y / config.pixel_phi + 0.5) + n // 2
        inside = real & (column >= 0) & (column < n) & (row >= 0) & (row < n)
        weight = torch.where(inside, weight, torch.zeros_like(weight))
        if config.normalize:
            sums = weight.sum(dim=1, keepdim=True)
            weight = weight / torch.where(sums > 0.0, sums, torch.ones_like(sums))
        pixel = (row.clamp(0, n - 1) * n + column.clamp(0, n - 1)).long()
        images = torch.zeros_like(weight[:, :1]).expand(-1, n * n)
        images = torch.scatter_add(images, 1, pixel, weight)
        return images.float().reshape(-1, 1, n, n)


class ConstituentRepresentation(nn.Module):
    """Constituents -> pT-ordered per-constituent features (see :func:`jetae.features.constituent_features`)."""

    def __init__(self, config: ConstituentConfig, flatten: bool):
        super().__init__()
        self.config = config
        self.flatten = flatten

    def forward(self, constituents: torch.Tensor) -> torch.Tensor:
        n_keep = self.config.n_constituents
        jet = constituents.double().sum(dim=1)
        # n_keep padding rows appended so that there are always n_keep slots to take (numpy pads after cutting).
        padded = nn.functional.pad(constituents, (0, 0, 0, n_keep))
        real_all = padding_mask(padded)
        key = torch.where(
            real_all, -(padded[..., 1] ** 2 + padded[..., 2] ** 2), torch.full_like(padded[..., 0], math.inf)
        )
        order = torch.topk(key, n_keep, dim=1, largest=False, sorted=True).indices
        p4 = torch.gather(padded, 1, order.unsqueeze(-1).expand(-1, -1, 4)).double()
        real = torch.gather(real_all, 1, order)
        zero = torch.zeros_like(p4[..., 0])
        pt = torch.sqrt(p4[..., 1] ** 2 + p4[..., 2] ** 2)
        jet_pt = torch.sqrt(jet[:, 1:2] ** 2 + jet[:, 2:3] ** 2)
        jet_eta = pseudorapidity(jet.unsqueeze(1), jet_pt)
        jet_phi = atan2_f64(jet[:, 2:3], jet[:, 1:2])
        delta_eta = torch.where(real, pseudorapidity(p4, pt) - jet_eta, zero)
        delta_phi = torch.where(real, wrap_phi(atan2_f64(p4[..., 2], p4[..., 1]) - jet_phi), zero)

        def log_or_zero(values: torch.Tensor) -> torch.Tensor:
            ok = real & (values > 0.0)
            return torch.where(ok, torch.log(torch.where(ok, values, torch.ones_like(values))), zero)

        def ratio(values: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
            ok = real & (denominator > 0.0)
            return torch.where(
                ok, values / torch.where(denominator > 0.0, denominator, torch.ones_like(denominator)), zero
            )

        makers = {
            "delta_eta": lambda: delta_eta,
            "delta_phi": lambda: delta_phi,
            "log_pt": lambda: log_or_zero(pt),
            "log_e": lambda: log_or_zero(p4[..., 0]),
            "pt_rel": lambda: ratio(pt, jet_pt),
            "e_rel": lambda: ratio(p4[..., 0], jet[:, 0:1]),
            "delta_r": lambda: torch.where(real, torch.sqrt(delta_eta**2 + delta_phi**2), zero),
            "E": lambda: p4[..., 0],
            "px": lambda: p4[..., 1],
            "py": lambda: p4[..., 2],
            "pz": lambda: p4[..., 3],
        }
        features = torch.stack([makers[name]() for name in self.config.features], dim=-1).float()
        features = features * real.unsqueeze(-1).float()
        return features.flatten(1) if self.flatten else features


def representation_module(spec: dict[str, Any]) -> nn.Module:
    """The torch twin of ``make_representation(constituents, spec)`` (a JetaeError for an unknown kind or option)."""
    options = {k: v for k, v in spec.items() if k != "kind"}
    kind = spec.get("kind")
    try:
        if kind == "image":
            config = ImageConfig(**options)
            extras = {"fixed_mass": 0.0, "smooth": 0.0, "intensity_power": 1.0}
            used = [name for name, off in extras.items() if getattr(config, name) != off]
            if used:  # numpy-only preprocessing (a boost, scipy's smoothing): not in the graph yet
                raise JetaeError(f"no torch version of the image option(s) {', '.join(used)}")
            return ImageRepresentation(config)
        if kind == "constituents":
            flatten = bool(options.pop("flatten", False))
            return ConstituentRepresentation(ConstituentConfig(**options), flatten)
    except TypeError as exc:
        raise JetaeError(f"invalid representation options {options}: {exc}") from None
    raise JetaeError(f"no torch version of representation kind {kind!r}")


__all__ = [
    "ConstituentRepresentation",
    "ImageRepresentation",
    "asinh_f64",
    "atan2_f64",
    "representation_module",
    "wrap_phi",
]

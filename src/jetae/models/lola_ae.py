"""``lola_ae``: the 4-vector autoencoder of "QCD or What?" with a CoLa + LoLa input stage.

Combination layer (CoLa) and Lorentz layer (LoLa) after Butter, Kasieczka, Plehn, Russell,
"Deep-learned Top Tagging with a Lorentz Layer" (arXiv:1707.08966); the autoencoder set-up
(trained on QCD only, reconstruction error as the anomaly score, 4-vectors in and out)
after Heimel, Kasieczka, Plehn, Thompson, "QCD or What?" (arXiv:1808.08979).

Pipeline (``n`` jets, ``N`` = ``representation.n_constituents`` leading constituents,
``M`` = ``n_combinations``, ``R`` = ``n_distance_sums``):

1. **Input**: ``(n, N, 4)`` raw ``(E, px, py, pz)`` of the N hardest constituents in GeV,
   pT-ordered, all-zero rows = padding (representation ``constituents`` with features
   ``E, px, py, pz``; the detector's scaler is ``none``).
2. **Jet frame** (fixed, inside the network, float64): every jet is boosted along the beam
   axis to rapidity 0, rotated in azimuth to phi = 0 and divided by its pT (jet = sum of the N
   kept constituents). Both are Lorentz transformations (plus one overall scale), so every
   invariant below is unchanged up to the factor ``1 / pT_jet^2``; what changes is only the
   non-invariant pT and E, which become the jet-frame values. Result ``k``: ``(n, N, 4)``,
   dimensionless, padding rows still zero.
3. **CoLa**: ``k~_j = sum_i k_i C_ij`` with ``C = (1_N, W)``, ``W`` trainable ``(N, M)``:
   the N constituents followed by M learned linear combinations, ``(n, N + M, 4)``.
4. **LoLa**: per vector ``j``: ``m_j^2`` (Minkowski square), ``pT_j``, ``E_j``, a learned
   energy sum ``sum_m w^E_jm E_m`` and R learned sums of Minkowski distances
   ``sum_m w^(r)_jm d_jm^2`` with ``d_jm^2 = (k~_j - k~_m)^2``; sums run over real vectors
   only, features of padding vectors are zero. ``m^2`` and the distance sums are Lorentz
   invariants. Output ``(n, N + M, 4 + R)``, flattened.
5. **Encoder**: batch norm, dense ``hidden``, code ``latent_dim``. **Decoder**: dense mirror
   of the encoder to ``N * 4`` numbers.

**What is reconstructed, and why.** The target is the jet-frame 4-vectors ``k`` of step 2
(the autoencoder's input before the trainable layers), each of the ``N x 4`` entries
standardised with its mean and standard deviation over the real constituents of the training
jets (fitted once, stored as network buffers). This is the 4-vector autoencoder of "QCD or
What?": 4-vectors in, CoLa/LoLa as the physics-aware encoder front end, 4-vectors out. The
LoLa features themselves cannot serve as the target: they are outputs of trainable layers, so
an autoencoder asked to reproduce them could shrink them (all ``W``, ``w`` to zero) and reach
zero loss for every jet. The per-jet loss and ``reconstruction`` score is the mean squared
(``loss=mae``: absolute) error over the real slots' 4 standardised components; padding slots
are excluded. Note: the full text of arXiv:1808.08979 could not be consulted while writing
this module; the set-up above follows the paper's description of a 4-vector autoencoder with
a LoLa encoder, and the defaults of N = 40 constituents and M = 15 combinations follow
arXiv:1707.08966 as recalled. Both are options.

``reconstruct`` returns ``(k, reconstruction)`` in jet-frame units (4-vectors / jet pT, after
the boost and rotation of step 2), ``(n_jets, N, 4)`` each.

Scores: ``reconstruction`` (default), ``mahalanobis`` and ``latent_distance`` of the code (see
:mod:`jetae.models._constituent_ae`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from jetae.errors import JetaeError
from jetae.models._constituent_ae import ConstituentAEConfig, ConstituentAEDetector, real_mask
from jetae.models.nets import mlp
from jetae.models.registry import register

FOUR_VECTOR = ["E", "px", "py", "pz"]
#: Column order of the LoLa output per vector (``R`` distance sums follow); ``m2`` and the
#: distance sums are the Lorentz invariants (:meth:`LorentzLayer.invariant_columns`).
LOLA_FEATURES = ("m2", "pt", "energy", "energy_sum")
_TINY = 1e-12


def _four_vectors(n_constituents: int = 40) -> dict:
    return {"kind": "constituents", "n_constituents": n_constituents, "features": list(FOUR_VECTOR), "flatten": False}


def minkowski_dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a . b = a_E b_E - a_x b_x - a_y b_y - a_z b_z`` over the last axis (metric +,-,-,-)."""
    return a[..., 0] * b[..., 0] - (a[..., 1:] * b[..., 1:]).sum(dim=-1)


def jet_frame(p4: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Constituents in the jet frame: boosted along z to jet rapidity 0, rotated to jet phi 0, / jet pT.

    Parameters
    ----------
    p4:
        ``(n, N, 4)`` ``(E, px, py, pz)`` in GeV, zero rows = padding.
    mask:
        ``(n, N)`` bool, True for real constituents.

    Returns
    -------
    ``(n, N, 4)`` dimensionless 4-vectors (units of the jet pT), computed in float64 and
    returned in ``p4``'s dtype; padding rows stay zero. The jet is the sum of the real rows.
    """
    dtype = p4.dtype
    p4 = p4.double() * mask.unsqueeze(-1).double()
    jet = p4.sum(dim=1)
    energy, px, py, pz = jet.unbind(dim=-1)
    pt = torch.sqrt(px.square() + py.square()).clamp_min(_TINY)
    # Longitudinal boost with beta = pz / E: gamma = E / mT, gamma * beta = pz / mT, mT^2 = E^2 - pz^2.
    transverse_mass = torch.sqrt((energy.square() - pz.square()).clamp_min(_TINY))
    gamma = (energy / transverse_mass)[:, None]
    gamma_beta = (pz / transverse_mass)[:, None]
    cos_phi, sin_phi = (px / pt)[:, None], (py / pt)[:, None]
    e_i, x_i, y_i, z_i = p4.unbind(dim=-1)
    boosted = torch.stack(
        [
            gamma * e_i - gamma_beta * z_i,
            cos_phi * x_i + sin_phi * y_i,
            -sin_phi * x_i + cos_phi * y_i,
            gamma * z_i - gamma_beta * e_i,
        ],
        dim=-1,
    )
    return (boosted / pt[:, None, None]).to(dtype)


class CombinationLayer(nn.Module):
    """CoLa: the N input 4-vectors followed by M trainable linear combinations of them.

    ``(n, N, 4)`` -> ``(n, N + M, 4)``; ``k~_j = sum_i k_i C_ij``, ``C = (1_N, W)``. Linear, so it
    commutes with every Lorentz transformation; padding (zero) vectors contribute nothing.
    """

    def __init__(self, n_inputs: int, n_combinations: int):
        super().__init__()
        self.n_inputs = n_inputs
        self.n_combinations = n_combinations
        # Non-negative start: each combination is a random "sub-jet" of the constituents.
        self.weight = nn.Parameter(torch.rand(n_inputs, n_combinations))

    def forward(self, vectors: torch.Tensor) -> torch.Tensor:
        if self.n_combinations == 0:
            return vectors
        combined = torch.einsum("nid,im->nmd", vectors, self.weight.to(vectors.dtype))
        return torch.cat([vectors, combined], dim=1)


class LorentzLayer(nn.Module):
    """LoLa: per 4-vector ``m^2``, ``pT``, ``E``, a learned energy sum and R learned distance sums.

    ``forward(vectors (n, V, 4), mask (n, V) bool)`` -> ``(n, V, 4 + R)`` with columns
    :data:`LOLA_FEATURES` then ``sum_m w^(r)_jm d_jm^2`` for ``r = 1..R`` (Minkowski
    ``d_jm^2 = (k_j - k_m)^2``). Sums run over vectors with ``mask`` True; rows of masked
    vectors are zero. Column 0 and columns ``4..`` are Lorentz invariant (:meth:`invariant_columns`).
    """

    def __init__(self, n_vectors: int, n_distance_sums: int = 2):
        super().__init__()
        self.n_vectors = n_vectors
        self.n_distance_sums = n_distance_sums
        self.energy_weights = nn.Parameter(torch.rand(n_vectors, n_vectors) / n_vectors)
        self.distance_weights = nn.Parameter(torch.rand(n_distance_sums, n_vectors, n_vectors) / n_vectors)

    @property
    def n_features(self) -> int:
        return len(LOLA_FEATURES) + self.n_distance_sums

    def invariant_columns(self) -> list[int]:
        return [0] + list(range(len(LOLA_FEATURES), self.n_features))

    def forward(self, vectors: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        weight_mask = mask.to(vectors.dtype)
        m2 = minkowski_dot(vectors, vectors)
        pt = torch.sqrt((vectors[..., 1].square() + vectors[..., 2].square()).clamp_min(_TINY))
        energy = vectors[..., 0]
        energy_sum = torch.einsum("jm,nm->nj", self.energy_weights.to(vectors.dtype), energy * weight_mask)
        # d_jm^2 = m_j^2 + m_m^2 - 2 k_j . k_m
        metric = torch.tensor([1.0, -1.0, -1.0, -1.0], dtype=vectors.dtype, device=vectors.device)
        gram = torch.einsum("njd,nmd->njm", vectors * metric, vectors)
        distances = m2.unsqueeze(2) + m2.unsqueeze(1) - 2.0 * gram
        distances = distances * weight_mask.unsqueeze(1)
        distance_sums = torch.einsum("rjm,njm->njr", self.distance_weights.to(vectors.dtype), distances)
        features = torch.cat([torch.stack([m2, pt, energy, energy_sum], dim=-1), distance_sums], dim=-1)
        return features * weight_mask.unsqueeze(-1)


class _BatchNorm(nn.BatchNorm1d):
    """Batch norm that uses its running statistics for a training batch of one jet (no error)."""

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if self.training and inputs.shape[0] < 2:
            return nn.functional.batch_norm(
                inputs, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps
            )
        return super().forward(inputs)


class LolaAutoencoder(nn.Module):
    """Jet frame -> CoLa -> LoLa -> dense encoder -> code -> dense decoder -> ``(N, 4)`` standardised 4-vectors.

    ``forward(p4 (n, N, 4) GeV)`` returns ``latent`` ``(n, latent_dim)``, ``reconstruction``
    and ``target`` ``(n, N, 4)`` (standardised jet-frame 4-vectors, zero in padding slots) and
    ``mask`` ``(n, N)``.
    """

    def __init__(
        self,
        n_constituents: int,
        n_combinations: int,
        n_distance_sums: int,
        hidden: list[int],
        latent_dim: int,
        act: str = "relu",
    ):
        super().__init__()
        self.n_constituents = n_constituents
        self.n_combinations = n_combinations
        self.cola = CombinationLayer(n_constituents, n_combinations)
        self.lola = LorentzLayer(n_constituents + n_combinations, n_distance_sums)
        n_features = (n_constituents + n_combinations) * self.lola.n_features
        self.norm = _BatchNorm(n_features)
        self.encoder = mlp([n_features, *hidden, latent_dim], act)
        self.decoder = mlp([latent_dim, *reversed(list(hidden)), n_constituents * 4], act)
        self.register_buffer("target_mean", torch.zeros(n_constituents, 4))
        self.register_buffer("target_scale", torch.ones(n_constituents, 4))

    def lola_features(self, frame: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``(n, N + M, 4 + R)`` LoLa output of jet-frame vectors.

        Always in at least float32, also under bf16 autocast on a GPU: Minkowski squares of
        nearly light-like vectors cancel, and bf16 keeps only ~3 significant digits.
        """
        dtype = torch.promote_types(frame.dtype, torch.float32)
        with torch.autocast(device_type=frame.device.type, enabled=False):
            vectors = self.cola(frame.to(dtype))
            vector_mask = torch.cat([mask, mask.new_ones(mask.shape[0], self.n_combinations)], dim=1)
            return self.lola(vectors, vector_mask)

    def standardise(self, frame: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        target = (frame - self.target_mean.to(frame.dtype)) / self.target_scale.to(frame.dtype)
        return target * mask.unsqueeze(-1).to(frame.dtype)

    def unstandardise(self, target: torch.Tensor) -> torch.Tensor:
        return target * self.target_scale.to(target.dtype) + self.target_mean.to(target.dtype)

    def forward(self, p4: torch.Tensor) -> dict[str, torch.Tensor]:
        mask = real_mask(p4)
        frame = jet_frame(p4, mask)
        features = self.lola_features(frame, mask).flatten(1)
        latent = self.encoder(self.norm(features))
        reconstruction = self.decoder(latent).view(-1, self.n_constituents, 4)
        return {
            "latent": latent,
            "reconstruction": reconstruction,
            "target": self.standardise(frame, mask),
            "mask": mask,
            "frame": frame,
        }


@dataclass
class LolaAEConfig(ConstituentAEConfig):
    """``lola_ae`` options (see the module docstring).

    Input: ``representation.n_constituents`` (N, default 40) leading constituents'
    ``(E, px, py, pz)`` in GeV, unflattened; the features must be exactly ``E, px, py, pz``.
    """

    representation: dict = field(default_factory=_four_vectors)
    #: M: trainable linear combinations CoLa appends to the N constituents.
    n_combinations: int = 15
    #: R: learned weighted sums of Minkowski distances per vector in LoLa.
    n_distance_sums: int = 2
    #: Dense layers between the (flattened) LoLa output and the code; the decoder mirrors them.
    hidden: list = field(default_factory=lambda: [100])
    latent_dim: int = 8

    def __post_init__(self) -> None:
        super().__post_init__()
        if list(self.representation.get("features", [])) != FOUR_VECTOR:
            raise JetaeError(
                f"invalid option: lola_ae needs representation.features = {FOUR_VECTOR} "
                f"(raw 4-vectors in GeV), got {self.representation.get('features')}"
            )
        if self.n_combinations < 0 or self.n_distance_sums < 0:
            raise JetaeError("invalid option: n_combinations and n_distance_sums must be >= 0")


@register(
    "lola_ae",
    LolaAEConfig,
    "4-vector autoencoder with a CoLa + LoLa (Lorentz layer) encoder, "
    "'QCD or What?' (scores: reconstruction, mahalanobis, latent_distance)",
)
class LolaAE(ConstituentAEDetector):
    """CoLa/LoLa 4-vector autoencoder; reconstructs the jet-frame 4-vectors of the N hardest constituents."""

    config_cls = LolaAEConfig
    trainer_defaults = {"epochs": 30, "batch_size": 128}

    def _check_inputs(self, input_shape: tuple[int, ...]) -> None:
        super()._check_inputs(input_shape)
        if input_shape[1] != 4:
            raise JetaeError(
                f"lola_ae needs 4-vectors (n_jets, n_constituents, 4), got features of size {input_shape[1]}"
            )

    def build_network(self, input_shape: tuple[int, ...]) -> nn.Module:
        config = self.config
        return LolaAutoencoder(
            int(input_shape[0]),
            config.n_combinations,
            config.n_distance_sums,
            [int(h) for h in config.hidden],
            config.latent_dim,
            config.activation,
        )

    def fit_statistics(self, network: nn.Module, train_inputs: np.ndarray) -> None:
        """Per-slot, per-component mean and std of the jet-frame 4-vectors over real constituents."""
        with torch.no_grad():
            p4 = torch.from_numpy(np.ascontiguousarray(train_inputs))
            mask = real_mask(p4)
            frame = jet_frame(p4, mask).double()
            weight = mask.unsqueeze(-1).double()
            count = weight.sum(dim=0)
            mean = (frame * weight).sum(dim=0) / count.clamp_min(1.0)
            variance = ((frame - mean).square() * weight).sum(dim=0) / count.clamp_min(1.0)
            scale = torch.sqrt(variance)
            scale = torch.where((scale > 1e-6) & (count > 1), scale, torch.ones_like(scale))
            network.target_mean.copy_(mean.float())
            network.target_scale.copy_(scale.float())

    def jet_loss(self, network: nn.Module, inputs: torch.Tensor, outputs: dict[str, torch.Tensor]) -> torch.Tensor:
        diff = outputs["reconstruction"].float() - outputs["target"].float()
        per_element = diff.abs() if self.config.loss == "mae" else diff.square()
        mask = outputs["mask"].float()
        return (per_element.sum(dim=-1) * mask).sum(dim=1) / (4.0 * mask.sum(dim=1).clamp_min(1.0))

    def reconstruction_pair(self, network: nn.Module, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        outputs = network(inputs)
        mask = outputs["mask"].unsqueeze(-1).to(outputs["frame"].dtype)
        return outputs["frame"], network.unstandardise(outputs["reconstruction"]) * mask

    def lola_features(self, data: Any) -> np.ndarray:
        """``(n_jets, N + M, 4 + R)`` LoLa output of the fitted network (jet-frame units)."""
        inputs = self.transform(data)

        def features(network: nn.Module, batch: torch.Tensor) -> torch.Tensor:
            mask = real_mask(batch)
            return network.lola_features(jet_frame(batch, mask), mask)

        return self.run_network(inputs, features)

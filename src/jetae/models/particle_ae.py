"""``particle_ae``: a permutation-invariant point-cloud autoencoder on jet constituents.

Encoder: EdgeConv blocks (Wang et al., arXiv:1801.07829, as used by ParticleNet,
Qu & Gouskos, arXiv:1902.08570) on the k-nearest-neighbour graph of the real constituents
in ``(delta_eta, delta_phi)``, then a masked mean over constituents and a dense map to the
code. Decoder: a dense network emitting a set of ``n_outputs`` points. Loss: a
permutation-invariant set distance, Chamfer (default) or an entropic optimal-transport
(Sinkhorn) approximation of the earth mover's distance, in the spirit of the graph
autoencoders of Hao et al. (arXiv:2212.07347).

Shapes and units (``n`` jets, ``N`` = ``representation.n_constituents``, ``F`` features):

* input ``(n, N, F)``: per-constituent features of :mod:`jetae.features.constituents`
  (default ``delta_eta``, ``delta_phi`` in rad relative to the jet axis, and ``pt_rel`` =
  constituent pT / jet pT), all-zero rows = padding. ``delta_eta`` and ``delta_phi`` must be
  among the features (the graph is built from them).
* inside the network, with ``log_momentum`` (off by default), ``pt_rel`` / ``e_rel`` become
  their natural log; then every feature is standardised with its mean and std over the real
  constituents of the training jets (fitted once, stored as buffers). Call this ``x``:
  ``(n, N, F)``, padding rows zero and masked.
* kNN graph: for each real constituent its ``k`` nearest *real* other constituents in raw
  ``(delta_eta, delta_phi)`` (``torch.cdist`` + ``topk``; fewer if the jet has fewer).
* EdgeConv: ``h_i' = act(mean_{j in kNN(i)} MLP([h_i, h_j - h_i]) + shortcut(h_i))``.
* code ``(n, latent_dim)``; decoder output ``y``: ``(n, n_outputs, F)`` in the standardised
  feature space.

Set losses (per jet; only real constituents take part, so padding changes nothing):

``chamfer``
    ``mean_{i real} min_a |x_i - y_a|^2 + mean_a min_{i real} |x_i - y_a|^2``.
``sinkhorn``
    ``sum_{i,a} P_ia |x_i - y_a|^2`` for the entropic optimal transport plan ``P`` between
    the real constituents (weight ``1/n_real`` each, or their pT fractions with
    ``sinkhorn_weights=pt``) and the output points (weight ``1/n_outputs`` each), after
    ``sinkhorn_iterations`` log-domain Sinkhorn iterations at temperature ``sinkhorn_epsilon``.

Both are invariant under permutations of the constituents (and of the output points).
The loss is also the ``reconstruction`` score; ``mahalanobis`` and ``latent_distance`` use the
code (see :mod:`jetae.models._constituent_ae`). ``reconstruct`` returns ``(inputs, outputs)``
in representation units: the ``(n, N, F)`` inputs and the ``(n, n_outputs, F)`` emitted set
(``log_momentum`` undone).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from jetae.errors import JetaeError
from jetae.models._constituent_ae import (
    ConstituentAEConfig,
    ConstituentAEDetector,
    FeatureNorm,
    apply_log_columns,
    apply_log_columns_numpy,
    feature_index,
    log_columns,
    masked_feature_statistics,
    masked_mean,
    real_mask,
)
from jetae.models.nets import activation, mlp
from jetae.models.registry import register

SET_LOSSES = ("chamfer", "sinkhorn")
SINKHORN_WEIGHTS = ("uniform", "pt")
#: Log-weight standing in for log(0) of padding rows in Sinkhorn (keeps gradients finite).
_LOG_ZERO = -1e4


def _relative_constituents(n_constituents: int = 15) -> dict:
    return {
        "kind": "constituents",
        "n_constituents": n_constituents,
        "features": ["delta_eta", "delta_phi", "pt_rel"],
        "flatten": False,
    }


@torch.no_grad()
def knn_graph(coordinates: torch.Tensor, mask: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices ``(n, N, k')`` of each point's ``k' = min(k, N - 1)`` nearest real neighbours, and validity.

    ``coordinates``: ``(n, N, 2)``; ``mask``: ``(n, N)`` real points. Self and padding points
    are never neighbours; ``valid`` ``(n, N, k')`` is False where a jet has fewer real points
    (and for padding rows).
    """
    n, n_points, _ = coordinates.shape
    k = min(k, n_points - 1)
    if k < 1:
        empty = torch.zeros(n, n_points, 0, dtype=torch.long, device=coordinates.device)
        return empty, empty.bool()
    distances = torch.cdist(coordinates.float(), coordinates.float(), compute_mode="donot_use_mm_for_euclid_dist")
    blocked = ~mask.unsqueeze(1) | (torch.eye(n_points, device=coordinates.device) > 0).unsqueeze(0)
    distances = distances.masked_fill(blocked, float("inf"))
    nearest, index = distances.topk(k, dim=-1, largest=False)
    valid = torch.isfinite(nearest) & mask.unsqueeze(-1)
    return index, valid


class EdgeConv(nn.Module):
    """``h_i' = act(mean_{j valid} MLP([h_i, h_j - h_i]) + shortcut(h_i))`` on real points; padding stays zero."""

    def __init__(self, n_in: int, n_out: int, act: str = "relu"):
        super().__init__()
        self.edge_mlp = mlp([2 * n_in, n_out, n_out], act, final_activation=True)
        self.shortcut = nn.Linear(n_in, n_out, bias=False) if n_in != n_out else nn.Identity()
        self.act = activation(act)

    def forward(self, h: torch.Tensor, index: torch.Tensor, valid: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        n, n_points, channels = h.shape
        k = index.shape[-1]
        if k == 0:
            aggregated = torch.zeros(n, n_points, self.edge_mlp[-2].out_features, dtype=h.dtype, device=h.device)
        else:
            offset = (torch.arange(n, device=h.device) * n_points).view(n, 1, 1)
            neighbours = h.reshape(n * n_points, channels)[(index + offset).reshape(-1)].view(n, n_points, k, channels)
            centre = h.unsqueeze(2).expand(-1, -1, k, -1)
            messages = self.edge_mlp(torch.cat([centre, neighbours - centre], dim=-1))
            aggregated = masked_mean(messages, valid, dim=2)
        return self.act(aggregated + self.shortcut(h)) * mask.unsqueeze(-1).to(h.dtype)


class ParticleAutoencoder(nn.Module):
    """EdgeConv set encoder and dense set decoder.

    ``forward(inputs (n, N, F))`` returns ``latent`` ``(n, latent_dim)``, ``reconstruction``
    ``(n, n_outputs, F)`` and ``target`` ``(n, N, F)`` (both in the standardised feature space)
    and ``mask`` ``(n, N)``. Works for any N (the weights do not depend on it).
    """

    def __init__(
        self,
        n_features: int,
        coordinate_columns: tuple[int, int],
        log_columns: list[int],
        k: int,
        channels: list[int],
        encoder_hidden: list[int],
        latent_dim: int,
        decoder_hidden: list[int],
        n_outputs: int,
        act: str = "relu",
    ):
        super().__init__()
        self.n_features = n_features
        self.coordinate_columns = list(coordinate_columns)
        self.log_columns = list(log_columns)
        self.k = k
        self.n_outputs = n_outputs
        self.norm = FeatureNorm(n_features)
        blocks = []
        width = n_features
        for out in channels:
            blocks.append(EdgeConv(width, out, act))
            width = out
        self.blocks = nn.ModuleList(blocks)
        self.to_latent = mlp([width, *encoder_hidden, latent_dim], act)
        self.decoder = mlp([latent_dim, *decoder_hidden, n_outputs * n_features], act)

    def target(self, inputs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Standardised (and log-transformed) features, ``(n, N, F)``, padding rows zero."""
        return self.norm(apply_log_columns(inputs, mask, self.log_columns), mask)

    def encode(self, inputs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.target(inputs, mask)
        index, valid = knn_graph(inputs[..., self.coordinate_columns], mask, self.k)
        for block in self.blocks:
            h = block(h, index, valid, mask)
        return self.to_latent(masked_mean(h, mask, dim=1))

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        return self.decoder(latent).view(-1, self.n_outputs, self.n_features)

    def forward(self, inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        mask = real_mask(inputs)
        latent = self.encode(inputs, mask)
        return {
            "latent": latent,
            "reconstruction": self.decode(latent),
            "target": self.target(inputs, mask),
            "mask": mask,
        }

    def to_features(self, points: torch.Tensor) -> torch.Tensor:
        """Standardised points back to representation units (log undone)."""
        values = self.norm.inverse(points)
        for column in self.log_columns:
            values = values.clone()
            values[..., column] = torch.exp(values[..., column])
        return values


def squared_distances(points: torch.Tensor, outputs: torch.Tensor) -> torch.Tensor:
    """``(n, N, M)`` squared Euclidean distances between ``(n, N, F)`` and ``(n, M, F)`` points."""
    return (points.unsqueeze(2) - outputs.unsqueeze(1)).square().sum(dim=-1)


def chamfer_distance(points: torch.Tensor, mask: torch.Tensor, outputs: torch.Tensor) -> torch.Tensor:
    """``(n,)`` symmetric Chamfer distance between the real ``points`` and the ``outputs`` (see module doc)."""
    distances = squared_distances(points.float(), outputs.float())
    to_outputs = distances.min(dim=2).values
    from_outputs = distances.masked_fill(~mask.unsqueeze(2), float("inf")).min(dim=1).values
    has_points = mask.any(dim=1)
    from_outputs = torch.where(has_points.unsqueeze(1), from_outputs, torch.zeros_like(from_outputs))
    return masked_mean(to_outputs, mask, dim=1) + from_outputs.mean(dim=1)


def sinkhorn_distance(
    points: torch.Tensor, weights: torch.Tensor, outputs: torch.Tensor, epsilon: float, iterations: int
) -> torch.Tensor:
    """``(n,)`` transport cost ``sum P_ia |x_i - y_a|^2`` of the entropic OT plan (log-domain Sinkhorn).

    ``weights``: ``(n, N)`` non-negative point weights (zero for padding), normalised here;
    the outputs weigh ``1 / M`` each. ``epsilon`` is the entropic temperature in units of the
    squared distance. Computed in float64 (the iterated log-sum-exps lose float32 digits), returned
    as float32.
    """
    cost = squared_distances(points.double(), outputs.double())
    weights = weights.double()
    weights = weights / weights.sum(dim=1, keepdim=True).clamp_min(1e-12)
    log_a = torch.where(weights > 0, torch.log(weights.clamp_min(1e-30)), torch.full_like(weights, _LOG_ZERO))
    n_outputs = outputs.shape[1]
    log_b = torch.full(
        (outputs.shape[0], n_outputs), -float(np.log(n_outputs)), dtype=cost.dtype, device=outputs.device
    )
    f = torch.zeros_like(log_a)
    g = torch.zeros_like(log_b)
    scaled = -cost / epsilon
    for _ in range(iterations):
        f = epsilon * (log_a - torch.logsumexp(scaled + g.unsqueeze(1) / epsilon, dim=2))
        g = epsilon * (log_b - torch.logsumexp(scaled + f.unsqueeze(2) / epsilon, dim=1))
    plan = torch.exp(scaled + (f.unsqueeze(2) + g.unsqueeze(1)) / epsilon)
    return (plan * cost).sum(dim=(1, 2)).float()


@dataclass
class ParticleAEConfig(ConstituentAEConfig):
    """``particle_ae`` options (see the module docstring)."""

    representation: dict = field(default_factory=_relative_constituents)
    #: Natural log of ``pt_rel`` / ``e_rel`` inside the network (inputs and reconstruction target).
    log_momentum: bool = False
    #: Neighbours per constituent in the (delta_eta, delta_phi) kNN graph.
    k: int = 8
    #: Output channels of the EdgeConv blocks.
    channels: list = field(default_factory=lambda: [64, 64])
    #: Dense layers between the pooled constituent features and the code.
    encoder_hidden: list = field(default_factory=lambda: [64])
    latent_dim: int = 8
    #: Dense layers of the set decoder.
    decoder_hidden: list = field(default_factory=lambda: [64, 128])
    #: Points the decoder emits (default: the representation's n_constituents).
    n_outputs: int | None = None
    #: ``chamfer`` or ``sinkhorn`` (entropic EMD approximation).
    set_loss: str = "chamfer"
    sinkhorn_epsilon: float = 0.05
    sinkhorn_iterations: int = 30
    #: Sinkhorn mass of the input constituents: ``uniform`` (1/n_real) or ``pt`` (pT fractions).
    sinkhorn_weights: str = "uniform"

    def __post_init__(self) -> None:
        super().__post_init__()
        features = list(self.representation.get("features", ()))
        feature_index(features, "delta_eta", "particle_ae")
        feature_index(features, "delta_phi", "particle_ae")
        if self.sinkhorn_weights == "pt":
            feature_index(features, "pt_rel", "particle_ae with sinkhorn_weights=pt")
        checks = [
            (self.k >= 1, "k must be >= 1"),
            (len(self.channels) >= 1 and all(int(c) >= 1 for c in self.channels), "channels must be a non-empty list"),
            (self.n_outputs is None or self.n_outputs >= 1, "n_outputs must be >= 1"),
            (self.set_loss in SET_LOSSES, f"set_loss must be one of {', '.join(SET_LOSSES)}"),
            (self.sinkhorn_epsilon > 0, "sinkhorn_epsilon must be > 0"),
            (self.sinkhorn_iterations >= 1, "sinkhorn_iterations must be >= 1"),
            (
                self.sinkhorn_weights in SINKHORN_WEIGHTS,
                f"sinkhorn_weights must be one of {', '.join(SINKHORN_WEIGHTS)}",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise JetaeError(f"invalid option: {message}")


@register(
    "particle_ae",
    ParticleAEConfig,
    "permutation-invariant EdgeConv point-cloud autoencoder with a "
    "Chamfer / Sinkhorn set loss (scores: reconstruction, mahalanobis, latent_distance)",
)
class ParticleAE(ConstituentAEDetector):
    """EdgeConv encoder over the constituent set, set decoder, permutation-invariant set loss."""

    config_cls = ParticleAEConfig
    trainer_defaults = {"epochs": 40, "batch_size": 128}

    def _features(self) -> list[str]:
        return list(self.config.representation["features"])

    def build_network(self, input_shape: tuple[int, ...]) -> nn.Module:
        config = self.config
        features = self._features()
        return ParticleAutoencoder(
            n_features=int(input_shape[1]),
            coordinate_columns=(features.index("delta_eta"), features.index("delta_phi")),
            log_columns=log_columns(features, config.log_momentum),
            k=config.k,
            channels=[int(c) for c in config.channels],
            encoder_hidden=[int(h) for h in config.encoder_hidden],
            latent_dim=config.latent_dim,
            decoder_hidden=[int(h) for h in config.decoder_hidden],
            n_outputs=config.n_outputs or int(input_shape[0]),
            act=config.activation,
        )

    def fit_statistics(self, network: nn.Module, train_inputs: np.ndarray) -> None:
        real = (train_inputs != 0).any(axis=-1)
        transformed = apply_log_columns_numpy(train_inputs, network.log_columns)
        network.norm.set_statistics(*masked_feature_statistics(transformed, real))

    def set_distance(
        self, target: torch.Tensor, mask: torch.Tensor, outputs: torch.Tensor, raw_inputs: torch.Tensor
    ) -> torch.Tensor:
        config = self.config
        if config.set_loss == "chamfer":
            return chamfer_distance(target, mask, outputs)
        if config.sinkhorn_weights == "pt":
            weights = raw_inputs[..., self._features().index("pt_rel")].clamp_min(0.0) * mask
        else:
            weights = mask.float()
        return sinkhorn_distance(target, weights, outputs, config.sinkhorn_epsilon, config.sinkhorn_iterations)

    def jet_loss(self, network: nn.Module, inputs: torch.Tensor, outputs: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.set_distance(outputs["target"], outputs["mask"], outputs["reconstruction"], inputs)

    def reconstruction_pair(self, network: nn.Module, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        outputs = network(inputs)
        return inputs, network.to_features(outputs["reconstruction"])

"""``seq_ae``: a recurrent (GRU or LSTM) sequence autoencoder over pT-ordered constituents.

Shapes and units (``n`` jets, ``N`` = ``representation.n_constituents``, ``F`` features):

* input ``(n, N, F)``: the leading constituents in decreasing pT, features of
  :mod:`jetae.features.constituents` (default ``delta_eta``, ``delta_phi`` in rad relative to
  the jet axis and ``pt_rel`` = constituent pT / jet pT), all-zero rows = padding (always at
  the end of the sequence).
* inside the network, with ``log_momentum`` (default), ``pt_rel`` / ``e_rel`` become their
  natural log; every feature is standardised with its mean and std over the real
  constituents of the training jets (fitted once, stored as buffers): ``x`` ``(n, N, F)``.
* encoder: a ``cell`` (``gru`` / ``lstm``) of ``hidden`` units and ``layers`` layers reads
  ``x_1 .. x_N``; its top-layer state after the *last real* constituent is mapped to the code
  ``z`` ``(n, latent_dim)`` (trailing padding is never read into the code).
* decoder: ``z`` sets the initial state of a second recurrent network that emits
  ``N`` steps, each mapped linearly to ``F`` features: the reconstruction ``(n, N, F)`` in
  the standardised space. Its input at each step is

  - ``teacher_forcing=False`` (default): the code ``z`` itself, at every step. Everything
    the decoder knows about the jet passes through the bottleneck, in training and scoring.
  - ``teacher_forcing=True``: the previous *true* constituent ``x_{t-1}`` (zeros at
    ``t = 1``), in training *and* scoring, so the score becomes an error of predicting each
    constituent from the code and the constituents before it (consistent between training
    and scoring, but the decoder can lean on its inputs instead of the code).

Loss and ``reconstruction`` score: mean squared (``loss=mae``: absolute) error over the
real constituents' ``F`` standardised features; padding steps are excluded, so appending
padding changes nothing. ``mahalanobis`` and ``latent_distance`` use the code (see
:mod:`jetae.models._constituent_ae`). ``reconstruct`` returns ``(inputs, reconstruction)``,
both ``(n, N, F)`` in representation units (log undone; zero at padding).
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
    log_columns,
    masked_feature_statistics,
    real_mask,
)
from jetae.models.registry import register

CELLS = {"gru": nn.GRU, "lstm": nn.LSTM}


def _relative_constituents(n_constituents: int = 15) -> dict:
    return {
        "kind": "constituents",
        "n_constituents": n_constituents,
        "features": ["delta_eta", "delta_phi", "pt_rel"],
        "flatten": False,
    }


class SequenceAutoencoder(nn.Module):
    """Recurrent encoder -> code -> recurrent decoder over constituent sequences.

    ``forward(inputs (n, N, F))`` returns ``latent`` ``(n, latent_dim)``, ``reconstruction`` and
    ``target`` ``(n, N, F)`` (standardised features) and ``mask`` ``(n, N)``. Works for any N.
    """

    def __init__(
        self,
        n_features: int,
        log_columns: list[int],
        cell: str,
        hidden: int,
        layers: int,
        latent_dim: int,
        teacher_forcing: bool,
    ):
        super().__init__()
        self.n_features = n_features
        self.log_columns = list(log_columns)
        self.cell = cell
        self.hidden = hidden
        self.layers = layers
        self.teacher_forcing = teacher_forcing
        self.norm = FeatureNorm(n_features)
        recurrent = CELLS[cell]
        self.encoder = recurrent(n_features, hidden, num_layers=layers, batch_first=True)
        self.to_latent = nn.Linear(hidden, latent_dim)
        self.from_latent = nn.Linear(latent_dim, hidden * layers)
        self.decoder = recurrent(
            n_features if teacher_forcing else latent_dim, hidden, num_layers=layers, batch_first=True
        )
        self.output = nn.Linear(hidden, n_features)

    def target(self, inputs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.norm(apply_log_columns(inputs, mask, self.log_columns), mask)

    def encode(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        states, _ = self.encoder(x)
        last = (mask.sum(dim=1) - 1).clamp_min(0)
        final = states[torch.arange(states.shape[0], device=states.device), last]
        return self.to_latent(final)

    def decode(self, latent: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        n, n_steps = x.shape[0], x.shape[1]
        initial = torch.tanh(self.from_latent(latent)).view(n, self.layers, self.hidden).transpose(0, 1).contiguous()
        state = (initial, torch.zeros_like(initial)) if self.cell == "lstm" else initial
        if self.teacher_forcing:
            steps = torch.cat([torch.zeros_like(x[:, :1]), x[:, :-1]], dim=1)
        else:
            steps = latent.unsqueeze(1).expand(n, n_steps, latent.shape[1])
        outputs, _ = self.decoder(steps.contiguous(), state)
        return self.output(outputs)

    def forward(self, inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        mask = real_mask(inputs)
        x = self.target(inputs, mask)
        latent = self.encode(x, mask)
        return {"latent": latent, "reconstruction": self.decode(latent, x), "target": x, "mask": mask}

    def to_features(self, points: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        values = self.norm.inverse(points)
        for column in self.log_columns:
            values = values.clone()
            values[..., column] = torch.exp(values[..., column])
        return values * mask.unsqueeze(-1).to(values.dtype)


@dataclass
class SeqAEConfig(ConstituentAEConfig):
    """``seq_ae`` options (see the module docstring)."""

    representation: dict = field(default_factory=_relative_constituents)
    #: Natural log of ``pt_rel`` / ``e_rel`` inside the network (inputs and reconstruction target).
    log_momentum: bool = True
    #: Recurrent cell: ``gru`` or ``lstm``.
    cell: str = "gru"
    #: Units per recurrent layer (encoder and decoder).
    hidden: int = 64
    layers: int = 1
    latent_dim: int = 8
    #: Decoder input: the code at every step (False) or the previous true constituent (True).
    teacher_forcing: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.cell not in CELLS:
            raise JetaeError(f"invalid option: cell must be one of {', '.join(CELLS)}, got {self.cell!r}")
        if self.hidden < 1 or self.layers < 1:
            raise JetaeError("invalid option: hidden and layers must be >= 1")


@register(
    "seq_ae",
    SeqAEConfig,
    "GRU/LSTM sequence autoencoder over pT-ordered constituents (scores: reconstruction, mahalanobis, latent_distance)",
)
class SeqAE(ConstituentAEDetector):
    """Recurrent sequence autoencoder over the pT-ordered constituents."""

    config_cls = SeqAEConfig
    trainer_defaults = {"epochs": 30, "batch_size": 128}

    def build_network(self, input_shape: tuple[int, ...]) -> nn.Module:
        config = self.config
        return SequenceAutoencoder(
            n_features=int(input_shape[1]),
            log_columns=log_columns(list(config.representation["features"]), config.log_momentum),
            cell=config.cell,
            hidden=config.hidden,
            layers=config.layers,
            latent_dim=config.latent_dim,
            teacher_forcing=config.teacher_forcing,
        )

    def fit_statistics(self, network: nn.Module, train_inputs: np.ndarray) -> None:
        real = (train_inputs != 0).any(axis=-1)
        transformed = apply_log_columns_numpy(train_inputs, network.log_columns)
        network.norm.set_statistics(*masked_feature_statistics(transformed, real))

    def jet_loss(self, network: nn.Module, inputs: torch.Tensor, outputs: dict[str, torch.Tensor]) -> torch.Tensor:
        diff = outputs["reconstruction"].float() - outputs["target"].float()
        per_element = diff.abs() if self.config.loss == "mae" else diff.square()
        mask = outputs["mask"].float()
        return (per_element.mean(dim=-1) * mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1.0)

    def reconstruction_pair(self, network: nn.Module, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        outputs = network(inputs)
        return inputs, network.to_features(outputs["reconstruction"], outputs["mask"])

"""Shared machinery of the constituent-level autoencoders ``lola_ae``, ``particle_ae`` and ``seq_ae``.

The three models read per-constituent arrays ``(n_jets, n_constituents, n_features)``
(see :mod:`jetae.features.constituents`): pT-ordered, all-zero rows = padding. They keep
the padding structure intact, so the detector-level input scaler is always ``none``;
each network standardises its own inputs with statistics over the *real* constituents
only (fitted once before training and stored as network buffers, i.e. in
``weights.safetensors``), and padding rows stay exactly zero and masked.

Scores (higher = more anomalous), shared by the three models:

``reconstruction``
    the model's per-jet reconstruction loss (see each model's docstring).
``mahalanobis``
    ``sqrt((z - m)^T C^-1 (z - m))`` of the code ``z`` with ``m``, ``C`` the mean and
    covariance of the codes of the training jets (fitted after training, saved with the model).
``latent_distance``
    ``|z - m|``: the Euclidean distance of the code from the training jets' mean code.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from jetae.errors import JetaeError
from jetae.models.inputs import JetsOrArray
from jetae.models.persistence import pop_array
from jetae.models.torch_base import TorchDetector, TorchDetectorConfig, TrainingPhase

log = logging.getLogger(__name__)

#: The scores every constituent autoencoder computes (see the module docstring).
CONSTITUENT_SCORES = ("reconstruction", "mahalanobis", "latent_distance")
#: Ridge added to the code covariance (relative to its mean variance) so it can always be inverted.
COVARIANCE_RIDGE = 1e-6


def real_mask(inputs: torch.Tensor) -> torch.Tensor:
    """``(n, N)`` bool, True for real constituents of ``(n, N, F)`` inputs (any non-zero feature)."""
    return (inputs != 0).any(dim=-1)


def masked_mean(values: torch.Tensor, mask: torch.Tensor, dim: int) -> torch.Tensor:
    """Mean of ``values`` over ``dim`` counting only entries where ``mask`` (broadcast) is True."""
    mask = mask.to(values.dtype)
    while mask.dim() < values.dim():
        mask = mask.unsqueeze(-1)
    total = (values * mask).sum(dim=dim)
    count = mask.sum(dim=dim).clamp_min(1.0)
    return total / count


def masked_feature_statistics(
    inputs: np.ndarray, real: np.ndarray | None = None, min_scale: float = 1e-6
) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and standard deviation of ``(n, N, F)`` inputs over the real rows only.

    ``real``: ``(n, N)`` mask of real rows (default: rows with a non-zero feature).
    Returns float32 ``(F,)`` arrays; a (near-)constant feature gets scale 1.
    """
    inputs = np.asarray(inputs, dtype=np.float64)
    if real is None:
        real = (inputs != 0).any(axis=-1)
    rows = inputs[real]
    if len(rows) == 0:
        raise JetaeError("the training jets have no constituents")
    mean = rows.mean(axis=0)
    std = rows.std(axis=0)
    std = np.where(std > min_scale, std, 1.0)
    return mean.astype(np.float32), std.astype(np.float32)


#: Momentum-fraction features that ``log_momentum`` replaces by their natural log on real rows.
LOG_FEATURES = ("pt_rel", "e_rel")


def log_columns(features: tuple[str, ...] | list[str], enabled: bool) -> list[int]:
    """Indices of the features that get a log transform (``pt_rel``, ``e_rel``) when ``enabled``."""
    return [i for i, name in enumerate(features) if enabled and name in LOG_FEATURES]


def apply_log_columns(inputs: torch.Tensor, mask: torch.Tensor, columns: list[int]) -> torch.Tensor:
    """``inputs`` with ``log`` applied to ``columns`` on real rows (padding rows stay zero)."""
    if not columns:
        return inputs
    out = inputs.clone()
    for column in columns:
        values = inputs[..., column]
        safe = torch.where(mask, values, torch.ones_like(values)).clamp_min(1e-12)
        out[..., column] = torch.where(mask, torch.log(safe), torch.zeros_like(values))
    return out


def apply_log_columns_numpy(inputs: np.ndarray, columns: list[int]) -> np.ndarray:
    """numpy twin of :func:`apply_log_columns` (for fitting statistics)."""
    if not columns:
        return inputs
    with torch.no_grad():
        tensor = torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32))
        return apply_log_columns(tensor, real_mask(tensor), columns).numpy()


class FeatureNorm(nn.Module):
    """``(x - mean) / scale`` on real rows of ``(n, N, F)`` inputs; padding rows stay exactly zero.

    ``mean`` and ``scale`` are buffers (saved with the weights), set by :meth:`set_statistics`.
    """

    def __init__(self, n_features: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("scale", torch.ones(n_features))

    def set_statistics(self, mean: np.ndarray, scale: np.ndarray) -> None:
        self.mean.copy_(torch.as_tensor(mean, dtype=self.mean.dtype))
        self.scale.copy_(torch.as_tensor(scale, dtype=self.scale.dtype))

    def forward(self, inputs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        normed = (inputs - self.mean.to(inputs.dtype)) / self.scale.to(inputs.dtype)
        return normed * mask.unsqueeze(-1).to(inputs.dtype)

    def inverse(self, normed: torch.Tensor) -> torch.Tensor:
        return normed * self.scale.to(normed.dtype) + self.mean.to(normed.dtype)


@dataclass
class ConstituentAEConfig(TorchDetectorConfig):
    """Model options shared by the constituent autoencoders (training options: the detector's trainer config)."""

    #: Always ``none``: the networks standardise real constituents themselves (padding must stay zero).
    scaler: str = "none"
    #: Dimension of the code.
    latent_dim: int = 8
    activation: str = "relu"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.scaler != "none":
            raise JetaeError(
                "invalid option: scaler must be 'none' for constituent autoencoders (the network "
                "standardises the real constituents itself, keeping padding rows at zero)"
            )
        if self.loss_weights != "none":
            raise JetaeError("invalid option: loss_weights must be 'none' for constituent autoencoders")
        if self.latent_dim < 1:
            raise JetaeError("invalid option: latent_dim must be >= 1")
        if self.representation.get("kind") != "constituents" or self.representation.get("flatten", False):
            raise JetaeError(
                "invalid option: constituent autoencoders need representation kind 'constituents' "
                "with flatten false (inputs of shape (n_jets, n_constituents, n_features))"
            )


class ConstituentAEDetector(TorchDetector):
    """Base of the constituent autoencoders: reconstruction and latent-space scores.

    Subclasses implement :meth:`build_network` (a module whose ``forward(inputs)`` returns at
    least ``latent`` ``(n, latent_dim)``; it must not depend on the training data),
    :meth:`jet_loss` (per-jet reconstruction loss from the network outputs), :meth:`fit_statistics`
    (set the network's input statistics from the training inputs) and :meth:`reconstruction_pair`.

    In ``fit``, :meth:`start_phase` calls :meth:`fit_statistics` once on the freshly built network,
    with all the training jets (validation split included, as the detector-level scaler of the other
    models is fitted); after training the code distribution of the same jets is fitted for the
    latent scores. A loaded model takes both from ``weights.safetensors``.
    """

    config_cls = ConstituentAEConfig
    score_names = CONSTITUENT_SCORES
    #: Not in ``jetae benchmark``'s default zoo: bench/bench_constituent_aes.py measures them.
    benchmark_by_default = False
    #: The training inputs whose statistics :meth:`start_phase` fits (only while ``fit`` runs).
    _statistics_inputs: np.ndarray | None = None

    # ---------------------------------------------------------------- hooks
    def jet_loss(self, network: nn.Module, inputs: torch.Tensor, outputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """``(n,)`` per-jet reconstruction loss (differentiable)."""
        raise NotImplementedError

    def fit_statistics(self, network: nn.Module, train_inputs: np.ndarray) -> None:
        """Set the network's fitted input statistics (buffers) from the training inputs."""

    def reconstruction_pair(self, network: nn.Module, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(target, reconstruction)`` of one batch in physical / representation units."""
        raise NotImplementedError

    def _check_inputs(self, input_shape: tuple[int, ...]) -> None:
        if len(input_shape) != 2:
            raise JetaeError(
                f"{self.name} needs inputs of shape (n_jets, n_constituents, n_features), got "
                f"(n_jets, {', '.join(map(str, input_shape))})"
            )

    # ---------------------------------------------------------------- training
    def build_network(self, input_shape: tuple[int, ...]) -> nn.Module:
        raise NotImplementedError

    def _fit(self, train_inputs: np.ndarray, val_inputs: np.ndarray | None, **kwargs: Any) -> None:
        self._check_inputs(self.input_shape_)
        # All training jets, before the engine's validation split: read by start_phase, then dropped.
        self._statistics_inputs = train_inputs
        try:
            super()._fit(train_inputs, val_inputs, **kwargs)
        finally:
            self._statistics_inputs = None
        self._fit_latent_distribution(train_inputs)

    def start_phase(self, phase: TrainingPhase) -> None:
        """Fit the input statistics of the network about to be trained (once per ``fit``).

        A resumed fit fits them too and then loads the checkpoint's (equal) buffers over them.
        """
        if self._statistics_inputs is not None:
            self.fit_statistics(self.network_, self._statistics_inputs)

    def training_loss(
        self, network: nn.Module, batch: dict[str, torch.Tensor], stage: str, module: Any = None
    ) -> dict[str, torch.Tensor]:
        inputs = batch["inputs"]
        error = self.jet_loss(network, inputs, network(inputs))
        return {"loss": error.mean(), "score": error}

    # ---------------------------------------------------------------- scores
    def score_batch(self, network: nn.Module, inputs: torch.Tensor, score: str) -> torch.Tensor:
        outputs = network(inputs)
        if score == "reconstruction":
            return self.jet_loss(network, inputs, outputs)
        latent = outputs["latent"].float()
        if not hasattr(self, "_latent_mean_tensor"):
            raise JetaeError(f"the {score} score is fitted after training and is not available yet")
        centred = latent - self._latent_mean_tensor.to(latent.device)
        if score == "latent_distance":
            return centred.norm(dim=1)
        squared = ((centred @ self._latent_precision_tensor.to(latent.device)) * centred).sum(dim=1)
        return squared.clamp_min(0.0).sqrt()

    def _fit_latent_distribution(self, train_inputs: np.ndarray) -> None:
        """Mean and covariance of the training jets' codes (for ``mahalanobis`` / ``latent_distance``)."""
        codes = self._encode(train_inputs).astype(np.float64)
        self.latent_mean_ = codes.mean(axis=0)
        covariance = np.atleast_2d(np.cov(codes, rowvar=False)) if len(codes) > 1 else np.eye(codes.shape[1])
        ridge = COVARIANCE_RIDGE * max(float(np.trace(covariance)) / len(covariance), 1e-12)
        self.latent_covariance_ = covariance + ridge * np.eye(len(covariance))
        self._set_latent_tensors()

    def _set_latent_tensors(self) -> None:
        precision = np.linalg.pinv(self.latent_covariance_, hermitian=True)
        self._latent_mean_tensor = torch.from_numpy(np.asarray(self.latent_mean_, dtype=np.float32))
        self._latent_precision_tensor = torch.from_numpy(np.asarray(precision, dtype=np.float32))

    # ---------------------------------------------------------------- reconstruction
    def reconstruct(self, data: JetsOrArray) -> tuple[np.ndarray, np.ndarray]:
        """``(target, reconstruction)`` per jet, in the units each model documents."""
        inputs = self.transform(data)
        target = self.run_network(inputs, lambda network, batch: self.reconstruction_pair(network, batch)[0])
        reconstruction = self.run_network(inputs, lambda network, batch: self.reconstruction_pair(network, batch)[1])
        return target, reconstruction

    # ---------------------------------------------------------------- persistence
    def _state_arrays(self) -> dict[str, np.ndarray]:
        arrays = super()._state_arrays()
        arrays["latent.mean"] = np.asarray(self.latent_mean_, dtype=np.float64)
        arrays["latent.covariance"] = np.asarray(self.latent_covariance_, dtype=np.float64)
        return arrays

    def _load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self._check_inputs(self.input_shape_)
        dim = self.config.latent_dim
        self.latent_mean_ = pop_array(arrays, "latent.mean", (dim,), np.float64)
        self.latent_covariance_ = pop_array(arrays, "latent.covariance", (dim, dim), np.float64)
        super()._load_state_arrays(arrays)
        self._set_latent_tensors()


def feature_index(features: tuple[str, ...] | list[str], name: str, model: str) -> int:
    """Position of feature ``name`` in the representation's feature list (JetaeError if absent)."""
    features = list(features)
    if name not in features:
        raise JetaeError(
            f"invalid option: {model} needs the constituent feature {name!r} in representation.features, got {features}"
        )
    return features.index(name)

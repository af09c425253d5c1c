"""Variational autoencoders: ``vae`` and the outlier-exposure ``oe_vae``.

Reproduces the VAE family of "Variational Autoencoders for Anomalous Jet Tagging"
(Cheng, Arguin, Leissner-Martin, Pilette, Golling, arXiv:2007.01850): a beta-VAE on
the 20 leading constituents' four-momenta, several anomaly scores from one model,
outlier exposure (OE) with a margin loss, and DisCo mass decorrelation (the engine's
``disco_lambda``, acting on the tagging score).

Conventions (per jet, ``D`` input elements, ``K`` latent dimensions, scaled inputs):

``reconstruction``
    mean over the ``D`` elements of the squared (``loss=mae``: absolute) error of the
    reconstruction decoded from the posterior mean ``z = mu`` (deterministic).
``kl``
    ``KL(N(mu, diag(exp(logvar))) || N(0, 1)) = 0.5 * sum_k (mu^2 + exp(logvar) - 1 - logvar)``
    in nats, summed over the ``K`` latent dimensions.
``elbo``
    ``reconstruction + beta * kl``: the training objective evaluated at ``z = mu``. It is
    the negative ELBO, times ``2 sigma^2 / D`` and up to a constant, of a Gaussian decoder
    ``p(x|z) = N(xhat(z), sigma^2 I)`` with per-element variance ``sigma^2 = beta * D / 2``
    (in scaled units); the reconstruction term uses the mean code instead of a Monte-Carlo
    sample, so the score is deterministic.
``latent_l2``
    ``|mu|^2``.
``mahalanobis``
    ``sqrt((mu - m)^T C^-1 (mu - m))`` with ``m``, ``C`` the mean and covariance of ``mu``
    over the training jets, fitted after training and saved with the model.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from jetae.errors import JetaeError
from jetae.features import REPRESENTATIONS, representation_options
from jetae.jets import Jets
from jetae.models.autoencoders import AutoencoderConfig, AutoencoderDetector, build_decoder, build_encoder
from jetae.models.inputs import JetsOrArray, make_inputs
from jetae.models.persistence import pop_array
from jetae.models.registry import register

log = logging.getLogger(__name__)

#: Every score a VAE computes (see the module docstring).
VAE_SCORES = ("reconstruction", "elbo", "kl", "latent_l2", "mahalanobis")
#: Scores that exist during training (differentiable, no post-training fit): usable for DisCo and OE.
TRAINABLE_SCORES = ("reconstruction", "elbo", "kl", "latent_l2")
#: Ridge added to the latent covariance (relative to its mean variance) so it can always be inverted.
COVARIANCE_RIDGE = 1e-6
#: logvar is clamped to this range so exp(logvar) cannot overflow during a bad step.
LOGVAR_RANGE = (-20.0, 20.0)


def _relative_constituents() -> dict:
    # The reference code feeds raw (E, px, py, pz); on jetae's samples that VAE tags top jets with
    # AUC 0.52 against 0.90 for these jet-axis-relative features (bench/results/vae.json).
    return {
        "kind": "constituents",
        "n_constituents": 20,
        "features": ["delta_eta", "delta_phi", "pt_rel"],
        "flatten": True,
    }


def _drop_merged_defaults(representation: dict) -> dict:
    """Undo the key-by-key merge with the default representation when the kind changed.

    ``--set representation.kind=image`` is merged into the default constituent spec by
    :func:`jetae.config.resolve_config`, leaving constituent-only keys behind; drop those
    (only where they still hold the default value, so a user's own mistake still errors).
    """
    default = _relative_constituents()
    kind = representation.get("kind") if isinstance(representation, dict) else None
    if kind == default["kind"] or kind not in REPRESENTATIONS:
        return representation
    valid = set(representation_options(kind))
    return {
        key: value
        for key, value in representation.items()
        if key == "kind" or key in valid or default.get(key, object()) != value
    }


class VariationalAutoencoder(nn.Module):
    """Gaussian-posterior autoencoder with the reparameterisation trick.

    The encoder maps inputs to ``(n, 2 * latent_dim)`` = (mean, log-variance). In training
    mode the decoder sees ``z = mu + exp(logvar / 2) * eps``; in eval mode ``z = mu``.
    ``forward`` returns ``{"reconstruction": (n, *input_shape), "latent": mu, "mu": (n, K),
    "logvar": (n, K), "z": (n, K)}``.
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, latent_dim: int):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.latent_dim = latent_dim

    def encode(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mu, logvar)``, each ``(n, latent_dim)``."""
        mu, logvar = self.encoder(inputs).chunk(2, dim=1)
        return mu, logvar.clamp(*LOGVAR_RANGE)

    def forward(self, inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        mu, logvar = self.encode(inputs)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu) if self.training else mu
        return {"reconstruction": self.decoder(z), "latent": mu, "mu": mu, "logvar": logvar, "z": z}


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``(n,)`` KL(N(mu, exp(logvar)) || N(0, 1)) in nats, summed over the latent axis."""
    mu, logvar = mu.float(), logvar.float()
    return 0.5 * (mu.square() + logvar.exp() - 1.0 - logvar).sum(dim=1)


@dataclass
class VAEConfig(AutoencoderConfig):
    """beta-VAE options; architecture of the OE-VAE reference setup (arXiv:2007.01850).

    Inputs: 20 leading constituents x (delta_eta, delta_phi, pt_rel) relative to the jet axis,
    flattened, standardised (the reference's raw E, px, py, pz: ``representation.features``);
    dense encoder 256-128-64, latent dimension 10, decoder mirrored.
    """

    representation: dict = field(default_factory=_relative_constituents)
    scaler: str = "standard"
    hidden: list = field(default_factory=lambda: [256, 128, 64])
    latent_dim: int = 10
    #: Weight of the KL term: loss = reconstruction (mean over inputs) + beta * KL (sum over latents).
    beta: float = 0.1
    #: Linear warm-up of beta from 0 over this many epochs (0 = full beta from the start).
    beta_warmup_epochs: int = 0
    #: The tagging score: the default of ``anomaly_score`` and the per-jet score DisCo decorrelates.
    tag_score: str = "elbo"

    def __post_init__(self) -> None:
        super().__post_init__()
        self.representation = _drop_merged_defaults(self.representation)
        if not self.beta >= 0:
            raise JetaeError(f"invalid option: beta must be >= 0, got {self.beta}")
        if self.beta_warmup_epochs < 0:
            raise JetaeError("invalid option: beta_warmup_epochs must be >= 0")
        if self.tag_score not in VAE_SCORES:
            raise JetaeError(
                f"invalid option: tag_score must be one of {', '.join(VAE_SCORES)}, got {self.tag_score!r}"
            )
        if self.disco_lambda > 0 and self.tag_score not in TRAINABLE_SCORES:
            raise JetaeError(
                f"invalid option: DisCo needs a tag_score that exists during training "
                f"({', '.join(TRAINABLE_SCORES)}); {self.tag_score!r} is only fitted after training"
            )


@register("vae", VAEConfig, "beta-VAE (scores: elbo, reconstruction, kl, latent_l2, mahalanobis)")
class VAE(AutoencoderDetector):
    """beta-VAE trained on background; scores from the reconstruction and the latent posterior."""

    score_names = VAE_SCORES

    def __init__(self, config: Any = None, **overrides: Any):
        super().__init__(config, **overrides)
        # The tagging score comes first, so it is the default everywhere (score tables, CLI).
        tag = self.config.tag_score
        self.score_names = (tag, *(name for name in VAE_SCORES if name != tag))
        #: beta of the current training epoch (warm-up), set at every epoch start.
        self._beta_now = self.config.beta

    # ---------------------------------------------------------------- network and loss
    def build_network(self, input_shape: tuple[int, ...]) -> nn.Module:
        config = self.config
        return VariationalAutoencoder(
            build_encoder(config, input_shape, 2 * config.latent_dim),
            build_decoder(config, input_shape),
            config.latent_dim,
        )

    def current_beta(self, stage: str) -> float:
        """beta of this step: warmed up in training, always the full value in validation.

        Validation uses the full beta so the monitored loss is comparable between epochs
        (otherwise early stopping would prefer the low-beta epochs of the warm-up).
        """
        if stage != "train":
            return self.config.beta
        return self._beta_now

    def on_epoch_start(self, module: Any) -> None:
        warmup = self.config.beta_warmup_epochs
        epoch = int(module.current_epoch)
        self._beta_now = self.config.beta * (min(1.0, (epoch + 1) / (warmup + 1)) if warmup else 1.0)

    def epoch_diagnostics(self, module: Any) -> dict[str, float]:
        return {"beta": float(self._beta_now)}

    def vae_terms(self, network: nn.Module, inputs: torch.Tensor, stage: str) -> dict[str, torch.Tensor]:
        """Per-jet ``(n,)`` terms: ``loss`` (reconstruction + beta * kl), ``reconstruction``, ``kl`` and
        the tagging ``score``.

        In training the reconstruction comes from the sampled code, for the loss *and* the score:
        DisCo or the OE margin acting on a separately decoded mean-code score lets the network
        game it (the mean-code reconstruction drifts away from the sampled one it is trained on,
        observed as a validation reconstruction error growing 10x while the training loss falls).
        In validation (eval mode) the code is the mean, exactly as at inference.
        """
        outputs = network(inputs)
        error = self.reconstruction_error(inputs, outputs["reconstruction"])
        kl = kl_divergence(outputs["mu"], outputs["logvar"])
        score = self.score_from_code(
            network, inputs, outputs["mu"], outputs["logvar"], self.config.tag_score, outputs["reconstruction"]
        )
        return {"loss": error + self.current_beta(stage) * kl, "reconstruction": error, "kl": kl, "score": score}

    def score_from_code(
        self,
        network: nn.Module,
        inputs: torch.Tensor,
        mu: torch.Tensor,
        logvar: torch.Tensor,
        score: str,
        reconstruction: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``(n,)`` score ``score`` of ``inputs`` from their posterior ``(mu, logvar)``, differentiable.

        The reconstruction-based scores use ``reconstruction`` if given, else decode ``z = mu``.
        """
        mu, logvar = mu.float(), logvar.float()
        if score == "kl":
            return kl_divergence(mu, logvar)
        if score == "latent_l2":
            return mu.square().sum(dim=1)
        if score == "mahalanobis":
            if not hasattr(self, "_latent_precision_tensor"):
                raise JetaeError("the mahalanobis score is fitted after training and is not available yet")
            centred = mu - self._latent_mean_tensor.to(mu.device)
            squared = ((centred @ self._latent_precision_tensor.to(mu.device)) * centred).sum(dim=1)
            return squared.clamp_min(0.0).sqrt()
        if reconstruction is None:
            reconstruction = network.decoder(mu.to(inputs.dtype))
        error = self.reconstruction_error(inputs, reconstruction)
        return error if score == "reconstruction" else error + self.config.beta * kl_divergence(mu, logvar)

    def training_loss(
        self, network: nn.Module, batch: dict[str, torch.Tensor], stage: str, module: Any = None
    ) -> dict[str, torch.Tensor]:
        terms = self.vae_terms(network, batch["inputs"], stage)
        return {
            "loss": terms["loss"].mean(),
            "score": terms["score"],
            "reconstruction": terms["reconstruction"].mean(),
            "kl": terms["kl"].mean(),
        }

    # ---------------------------------------------------------------- scores
    def score_batch(self, network: nn.Module, inputs: torch.Tensor, score: str) -> torch.Tensor:
        outputs = network(inputs)
        return self.score_from_code(network, inputs, outputs["mu"], outputs["logvar"], score, outputs["reconstruction"])

    # ---------------------------------------------------------------- fit
    def _fit(self, train_inputs: np.ndarray, val_inputs: np.ndarray | None, **kwargs: Any) -> None:
        super()._fit(train_inputs, val_inputs, **kwargs)
        self._fit_latent_distribution(train_inputs)

    def _fit_latent_distribution(self, train_inputs: np.ndarray) -> None:
        """Mean and covariance of the posterior means over the training jets (for ``mahalanobis``)."""
        mu = self._encode(train_inputs).astype(np.float64)
        self.latent_mean_ = mu.mean(axis=0)
        covariance = np.atleast_2d(np.cov(mu, rowvar=False)) if len(mu) > 1 else np.eye(mu.shape[1])
        ridge = COVARIANCE_RIDGE * max(float(np.trace(covariance)) / len(covariance), 1e-12)
        self.latent_covariance_ = covariance + ridge * np.eye(len(covariance))
        self._set_latent_tensors()

    def _set_latent_tensors(self) -> None:
        precision = np.linalg.inv(self.latent_covariance_)
        self._latent_mean_tensor = torch.from_numpy(np.asarray(self.latent_mean_, dtype=np.float32))
        self._latent_precision_tensor = torch.from_numpy(np.asarray(precision, dtype=np.float32))

    # ---------------------------------------------------------------- persistence
    def _state_arrays(self) -> dict[str, np.ndarray]:
        arrays = super()._state_arrays()
        arrays["latent.mean"] = np.asarray(self.latent_mean_, dtype=np.float64)
        arrays["latent.covariance"] = np.asarray(self.latent_covariance_, dtype=np.float64)
        return arrays

    def _load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        dim = self.config.latent_dim
        self.latent_mean_ = pop_array(arrays, "latent.mean", (dim,), np.float64)
        self.latent_covariance_ = pop_array(arrays, "latent.covariance", (dim, dim), np.float64)
        super()._load_state_arrays(arrays)
        self._set_latent_tensors()


OE_SCORES = TRAINABLE_SCORES


@dataclass
class OEVAEConfig(VAEConfig):
    """OE-VAE: the beta-VAE plus a margin loss on a sample of outlier jets.

    loss = mean_bg[reconstruction + beta * kl] + oe_lambda * mean_pairs[relu(oe_margin + s(bg) - s(outlier))]
    with ``s`` = ``tag_score`` (default ``elbo``; ``kl`` is the reference "KL-OE", which does
    not find top jets on jetae's samples: AUC 0.42 against 0.87, bench/results/vae.json);
    each background jet of a batch is paired with an outlier jet drawn at random.
    """

    tag_score: str = "elbo"
    #: Weight of the outlier-exposure margin term.
    oe_lambda: float = 2.0
    #: Margin by which an outlier's score should exceed a background jet's (in units of the score).
    oe_margin: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.tag_score not in OE_SCORES:
            raise JetaeError(
                f"invalid option: oe_vae needs a tag_score that exists during training ({', '.join(OE_SCORES)}), "
                f"got {self.tag_score!r}"
            )
        if not self.oe_lambda >= 0:
            raise JetaeError("invalid option: oe_lambda must be >= 0")
        if not self.oe_margin >= 0:
            raise JetaeError("invalid option: oe_margin must be >= 0")


@register("oe_vae", OEVAEConfig, "outlier-exposure VAE: margin loss pushes known outliers (e.g. W jets) above QCD")
class OEVAE(VAE):
    """beta-VAE that also sees outlier jets during training (``fit(..., outliers=jets)``).

    The outliers go through the same representation and fitted scaler; they only enter
    through the margin term, never the VAE likelihood. Test on a *different* signal.
    """

    #: Extra keyword arguments ``fit`` understands (the CLI's ``--outliers`` checks this).
    fit_options = ("outliers",)

    def prepare_training_data(
        self, train: dict, val: dict | None, outliers: JetsOrArray | None = None, **extra: Any
    ) -> tuple[dict, dict | None]:
        train, val = super().prepare_training_data(train, val, **extra)
        if outliers is None:
            raise JetaeError(
                "oe_vae needs outlier jets for training: fit(train, outliers=jets) or `jetae train oe_vae "
                "--outliers FILE.h5`"
            )
        outlier_inputs = self._outlier_inputs(outliers)
        self.n_outliers_ = len(outlier_inputs)
        self._outliers = torch.from_numpy(np.ascontiguousarray(outlier_inputs))
        self._outliers_on_device: torch.Tensor | None = None
        if val is not None:
            # A fixed pairing for validation, so the monitored loss is not noisy.
            rng = np.random.default_rng(self.config.seed + 1)
            val = dict(val, outlier_index=rng.integers(0, len(outlier_inputs), len(val["inputs"])))
        log.info(
            "outlier exposure with %d outlier jets (lambda=%g, margin=%g, score=%s)",
            len(outlier_inputs),
            self.config.oe_lambda,
            self.config.oe_margin,
            self.config.tag_score,
        )
        return train, val

    def _outlier_inputs(self, outliers: JetsOrArray) -> np.ndarray:
        where = outliers.source if isinstance(outliers, Jets) else None
        if isinstance(outliers, Jets) and len(outliers) == 0:
            raise JetaeError("the outlier sample has no jets", where)
        inputs = make_inputs(outliers, self.config.representation)
        if tuple(inputs.shape[1:]) != self.input_shape_:
            raise JetaeError(
                f"outlier jets give inputs of shape {tuple(inputs.shape[1:])} but the training jets give "
                f"{self.input_shape_}: use the same representation for both",
                where,
            )
        return self.scaler_.transform(inputs)

    def _outlier_batch(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        device = batch["inputs"].device
        if self._outliers_on_device is None or self._outliers_on_device.device != device:
            self._outliers_on_device = self._outliers.to(device)
        index = batch.get("outlier_index")
        if index is None:
            # Training: a fresh random pairing every step (torch's RNG is seeded by the engine).
            index = torch.randint(0, len(self._outliers_on_device), (len(batch["inputs"]),), device=device)
        return self._outliers_on_device[index]

    def training_loss(
        self, network: nn.Module, batch: dict[str, torch.Tensor], stage: str, module: Any = None
    ) -> dict[str, torch.Tensor]:
        terms = self.vae_terms(network, batch["inputs"], stage)
        outlier_inputs = self._outlier_batch(batch)
        # Same code as the background (sampled in training, mean in validation).
        outlier = network(outlier_inputs)
        outlier_score = self.score_from_code(
            network, outlier_inputs, outlier["mu"], outlier["logvar"], self.config.tag_score, outlier["reconstruction"]
        )
        margin_violation = torch.relu(self.config.oe_margin + terms["score"] - outlier_score)
        loss = terms["loss"].mean() + self.config.oe_lambda * margin_violation.mean()
        return {
            "loss": loss,
            "score": terms["score"],
            "reconstruction": terms["reconstruction"].mean(),
            "kl": terms["kl"].mean(),
            "oe_margin_loss": margin_violation.mean(),
            "oe_outlier_score": outlier_score.detach().mean(),
            "oe_background_score": terms["score"].detach().mean(),
        }

    def _fit(self, train_inputs: np.ndarray, val_inputs: np.ndarray | None, **kwargs: Any) -> None:
        try:
            super()._fit(train_inputs, val_inputs, **kwargs)
        finally:
            # The outlier sample is training data only: not kept on the fitted model.
            self._outliers = None
            self._outliers_on_device = None

"""The classical autoencoder zoo: dense, convolutional, sparse, denoising and dropout AEs.

All train on background only and score a jet by its reconstruction error
("QCD or What?", arXiv:1808.08979; Farina, Nakai, Shih, arXiv:1808.08992).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from jetae.errors import JetaeError
from jetae.models.nets import Autoencoder, ConvDecoder, ConvEncoder, DenseDecoder, DenseEncoder
from jetae.models.registry import register
from jetae.models.torch_base import TorchDetector, TorchDetectorConfig

ARCHITECTURES = ("dense", "conv")


def _constituents(n: int = 30) -> dict:
    return {"kind": "constituents", "n_constituents": n, "flatten": True}


@dataclass
class AutoencoderConfig(TorchDetectorConfig):
    """Architecture options shared by the autoencoders (dense or convolutional)."""

    representation: dict = field(default_factory=_constituents)
    scaler: str = "standard"
    #: ``dense`` (fully connected) or ``conv`` (images only).
    architecture: str = "dense"
    latent_dim: int = 16
    #: Dense: hidden layer widths of the encoder (the decoder mirrors them).
    hidden: list = field(default_factory=lambda: [256, 128, 64])
    #: Conv: channels of the conv layers in each resolution stage, 2x down-sampling between stages.
    stages: list = field(default_factory=lambda: [[10, 10], [10, 5]])
    #: Conv: dense layers between the conv stack and the code.
    conv_dense: list = field(default_factory=lambda: [100])
    kernel_size: int = 3
    #: Conv down-sampling: ``pool`` (2x2 average pool) or ``stride`` (strided conv).
    downsample: str = "pool"
    #: Conv up-sampling: ``upsample`` (nearest neighbour) or ``transpose`` (transposed conv).
    upsample: str = "upsample"
    activation: str = "relu"
    output_activation: str = "none"
    #: Dropout on the inputs / on the code during training.
    input_dropout: float = 0.0
    latent_dropout: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.architecture not in ARCHITECTURES:
            raise JetaeError(f"invalid option: architecture must be one of {', '.join(ARCHITECTURES)}")
        if self.latent_dim < 1:
            raise JetaeError("invalid option: latent_dim must be >= 1")
        if not (0 <= self.input_dropout < 1 and 0 <= self.latent_dropout < 1):
            raise JetaeError("invalid option: dropout rates must be in [0, 1)")


def build_encoder(config: AutoencoderConfig, input_shape: tuple[int, ...], out_dim: int) -> nn.Module:
    """Encoder of the configured architecture, mapping inputs to ``(n, out_dim)``."""
    if config.architecture == "conv":
        return ConvEncoder(
            input_shape,
            config.stages,
            config.conv_dense,
            out_dim,
            config.kernel_size,
            config.downsample,
            config.activation,
        )
    return DenseEncoder(input_shape, config.hidden, out_dim, config.activation)


def build_decoder(config: AutoencoderConfig, input_shape: tuple[int, ...]) -> nn.Module:
    """Decoder of the configured architecture, mapping ``(n, latent_dim)`` to ``(n, *input_shape)``."""
    if config.architecture == "conv":
        return ConvDecoder(
            config.latent_dim,
            input_shape,
            config.stages,
            config.conv_dense,
            config.kernel_size,
            config.upsample,
            config.activation,
            config.output_activation,
        )
    return DenseDecoder(
        config.latent_dim, list(reversed(config.hidden)), input_shape, config.activation, config.output_activation
    )


class AutoencoderDetector(TorchDetector):
    """Base of the reconstruction-error autoencoders."""

    config_cls = AutoencoderConfig

    def build_network(self, input_shape: tuple[int, ...]) -> nn.Module:
        config = self.config
        return Autoencoder(
            build_encoder(config, input_shape, config.latent_dim),
            build_decoder(config, input_shape),
            config.input_dropout,
            config.latent_dropout,
        )


@dataclass
class DenseAEConfig(AutoencoderConfig):
    pass


@register("dense_ae", DenseAEConfig, "fully connected undercomplete autoencoder (reconstruction error)")
class DenseAE(AutoencoderDetector):
    """Fully connected undercomplete autoencoder."""


@dataclass
class ConvAEConfig(AutoencoderConfig):
    representation: dict = field(default_factory=lambda: {"kind": "image"})
    scaler: str = "global"
    architecture: str = "conv"
    latent_dim: int = 32


@register("conv_ae", ConvAEConfig, "convolutional autoencoder on jet images (QCD or What? layout)")
class ConvAE(AutoencoderDetector):
    """Convolutional autoencoder on jet images."""


@dataclass
class SparseAEConfig(AutoencoderConfig):
    hidden: list = field(default_factory=lambda: [256])
    latent_dim: int = 512
    #: Weight of the L1 penalty on the (overcomplete) code.
    l1_penalty: float = 1e-3

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.l1_penalty < 0:
            raise JetaeError("invalid option: l1_penalty must be >= 0")


@register("sparse_ae", SparseAEConfig, "overcomplete autoencoder with an L1 sparsity penalty on the code")
class SparseAE(AutoencoderDetector):
    """Overcomplete autoencoder kept from learning the identity by an L1 penalty on its code."""

    def training_loss(
        self, network: nn.Module, batch: dict[str, torch.Tensor], stage: str, module: Any = None
    ) -> dict[str, torch.Tensor]:
        outputs = network(batch["inputs"])
        error = self.reconstruction_error(batch["inputs"], outputs["reconstruction"])
        sparsity = outputs["latent"].abs().mean()
        return {
            "loss": error.mean() + self.config.l1_penalty * sparsity,
            "score": error,
            "reconstruction": error.mean(),
            "l1": sparsity,
        }


NOISE_KINDS = ("gaussian", "masking")


@dataclass
class DenoisingAEConfig(AutoencoderConfig):
    representation: dict = field(default_factory=lambda: {"kind": "image"})
    scaler: str = "global"
    architecture: str = "conv"
    latent_dim: int = 32
    #: ``gaussian`` (additive, std = noise_level in scaled units) or ``masking`` (zero a fraction of inputs).
    noise: str = "gaussian"
    noise_level: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.noise not in NOISE_KINDS:
            raise JetaeError(f"invalid option: noise must be one of {', '.join(NOISE_KINDS)}")
        if self.noise_level < 0 or (self.noise == "masking" and self.noise_level >= 1):
            raise JetaeError("invalid option: noise_level must be >= 0 (and < 1 for masking)")


@register("denoising_ae", DenoisingAEConfig, "denoising autoencoder: reconstructs clean inputs from noised ones")
class DenoisingAE(AutoencoderDetector):
    """Trained to reconstruct the clean input from a corrupted copy; scored on clean inputs."""

    def corrupt(self, inputs: torch.Tensor) -> torch.Tensor:
        if self.config.noise == "gaussian":
            return inputs + self.config.noise_level * torch.randn_like(inputs)
        keep = torch.rand_like(inputs) >= self.config.noise_level
        return inputs * keep

    def training_loss(
        self, network: nn.Module, batch: dict[str, torch.Tensor], stage: str, module: Any = None
    ) -> dict[str, torch.Tensor]:
        clean = batch["inputs"]
        noisy = self.corrupt(clean) if stage == "train" else clean
        error = self.reconstruction_error(clean, network(noisy)["reconstruction"])
        return {"loss": error.mean(), "score": error}


@dataclass
class DropoutAEConfig(AutoencoderConfig):
    representation: dict = field(default_factory=lambda: {"kind": "image"})
    scaler: str = "global"
    architecture: str = "conv"
    latent_dim: int = 32
    input_dropout: float = 0.1
    latent_dropout: float = 0.2


@register("dropout_ae", DropoutAEConfig, "redundant autoencoder: dropout on inputs and code during training")
class DropoutAE(AutoencoderDetector):
    """The "redundant" autoencoder: dropout forces a distributed, robust code."""

"""Torch building blocks: dense and convolutional encoders/decoders.

Networks are plain ``nn.Module``s, separate from the estimators. Autoencoders return a
dict of named outputs (``reconstruction``, ``latent``, ...), never a bare tuple.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from jetae.errors import JetaeError

ACTIVATIONS = {
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "leaky_relu": lambda: nn.LeakyReLU(0.1),
    "prelu": nn.PReLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "silu": nn.SiLU,
}
OUTPUT_ACTIVATIONS = {"none": nn.Identity, "relu": nn.ReLU, "sigmoid": nn.Sigmoid, "softplus": nn.Softplus}


def activation(name: str) -> nn.Module:
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise JetaeError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}") from None


def output_activation(name: str) -> nn.Module:
    try:
        return OUTPUT_ACTIVATIONS[name]()
    except KeyError:
        raise JetaeError(f"unknown output activation {name!r}; choose one of {', '.join(OUTPUT_ACTIVATIONS)}") from None


def mlp(sizes: Sequence[int], act: str, dropout: float = 0.0, final_activation: bool = False) -> nn.Sequential:
    """Linear layers ``sizes[0] -> ... -> sizes[-1]`` with activations between them."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        last = i == len(sizes) - 2
        if not last or final_activation:
            layers.append(activation(act))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class DenseEncoder(nn.Module):
    """Flatten ``(n, *input_shape)`` and map it to ``(n, out_dim)`` through hidden layers."""

    def __init__(
        self, input_shape: Sequence[int], hidden: Sequence[int], out_dim: int, act: str = "relu", dropout: float = 0.0
    ):
        super().__init__()
        self.net = mlp([math.prod(input_shape), *hidden, out_dim], act, dropout)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.net(inputs.flatten(1))


class DenseDecoder(nn.Module):
    """Map ``(n, latent_dim)`` back to ``(n, *output_shape)``."""

    def __init__(
        self,
        latent_dim: int,
        hidden: Sequence[int],
        output_shape: Sequence[int],
        act: str = "relu",
        out_act: str = "none",
        dropout: float = 0.0,
    ):
        super().__init__()
        self.output_shape = tuple(output_shape)
        self.net = mlp([latent_dim, *hidden, math.prod(output_shape)], act, dropout)
        self.out_act = output_activation(out_act)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.out_act(self.net(latent)).view(-1, *self.output_shape)


class SameConv2d(nn.Conv2d):
    """Stride-1 convolution whose output has the input's size, for odd and even kernels alike.

    Odd kernels pad symmetrically (``padding="same"``). Even kernels pad one pixel more on the
    right / bottom than on the left / top (TensorFlow's and PyTorch's "same" convention), done
    here explicitly, which avoids PyTorch's warning about the padded copy "same" makes for them.
    Parameters and ``state_dict`` keys are those of ``nn.Conv2d``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int):
        even = kernel_size % 2 == 0
        super().__init__(in_channels, out_channels, kernel_size, padding=0 if even else "same")
        total = kernel_size - 1
        #: (left, right, top, bottom) zero padding for even kernels, None for odd ones.
        self.same_padding = (total // 2, total - total // 2) * 2 if even else None

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if self.same_padding is not None:
            inputs = F.pad(inputs, self.same_padding)
        return super().forward(inputs)


def _check_image_shape(input_shape: Sequence[int], n_down: int) -> tuple[int, int, int]:
    if len(input_shape) != 3:
        raise JetaeError(
            f"convolutional models need image inputs (channels, height, width), got shape {tuple(input_shape)}; "
            "use representation kind 'image'"
        )
    channels, height, width = (int(s) for s in input_shape)
    factor = 2**n_down
    if height % factor or width % factor:
        raise JetaeError(f"image size {height}x{width} must be divisible by {factor} for {n_down} down-sampling steps")
    return channels, height, width


class ConvEncoder(nn.Module):
    """Conv stages separated by 2x down-sampling, then dense layers to ``out_dim``.

    ``stages=[[10, 10], [10, 5]]`` is the "QCD or What?" layout: two 10-channel convs,
    a 2x2 pool, a 10- and a 5-channel conv, then the dense part.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        stages: Sequence[Sequence[int]],
        dense: Sequence[int],
        out_dim: int,
        kernel_size: int = 3,
        downsample: str = "pool",
        act: str = "relu",
    ):
        super().__init__()
        if downsample not in ("pool", "stride"):
            raise JetaeError(f"unknown downsample {downsample!r}; choose pool or stride")
        channels, height, width = _check_image_shape(input_shape, len(stages) - 1)
        layers: list[nn.Module] = []
        for index, stage in enumerate(stages):
            if index > 0:
                if downsample == "pool":
                    layers.append(nn.AvgPool2d(2))
                else:
                    layers += [nn.Conv2d(channels, channels, 3, stride=2, padding=1), activation(act)]
            for n_out in stage:
                layers += [SameConv2d(channels, n_out, kernel_size), activation(act)]
                channels = n_out
        self.conv = nn.Sequential(*layers)
        factor = 2 ** (len(stages) - 1)
        self.feature_shape = (channels, height // factor, width // factor)
        self.dense = mlp([math.prod(self.feature_shape), *dense, out_dim], act)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.dense(self.conv(inputs).flatten(1))


class ConvDecoder(nn.Module):
    """Mirror of :class:`ConvEncoder`: dense layers, then conv stages with 2x up-sampling.

    Every encoder conv ``a -> b`` has a decoder conv ``b -> a``, in reverse order, so for
    ``stages=[[10, 10], [10, 5]]`` on one-channel images the decoder convs are
    ``5 -> 10 -> 10``, up-sampling, ``10 -> 10 -> 1`` (the last one without activation).
    """

    def __init__(
        self,
        latent_dim: int,
        output_shape: Sequence[int],
        stages: Sequence[Sequence[int]],
        dense: Sequence[int],
        kernel_size: int = 3,
        upsample: str = "upsample",
        act: str = "relu",
        out_act: str = "none",
    ):
        super().__init__()
        if upsample not in ("upsample", "transpose"):
            raise JetaeError(f"unknown upsample {upsample!r}; choose upsample or transpose")
        out_channels, height, width = _check_image_shape(output_shape, len(stages) - 1)
        factor = 2 ** (len(stages) - 1)
        stage_inputs = [out_channels] + [int(stage[-1]) for stage in stages[:-1]]
        first_channels = int(stages[-1][-1])
        self.feature_shape = (first_channels, height // factor, width // factor)
        self.dense = mlp(
            [latent_dim, *reversed(list(dense)), math.prod(self.feature_shape)], act, final_activation=True
        )
        layers: list[nn.Module] = []
        channels = first_channels
        for index in reversed(range(len(stages))):
            if index < len(stages) - 1:
                if upsample == "upsample":
                    layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
                else:
                    layers += [nn.ConvTranspose2d(channels, channels, 2, stride=2), activation(act)]
            # The encoder stage ran stage_inputs[index] -> stage[0] -> ... -> stage[-1]; walk it backwards.
            targets = [int(c) for c in reversed(stages[index][:-1])] + [stage_inputs[index]]
            for position, n_out in enumerate(targets):
                layers.append(SameConv2d(channels, n_out, kernel_size))
                if not (index == 0 and position == len(targets) - 1):  # no activation on the output conv
                    layers.append(activation(act))
                channels = n_out
        self.conv = nn.Sequential(*layers)
        self.out_act = output_activation(out_act)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        features = self.dense(latent).view(-1, *self.feature_shape)
        return self.out_act(self.conv(features))


class Autoencoder(nn.Module):
    """Encoder + decoder with optional dropout on the input and on the code.

    ``forward`` returns ``{"latent": (n, latent_dim), "reconstruction": (n, *input_shape)}``.
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, input_dropout: float = 0.0, latent_dropout: float = 0.0):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.input_dropout = nn.Dropout(input_dropout) if input_dropout > 0 else nn.Identity()
        self.latent_dropout = nn.Dropout(latent_dropout) if latent_dropout > 0 else nn.Identity()

    def forward(self, inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        latent = self.encoder(self.input_dropout(inputs))
        reconstruction = self.decoder(self.latent_dropout(latent))
        return {"latent": latent, "reconstruction": reconstruction}

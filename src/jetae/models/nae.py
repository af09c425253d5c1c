"""The normalized autoencoder (NAE): an autoencoder trained as an energy-based model.

A plain autoencoder reconstructs *simple* inputs well whatever it was trained on, so an
AE trained on top jets does not flag QCD jets (Finke et al., arXiv:2104.09051). The NAE
(Yoon, Noh, Park, arXiv:2105.05735; for jets Dillon, Favaro, Plehn, Sorrenson, Kraemer,
arXiv:2206.14225) reads the reconstruction error as an energy ``E(x)`` of a normalised
density ``p(x) = exp(-E(x) / T) / Z`` and trains it by maximum likelihood:

    loss = E(x_data) / T - E(x_neg) / T + gamma * (E(x_data)^2 + E(x_neg)^2) + ...

with negative samples ``x_neg`` drawn from the model by Langevin Monte Carlo. Whatever
the model reconstructs well but is not in the data (empty or simple jets for a top-trained
model) is found by the sampler and has its energy pushed up.

Training runs two phases in one ``fit``, both with the shared Lightning engine:

1. ``ae``: plain autoencoder pretraining (``ae_epochs``, ``ae_lr``, early stopping on the
   validation reconstruction error, best epoch restored);
2. ``nae``: maximum likelihood (``nae_epochs`` or ``epochs``, ``nae_lr``); the weights of
   the *last* epoch are kept (or, with ``average_epochs``, their mean over the last epochs),
   because the contrastive loss is lowest exactly when the sampler fails to find low-energy
   regions, so it cannot select a model.

Negative samples (``init="on_manifold"``, the papers' on-manifold initialisation):

* latent chain: ``z0`` from a standard Gaussian, projected onto the unit sphere when
  ``spherical`` (the encoder output is normalised to the sphere too, so the decoder only
  ever sees unit vectors); Langevin on ``H(z) = E(D(z))``, re-projected after every step;
* input chain: starts at the decoded ``D(z)``, Langevin on ``E(x)``, clipped to the box
  of the training inputs (non-negative pixels for images).

``init="uniform"`` / ``"gaussian"`` start the input chain from noise instead (for
comparison). With ``buffer_size > 0`` a replay buffer keeps chain end points (latents for
on-manifold, inputs for noise) and restarts a fraction ``replay_fraction`` of the chains
from them (persistent chains). A Langevin step is
``x <- x - step_size * grad E(x) / T + noise * N(0, 1)`` with gradients taken with respect to
the chain only (the network parameters are not touched by sampling).

Units: everything the network and the sampler see is in *scaled* input units (the
fitted :class:`~jetae.models.scaling.FeatureScaler`; ``global`` by default, which keeps
empty pixels at zero). Energies are mean squared errors per input element in those units.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from jetae.errors import JetaeError
from jetae.models.autoencoders import AutoencoderConfig, build_decoder, build_encoder
from jetae.models.base import pop_array
from jetae.models.registry import register
from jetae.models.torch_base import TorchDetector, split_validation
from jetae.train.engine import LAST_CHECKPOINT, TrainingDiverged, fit_network, resolve_accelerator

log = logging.getLogger(__name__)

INITS = ("on_manifold", "uniform", "gaussian")
LR_SCHEDULES = ("constant", "cosine")
X_BOUNDS = ("data", "none")
AE_HISTORY_FILE = "ae_history.json"


@dataclass
class NAEConfig(AutoencoderConfig):
    """Options of the normalized autoencoder (architecture options as for ``conv_ae``)."""

    representation: dict = field(default_factory=lambda: {"kind": "image"})
    scaler: str = "global"
    architecture: str = "conv"
    #: The jets NAE reference uses a 3-dimensional (spherical) code.
    latent_dim: int = 3
    #: Non-negative reconstructions, like the non-negative pixels they model.
    output_activation: str = "softplus"
    #: NAE-phase epochs when ``nae_epochs`` is not set (so ``--epochs`` works as elsewhere).
    epochs: int = 10
    patience: int = 3
    # ---------------------------------------------------------------- phases
    #: Plain-AE pretraining epochs (0 = start the NAE phase from random weights).
    ae_epochs: int = 20
    #: Learning rate of the AE phase (None: ``lr``).
    ae_lr: float | None = None
    #: Maximum-likelihood epochs (None: ``epochs``).
    nae_epochs: int | None = None
    #: Learning rate of the NAE phase (the reference uses 1e-5 with batches of 2048).
    nae_lr: float = 1e-5
    #: NAE-phase learning-rate schedule over its epochs: ``constant``, or ``cosine`` from ``nae_lr``
    #: in the first epoch down to ``nae_lr * nae_lr_final_factor`` in the last. At large ``nae_lr``
    #: the likelihood phase swings from epoch to epoch (the test AUC with it); the decay settles it.
    nae_lr_schedule: str = "constant"
    nae_lr_final_factor: float = 0.01
    #: Keep the mean of the weights at the end of the last N NAE epochs (stochastic weight
    #: averaging) instead of the last epoch's weights; 0 or 1 = the last epoch's weights.
    average_epochs: int = 0
    # ---------------------------------------------------------------- energy and loss
    #: Normalise the code to the unit sphere (encoder output and latent chain).
    spherical: bool = True
    #: Temperature T of p(x) ~ exp(-E(x)/T) in the loss and (by default) in both chains.
    temperature: float = 1.0
    #: Temperatures of the input and latent chains (None: ``temperature``).
    x_temperature: float | None = None
    z_temperature: float | None = None
    #: Weight of the energy-magnitude regulariser mean(E_pos^2 + E_neg^2).
    gamma: float = 1.0
    #: Extra weight of mean(E_neg^2) alone (the reference regularises negatives only).
    neg_energy_l2: float = 0.0
    #: Weight of the squared L2 norm of all network weights (reference: 1e-8).
    weight_l2: float = 1e-8
    # ---------------------------------------------------------------- sampler
    #: Negative-chain start: ``on_manifold`` (decoded latent chain), ``uniform`` or ``gaussian``.
    init: str = "on_manifold"
    #: Input chain: steps, step size, noise std (scaled input units), per-sample gradient-norm clip (0 = off).
    x_steps: int = 20
    x_step_size: float = 10.0
    x_noise: float = 0.005
    x_grad_clip: float = 0.0
    #: Clip input-chain samples to the [min, max] of the training inputs (``data``) or not (``none``).
    x_bounds: str = "data"
    #: Latent chain (on-manifold only): steps, step size, noise std, gradient-norm clip.
    z_steps: int = 20
    z_step_size: float = 0.1
    z_noise: float = 0.01
    z_grad_clip: float = 0.0
    #: Replay buffer of chain end points (0 = off) and the fraction of chains restarted from it.
    buffer_size: int = 0
    replay_fraction: float = 0.95
    #: Divergence: a mean negative energy above this (scaled units) stops training.
    max_energy: float = 1e6
    #: Spectral normalisation of every conv / linear layer (a smoother energy; slower).
    spectral_norm: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        nonnegative = ("ae_epochs", "x_steps", "z_steps", "x_noise", "z_noise", "x_grad_clip", "z_grad_clip",
                       "gamma", "neg_energy_l2", "weight_l2", "buffer_size", "x_step_size", "z_step_size",
                       "average_epochs")
        checks = [(getattr(self, name) >= 0, f"{name} must be >= 0") for name in nonnegative]
        checks += [
            (self.nae_epochs is None or self.nae_epochs >= 0, "nae_epochs must be >= 0"),
            (self.ae_lr is None or self.ae_lr > 0, "ae_lr must be > 0"),
            (self.nae_lr > 0, "nae_lr must be > 0"),
            (self.nae_lr_schedule in LR_SCHEDULES, f"nae_lr_schedule must be one of {', '.join(LR_SCHEDULES)}"),
            (0 < self.nae_lr_final_factor <= 1, "nae_lr_final_factor must be in (0, 1]"),
            (self.temperature > 0 and (self.x_temperature or 1) > 0 and (self.z_temperature or 1) > 0,
             "temperatures must be > 0"),
            (self.init in INITS, f"init must be one of {', '.join(INITS)}"),
            (self.x_bounds in X_BOUNDS, f"x_bounds must be one of {', '.join(X_BOUNDS)}"),
            (0 <= self.replay_fraction <= 1, "replay_fraction must be in [0, 1]"),
            (self.max_energy > 0, "max_energy must be > 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise JetaeError(f"invalid option: {message}")

    @property
    def n_nae_epochs(self) -> int:
        return self.epochs if self.nae_epochs is None else self.nae_epochs


# ==================================================================== network
class SphericalAutoencoder(nn.Module):
    """Encoder + decoder whose code is (optionally) normalised to the unit sphere.

    ``forward`` returns ``{"latent": (n, latent_dim), "reconstruction": (n, *input_shape)}``.
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, spherical: bool = True):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.spherical = spherical

    def project(self, latent: torch.Tensor) -> torch.Tensor:
        """Onto the unit sphere when spherical, else unchanged."""
        return F.normalize(latent, dim=1) if self.spherical else latent

    def encode(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.project(self.encoder(inputs))

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        return self.decoder(latent)

    def forward(self, inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        latent = self.encode(inputs)
        return {"latent": latent, "reconstruction": self.decode(latent)}


def _spectral_normalise(module: nn.Module) -> None:
    for child in list(module.modules()):
        if isinstance(child, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.utils.parametrizations.spectral_norm(child)


# ==================================================================== sampling
def langevin(
    start: torch.Tensor,
    energy: Callable[[torch.Tensor], torch.Tensor],
    n_steps: int,
    step_size: float,
    noise: float,
    temperature: float = 1.0,
    bounds: tuple[float, float] | None = None,
    grad_clip: float = 0.0,
    project: Callable[[torch.Tensor], torch.Tensor] | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Run ``n_steps`` Langevin updates ``x <- x - step_size * grad E(x) / T + noise * N(0, 1)``.

    Parameters
    ----------
    start:
        ``(n, ...)`` initial points (not modified).
    energy:
        Maps ``(n, ...)`` to ``(n,)`` per-sample energies; each sample's energy must depend
        on that sample only (no batch statistics), so ``grad(sum(E))`` is per-sample.
    bounds:
        ``(low, high)``: samples are clipped into this box after every step.
    grad_clip:
        Rescale each sample's gradient to at most this L2 norm (0 = off).
    project:
        Applied after every step (e.g. back onto the unit sphere).
    generator:
        Source of the noise (seeded chains are reproducible on CPU).

    Returns
    -------
    ``(n, ...)`` detached end points. Gradients are taken with respect to the chain only:
    parameter ``.grad`` fields are left untouched.
    """
    x = start.detach().clone()
    for _ in range(n_steps):
        x.requires_grad_(True)
        (grad,) = torch.autograd.grad(energy(x).sum(), x)
        x = x.detach()
        if grad_clip > 0:
            norm = grad.flatten(1).norm(dim=1).view(-1, *([1] * (grad.ndim - 1)))
            grad = grad * (grad_clip / norm.clamp(min=grad_clip))
        x = x - (step_size / temperature) * grad
        if noise > 0:
            x = x + noise * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        if bounds is not None:
            x = x.clamp(bounds[0], bounds[1])
        if project is not None:
            x = project(x)
    return x.detach()


class WeightAverage:
    """Running mean of network state dicts (floating-point tensors; others keep the latest)."""

    def __init__(self) -> None:
        self.count = 0
        self._sum: dict[str, torch.Tensor] = {}
        self._dtypes: dict[str, torch.dtype] = {}

    def add(self, state: dict[str, torch.Tensor]) -> None:
        self.count += 1
        for key, value in state.items():
            self._dtypes[key] = value.dtype
            if value.is_floating_point():
                value = value.double()  # float64 sums: no rounding drift over many epochs
                self._sum[key] = self._sum[key] + value if key in self._sum else value.clone()
            else:
                self._sum[key] = value.clone()

    def state(self) -> dict[str, Any]:
        return {"count": self.count, "sum": self._sum, "dtypes": {k: str(v) for k, v in self._dtypes.items()}}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "WeightAverage":
        average = cls()
        average.count = int(state["count"])
        average._sum = dict(state["sum"])
        average._dtypes = {k: getattr(torch, v.removeprefix("torch.")) for k, v in state["dtypes"].items()}
        return average

    def mean(self) -> dict[str, torch.Tensor]:
        return {key: (value / self.count if value.is_floating_point() else value).to(self._dtypes[key])
                for key, value in self._sum.items()}


class ReplayBuffer:
    """Fixed-size ring of chain end points (persistent chains), on the sampling device."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.data: torch.Tensor | None = None
        self.count = 0
        self._next = 0

    def __len__(self) -> int:
        return self.count

    def push(self, samples: torch.Tensor) -> None:
        samples = samples.detach()[-self.capacity :]
        if self.data is None:
            self.data = torch.empty((self.capacity, *samples.shape[1:]), dtype=samples.dtype, device=samples.device)
        index = (self._next + torch.arange(len(samples), device=samples.device)) % self.capacity
        self.data[index] = samples
        self._next = (self._next + len(samples)) % self.capacity
        self.count = min(self.count + len(samples), self.capacity)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        assert self.data is not None and self.count > 0
        index = torch.randint(0, self.count, (n,), generator=generator, device=self.data.device)
        return self.data[index].clone()


@dataclass
class NegativeSamples:
    """One batch of negative samples and how they were made."""

    inputs: torch.Tensor
    start_energy: torch.Tensor
    latent: torch.Tensor | None = None
    latent_start_energy: torch.Tensor | None = None


# ==================================================================== detector
@register("nae", NAEConfig, "normalized autoencoder: reconstruction error as energy, Langevin MCMC likelihood training")
class NormalizedAutoencoder(TorchDetector):
    """Normalized autoencoder (see the module docstring); score ``reconstruction`` = the energy."""

    config_cls = NAEConfig
    score_names = ("reconstruction",)

    # ---------------------------------------------------------------- network
    def build_network(self, input_shape: tuple[int, ...]) -> nn.Module:
        config = self.config
        network = SphericalAutoencoder(build_encoder(config, input_shape, config.latent_dim),
                                       build_decoder(config, input_shape), config.spherical)
        if config.spherical and config.latent_dim < 2:
            raise JetaeError("invalid option: a spherical code needs latent_dim >= 2")
        if config.spherical and config.input_dropout + config.latent_dropout > 0:
            log.warning("dropout makes the NAE energy random; it is usually left off")
        if config.spectral_norm:
            _spectral_normalise(network)
        return network

    def energy(self, network: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
        """``(n,)`` energy = reconstruction error per input element (scaled units)."""
        return self.reconstruction_error(inputs, network(inputs)["reconstruction"])

    # ---------------------------------------------------------------- sampler
    def _temperatures(self) -> tuple[float, float]:
        config = self.config
        return (config.x_temperature or config.temperature, config.z_temperature or config.temperature)

    def _bounds(self) -> tuple[float, float] | None:
        if self.config.x_bounds == "none":
            return None
        low, high = (float(b) for b in self.input_bounds_)
        return low, high

    def _initial_inputs(self, n: int, like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        shape = (n, *self.input_shape_)
        low, high = (float(b) for b in self.input_bounds_)
        if self.config.init == "uniform":
            return low + (high - low) * torch.rand(shape, generator=generator, device=like.device, dtype=like.dtype)
        start = torch.randn(shape, generator=generator, device=like.device, dtype=like.dtype)
        bounds = self._bounds()
        return start if bounds is None else start.clamp(*bounds)

    def sample(self, network: nn.Module, n: int, device: torch.device, generator: torch.Generator | None = None,
               buffer: ReplayBuffer | None = None) -> NegativeSamples:
        """Draw ``n`` negative samples (scaled input units) with the configured chains.

        Runs in fp32 with gradients enabled even inside ``no_grad`` / autocast regions.
        """
        config = self.config
        x_temperature, z_temperature = self._temperatures()
        like = torch.empty(0, device=device)
        n_replay = int(round(n * config.replay_fraction)) if buffer is not None and len(buffer) else 0
        with torch.enable_grad(), torch.autocast(device_type=device.type, enabled=False):
            if config.init == "on_manifold":
                fresh = torch.randn((n - n_replay, config.latent_dim), generator=generator, device=device)
                parts = [buffer.sample(n_replay, generator)] if n_replay else []
                latent0 = network.project(torch.cat(parts + [fresh]))

                def latent_energy(latent: torch.Tensor) -> torch.Tensor:
                    return self.energy(network, network.decode(latent))

                latent = langevin(latent0, latent_energy, config.z_steps, config.z_step_size, config.z_noise,
                                  z_temperature, None, config.z_grad_clip, network.project, generator)
                if buffer is not None:
                    buffer.push(latent)
                with torch.no_grad():
                    start = network.decode(latent)
                    bounds = self._bounds()
                    if bounds is not None:
                        start = start.clamp(*bounds)
                    latent_start_energy = latent_energy(latent0) if config.z_steps else None
            else:
                latent = latent_start_energy = None
                parts = [buffer.sample(n_replay, generator)] if n_replay else []
                start = torch.cat(parts + [self._initial_inputs(n - n_replay, like, generator)])
            with torch.no_grad():
                start_energy = self.energy(network, start)
            inputs = langevin(start, lambda x: self.energy(network, x), config.x_steps, config.x_step_size,
                              config.x_noise, x_temperature, self._bounds(), config.x_grad_clip, None, generator)
            if buffer is not None and config.init != "on_manifold":
                buffer.push(inputs)
        return NegativeSamples(inputs, start_energy, latent, latent_start_energy)

    def _generator(self, device: torch.device, seed: int) -> torch.Generator:
        return torch.Generator(device=device).manual_seed(int(seed))

    def sample_negatives(self, n: int, seed: int | None = None, batch_size: int | None = None) -> np.ndarray:
        """``n`` samples of the fitted model's sampler, in representation units.

        For images: ``(n, 1, n_pixels, n_pixels)`` pixel intensities (unit-sum units when
        the representation normalises). Seeded (default: the config seed), no replay
        buffer. Useful to see what the model believes is likely (negative samples).
        """
        self._check_fitted()
        if n < 1:
            raise JetaeError(f"sample_negatives needs n >= 1, got {n}")
        accelerator = resolve_accelerator(self.config.device)
        device = torch.device("cuda" if accelerator == "cuda" else accelerator)
        network = self.network_.to(device).eval()
        generator = self._generator(device, self.config.seed if seed is None else seed)
        batch_size = batch_size or self.config.batch_size
        chunks = []
        for start in range(0, n, batch_size):
            samples = self.sample(network, min(batch_size, n - start), device, generator)
            chunks.append(samples.inputs.cpu().numpy())
        return self.scaler_.inverse_transform(np.concatenate(chunks))

    # ---------------------------------------------------------------- training
    def training_loss(self, network: nn.Module, batch: dict[str, torch.Tensor], stage: str,
                      module: Any = None) -> dict[str, torch.Tensor]:
        positives = batch["inputs"]
        pos_energy = self.energy(network, positives)
        if self._phase == "ae" or stage != "train":
            # AE phase, and NAE-phase validation: held-out energy (no sampling in validation).
            scale = 1.0 if self._phase == "ae" else 1.0 / self.config.temperature
            return {"loss": pos_energy.mean() * scale, "score": pos_energy, "pos_energy": pos_energy.mean().detach()}
        return self._nae_loss(network, positives, pos_energy)

    def _nae_loss(self, network: nn.Module, positives: torch.Tensor,
                  pos_energy: torch.Tensor) -> dict[str, torch.Tensor]:
        config = self.config
        device = positives.device
        if self._rng is None or self._rng.device != device:
            self._rng = self._generator(device, self.config.seed + 1)
        began = time.perf_counter()
        negatives = self.sample(network, len(positives), device, self._rng, self._buffer)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        self._mcmc_seconds += time.perf_counter() - began
        steps = (config.z_steps if config.init == "on_manifold" else 0) + config.x_steps
        self._mcmc_steps += steps
        self._mcmc_sample_steps += steps * len(positives)
        self._last_negatives = negatives.inputs
        neg_energy = self.energy(network, negatives.inputs)
        self._check_chains(negatives, neg_energy)
        temperature = config.temperature
        loss = (pos_energy.mean() - neg_energy.mean()) / temperature
        loss = loss + config.gamma * (pos_energy.square() + neg_energy.square()).mean()
        if config.neg_energy_l2 > 0:
            loss = loss + config.neg_energy_l2 * neg_energy.square().mean()
        if config.weight_l2 > 0:
            loss = loss + config.weight_l2 * sum(p.square().sum() for p in network.parameters())
        parts = {
            "loss": loss,
            "score": pos_energy,
            "pos_energy": pos_energy.mean().detach(),
            "neg_energy": neg_energy.mean().detach(),
            "neg_start_energy": negatives.start_energy.mean().detach(),
        }
        if negatives.latent_start_energy is not None:
            parts["latent_start_energy"] = negatives.latent_start_energy.mean().detach()
        return parts

    def _check_chains(self, negatives: NegativeSamples, neg_energy: torch.Tensor) -> None:
        """Raise TrainingDiverged when the MCMC blew up (NaN / inf samples or huge energies)."""
        config = self.config
        if not bool(torch.isfinite(negatives.inputs).all()):
            bad = int((~torch.isfinite(negatives.inputs.flatten(1))).any(dim=1).sum())
            raise TrainingDiverged(
                f"MCMC diverged: {bad} of {len(negatives.inputs)} negative samples contain NaN or inf "
                f"(x_step_size={config.x_step_size}, z_step_size={config.z_step_size}; lower them, "
                "or set x_grad_clip / keep x_bounds=data)"
            )
        mean_energy = float(neg_energy.mean().detach())
        if not math.isfinite(mean_energy) or mean_energy > config.max_energy:
            raise TrainingDiverged(
                f"MCMC diverged: mean negative-sample energy {mean_energy:.4g} exceeds max_energy="
                f"{config.max_energy:g} (lower x_step_size={config.x_step_size} / z_step_size={config.z_step_size} "
                "or nae_lr)"
            )

    def configure_optimizer(self, network: nn.Module) -> torch.optim.Optimizer:
        config = self.config
        lr = config.nae_lr if self._phase == "nae" else (config.ae_lr or config.lr)
        return torch.optim.Adam(network.parameters(), lr=lr, weight_decay=config.weight_decay)

    def nae_learning_rate(self, epoch: int) -> float:
        """Learning rate of NAE-phase epoch ``epoch`` (from 0) under ``nae_lr_schedule``."""
        config = self.config
        n_epochs = config.n_nae_epochs
        if config.nae_lr_schedule == "constant" or n_epochs <= 1:
            return config.nae_lr
        fraction = min(epoch, n_epochs - 1) / (n_epochs - 1)
        final = config.nae_lr_final_factor
        return config.nae_lr * (final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * fraction)))

    def on_epoch_start(self, module: Any) -> None:
        self._mcmc_seconds = 0.0
        self._mcmc_steps = 0
        self._mcmc_sample_steps = 0
        if module is not None and self._phase == "nae":
            # Set per epoch from the epoch number, so a resumed run continues the same schedule.
            rate = self.nae_learning_rate(int(module.current_epoch))
            for optimizer in module.trainer.optimizers:
                for group in optimizer.param_groups:
                    group["lr"] = rate

    def epoch_diagnostics(self, module: Any) -> dict[str, float]:
        if self._phase != "nae":
            return {}
        # The weights of the last epoch are the ones kept (see the module docstring), or the mean
        # over the last ``average_epochs`` epochs.
        self._last_state = {k: v.detach().cpu().clone() for k, v in module.network.state_dict().items()}
        first_averaged = self.config.n_nae_epochs - max(self.config.average_epochs, 1)
        if int(module.current_epoch) >= first_averaged:
            self._average.add(self._last_state)
        seconds = self._mcmc_seconds
        return {
            # Wall time of the sampling, and Langevin steps per second: batch-wide steps
            # (latent + input chain), and per-sample steps (x batch size).
            "mcmc_seconds": seconds,
            "mcmc_steps_per_second": self._mcmc_steps / seconds if seconds > 0 else 0.0,
            "mcmc_sample_steps_per_second": self._mcmc_sample_steps / seconds if seconds > 0 else 0.0,
            "buffer_fill": float(len(self._buffer)) if self._buffer is not None else 0.0,
            # read back from the optimizer: the rate this epoch actually trained with
            "nae_lr": float(module.trainer.optimizers[0].param_groups[0]["lr"]),
        }

    def checkpoint_state(self) -> dict[str, Any]:
        return {"weight_average": self._average.state()} if self._phase == "nae" else {}

    def load_checkpoint_state(self, state: dict[str, Any]) -> None:
        if "weight_average" in state:
            self._average = WeightAverage.from_state(state["weight_average"])

    def _reset_sampler(self) -> None:
        self._phase = "ae"
        self._rng: torch.Generator | None = None
        self._buffer = ReplayBuffer(self.config.buffer_size) if self.config.buffer_size > 0 else None
        self._last_state: dict[str, torch.Tensor] | None = None
        self._average = WeightAverage()
        self._last_negatives: torch.Tensor | None = None
        self.on_epoch_start(None)

    def _fit(self, train_inputs: np.ndarray, val_inputs: np.ndarray | None, train_mass: np.ndarray | None = None,
             val_mass: np.ndarray | None = None, checkpoint_dir: str | Path | None = None, resume: bool = False,
             **extra: Any) -> None:
        config = self.config
        if val_inputs is None and config.val_fraction > 0:
            train_index, val_index = split_validation(len(train_inputs), config.val_fraction, config.seed)
            val_inputs, train_inputs = train_inputs[val_index], train_inputs[train_index]
            if train_mass is not None:
                val_mass, train_mass = train_mass[val_index], train_mass[train_index]
        self._fit_loss_weights(train_inputs)
        self.input_bounds_ = np.array([train_inputs.min(), train_inputs.max()], dtype=np.float32)
        torch.manual_seed(config.seed)
        self.network_ = self.build_network(self.input_shape_)
        train = {"inputs": train_inputs, "mass": train_mass}
        val = None if val_inputs is None else {"inputs": val_inputs, "mass": val_mass}
        train, val = self.prepare_training_data(train, val, **extra)
        self._reset_sampler()

        ae_dir = nae_dir = None
        if checkpoint_dir is not None:
            ae_dir, nae_dir = Path(checkpoint_dir) / "ae", Path(checkpoint_dir) / "nae"
        nae_resumable = resume and nae_dir is not None and (nae_dir / LAST_CHECKPOINT).exists()
        history: list[dict] = []
        try:
            if config.ae_epochs > 0 and not nae_resumable:
                self._phase = "ae"
                history += self._phase_history(
                    fit_network(self, self.network_, train, val, max_epochs=config.ae_epochs,
                                checkpoint_dir=ae_dir, resume=resume), "ae")
                if ae_dir is not None:
                    (ae_dir / AE_HISTORY_FILE).write_text(json.dumps(history))
            elif nae_resumable and (ae_dir / AE_HISTORY_FILE).exists():
                history += json.loads((ae_dir / AE_HISTORY_FILE).read_text())
            if config.n_nae_epochs > 0:
                self._phase = "nae"
                log.info("NAE phase: %d epochs, %s chains (%d latent + %d input steps per batch)",
                         config.n_nae_epochs, config.init, config.z_steps if config.init == "on_manifold" else 0,
                         config.x_steps)
                ae_config = self.config
                # No early stopping on the contrastive loss (it is no model-selection criterion).
                self.config = dataclasses.replace(ae_config, patience=0)
                # The last good weights if the chains diverge before one NAE epoch is complete.
                ae_state = {k: v.detach().cpu().clone() for k, v in self.network_.state_dict().items()}
                self.history_ = []
                try:
                    nae_history = fit_network(self, self.network_, train, val, max_epochs=config.n_nae_epochs,
                                              checkpoint_dir=nae_dir, resume=nae_resumable)
                except JetaeError as exc:
                    if getattr(self, "history_", None):
                        raise  # the engine restored the best complete NAE epoch
                    self.network_.load_state_dict(ae_state)
                    raise JetaeError(exc.message.replace("no good epoch to restore",
                                                         "restored the weights at the end of the AE phase"),
                                     exc.path) from exc
                finally:
                    self.config = ae_config
                if self._average.count > 1:
                    log.info("NAE phase: keeping the mean weights of its last %d epochs", self._average.count)
                    self.network_.load_state_dict(self._average.mean())
                elif self._last_state is not None:
                    self.network_.load_state_dict(self._last_state)
                history += self._phase_history(nae_history, "nae", first_epoch=len(history))
        except JetaeError:
            self.history_ = history + self._phase_history(getattr(self, "history_", []), self._phase, len(history))
            raise
        self.history_ = history
        self.network_.eval()

    @staticmethod
    def _phase_history(records: list[dict], phase: str, first_epoch: int = 0) -> list[dict]:
        out = []
        for record in records:
            record = dict(record)
            record["phase_epoch"] = record.get("epoch", 0)
            record["epoch"] = first_epoch + int(record.get("epoch", 0))
            record["phase"] = phase
            out.append(record)
        return out

    # ---------------------------------------------------------------- persistence
    def _state_arrays(self) -> dict[str, np.ndarray]:
        arrays = super()._state_arrays()
        arrays["nae.input_bounds"] = np.asarray(self.input_bounds_, dtype=np.float32)
        return arrays

    def _load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.input_bounds_ = pop_array(arrays, "nae.input_bounds", (2,), np.float32)
        super()._load_state_arrays(arrays)
        self._reset_sampler()

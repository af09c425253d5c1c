"""The normalized autoencoder (NAE): an autoencoder trained as an energy-based model.

A plain autoencoder reconstructs *simple* inputs well whatever it was trained on, so an
AE trained on top jets does not flag QCD jets (Finke et al., arXiv:2104.09051). The NAE
(Yoon, Noh, Park, arXiv:2105.05735; for jets Dillon, Favaro, Plehn, Sorrenson, Kraemer,
arXiv:2206.14225) reads the reconstruction error as an energy ``E(x)`` of a normalised
density ``p(x) = exp(-E(x) / T) / Z`` and trains it by maximum likelihood:

    loss = E(x_data) / T - E(x_neg) / T + gamma * (E(x_data)^2 + E(x_neg)^2) + ...

with negative samples ``x_neg`` drawn from the model by Langevin Monte Carlo
(:mod:`jetae.models.nae.sampler`). Whatever the model reconstructs well but is not in the
data (empty or simple jets for a top-trained model) is found by the sampler and has its
energy pushed up.

Training runs two phases in one ``fit``, both through the shared engine (:meth:`training_phases`):

1. ``ae``: plain autoencoder pretraining (``ae_epochs``, ``ae_lr``, early stopping on the
   validation reconstruction error, best epoch restored);
2. ``nae``: maximum likelihood (``nae_epochs`` or the trainer's ``epochs``, ``nae_lr``, no early
   stopping); the weights of the *last* epoch are kept (or, with ``average_epochs``, their mean
   over the last epochs), because the contrastive loss is lowest exactly when the sampler fails
   to find low-energy regions, so it cannot select a model.

Units: everything the network and the sampler see is in *scaled* input units (the
fitted :class:`~jetae.models.scaling.FeatureScaler`; ``global`` by default, which keeps
empty pixels at zero). Energies are mean squared errors per input element in those units.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.optim.swa_utils import AveragedModel

from jetae.errors import JetaeError
from jetae.models.autoencoders import AutoencoderConfig, build_decoder, build_encoder
from jetae.models.nae.diagnostics import MCMCStats, check_chains
from jetae.models.nae.sampler import INITS, Chain, LangevinSampler, NegativeSamples, ReplayBuffer, chain_description
from jetae.models.persistence import pop_array
from jetae.models.registry import register
from jetae.models.torch_base import TorchDetector, TrainingPhase
from jetae.train.config import TrainerConfig
from jetae.train.device import resolve_accelerator, torch_device
from jetae.train.engine import FitResult

log = logging.getLogger(__name__)

LR_SCHEDULES = ("constant", "cosine")
X_BOUNDS = ("data", "none")


def _nae_image() -> dict:
    """20x20 jet images of the usual 1.16 x 1.40 (eta x phi) extent: a quarter of the pixels to sample."""
    return {"kind": "image", "n_pixels": 20, "pixel_eta": 0.058, "pixel_phi": 0.07}


@dataclass
class NAEConfig(AutoencoderConfig):
    """Options of the normalized autoencoder (architecture options as for ``conv_ae``).

    The defaults are the setting tuned with ``bench/bench_nae.py`` on 10k training jets
    (docs/nae.md, "Benchmark"): 20x20 images, a linear output layer, 20 AE epochs, then 8 NAE
    epochs (the trainer's ``epochs``) of batch 128 with ``nae_lr = 1e-3`` decayed along a cosine,
    ``gamma = 0.1``; 20 + 20 Langevin steps per batch. The architecture is the "QCD or What?"
    net's (3x3 kernels, ReLU), with a 3-dimensional spherical code.
    """

    representation: dict = field(default_factory=_nae_image)
    scaler: str = "global"
    architecture: str = "conv"
    #: The jets NAE reference uses a 3-dimensional (spherical) code.
    latent_dim: int = 3
    #: A linear output layer: with softplus both the NAE and a plain AE got stuck at the mean image.
    output_activation: str = "none"
    # ---------------------------------------------------------------- phases
    #: Plain-AE pretraining epochs (0 = start the NAE phase from random weights).
    ae_epochs: int = 20
    #: Learning rate of the AE phase (None: the trainer's ``lr``).
    ae_lr: float | None = None
    #: Maximum-likelihood epochs (None: the trainer's ``epochs``).
    nae_epochs: int | None = None
    #: Learning rate of the NAE phase (the reference uses 1e-5 with batches of 2048; tuned here: 1e-3
    #: with batches of 128 and the cosine decay).
    nae_lr: float = 1e-3
    #: NAE-phase learning-rate schedule over its epochs: ``constant``, or ``cosine`` from ``nae_lr``
    #: in the first epoch down to ``nae_lr * nae_lr_final_factor`` in the last. At large ``nae_lr``
    #: the likelihood phase swings from epoch to epoch (the test AUC with it); the decay settles it.
    nae_lr_schedule: str = "cosine"
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
    gamma: float = 0.1
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
    # ---------------------------------------------------------------- data
    #: Train on at most the first this many jets (0 = all). The tuned setting was measured on 10 000
    #: jets, which take 20-27 min on one CPU thread; the Langevin chains make every further 10 000
    #: jets cost as much again (a 50 000-jet file: about 2 h, extrapolated), for a gain that was not measured.
    max_train_jets: int = 10_000

    def __post_init__(self) -> None:
        super().__post_init__()
        nonnegative = (
            "ae_epochs",
            "x_steps",
            "z_steps",
            "x_noise",
            "z_noise",
            "x_grad_clip",
            "z_grad_clip",
            "gamma",
            "neg_energy_l2",
            "weight_l2",
            "buffer_size",
            "x_step_size",
            "z_step_size",
            "average_epochs",
            "max_train_jets",
        )
        checks = [(getattr(self, name) >= 0, f"{name} must be >= 0") for name in nonnegative]
        checks += [
            (self.nae_epochs is None or self.nae_epochs >= 0, "nae_epochs must be >= 0"),
            (self.ae_lr is None or self.ae_lr > 0, "ae_lr must be > 0"),
            (self.nae_lr > 0, "nae_lr must be > 0"),
            (self.nae_lr_schedule in LR_SCHEDULES, f"nae_lr_schedule must be one of {', '.join(LR_SCHEDULES)}"),
            (0 < self.nae_lr_final_factor <= 1, "nae_lr_final_factor must be in (0, 1]"),
            (
                self.temperature > 0 and (self.x_temperature or 1) > 0 and (self.z_temperature or 1) > 0,
                "temperatures must be > 0",
            ),
            (self.init in INITS, f"init must be one of {', '.join(INITS)}"),
            (self.x_bounds in X_BOUNDS, f"x_bounds must be one of {', '.join(X_BOUNDS)}"),
            (0 <= self.replay_fraction <= 1, "replay_fraction must be in [0, 1]"),
            (self.max_energy > 0, "max_energy must be > 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise JetaeError(f"invalid option: {message}")


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


def spectral_normalise(module: nn.Module) -> None:
    """Spectral normalisation (a parametrisation) of every conv / linear layer of ``module``, in place."""
    for child in list(module.modules()):
        if isinstance(child, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.utils.parametrizations.spectral_norm(child)


class WeightAverage:
    """Running mean of a network's weights (stochastic weight averaging), kept on the CPU.

    A thin layer over ``torch.optim.swa_utils.AveragedModel``: parameters and floating-point
    buffers (e.g. spectral-norm vectors) are averaged; its state is a dict of tensors, so it
    goes into a checkpoint that is read back with ``weights_only=True``.
    """

    def __init__(self, network: nn.Module):
        self.model = AveragedModel(network, device=torch.device("cpu"), use_buffers=True)

    @property
    def count(self) -> int:
        """How many weight sets were averaged."""
        return int(self.model.n_averaged)

    def add(self, network: nn.Module) -> None:
        """Add the current weights of ``network`` (a network of the same structure, on any device)."""
        self.model.update_parameters(network)

    def mean(self) -> dict[str, torch.Tensor]:
        """The averaged weights, as a state dict of the network."""
        return self.model.module.state_dict()

    def state(self) -> dict[str, torch.Tensor]:
        return self.model.state_dict()

    def load_state(self, state: dict[str, torch.Tensor]) -> None:
        self.model.load_state_dict(state)


# ==================================================================== detector
@register("nae", NAEConfig, "normalized autoencoder: reconstruction error as energy, Langevin MCMC likelihood training")
class NormalizedAutoencoder(TorchDetector):
    """Normalized autoencoder (see the module docstring); score ``reconstruction`` = the energy.

    Fitted state besides the network: ``input_bounds_`` ``[min, max]`` of the scaled training
    inputs (the sampler's box). Transient training state (private): the phase being trained, the
    sampler's generator and replay buffer, the weight average, the MCMC statistics.
    """

    config_cls = NAEConfig
    score_names = ("reconstruction",)
    #: NAE-phase epochs when ``nae_epochs`` is not set (so ``--epochs`` works as elsewhere); batch
    #: size and AE-phase early stopping of the tuned setting.
    trainer_defaults = {"epochs": 8, "batch_size": 128, "patience": 3}

    def select_training_jets(self, train: Any) -> Any:
        """The first ``max_train_jets`` jets of ``train`` (all if 0), with a warning when it cuts."""
        limit = self.config.max_train_jets
        if limit and len(train) > limit:
            log.warning(
                "nae: training on the first %d of %d jets (max_train_jets, the tuned setting: every 10 000 jets "
                "cost ~20-27 min on one CPU thread); --set max_train_jets=0 uses all",
                limit,
                len(train),
            )
            return train[:limit]
        return train

    # ---------------------------------------------------------------- network and energy
    def build_network(self, input_shape: tuple[int, ...]) -> nn.Module:
        config = self.config
        network = SphericalAutoencoder(
            build_encoder(config, input_shape, config.latent_dim), build_decoder(config, input_shape), config.spherical
        )
        if config.spherical and config.latent_dim < 2:
            raise JetaeError("invalid option: a spherical code needs latent_dim >= 2")
        if config.spherical and config.input_dropout + config.latent_dropout > 0:
            log.warning("dropout makes the NAE energy random; it is usually left off")
        if config.spectral_norm:
            spectral_normalise(network)
        return network

    def energy(self, network: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
        """``(n,)`` energy = reconstruction error per input element (scaled units)."""
        return self.reconstruction_error(inputs, network(inputs)["reconstruction"])

    # ---------------------------------------------------------------- sampler
    def langevin_sampler(self) -> LangevinSampler:
        """The configured chains for this fitted input space (see :mod:`jetae.models.nae.sampler`)."""
        config = self.config
        low, high = (float(bound) for bound in self.input_bounds_)
        return LangevinSampler(
            init=config.init,
            x_chain=Chain(
                config.x_steps,
                config.x_step_size,
                config.x_noise,
                config.x_temperature or config.temperature,
                config.x_grad_clip,
            ),
            z_chain=Chain(
                config.z_steps,
                config.z_step_size,
                config.z_noise,
                config.z_temperature or config.temperature,
                config.z_grad_clip,
            ),
            latent_dim=config.latent_dim,
            input_shape=tuple(self.input_shape_),
            input_range=(low, high),
            clip_inputs=config.x_bounds == "data",
            replay_fraction=config.replay_fraction,
        )

    def sample(
        self,
        network: nn.Module,
        n: int,
        device: torch.device,
        generator: torch.Generator | None = None,
        buffer: ReplayBuffer | None = None,
    ) -> NegativeSamples:
        """Draw ``n`` negative samples (scaled input units) with the configured chains."""
        return self.langevin_sampler().sample(network, self.energy, n, device, generator, buffer)

    def sample_negatives(self, n: int, seed: int | None = None, batch_size: int | None = None) -> np.ndarray:
        """``n`` samples of the fitted model's sampler, in representation units.

        For images: ``(n, 1, n_pixels, n_pixels)`` pixel intensities (unit-sum units when
        the representation normalises). Seeded (default: the config seed), no replay
        buffer, ``batch_size`` chains at a time (default: the trainer's). Shows what the model
        believes is likely (negative samples).
        """
        self._check_fitted()
        if n < 1:
            raise JetaeError(f"sample_negatives needs n >= 1, got {n}")
        device = torch_device(resolve_accelerator(self.trainer_config.device))
        network = self.network_.to(device).eval()
        generator = _generator(device, self.config.seed if seed is None else seed)
        batch_size = batch_size or self.trainer_config.batch_size
        chunks = []
        for start in range(0, n, batch_size):
            samples = self.sample(network, min(batch_size, n - start), device, generator)
            chunks.append(samples.inputs.cpu().numpy())
        return self.scaler_.inverse_transform(np.concatenate(chunks))

    def sampler_description(self) -> str:
        config = self.config
        return chain_description(config.init, config.z_steps, config.x_steps)

    # ---------------------------------------------------------------- training phases
    def nae_phase_epochs(self) -> int:
        """Epochs of the likelihood phase: ``nae_epochs``, else the trainer's ``epochs``."""
        return self.trainer_config.epochs if self.config.nae_epochs is None else self.config.nae_epochs

    def training_phases(self) -> list[TrainingPhase]:
        config, trainer = self.config, self.trainer_config
        if trainer.precision == "auto" and resolve_accelerator(trainer.device) == "cpu":
            # The tuned defaults were measured in fp32 on the CPU (the MCMC runs in fp32 anyway): keep it.
            trainer = dataclasses.replace(trainer, precision="32-true")
        phases = []
        if config.ae_epochs > 0:
            phases.append(
                TrainingPhase(
                    "ae", dataclasses.replace(trainer, epochs=config.ae_epochs, lr=config.ae_lr or trainer.lr)
                )
            )
        if self.nae_phase_epochs() > 0:
            # No early stopping on the contrastive loss (it is no model-selection criterion); keep the last epoch.
            # The NAE phase has its own schedule (nae_lr_schedule, per epoch), not the trainer's.
            phases.append(
                TrainingPhase(
                    "nae",
                    dataclasses.replace(
                        trainer, epochs=self.nae_phase_epochs(), lr=config.nae_lr, patience=0, lr_schedule="constant"
                    ),
                    keep="last",
                )
            )
        return phases

    def prepare_fit(self, train_inputs: np.ndarray) -> None:
        self.input_bounds_ = np.array([train_inputs.min(), train_inputs.max()], dtype=np.float32)
        self._reset_sampler()

    def start_phase(self, phase: TrainingPhase) -> None:
        self._phase = phase.name
        if phase.name == "nae":
            self._average = WeightAverage(self.network_)
            sampler = self.langevin_sampler()
            log.info(
                "NAE phase: %d epochs, %s chains (%d latent + %d input steps per batch)",
                phase.config.epochs,
                sampler.init,
                sampler.steps_per_batch - sampler.x_chain.steps,
                sampler.x_chain.steps,
            )

    def end_phase(self, phase: TrainingPhase, result: FitResult) -> None:
        if phase.name == "nae" and self._average is not None and self._average.count > 1:
            log.info("NAE phase: keeping the mean weights of its last %d epochs", self._average.count)
            self.network_.load_state_dict(self._average.mean())

    def _reset_sampler(self) -> None:
        """Fresh transient training state: AE phase, no generator yet, an empty buffer and average."""
        self._phase = "ae"
        self._rng: torch.Generator | None = None
        self._rng_state: tuple[str, torch.Tensor] | None = None  # from a checkpoint, until _rng exists
        self._buffer = ReplayBuffer(self.config.buffer_size) if self.config.buffer_size > 0 else None
        self._average: WeightAverage | None = None  # made for the NAE phase's network
        self._last_negatives: torch.Tensor | None = None
        self._mcmc = MCMCStats()

    # ---------------------------------------------------------------- the engine's hooks
    def training_loss(
        self, network: nn.Module, batch: dict[str, torch.Tensor], stage: str, module: Any = None
    ) -> dict[str, torch.Tensor]:
        positives = batch["inputs"]
        pos_energy = self.energy(network, positives)
        if self._phase == "ae" or stage != "train":
            # AE phase, and NAE-phase validation: held-out energy (no sampling in validation).
            scale = 1.0 if self._phase == "ae" else 1.0 / self.config.temperature
            return {"loss": pos_energy.mean() * scale, "score": pos_energy, "pos_energy": pos_energy.mean().detach()}
        return self._nae_loss(network, positives, pos_energy)

    def _nae_loss(
        self, network: nn.Module, positives: torch.Tensor, pos_energy: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        config = self.config
        device = positives.device
        if self._rng is None or self._rng.device != device:
            self._rng = _generator(device, self.config.seed + 1)
            if self._rng_state is not None:  # resumed: the chains go on where the checkpoint left them
                if self._rng_state[0] == str(device):
                    self._rng.set_state(self._rng_state[1])
                else:
                    log.warning(
                        "resumed on %s after %s: the MCMC chains restart from the seed", device, self._rng_state[0]
                    )
                self._rng_state = None
        sampler = self.langevin_sampler()
        with self._mcmc.timer(device):
            negatives = sampler.sample(network, self.energy, len(positives), device, self._rng, self._buffer)
        self._mcmc.add_steps(sampler.steps_per_batch, len(positives))
        self._last_negatives = negatives.inputs
        neg_energy = self.energy(network, negatives.inputs)
        check_chains(negatives, neg_energy, config.max_energy, config.x_step_size, config.z_step_size)
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

    def configure_scheduler(
        self, optimizer: torch.optim.Optimizer, config: TrainerConfig
    ) -> torch.optim.lr_scheduler.LRScheduler | None:
        """``nae_lr_schedule=cosine``: from ``nae_lr`` in the NAE phase's first epoch down to
        ``nae_lr * nae_lr_final_factor`` in its last (stepped per epoch by the engine)."""
        n_epochs = self.nae_phase_epochs()
        if self._phase != "nae" or self.config.nae_lr_schedule == "constant" or n_epochs <= 1:
            return None
        return torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=n_epochs - 1, eta_min=self.config.nae_lr * self.config.nae_lr_final_factor
        )

    def on_epoch_start(self, module: Any) -> None:
        self._mcmc = MCMCStats()

    def epoch_diagnostics(self, module: Any) -> dict[str, float]:
        if self._phase != "nae":
            return {}
        # The weights of the last epoch are the ones kept (see the module docstring), or the mean
        # over the last ``average_epochs`` epochs.
        first_averaged = self.nae_phase_epochs() - max(self.config.average_epochs, 1)
        if int(module.current_epoch) >= first_averaged:
            self._average.add(module.network)
        return {
            **self._mcmc.record(),
            "buffer_fill": float(len(self._buffer)) if self._buffer is not None else 0.0,
            # read back from the optimizer: the rate this epoch actually trained with
            "nae_lr": module.learning_rate,
        }

    def checkpoint_state(self) -> dict[str, Any]:
        """The NAE phase's weight average, sampler generator and replay buffer (a resumed fit continues them)."""
        if self._phase != "nae":
            return {}
        state: dict[str, Any] = {"weight_average": self._average.state()}
        if self._rng is not None:
            state["rng"] = {"device": str(self._rng.device), "state": self._rng.get_state()}
        if self._buffer is not None and self._buffer.data is not None:
            state["buffer"] = self._buffer.state()
        return state

    def load_checkpoint_state(self, state: dict[str, Any]) -> None:
        if "weight_average" in state:
            self._average.load_state(state["weight_average"])
        if "rng" in state:
            self._rng, self._rng_state = None, (state["rng"]["device"], state["rng"]["state"])
        if "buffer" in state and self._buffer is not None:
            self._buffer.load_state(state["buffer"])

    # ---------------------------------------------------------------- persistence
    def _state_arrays(self) -> dict[str, np.ndarray]:
        arrays = super()._state_arrays()
        arrays["nae.input_bounds"] = np.asarray(self.input_bounds_, dtype=np.float32)
        return arrays

    def _load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.input_bounds_ = pop_array(arrays, "nae.input_bounds", (2,), np.float32)
        super()._load_state_arrays(arrays)
        self._reset_sampler()


def _generator(device: torch.device, seed: int) -> torch.Generator:
    """A torch generator on ``device`` seeded with ``seed``."""
    return torch.Generator(device=device).manual_seed(int(seed))

"""Shared machinery of the neural detectors: training config, fit, score, persistence."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from jetae.errors import JetaeError
from jetae.models.base import Detector, DetectorConfig, layout_differences, pop_array
from jetae.train.engine import fit_network, run_batched

log = logging.getLogger(__name__)

RECONSTRUCTION_LOSSES = ("mse", "mae")
LOSS_WEIGHTINGS = ("none", "inverse_variance")


@dataclass
class TorchDetectorConfig(DetectorConfig):
    """Training options shared by every torch detector."""

    epochs: int = 30
    batch_size: int = 256
    eval_batch_size: int = 4096
    lr: float = 1e-3
    weight_decay: float = 0.0
    #: Fraction of the training jets held out for validation when no validation set is given.
    val_fraction: float = 0.1
    #: Early stopping: epochs without improvement of the monitored loss (0 = off).
    patience: int = 5
    min_delta: float = 0.0
    gradient_clip: float = 0.0
    #: ``auto`` (CUDA, else MPS, else CPU), ``cpu``, ``cuda`` or ``mps``.
    device: str = "auto"
    #: Lightning precision; ``auto`` = bf16 autocast on GPU, fp32 on CPU.
    precision: str = "auto"
    #: Devices per node and nodes; more than one uses Lightning's DDP strategy.
    devices: int = 1
    num_nodes: int = 1
    strategy: str = "auto"
    #: Show a progress bar (default: when stderr is a terminal).
    progress: bool | None = None
    #: Reconstruction loss: ``mse`` or ``mae``, averaged over input elements.
    loss: str = "mse"
    #: Per-pixel / per-feature loss weights: ``none`` or ``inverse_variance`` (fitted on training inputs).
    loss_weights: str = "none"
    #: DisCo: weight of the distance correlation between anomaly score and jet mass (0 = off).
    disco_lambda: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        checks = [
            (self.epochs >= 1, "epochs must be >= 1"),
            (self.batch_size >= 1 and self.eval_batch_size >= 1, "batch sizes must be >= 1"),
            (self.lr > 0, "lr must be > 0"),
            (self.weight_decay >= 0, "weight_decay must be >= 0"),
            (0 <= self.val_fraction < 1, "val_fraction must be in [0, 1)"),
            (self.patience >= 0, "patience must be >= 0"),
            (self.devices >= 1 and self.num_nodes >= 1, "devices and num_nodes must be >= 1"),
            (self.loss in RECONSTRUCTION_LOSSES, f"loss must be one of {', '.join(RECONSTRUCTION_LOSSES)}"),
            (self.loss_weights in LOSS_WEIGHTINGS, f"loss_weights must be one of {', '.join(LOSS_WEIGHTINGS)}"),
            (self.disco_lambda >= 0, "disco_lambda must be >= 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise JetaeError(f"invalid option: {message}")


def split_validation(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded random split of ``range(n)`` into (train, validation) index arrays.

    The validation part is empty when ``n * fraction`` rounds to zero.
    """
    if n < 1:
        raise JetaeError("no training samples")
    order = np.random.default_rng(seed).permutation(n)
    n_val = int(round(n * fraction))
    if n - n_val < 1:
        raise JetaeError(f"training set of {n} jets is too small to hold out a validation fraction of {fraction}")
    return np.sort(order[n_val:]), np.sort(order[:n_val])


class TorchDetector(Detector):
    """A detector with a torch network trained by :func:`jetae.train.engine.fit_network`.

    Subclasses implement :meth:`build_network` and, when they differ from a plain
    autoencoder, :meth:`training_loss` and :meth:`score_batch`.
    """

    config_cls = TorchDetectorConfig

    # ---------------------------------------------------------------- hooks
    def build_network(self, input_shape: tuple[int, ...]) -> nn.Module:
        raise NotImplementedError

    def reconstruction_error(self, inputs: torch.Tensor, reconstruction: torch.Tensor) -> torch.Tensor:
        """``(n,)`` mean squared (or absolute) error per jet, with optional fitted weights."""
        diff = (reconstruction.float() - inputs.float()).flatten(1)
        per_element = diff.abs() if self.config.loss == "mae" else diff.square()
        weights = getattr(self, "_loss_weights_tensor", None)
        if weights is not None:
            per_element = per_element * weights.to(per_element.device)
        return per_element.mean(dim=1)

    def training_loss(self, network: nn.Module, batch: dict[str, torch.Tensor], stage: str,
                      module: Any = None) -> dict[str, torch.Tensor]:
        """Loss terms for one batch: ``loss`` (scalar) and the per-jet ``score`` (for DisCo)."""
        outputs = network(batch["inputs"])
        error = self.reconstruction_error(batch["inputs"], outputs["reconstruction"])
        return {"loss": error.mean(), "score": error}

    def score_batch(self, network: nn.Module, inputs: torch.Tensor, score: str) -> torch.Tensor:
        """``(n,)`` anomaly score of one batch (network in eval mode, no grad)."""
        return self.reconstruction_error(inputs, network(inputs)["reconstruction"])

    def configure_optimizer(self, network: nn.Module) -> torch.optim.Optimizer:
        return torch.optim.Adam(network.parameters(), lr=self.config.lr, weight_decay=self.config.weight_decay)

    def on_epoch_start(self, module: Any) -> None:
        """Called at the start of every training epoch (schedules, warm-ups)."""

    def epoch_diagnostics(self, module: Any) -> dict[str, float]:
        """Extra numbers recorded in the loss history each epoch."""
        return {}

    def checkpoint_state(self) -> dict[str, Any]:
        """Training state of the model's own (beyond weights and optimizer) kept in the per-epoch
        checkpoint, so a resumed run continues it (tensors and plain Python values only)."""
        return {}

    def load_checkpoint_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`checkpoint_state` returned."""

    # ---------------------------------------------------------------- fit / score
    def _fit(self, train_inputs: np.ndarray, val_inputs: np.ndarray | None, train_mass: np.ndarray | None = None,
             val_mass: np.ndarray | None = None, checkpoint_dir: str | Path | None = None, resume: bool = False,
             max_epochs: int | None = None, callbacks: list | None = None, **extra: Any) -> None:
        if val_inputs is None and self.config.val_fraction > 0:
            train_index, val_index = split_validation(len(train_inputs), self.config.val_fraction, self.config.seed)
            if len(val_index) == 0:
                log.warning("only %d training samples: no validation split (val_fraction=%g); early stopping "
                            "and the best epoch use the training loss", len(train_inputs), self.config.val_fraction)
            else:
                val_inputs = train_inputs[val_index]
                val_mass = None if train_mass is None else train_mass[val_index]
                train_inputs = train_inputs[train_index]
                train_mass = None if train_mass is None else train_mass[train_index]
        self._fit_loss_weights(train_inputs)
        torch.manual_seed(self.config.seed)
        self.network_ = self.build_network(self.input_shape_)
        train = {"inputs": train_inputs, "mass": train_mass}
        val = None if val_inputs is None else {"inputs": val_inputs, "mass": val_mass}
        train, val = self.prepare_training_data(train, val, **extra)
        self.history_ = fit_network(self, self.network_, train, val, max_epochs=max_epochs,
                                    checkpoint_dir=checkpoint_dir, resume=resume, callbacks=callbacks)
        self.network_.eval()

    def prepare_training_data(self, train: dict, val: dict | None, **extra: Any) -> tuple[dict, dict | None]:
        """Add detector-specific arrays to the training batches (e.g. outlier flags)."""
        if extra:
            raise JetaeError(f"model {self.name!r} does not take fit options {', '.join(sorted(extra))}")
        return train, val

    def _fit_loss_weights(self, train_inputs: np.ndarray) -> None:
        if self.config.loss_weights == "inverse_variance":
            variance = train_inputs.reshape(len(train_inputs), -1).var(axis=0)
            weights = 1.0 / np.maximum(variance, 1e-3 * variance.max() + 1e-12)
            self.loss_weights_ = (weights / weights.mean()).astype(np.float32)
        else:
            self.loss_weights_ = None
        self._loss_weights_tensor = None if self.loss_weights_ is None else torch.from_numpy(self.loss_weights_)

    def _run(self, inputs: np.ndarray, function) -> np.ndarray:
        return run_batched(self.network_, inputs, function, self.config.eval_batch_size, self.config.device,
                           self.config.precision)

    def _score(self, inputs: np.ndarray, score: str) -> np.ndarray:
        return self._run(inputs, lambda network, batch: self.score_batch(network, batch, score))

    def _reconstruct(self, inputs: np.ndarray) -> np.ndarray:
        return self._run(inputs, lambda network, batch: network(batch)["reconstruction"])

    def _encode(self, inputs: np.ndarray) -> np.ndarray:
        return self._run(inputs, lambda network, batch: network(batch)["latent"])

    # ---------------------------------------------------------------- persistence
    def _state_arrays(self) -> dict[str, np.ndarray]:
        arrays = {f"network.{k}": v.detach().cpu().numpy() for k, v in self.network_.state_dict().items()}
        if getattr(self, "loss_weights_", None) is not None:
            arrays["loss_weights"] = self.loss_weights_
        return arrays

    def _load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Take the network weights (and fitted loss weights) out of ``arrays``; ValueError if they are not
        exactly the tensors of :meth:`build_network` for this config (nothing is converted quietly)."""
        self.loss_weights_ = None
        if self.config.loss_weights == "inverse_variance":
            self.loss_weights_ = pop_array(arrays, "loss_weights", (int(np.prod(self.input_shape_)),), np.float32)
        self._loss_weights_tensor = None if self.loss_weights_ is None else torch.from_numpy(self.loss_weights_)
        network_state = {k: arrays.pop(k) for k in [k for k in arrays if k.startswith("network.")]}
        self.network_ = self.build_network(self.input_shape_)
        expected = {f"network.{k}": v for k, v in self.network_.state_dict().items()}
        problems = layout_differences(network_state, expected)
        if problems:
            raise ValueError("; ".join(problems))
        self.network_.load_state_dict({k[len("network."):]: torch.from_numpy(v) for k, v in network_state.items()},
                                      strict=True)
        self.network_.eval()

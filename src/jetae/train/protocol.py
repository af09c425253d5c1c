"""What the training engine trains: the :class:`Trainable` contract (the engine never imports models).

A trainable supplies the loss of a batch and, optionally, an optimiser, a per-epoch learning-rate
schedule (a torch ``LRScheduler``), hooks run at every epoch and training state to keep in
checkpoints. The engine supplies everything else (batching, validation, early stopping, best
weights, checkpoints, devices, DDP).
``jetae.models.torch_base.TorchDetector`` implements it for every torch detector.

Hooks receive ``module``: the engine's LightningModule (``jetae.train.module.TrainingModule``).
A trainable may read its ``current_epoch`` (from 0), ``max_epochs``, ``network`` and
``learning_rate`` (of the epoch being trained), nothing else.
"""

from __future__ import annotations

import abc
from typing import Any

import torch
from torch import nn

from jetae.train.config import TrainerConfig


class TrainingDiverged(RuntimeError):
    """Raise inside a training step when the loss (or an MCMC energy) stops being finite.

    The engine stops, restores the best weights so far and reports a :class:`JetaeError`.
    """


class Trainable(abc.ABC):
    """The contract between a model and :func:`jetae.train.engine.fit_network`."""

    @abc.abstractmethod
    def training_step(
        self, network: nn.Module, batch: dict[str, torch.Tensor], stage: str, module: Any
    ) -> dict[str, torch.Tensor]:
        """Loss terms of one batch (``stage`` is ``"train"`` or ``"val"``).

        ``batch`` maps names to tensors with the jet axis first (``inputs`` and whatever the
        training data held). Returns ``{"loss": scalar to minimise (train) / to monitor (val),
        ...}``; every other scalar is averaged per jet into the history as ``<stage>_<name>``,
        non-scalar entries are ignored.
        """

    def configure_optimizer(self, network: nn.Module, config: TrainerConfig) -> torch.optim.Optimizer:
        """The optimiser; default Adam with the trainer's ``lr`` and ``weight_decay``."""
        return torch.optim.Adam(network.parameters(), lr=config.lr, weight_decay=config.weight_decay)

    def configure_scheduler(
        self, optimizer: torch.optim.Optimizer, config: TrainerConfig
    ) -> torch.optim.lr_scheduler.LRScheduler | None:
        """A learning-rate schedule stepped once at the end of every epoch (kept in checkpoints), or None."""
        return None

    def on_epoch_start(self, module: Any) -> None:  # noqa: B027 (an optional hook: no-op unless overridden)
        """Called at the start of every training epoch (warm-ups, counters)."""

    def epoch_diagnostics(self, module: Any) -> dict[str, float]:
        """Extra numbers recorded in the history at the end of every epoch (after validation)."""
        return {}

    def checkpoint_state(self) -> dict[str, Any]:
        """Training state of the trainable's own kept in every checkpoint, so a resumed run continues
        it (tensors and plain Python values only: checkpoints are read with ``weights_only=True``)."""
        return {}

    def load_checkpoint_state(self, state: dict[str, Any]) -> None:  # noqa: B027 (optional hook)
        """Restore what :meth:`checkpoint_state` returned."""

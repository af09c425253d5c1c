"""How a network is trained (:class:`TrainerConfig`), kept apart from what is trained (a model's config).

The split, and why each option sits where it does, is written down in docs/models.md
("Model options and trainer options"). In short: the model's config says *what* is learned
(inputs, network, loss, seed); the trainer config says *how* the optimisation runs (epochs,
batches, optimiser, early stopping, validation split) and *where* (device, precision, DDP,
progress bar). Both are saved with a model, in their own sections of ``config.json``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from jetae.errors import JetaeError

#: Field metadata of a trainer option that cannot change what is learned (only where or how visibly
#: it runs): such an option may differ when an interrupted run is resumed.
RESULT_NEUTRAL = {"changes_result": False}

#: Values of :attr:`TrainerConfig.lr_schedule`.
LR_SCHEDULES = ("constant", "cosine")


@dataclass
class TrainerConfig:
    """Options of the training loop shared by every torch detector (``jetae models --options MODEL``)."""

    #: Maximum number of epochs (early stopping may end training before).
    epochs: int = 30
    #: Jets per optimiser step (per process under DDP).
    batch_size: int = 256
    #: Jets per batch of the no-grad passes: validation losses (DisCo is computed per batch), scoring.
    eval_batch_size: int = 4096
    #: Adam learning rate and weight decay.
    lr: float = 1e-3
    weight_decay: float = 0.0
    #: Learning rate over the optimiser steps: ``constant``, or ``cosine`` decay from ``lr`` at the
    #: first step to 0 after the last step of the last epoch (per step; early stopping may end sooner).
    lr_schedule: str = "constant"
    #: Fraction of the training jets held out for validation when no validation set is given.
    val_fraction: float = 0.1
    #: Early stopping: epochs without improvement of the monitored loss by more than min_delta (0 = off).
    patience: int = 5
    min_delta: float = 0.0
    #: Clip the gradient norm of every step to this value (0 = off).
    gradient_clip: float = 0.0
    #: ``auto`` (CUDA, else MPS, else CPU), ``cpu``, ``cuda`` or ``mps``.
    device: str = field(default="auto", metadata=RESULT_NEUTRAL)
    #: Lightning precision (``32-true``, ``bf16-mixed``, ...). ``auto``: bf16 autocast on a GPU; on the
    #: CPU bf16 autocast for training convolutional networks where the CPU has bf16 instructions
    #: (AVX512-BF16 / AMX), fp32 otherwise and for scoring (``jetae.train.device.resolve_precision``).
    precision: str = "auto"
    #: Devices per node and nodes; more than one uses Lightning's DDP strategy.
    devices: int = 1
    num_nodes: int = 1
    strategy: str = "auto"
    #: Show a progress bar (default: when stderr is a terminal).
    progress: bool | None = field(default=None, metadata=RESULT_NEUTRAL)

    def __post_init__(self) -> None:
        checks = [
            (self.epochs >= 1, "epochs must be >= 1"),
            (self.batch_size >= 1 and self.eval_batch_size >= 1, "batch sizes must be >= 1"),
            (self.lr > 0, "lr must be > 0"),
            (self.weight_decay >= 0, "weight_decay must be >= 0"),
            (self.lr_schedule in LR_SCHEDULES, f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}"),
            (0 <= self.val_fraction < 1, "val_fraction must be in [0, 1)"),
            (self.patience >= 0, "patience must be >= 0"),
            (self.devices >= 1 and self.num_nodes >= 1, "devices and num_nodes must be >= 1"),
        ]
        for ok, message in checks:
            if not ok:
                raise JetaeError(f"invalid option: {message}")


def result_neutral_options() -> tuple[str, ...]:
    """Trainer options that do not change what is learned (``device``, ``progress``).

    Everything else does, including some that look technical: ``precision`` changes the
    arithmetic, ``devices`` / ``num_nodes`` the effective batch size and the data order (each DDP
    process takes ``batch_size`` jets per step), ``eval_batch_size`` the validation DisCo term.
    """
    return tuple(f.name for f in dataclasses.fields(TrainerConfig) if f.metadata.get("changes_result") is False)

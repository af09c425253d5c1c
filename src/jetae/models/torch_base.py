"""Shared machinery of the neural detectors: loss, DisCo, training phases, scoring, persistence.

A torch detector is a :class:`~jetae.models.base.Detector` and a
:class:`~jetae.train.protocol.Trainable`: ``fit`` prepares the data and the network, then runs
its training phases (one by default; the NAE has two) through the engine
(:func:`jetae.train.engine.fit_network`) under its :class:`~jetae.train.config.TrainerConfig`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from jetae.errors import JetaeError
from jetae.models.base import Detector, DetectorConfig
from jetae.models.persistence import layout_differences, pop_array
from jetae.train.config import TrainerConfig
from jetae.train.data import split_validation
from jetae.train.disco import distance_correlation
from jetae.train.engine import LAST_CHECKPOINT, FitResult, TrainingFailed, fit_network
from jetae.train.inference import run_batched
from jetae.train.protocol import Trainable

log = logging.getLogger(__name__)

RECONSTRUCTION_LOSSES = ("mse", "mae")
LOSS_WEIGHTINGS = ("none", "inverse_variance")

#: History of a finished phase, kept in its checkpoint folder so a resumed fit can skip the phase.
PHASE_HISTORY_FILE = "history.json"

__all__ = [
    "LOSS_WEIGHTINGS",
    "RECONSTRUCTION_LOSSES",
    "TorchDetector",
    "TorchDetectorConfig",
    "TrainingPhase",
    "split_validation",
]


@dataclass
class TorchDetectorConfig(DetectorConfig):
    """Loss options shared by every torch detector (training options: :class:`TrainerConfig`)."""

    #: Reconstruction loss: ``mse`` or ``mae``, averaged over input elements.
    loss: str = "mse"
    #: Per-pixel / per-feature loss weights: ``none`` or ``inverse_variance`` (fitted on training inputs).
    loss_weights: str = "none"
    #: DisCo: weight of the distance correlation between anomaly score and jet mass (0 = off).
    disco_lambda: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        checks = [
            (self.loss in RECONSTRUCTION_LOSSES, f"loss must be one of {', '.join(RECONSTRUCTION_LOSSES)}"),
            (self.loss_weights in LOSS_WEIGHTINGS, f"loss_weights must be one of {', '.join(LOSS_WEIGHTINGS)}"),
            (self.disco_lambda >= 0, "disco_lambda must be >= 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise JetaeError(f"invalid option: {message}")


@dataclass(frozen=True)
class TrainingPhase:
    """One engine run within ``fit``.

    ``name`` tags the phase's history records (``phase``) and names its checkpoint sub-folder
    (``""``: a single phase, checkpoints directly in ``checkpoint_dir`` and untagged records);
    ``config`` is the trainer config of the phase; ``keep`` which weights it ends with
    (``best`` epoch by the monitored loss, or ``last``; :meth:`TorchDetector.end_phase` may replace them).
    """

    name: str
    config: TrainerConfig
    keep: str = "best"


class TorchDetector(Detector, Trainable):
    """A detector with a torch network trained by the engine.

    Subclasses implement :meth:`build_network` and, when they differ from a plain
    autoencoder, :meth:`training_loss` and :meth:`score_batch` (docs/models.md lists every hook).
    """

    config_cls = TorchDetectorConfig
    trainer_config_cls = TrainerConfig
    #: Fitted per-element loss weights (``loss_weights=inverse_variance``) and their tensor.
    loss_weights_: np.ndarray | None = None
    _loss_weights_tensor: torch.Tensor | None = None

    # ---------------------------------------------------------------- what a subclass provides
    def build_network(self, input_shape: tuple[int, ...]) -> nn.Module:
        """The ``nn.Module`` for inputs ``(n, *input_shape)``; it returns a dict of named outputs."""
        raise NotImplementedError

    def training_loss(
        self, network: nn.Module, batch: dict[str, torch.Tensor], stage: str, module: Any = None
    ) -> dict[str, torch.Tensor]:
        """Loss terms for one batch: ``loss`` (scalar) and the per-jet ``score`` ``(n,)`` (for DisCo)."""
        outputs = network(batch["inputs"])
        error = self.reconstruction_error(batch["inputs"], outputs["reconstruction"])
        return {"loss": error.mean(), "score": error}

    def score_batch(self, network: nn.Module, inputs: torch.Tensor, score: str) -> torch.Tensor:
        """``(n,)`` anomaly score of one batch (network in eval mode, no grad)."""
        return self.reconstruction_error(inputs, network(inputs)["reconstruction"])

    def reconstruction_error(self, inputs: torch.Tensor, reconstruction: torch.Tensor) -> torch.Tensor:
        """``(n,)`` mean squared (or absolute) error per jet, with optional fitted weights."""
        diff = (reconstruction.float() - inputs.float()).flatten(1)
        per_element = diff.abs() if self.config.loss == "mae" else diff.square()
        if self._loss_weights_tensor is not None:
            per_element = per_element * self._loss_weights_tensor.to(per_element.device)
        return per_element.mean(dim=1)

    # ---------------------------------------------------------------- the engine's hooks (Trainable)
    def training_step(
        self, network: nn.Module, batch: dict[str, torch.Tensor], stage: str, module: Any
    ) -> dict[str, torch.Tensor]:
        """:meth:`training_loss` plus ``disco_lambda * dCor^2(score, jet mass)`` (recorded as ``disco``)."""
        parts = self.training_loss(network, batch, stage, module)
        if self.config.disco_lambda > 0:
            if "mass" not in batch:
                raise JetaeError("disco_lambda > 0 needs jets with masses (not plain arrays) for training")
            parts["disco"] = distance_correlation(parts["score"], batch["mass"])
            parts["loss"] = parts["loss"] + self.config.disco_lambda * parts["disco"]
        return parts

    # ---------------------------------------------------------------- phases
    def training_phases(self) -> list[TrainingPhase]:
        """The engine runs of one ``fit``, in order; default: one, under the trainer config."""
        return [TrainingPhase("", self.trainer_config)]

    def prepare_fit(self, train_inputs: np.ndarray) -> None:
        """Fit state from the (scaled, split) training inputs before the network is built (e.g. bounds)."""

    def start_phase(self, phase: TrainingPhase) -> None:
        """Called before the engine runs ``phase`` (not for phases a resumed fit skips)."""

    def end_phase(self, phase: TrainingPhase, result: FitResult) -> None:
        """Called after ``phase`` completed; may replace the weights it kept (e.g. by an average)."""

    def prepare_training_data(self, train: dict, val: dict | None, **extra: Any) -> tuple[dict, dict | None]:
        """Add detector-specific arrays to the training batches (e.g. outlier flags)."""
        if extra:
            raise JetaeError(f"model {self.name!r} does not take fit options {', '.join(sorted(extra))}")
        return train, val

    # ---------------------------------------------------------------- fit
    def _fit(
        self,
        train_inputs: np.ndarray,
        val_inputs: np.ndarray | None,
        train_mass: np.ndarray | None = None,
        val_mass: np.ndarray | None = None,
        checkpoint_dir: str | Path | None = None,
        resume: bool = False,
        max_epochs: int | None = None,
        callbacks: list | None = None,
        **extra: Any,
    ) -> None:
        fraction = self.trainer_config.val_fraction
        if val_inputs is None and fraction > 0:
            train_index, val_index = split_validation(len(train_inputs), fraction, self.config.seed)
            if len(val_index) == 0:
                log.warning(
                    "only %d training samples: no validation split (val_fraction=%g); early stopping "
                    "and the best epoch use the training loss",
                    len(train_inputs),
                    fraction,
                )
            else:
                val_inputs = train_inputs[val_index]
                val_mass = None if train_mass is None else train_mass[val_index]
                train_inputs = train_inputs[train_index]
                train_mass = None if train_mass is None else train_mass[train_index]
        self._fit_loss_weights(train_inputs)
        self.prepare_fit(train_inputs)
        torch.manual_seed(self.config.seed)
        self.network_ = self.build_network(self.input_shape_)
        train = {"inputs": train_inputs, "mass": train_mass}
        val = None if val_inputs is None else {"inputs": val_inputs, "mass": val_mass}
        train, val = self.prepare_training_data(train, val, **extra)
        self._run_phases(train, val, checkpoint_dir, resume, max_epochs, callbacks)
        self.network_.eval()

    def _run_phases(
        self,
        train: dict,
        val: dict | None,
        checkpoint_dir: str | Path | None,
        resume: bool,
        max_epochs: int | None,
        callbacks: list | None,
    ) -> None:
        """Run :meth:`training_phases` through the engine; a resumed fit skips the phases that had finished.

        ``max_epochs`` stops every phase after at most that many epochs (to interrupt a fit on purpose).
        A phase that diverges before completing an epoch falls back to the weights at the end of the
        phase before it (e.g. the NAE's pretrained autoencoder).
        """
        phases = self.training_phases()
        folders = [None if checkpoint_dir is None else Path(checkpoint_dir) / phase.name for phase in phases]
        first = 0
        if resume and checkpoint_dir is not None:
            started = [i for i, folder in enumerate(folders) if (folder / LAST_CHECKPOINT).exists()]
            first = started[-1] if started else 0
        history: list[dict] = []
        for index in range(first):
            done = folders[index] / PHASE_HISTORY_FILE
            if done.exists():
                history += json.loads(done.read_text())
        for index in range(first, len(phases)):
            phase = phases[index]
            self.history_ = history
            self.start_phase(phase)
            before = None
            if index > 0:
                before = {k: v.detach().cpu().clone() for k, v in self.network_.state_dict().items()}
            try:
                result = fit_network(
                    self,
                    self.network_,
                    train,
                    val,
                    phase.config,
                    seed=self.config.seed,
                    name=self.name,
                    keep=phase.keep,
                    max_epochs=max_epochs,
                    checkpoint_dir=folders[index],
                    resume=resume and index == first,
                    callbacks=callbacks,
                )
            except TrainingFailed as exc:
                self.history_ = history + _tag(exc.history, phase, len(history))
                if not exc.history and before is not None:
                    self.network_.load_state_dict(before)
                    raise exc.with_restored(
                        f"restored the weights at the end of the {phases[index - 1].name.upper()} phase"
                    ) from exc
                raise
            history = history + _tag(result.history, phase, len(history))
            self.is_global_zero_ = result.is_global_zero
            self.end_phase(phase, result)
            if folders[index] is not None and index < len(phases) - 1 and result.is_global_zero:
                (folders[index] / PHASE_HISTORY_FILE).write_text(json.dumps(history))
        self.history_ = history

    def _fit_loss_weights(self, train_inputs: np.ndarray) -> None:
        if self.config.loss_weights == "inverse_variance":
            variance = train_inputs.reshape(len(train_inputs), -1).var(axis=0)
            weights = 1.0 / np.maximum(variance, 1e-3 * variance.max() + 1e-12)
            self.loss_weights_ = (weights / weights.mean()).astype(np.float32)
        else:
            self.loss_weights_ = None
        self._loss_weights_tensor = None if self.loss_weights_ is None else torch.from_numpy(self.loss_weights_)

    # ---------------------------------------------------------------- scoring
    def run_network(
        self, inputs: np.ndarray, function: Callable[[nn.Module, torch.Tensor], torch.Tensor]
    ) -> np.ndarray:
        """``function(network, batch)`` over scaled ``inputs`` ``(n, ...)`` in no-grad batches, on the
        trainer config's device and precision; the concatenated numpy result."""
        config = self.trainer_config
        return run_batched(self.network_, inputs, function, config.eval_batch_size, config.device, config.precision)

    def _score(self, inputs: np.ndarray, score: str) -> np.ndarray:
        return self.run_network(inputs, lambda network, batch: self.score_batch(network, batch, score))

    def _reconstruct(self, inputs: np.ndarray) -> np.ndarray:
        return self.run_network(inputs, lambda network, batch: network(batch)["reconstruction"])

    def _encode(self, inputs: np.ndarray) -> np.ndarray:
        return self.run_network(inputs, lambda network, batch: network(batch)["latent"])

    # ---------------------------------------------------------------- persistence
    def _state_arrays(self) -> dict[str, np.ndarray]:
        arrays = {f"network.{k}": v.detach().cpu().numpy() for k, v in self.network_.state_dict().items()}
        if self.loss_weights_ is not None:
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
        self.network_.load_state_dict(
            {k[len("network.") :]: torch.from_numpy(v) for k, v in network_state.items()}, strict=True
        )
        self.network_.eval()


def _tag(records: list[dict], phase: TrainingPhase, first_epoch: int) -> list[dict]:
    """History records of a named phase: ``phase``, ``phase_epoch``, and ``epoch`` counted over the whole fit."""
    if not phase.name:
        return list(records)
    tagged = []
    for record in records:
        record = dict(record)
        record["phase_epoch"] = record.get("epoch", 0)
        record["epoch"] = first_epoch + int(record.get("epoch", 0))
        record["phase"] = phase.name
        tagged.append(record)
    return tagged

"""The LightningModule of the engine: steps, per-epoch history, best weights, what checkpoints hold.

Imported only when training starts (by :func:`jetae.train.engine.fit_network`): Lightning takes
seconds to import, and scoring or listing models must not pay for it.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from typing import Any

import lightning as L
import torch
from torch import nn
from tqdm import tqdm

from jetae.train.config import TrainerConfig
from jetae.train.data import ResidentBatches
from jetae.train.protocol import Trainable, TrainingDiverged

log = logging.getLogger(__name__)


def global_rng_state() -> dict[str, Any]:
    """torch's global random states: the CPU generator's, and each CUDA device's once CUDA is in use."""
    state: dict[str, Any] = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_global_rng_state(state: dict[str, Any] | None) -> None:
    """Restore :func:`global_rng_state` (nothing for checkpoints written before it was saved)."""
    if not state:
        return
    torch.set_rng_state(state["cpu"])
    cuda = state.get("cuda")
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


class TrainingModule(L.LightningModule):
    """Wraps a trainable's network; the trainable supplies the loss.

    Besides the loss, the module keeps the per-epoch history (all-reduced over DDP
    processes, so every process sees the same numbers) and the best weights, and puts both
    into every checkpoint; early stopping and writing ``last.ckpt`` are Lightning callbacks
    (:mod:`jetae.train.callbacks`) that run after its epoch-end hook.
    """

    def __init__(
        self, trainable: Trainable, network: nn.Module, config: TrainerConfig, monitor: str, log_progress: bool = False
    ):
        super().__init__()
        # Manual optimisation: one Lightning step may hold several mini-batches (see ResidentBatches),
        # each with its own optimiser step, which cuts Lightning's per-step overhead.
        self.automatic_optimization = False
        self.network = network
        self.config = config
        self._trainable = trainable
        self.monitor = monitor
        self.log_progress = log_progress
        self._bar: Any = None
        self.history: list[dict[str, float]] = []
        self.best_score = math.inf
        self.best_epoch = -1
        self.best_state: dict[str, torch.Tensor] | None = None
        self._sums: dict[str, dict[str, torch.Tensor]] = {}
        self._epoch_start = time.perf_counter()
        #: Learning rates of the optimiser's parameter groups before any schedule (per-step cosine).
        self._base_lrs: list[float] = []

    # ------------------------------------------------------------ what trainables may read
    @property
    def max_epochs(self) -> int:
        """Epochs this fit runs at most."""
        return int(self.trainer.max_epochs)

    @property
    def learning_rate(self) -> float:
        """Learning rate of the first parameter group (the rate the current epoch trains with; under
        ``lr_schedule=cosine`` the rate of the latest optimiser step)."""
        return float(self.trainer.optimizers[0].param_groups[0]["lr"])

    # ------------------------------------------------------------ steps
    def forward(self, inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.network(inputs)

    def _step(self, batch: dict[str, torch.Tensor], stage: str) -> torch.Tensor:
        parts = self._trainable.training_step(self.network, batch, stage, self)
        loss = parts["loss"]
        n = len(batch["inputs"])
        sums = self._sums.setdefault(stage, {})
        for key, value in parts.items():
            if key == "score" or not isinstance(value, torch.Tensor) or value.ndim != 0:
                continue
            weighted = value.detach().float() * n
            sums[key] = sums[key] + weighted if key in sums else weighted
        sums["_n"] = sums["_n"] + n if "_n" in sums else torch.tensor(float(n), device=loss.device)
        return loss

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        optimizer = self.optimizers()
        n = len(batch["inputs"])
        size = self.config.batch_size
        losses = []
        for start in range(0, n, size):
            minibatch = {key: value[start : start + size] for key, value in batch.items()} if size < n else batch
            loss = self._step(minibatch, "train")
            optimizer.zero_grad(set_to_none=True)
            self.manual_backward(loss)
            if self.config.gradient_clip > 0:
                self.clip_gradients(
                    optimizer, gradient_clip_val=self.config.gradient_clip, gradient_clip_algorithm="norm"
                )
            if self.config.lr_schedule == "cosine":
                self._set_cosine_lr(optimizer)
            optimizer.step()
            losses.append(loss.detach())
        # One host sync per group of mini-batches (not per step): a diverging run stops within it,
        # and the weights of the best epoch are restored anyway.
        self._check_finite(torch.stack(losses), "train")
        if self._bar is not None:
            self._bar.update(len(losses))
            self._bar.set_postfix(loss=f"{float(losses[-1]):.4g}", refresh=False)

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._check_finite(self._step(batch, "val").detach()[None], "val")

    def _check_finite(self, losses: torch.Tensor, stage: str) -> None:
        finite = torch.isfinite(losses)
        if not bool(finite.all()):
            first = int((~finite).nonzero()[0, 0])
            raise TrainingDiverged(
                f"{stage} loss became {float(losses[first])} at epoch {self.current_epoch}, "
                f"step {self.global_step - len(losses) + first + 1}"
            )

    def _set_cosine_lr(self, optimizer: Any) -> None:
        """``lr_schedule=cosine``: the rate of this optimiser step, from the step count alone.

        ``global_step`` counts optimiser steps (also across a resume), so no scheduler state is needed.
        The schedule spans the configured ``epochs`` (not a ``max_epochs`` that interrupts the fit).
        """
        total = max(1, self.config.epochs * self.steps_per_epoch)
        factor = 0.5 * (1.0 + math.cos(math.pi * min(self.global_step, total) / total))
        for group, base in zip(optimizer.param_groups, self._base_lrs):
            group["lr"] = base * factor

    def configure_optimizers(self) -> Any:
        optimizer = self._trainable.configure_optimizer(self.network, self.config)
        scheduler = self._trainable.configure_scheduler(optimizer, self.config)
        self._base_lrs = [float(group["lr"]) for group in optimizer.param_groups]
        if scheduler is not None and self.config.lr_schedule != "constant":
            raise ValueError(
                f"lr_schedule={self.config.lr_schedule!r} and a trainable's own scheduler cannot be combined"
            )
        # Lightning keeps the scheduler's state in checkpoints; with manual optimisation it is stepped below.
        return optimizer if scheduler is None else {"optimizer": optimizer, "lr_scheduler": scheduler}

    # ------------------------------------------------------------ epochs
    def on_train_epoch_start(self) -> None:
        self._epoch_start = time.perf_counter()
        self._trainable.on_epoch_start(self)
        if self.log_progress and self.trainer.is_global_zero:
            self._bar = tqdm(
                total=self.steps_per_epoch,
                unit="batch",
                leave=False,
                desc=f"epoch {self.current_epoch + 1}/{self.trainer.max_epochs}",
                file=sys.stderr,
                dynamic_ncols=True,
            )

    @property
    def steps_per_epoch(self) -> int:
        """Optimiser steps (mini-batches) per training epoch."""
        loader = self.trainer.train_dataloader
        if isinstance(loader, ResidentBatches):
            return math.ceil(loader.n / loader.batch_size)
        return int(self.trainer.num_training_batches)

    def close_progress_bar(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def _epoch_means(self) -> dict[str, float]:
        """Per-jet means of every loss term this epoch, summed over all DDP processes."""
        names: list[tuple[str, str]] = [
            (stage, key) for stage in sorted(self._sums) for key in sorted(self._sums[stage])
        ]
        if not names:
            return {}
        totals = torch.stack([self._sums[stage][key].float().reshape(()) for stage, key in names])
        totals = self.trainer.strategy.reduce(totals, reduce_op="sum").cpu().tolist()
        values = dict(zip(names, totals))
        return {f"{stage}_{key}": values[(stage, key)] / values[(stage, "_n")] for stage, key in names if key != "_n"}

    def on_train_epoch_end(self) -> None:
        # Runs after this epoch's validation (Lightning 2.x), so both sums are complete.
        record: dict[str, float] = {"epoch": int(self.current_epoch)}
        record.update(self._epoch_means())
        self._sums = {}
        record["seconds"] = time.perf_counter() - self._epoch_start
        record.update(self._trainable.epoch_diagnostics(self))
        self.history.append(record)
        current = record.get(self.monitor, math.inf)
        if current < self.best_score:
            self.best_score = current
            self.best_epoch = int(self.current_epoch)
            self.best_state = {k: v.detach().cpu().clone() for k, v in self.network.state_dict().items()}
        # For the early-stopping callback, in float64 (``self.log`` would round it to float32).
        self.trainer.callback_metrics[self.monitor] = torch.tensor(current, dtype=torch.float64)
        self._report(record)
        scheduler = self.lr_schedulers()
        if scheduler is not None:  # before the checkpoint: a resumed run starts the next epoch at the next rate
            scheduler.step()

    def _report(self, record: dict[str, float]) -> None:
        """One summary line per epoch: under the progress bar, else in the log (batch jobs, log files)."""
        summary = ", ".join(f"{k} {v:.5g}" for k, v in record.items() if isinstance(v, float))
        log.log(logging.DEBUG if self.log_progress else logging.INFO, "epoch %d: %s", self.current_epoch, summary)
        if self._bar is not None:
            self.close_progress_bar()
            losses = "  ".join(f"{k}={v:.5g}" for k, v in record.items() if k.endswith("_loss"))
            mark = "  *best*" if self.best_epoch == self.current_epoch else ""
            tqdm.write(
                f"epoch {self.current_epoch + 1}/{self.trainer.max_epochs}  {losses}"
                f"  ({record['seconds']:.1f} s){mark}",
                file=sys.stderr,
            )

    # ------------------------------------------------------------ checkpoints
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["jetae"] = {
            "history": self.history,
            "best_score": self.best_score,
            "best_epoch": self.best_epoch,
            "best_state": self.best_state,
            "detector": self._trainable.checkpoint_state(),
            # torch's global generators drive dropout, input noise and the VAE's sampling: a resumed
            # run continues their streams, so it ends with the weights of an uninterrupted one
            "rng": global_rng_state(),
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get("jetae", {})
        if self.trainer.world_size == 1:  # one process saves the checkpoint: its streams are not every rank's
            set_global_rng_state(state.get("rng"))
        self.history = list(state.get("history", []))
        self.best_score = float(state.get("best_score", math.inf))
        self.best_epoch = int(state.get("best_epoch", -1))
        self.best_state = state.get("best_state")
        self._trainable.load_checkpoint_state(state.get("detector", {}))

    def restore_best(self) -> None:
        """Load the weights of the best epoch so far into the network (if an epoch completed)."""
        if self.best_state is not None:
            self.network.load_state_dict(self.best_state)

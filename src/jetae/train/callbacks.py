"""Lightning callbacks and plugins that carry jetae's training rules: early stopping, the per-epoch checkpoint.

Imported only when training starts (Lightning is slow to import). What stays in the engine's module,
and why Lightning's callbacks cannot do it:

* best-epoch restore: ``ModelCheckpoint(monitor=...)`` keeps the best weights in a *file*, so a fit
  without ``checkpoint_dir`` (the Python API) would have to write one, and reading it back means
  unpickling; the engine keeps a copy in memory and inside ``last.ckpt`` (for resume);
* divergence: Lightning's ``check_finite`` looks at the epoch's monitored value only, after the
  epoch; jetae stops within a group of steps, restores the best weights and says which epoch.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.callbacks.early_stopping import EarlyStoppingReason
from lightning.pytorch.plugins.io import TorchCheckpointIO

log = logging.getLogger(__name__)


class PatienceEarlyStopping(EarlyStopping):
    """Lightning's early stopping with jetae's rule: stop after ``patience`` epochs whose monitored loss
    did not fall below the best so far minus ``min_delta`` (checked after each epoch's record).

    Two additions: a fit resumed from the checkpoint of a run that had already stopped stops at once
    (Lightning would train on until patience runs out again), and the stop is logged with the best epoch.
    The monitored value must be in ``trainer.callback_metrics`` as a float64 tensor (the engine's module
    puts it there; ``self.log`` would round it to float32 and change ties).
    """

    def __init__(self, monitor: str, patience: int, min_delta: float):
        super().__init__(
            monitor=monitor,
            patience=patience,
            min_delta=min_delta,
            mode="min",
            check_on_train_epoch_end=True,
            verbose=False,
        )

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.stopping_reason == EarlyStoppingReason.PATIENCE_EXHAUSTED:  # restored from the checkpoint
            trainer.should_stop = True

    def _run_early_stopping_check(self, trainer: L.Trainer) -> None:
        stopped = trainer.should_stop
        super()._run_early_stopping_check(trainer)
        if trainer.should_stop and not stopped:
            log.info(
                "early stopping after epoch %d: no improvement of %s for %d epochs (best epoch %d)",
                trainer.current_epoch,
                self.monitor,
                self.wait_count,
                trainer.lightning_module.best_epoch,
            )


def last_checkpoint(directory: str | Path, name: str) -> ModelCheckpoint:
    """``directory/name`` (e.g. ``last.ckpt``) rewritten at the end of every epoch, nothing else.

    It runs after the module's epoch-end hook and after early stopping (Lightning orders checkpoint
    callbacks last), so it holds the epoch's record, best weights and early-stopping state; never on
    an exception (a diverged or interrupted epoch leaves the previous epoch's checkpoint).
    """
    return ModelCheckpoint(
        dirpath=str(directory),
        filename=Path(name).stem,
        monitor=None,
        save_top_k=1,
        save_last=False,
        every_n_epochs=1,
        save_on_train_epoch_end=True,
        enable_version_counter=False,
        auto_insert_metric_name=False,
        save_on_exception=False,
    )


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints written to a temporary file next to the final name and renamed over it.

    Lightning's own writer stages the file in the system temp folder and moves it, which is a copy
    (not atomic) when that folder is on another filesystem: a killed run could leave half a checkpoint.
    """

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | os.PathLike, storage_options: Any | None = None
    ) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.tmp")
        torch.save(checkpoint, temporary)
        os.replace(temporary, path)

"""One Lightning training engine for every trainable (every torch detector).

:func:`fit_network` trains a network with a :class:`~jetae.train.protocol.Trainable`'s loss under a
:class:`~jetae.train.config.TrainerConfig`: batching (``data``), devices (``device``), the
LightningModule with the history, best weights, early stopping and checkpoints (``module``),
divergence detection, resume and DDP. It never imports a model.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch import nn

from jetae.errors import JetaeError
from jetae.train.config import TrainerConfig
from jetae.train.data import make_loaders
from jetae.train.device import resolve_accelerator, resolve_precision, use_fast_memory_format
from jetae.train.protocol import Trainable, TrainingDiverged

log = logging.getLogger(__name__)

#: Checkpoint written at the end of every epoch into ``checkpoint_dir`` (what ``resume`` reads).
LAST_CHECKPOINT = "last.ckpt"

#: Mini-batches per Lightning step when the data sit on the device (one optimiser step each):
#: Lightning's fixed cost per step is then paid once per group (see docs/models.md). Read at each
#: fit, so a benchmark may change it.
STEPS_PER_CALL = 16

#: What every checkpoint the engine writes holds (Lightning's keys plus the engine's own).
CHECKPOINT_KEYS = ("epoch", "global_step", "state_dict", "optimizer_states", "loops", "jetae")

#: Lightning warnings that say nothing useful about jetae's setup.
IGNORED_WARNINGS = (
    r".*LeafSpec.*",  # Lightning's pytree helper vs newer torch
    r".*does not have many workers.*",  # DDP DataLoaders over in-memory tensors need no workers
    r".*sync_dist=True.*",  # epoch sums are all-reduced by the engine itself
    r".*Checkpoint directory .* exists and is not empty.*",
    r".*`validation_step` but have no `val_dataloader`.*",  # no validation split: expected, and logged
)


@dataclass
class FitResult:
    """What one :func:`fit_network` call produced (the network itself is trained in place)."""

    #: One record per epoch: ``epoch``, ``train_<term>`` / ``val_<term>`` per-jet means, ``seconds``,
    #: the trainable's diagnostics.
    history: list[dict[str, float]]
    #: The monitored loss (``val_loss``, or ``train_loss`` without validation data), its best epoch and value.
    monitor: str
    best_epoch: int
    best_score: float
    #: False in a DDP process other than global rank 0: such a process must not write files.
    is_global_zero: bool


class TrainingFailed(JetaeError):
    """Training diverged; the best weights so far were restored (or there were none).

    ``history`` holds the epochs completed before; ``restored`` says which weights the network
    holds, ``kept`` what is left on disk (both worded for the message).
    """

    def __init__(self, cause: str, restored: str, kept: str, history: list[dict[str, float]]):
        self.cause, self.restored, self.kept, self.history = cause, restored, kept, history
        super().__init__(f"training diverged: {cause} ({restored}{kept}). Try a lower learning rate.")

    def with_restored(self, restored: str) -> "TrainingFailed":
        """The same failure after the caller restored other weights (e.g. those of an earlier phase)."""
        return TrainingFailed(self.cause, restored, self.kept, self.history)


@contextlib.contextmanager
def quiet_lightning() -> Iterator[None]:
    """Silence Lightning's banner-style INFO lines and known-harmless warnings for one fit."""
    verbose = log.isEnabledFor(logging.DEBUG)
    loggers = [logging.getLogger(name) for name in ("lightning.pytorch", "lightning.fabric")]
    levels = [logger.level for logger in loggers]
    if not verbose:
        for logger in loggers:
            logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            for pattern in IGNORED_WARNINGS:
                warnings.filterwarnings("ignore", message=pattern)
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def fit_network(
    trainable: Trainable,
    network: nn.Module,
    train: dict[str, np.ndarray | None],
    val: dict[str, np.ndarray | None] | None,
    config: TrainerConfig,
    *,
    seed: int,
    name: str = "model",
    keep: str = "best",
    max_epochs: int | None = None,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    callbacks: list | None = None,
) -> FitResult:
    """Train ``network`` with ``trainable``'s loss for ``config.epochs`` epochs (at most ``max_epochs``).

    ``train`` / ``val`` map names to arrays with the jet axis first: ``inputs`` (required),
    optionally ``mass`` (GeV) and anything the trainable's loss reads. ``seed`` seeds
    everything random (initialisation aside: the network is built by the caller). After
    training the network holds the weights of the best epoch (lowest validation loss, or
    training loss without validation data) with ``keep="best"``, those of the last epoch with
    ``keep="last"``. With ``checkpoint_dir``, ``last.ckpt`` is written there after every epoch;
    ``resume`` continues from it. ``callbacks`` are extra Lightning callbacks (e.g. to interrupt
    a run in tests); ``name`` appears in the log.

    Raises
    ------
    TrainingFailed
        The loss stopped being finite (the best weights so far are restored first).
    JetaeError
        A bad device or option, a damaged checkpoint.
    """
    # Lightning takes seconds to import: only when a fit starts (scoring and `jetae models` stay fast).
    import lightning as L

    from jetae.train.callbacks import AtomicCheckpointIO, PatienceEarlyStopping, last_checkpoint
    from jetae.train.module import TrainingModule

    if keep not in ("best", "last"):
        raise ValueError(f"keep must be 'best' or 'last', got {keep!r}")
    accelerator = resolve_accelerator(config.device)
    precision = resolve_precision(config.precision, accelerator, network)
    if len(train.get("inputs", ())) == 0:
        raise JetaeError("no training samples")
    L.seed_everything(seed, workers=True, verbose=False)
    use_fast_memory_format(network, accelerator)
    world = config.devices * config.num_nodes
    train_loader, val_loader, resident = make_loaders(train, val, config, accelerator, seed, STEPS_PER_CALL)
    monitor = "val_loss" if val_loader is not None else "train_loss"
    show_progress = config.progress if config.progress is not None else sys.stderr.isatty()
    checkpoint_path = None
    made_checkpoint_dir = False
    if checkpoint_dir is not None:
        made_checkpoint_dir = not Path(checkpoint_dir).exists()
        Path(checkpoint_dir).mkdir(parents=True, exist_ok=True)
        checkpoint_path = Path(checkpoint_dir) / LAST_CHECKPOINT
    module = TrainingModule(trainable, network, config, monitor=monitor, log_progress=show_progress)
    rules: list = []
    if config.patience > 0:
        rules.append(PatienceEarlyStopping(monitor, config.patience, config.min_delta))
    if checkpoint_path is not None:
        rules.append(last_checkpoint(checkpoint_path.parent, checkpoint_path.name))
    log.info(
        "training %s on %s (%s, %d process%s): %d samples, %s",
        name,
        accelerator,
        precision,
        world,
        "es" if world > 1 else "",
        len(train["inputs"]),
        f"{len(val['inputs'])} validation samples" if val_loader is not None else "no validation set",
    )
    with quiet_lightning():
        trainer = L.Trainer(
            max_epochs=min(max_epochs, config.epochs) if max_epochs else config.epochs,
            accelerator=accelerator,
            devices=config.devices,
            num_nodes=config.num_nodes,
            strategy=config.strategy,
            precision=precision,
            logger=False,
            enable_checkpointing=checkpoint_path is not None,  # only last.ckpt (no lightning_logs)
            plugins=[AtomicCheckpointIO()],
            enable_progress_bar=False,  # the module draws its own bar on stderr (Lightning's goes to stdout)
            enable_model_summary=False,
            num_sanity_val_steps=0,
            inference_mode=False,  # energy-based models need input gradients during validation
            callbacks=rules + list(callbacks or []),
            default_root_dir=str(checkpoint_dir) if checkpoint_dir is not None else None,
            deterministic=accelerator == "cpu",
        )
        if resident:
            train_loader.epoch_source = lambda: trainer.current_epoch
        ckpt_path = None
        if resume:
            candidate = Path(checkpoint_dir or ".") / LAST_CHECKPOINT
            if candidate.exists():
                check_checkpoint(candidate, module)
                ckpt_path = str(candidate)
                log.info("resuming from %s", candidate)
            else:
                log.warning("--resume given but no checkpoint at %s; starting from scratch", candidate)
        try:
            trainer.fit(
                module,
                train_dataloaders=train_loader,
                val_dataloaders=val_loader,
                ckpt_path=ckpt_path,
                weights_only=True,
            )
        except TrainingDiverged as exc:
            module.close_progress_bar()
            module.restore_best()
            restored = (
                f"restored the weights of epoch {module.best_epoch}"
                if module.best_state is not None
                else "no good epoch to restore"
            )
            raise TrainingFailed(str(exc), restored, _kept(checkpoint_path), module.history) from exc
        except SystemExit as exc:
            # Lightning turns Ctrl-C into sys.exit(1) after a graceful shutdown; report it as an interrupt.
            if trainer.interrupted:
                raise KeyboardInterrupt from exc
            raise
        finally:
            if made_checkpoint_dir and trainer.is_global_zero:
                _remove_if_empty(Path(checkpoint_dir))
    if keep == "best":
        module.restore_best()
    if module.best_epoch >= 0:
        log.info("best epoch %d (%s = %.6g)", module.best_epoch, monitor, module.best_score)
    return FitResult(module.history, monitor, module.best_epoch, module.best_score, bool(trainer.is_global_zero))


def _kept(checkpoint_path: Path | None) -> str:
    """What a failed run leaves on disk, for its error message."""
    if checkpoint_path is None:
        return ""
    if checkpoint_path.exists():
        return f"; the last good checkpoint is kept in {checkpoint_path.parent}"
    return "; no checkpoint was written, nothing kept"


def _remove_if_empty(directory: Path) -> None:
    """Remove a checkpoint folder this run made if it holds nothing (a run that failed at once)."""
    with contextlib.suppress(OSError):
        directory.rmdir()  # fails, as intended, on a folder with files in it


def check_checkpoint(path: Path, module: nn.Module) -> None:
    """Refuse, with a clear message, a damaged checkpoint or one of another network."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(checkpoint, dict) or not all(key in checkpoint for key in CHECKPOINT_KEYS):
            raise ValueError("not a jetae checkpoint")
        saved = checkpoint["state_dict"]
        if not isinstance(saved, dict) or not all(isinstance(v, torch.Tensor) for v in saved.values()):
            raise ValueError("not a jetae checkpoint")
    except Exception as exc:  # torch raises a zoo of types for damaged zip archives
        # torch's own message suggests weights_only=False, i.e. unpickling an untrusted file: never pass it on.
        log.debug("%s: cannot read the checkpoint: %s: %s", path, exc.__class__.__name__, exc)
        raise JetaeError("cannot resume: damaged or not a jetae checkpoint", path) from None
    expected = {key: tuple(value.shape) for key, value in module.state_dict().items()}
    found = {key: tuple(value.shape) for key, value in saved.items()}
    if expected != found:
        raise JetaeError("cannot resume: the checkpoint holds a different network (were model options changed?)", path)

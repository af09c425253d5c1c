"""One Lightning training engine for every torch detector.

Detectors supply only their network, their loss (``training_loss``) and their score;
the engine handles batching, validation, early stopping with best-weight restore,
checkpoints and resume, DisCo regularisation, divergence detection, devices and DDP.

Lightning is imported only when training starts, so scoring and listing models stay fast.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import os
import sys
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np
import torch
from torch import nn

from jetae.errors import JetaeError
from jetae.train.disco import distance_correlation

if TYPE_CHECKING:
    from jetae.models.torch_base import TorchDetector

log = logging.getLogger(__name__)

#: Checkpoint written at the end of every epoch into ``checkpoint_dir`` (what ``resume`` reads).
LAST_CHECKPOINT = "last.ckpt"

#: Mini-batches per Lightning step when the data sit on the device (one optimiser step each):
#: Lightning's fixed cost per step is then paid once per group (see docs/models.md).
STEPS_PER_CALL = 16

#: On the CPU, evaluation batches hold at most this many input elements (about 330 40x40 images):
#: larger batches fall out of the caches and run up to 2x slower (see docs/models.md).
CPU_EVAL_ELEMENTS = 2**19

#: Lightning warnings that say nothing useful about jetae's setup.
_IGNORED_WARNINGS = (
    r".*LeafSpec.*",  # Lightning's pytree helper vs newer torch
    r".*does not have many workers.*",  # DDP DataLoaders over in-memory tensors need no workers
    r".*sync_dist=True.*",  # epoch sums are all-reduced by the engine itself
    r".*Checkpoint directory .* exists and is not empty.*",
    r".*`validation_step` but have no `val_dataloader`.*",  # no validation split: expected, and logged
)


class TrainingDiverged(RuntimeError):
    """Raised inside a training step when the loss (or an MCMC energy) stops being finite."""


def resolve_accelerator(device: str) -> str:
    """Map ``auto|cpu|cuda|mps`` to a Lightning accelerator that exists on this machine."""
    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise JetaeError("device 'cuda' requested but no CUDA GPU is available (use --set device=cpu or auto)")
    if device == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise JetaeError("device 'mps' requested but Apple MPS is not available")
    if device not in ("cpu", "cuda", "mps"):
        raise JetaeError(f"unknown device {device!r}; choose auto, cpu, cuda or mps")
    return device


def resolve_precision(precision: str, accelerator: str) -> str:
    """``auto`` means bf16 autocast on a CUDA GPU that supports it, full fp32 elsewhere."""
    if precision != "auto":
        return precision
    if accelerator == "cuda" and torch.cuda.is_bf16_supported():
        return "bf16-mixed"
    return "32-true"


class ResidentBatches:
    """Batches sliced from tensors that already live on the training device.

    No DataLoader workers and no host-to-device copies per step: on a GPU the whole
    training set sits in device memory and each batch is an index into it. With
    ``shuffle``, the order of epoch ``e`` is a fixed function of ``(seed, e)``, so a run
    resumed from a checkpoint sees the same batches as an uninterrupted one; ``epoch_source``
    (set by :func:`fit_network` to the trainer's epoch counter) supplies ``e``.
    """

    def __init__(self, tensors: dict[str, torch.Tensor], batch_size: int, shuffle: bool, seed: int = 0,
                 epoch_source: Callable[[], int] | None = None, group: int = 1):
        self.tensors = tensors
        self.n = len(next(iter(tensors.values())))
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0
        self.epoch_source = epoch_source
        #: Mini-batches per yielded batch: the consumer splits them again (fewer Lightning steps).
        self.group = max(1, int(group))

    def __len__(self) -> int:
        return math.ceil(self.n / (self.batch_size * self.group))

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        device = next(iter(self.tensors.values())).device
        size = self.batch_size * self.group
        if self.shuffle:
            epoch = self.epoch_source() if self.epoch_source is not None else self.epoch
            generator = torch.Generator(device="cpu").manual_seed(self.seed * 100_003 + epoch)
            order = torch.randperm(self.n, generator=generator).to(device)
            self.epoch = epoch + 1
            for start in range(0, self.n, size):
                index = order[start : start + size]
                yield {key: value[index] for key, value in self.tensors.items()}
        else:
            for start in range(0, self.n, size):
                yield {key: value[start : start + size] for key, value in self.tensors.items()}


class _DictDataset(torch.utils.data.Dataset):
    """Map-style dataset over a dict of equal-length tensors (used with DDP samplers)."""

    def __init__(self, tensors: dict[str, torch.Tensor]):
        self.tensors = tensors
        self.n = len(next(iter(tensors.values())))

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {key: value[index] for key, value in self.tensors.items()}


def _make_module_class() -> type:
    """Define the LightningModule (deferred: importing Lightning takes seconds)."""
    import lightning as L

    class DetectorModule(L.LightningModule):
        """Wraps a detector's network; the detector supplies the loss.

        Besides the loss, the module keeps the per-epoch history (all-reduced over DDP
        processes, so every process sees the same numbers), the best weights, the early
        stopping state and writes ``last.ckpt`` after each epoch's record is complete.
        """

        def __init__(self, detector: "TorchDetector", network: nn.Module, monitor: str, patience: int = 0,
                     min_delta: float = 0.0, checkpoint_path: str | Path | None = None, log_progress: bool = False,
                     minibatch_size: int | None = None, gradient_clip: float = 0.0):
            super().__init__()
            # Manual optimisation: one Lightning step may hold several mini-batches (see ResidentBatches),
            # each with its own optimiser step, which cuts Lightning's per-step overhead.
            self.automatic_optimization = False
            self.minibatch_size = minibatch_size
            self.gradient_clip = gradient_clip
            self.network = network
            self._detector = detector
            self.monitor = monitor
            self.patience = patience
            self.min_delta = min_delta
            self.checkpoint_path = None if checkpoint_path is None else Path(checkpoint_path)
            self.log_progress = log_progress
            self._bar: Any = None
            self.history: list[dict[str, float]] = []
            self.best_score = math.inf
            self.best_epoch = -1
            self.best_state: dict[str, torch.Tensor] | None = None
            #: Early stopping: reference score and epochs since it improved by more than min_delta.
            self.patience_score = math.inf
            self.bad_epochs = 0
            self.stopped_early = False
            self._sums: dict[str, dict[str, torch.Tensor]] = {}
            self._epoch_start = time.perf_counter()

        def forward(self, inputs: torch.Tensor) -> dict[str, torch.Tensor]:
            return self.network(inputs)

        def _step(self, batch: dict[str, torch.Tensor], stage: str) -> torch.Tensor:
            parts = self._detector.training_loss(self.network, batch, stage=stage, module=self)
            loss = parts["loss"]
            disco_lambda = getattr(self._detector.config, "disco_lambda", 0.0)
            if disco_lambda > 0:
                if "mass" not in batch:
                    raise JetaeError("disco_lambda > 0 needs jets with masses (not plain arrays) for training")
                parts["disco"] = distance_correlation(parts["score"], batch["mass"])
                loss = loss + disco_lambda * parts["disco"]
                parts["loss"] = loss
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
            size = self.minibatch_size or n
            losses = []
            for start in range(0, n, size):
                minibatch = {key: value[start : start + size] for key, value in batch.items()} if size < n else batch
                loss = self._step(minibatch, "train")
                optimizer.zero_grad(set_to_none=True)
                self.manual_backward(loss)
                if self.gradient_clip > 0:
                    self.clip_gradients(optimizer, gradient_clip_val=self.gradient_clip,
                                        gradient_clip_algorithm="norm")
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
                raise TrainingDiverged(f"{stage} loss became {float(losses[first])} at epoch {self.current_epoch}, "
                                       f"step {self.global_step - len(losses) + first + 1}")

        def on_train_start(self) -> None:
            if self.stopped_early:  # resumed from the checkpoint of a run that had already stopped
                self.trainer.should_stop = True

        def on_train_epoch_start(self) -> None:
            self._epoch_start = time.perf_counter()
            self._detector.on_epoch_start(self)
            if self.log_progress and self.trainer.is_global_zero:
                from tqdm import tqdm

                self._bar = tqdm(total=self.steps_per_epoch, unit="batch", leave=False,
                                 desc=f"epoch {self.current_epoch + 1}/{self.trainer.max_epochs}", file=sys.stderr,
                                 dynamic_ncols=True)

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
            names: list[tuple[str, str]] = [(stage, key) for stage in sorted(self._sums)
                                            for key in sorted(self._sums[stage])]
            if not names:
                return {}
            totals = torch.stack([self._sums[stage][key].float().reshape(()) for stage, key in names])
            totals = self.trainer.strategy.reduce(totals, reduce_op="sum").cpu().tolist()
            values = dict(zip(names, totals))
            means = {}
            for stage, key in names:
                if key != "_n":
                    means[f"{stage}_{key}"] = values[(stage, key)] / values[(stage, "_n")]
            return means

        def on_train_epoch_end(self) -> None:
            # Runs after this epoch's validation (Lightning 2.x), so both sums are complete.
            record: dict[str, float] = {"epoch": int(self.current_epoch)}
            record.update(self._epoch_means())
            self._sums = {}
            record["seconds"] = time.perf_counter() - self._epoch_start
            record.update(self._detector.epoch_diagnostics(self))
            self.history.append(record)
            current = record.get(self.monitor, math.inf)
            if current < self.best_score:
                self.best_score = current
                self.best_epoch = int(self.current_epoch)
                self.best_state = {k: v.detach().cpu().clone() for k, v in self.network.state_dict().items()}
            if current < self.patience_score - self.min_delta:
                self.patience_score = current
                self.bad_epochs = 0
            else:
                self.bad_epochs += 1
            if self.patience > 0 and self.bad_epochs >= self.patience:
                log.info("early stopping after epoch %d: no improvement of %s for %d epochs (best epoch %d)",
                         self.current_epoch, self.monitor, self.bad_epochs, self.best_epoch)
                self.stopped_early = True
                self.trainer.should_stop = True
            # Without a progress bar (batch jobs, logs to a file) one line per epoch shows progress.
            summary = ", ".join(f"{k} {v:.5g}" for k, v in record.items() if isinstance(v, float))
            log.log(logging.DEBUG if self.log_progress else logging.INFO, "epoch %d: %s", self.current_epoch, summary)
            if self._bar is not None:
                self.close_progress_bar()
                from tqdm import tqdm

                losses = "  ".join(f"{k}={v:.5g}" for k, v in record.items() if k.endswith("_loss"))
                mark = "  *best*" if self.best_epoch == self.current_epoch else ""
                tqdm.write(f"epoch {self.current_epoch + 1}/{self.trainer.max_epochs}  {losses}"
                           f"  ({record['seconds']:.1f} s){mark}", file=sys.stderr)
            if self.checkpoint_path is not None:
                self._save_last_checkpoint()

        def _save_last_checkpoint(self) -> None:
            # Every process must call save_checkpoint (it synchronises); only rank 0 writes.
            # Written next to the final name and renamed: a killed run never leaves half a checkpoint.
            temporary = self.checkpoint_path.with_name(f".{self.checkpoint_path.name}.tmp")
            self.trainer.save_checkpoint(str(temporary), weights_only=False)
            if self.trainer.is_global_zero:
                os.replace(temporary, self.checkpoint_path)

        def configure_optimizers(self):
            return self._detector.configure_optimizer(self.network)

        def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
            checkpoint["jetae"] = {
                "history": self.history,
                "best_score": self.best_score,
                "best_epoch": self.best_epoch,
                "best_state": self.best_state,
                "patience_score": self.patience_score,
                "bad_epochs": self.bad_epochs,
                "stopped_early": self.stopped_early,
                "detector": self._detector.checkpoint_state(),
            }

        def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
            state = checkpoint.get("jetae", {})
            self.history = list(state.get("history", []))
            self.best_score = float(state.get("best_score", math.inf))
            self.best_epoch = int(state.get("best_epoch", -1))
            self.best_state = state.get("best_state")
            self.patience_score = float(state.get("patience_score", self.best_score))
            self.bad_epochs = int(state.get("bad_epochs", 0))
            self.stopped_early = bool(state.get("stopped_early", False))
            self._detector.load_checkpoint_state(state.get("detector", {}))

    return DetectorModule


_MODULE_CLASS: type | None = None


def detector_module_class() -> type:
    """The :class:`DetectorModule` LightningModule class (imports Lightning on first use)."""
    global _MODULE_CLASS
    if _MODULE_CLASS is None:
        _MODULE_CLASS = _make_module_class()
    return _MODULE_CLASS


def __getattr__(name: str) -> Any:
    # ``from jetae.train.engine import DetectorModule`` still works, importing Lightning then.
    if name == "DetectorModule":
        return detector_module_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def use_fast_memory_format(network: nn.Module, accelerator: str) -> nn.Module:
    """Conv weights in channels-last memory on the CPU (no-op for dense networks; returns ``network``).

    oneDNN's convolutions are about twice as fast in NHWC for the "QCD or What?" net (see
    docs/models.md); the weights keep their values and ``state_dict`` names. On GPUs the
    default layout is kept until measured (``bench/bench_training.py`` reports both).
    """
    if accelerator == "cpu" and any(p.dim() == 4 for p in network.parameters()):
        network.to(memory_format=torch.channels_last)
    return network


def evaluation_batch_size(batch_size: int, sample_shape: tuple[int, ...], accelerator: str) -> int:
    """``batch_size`` for no-grad passes, capped on the CPU to :data:`CPU_EVAL_ELEMENTS` input elements."""
    if accelerator != "cpu":
        return batch_size
    return max(1, min(batch_size, CPU_EVAL_ELEMENTS // max(1, math.prod(sample_shape))))


def _to_tensors(arrays: dict[str, np.ndarray | None]) -> dict[str, torch.Tensor]:
    return {key: torch.from_numpy(np.ascontiguousarray(value)) for key, value in arrays.items() if value is not None}


def _fits_on_device(tensors: list[dict[str, torch.Tensor]], accelerator: str) -> bool:
    if accelerator != "cuda":
        return True
    needed = sum(t.numel() * t.element_size() for group in tensors for t in group.values())
    free, _ = torch.cuda.mem_get_info()
    return needed < 0.5 * free


@contextlib.contextmanager
def _quiet_lightning() -> Iterator[None]:
    """Silence Lightning's banner-style INFO lines and known-harmless warnings for one fit."""
    verbose = log.isEnabledFor(logging.DEBUG)
    loggers = [logging.getLogger(name) for name in ("lightning.pytorch", "lightning.fabric")]
    levels = [logger.level for logger in loggers]
    if not verbose:
        for logger in loggers:
            logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            for pattern in _IGNORED_WARNINGS:
                warnings.filterwarnings("ignore", message=pattern)
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def fit_network(
    detector: "TorchDetector",
    network: nn.Module,
    train: dict[str, np.ndarray | None],
    val: dict[str, np.ndarray | None] | None,
    *,
    max_epochs: int | None = None,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    callbacks: list | None = None,
) -> list[dict[str, float]]:
    """Train ``network`` with the detector's loss; returns the per-epoch history.

    ``train`` / ``val`` map names to arrays with the jet axis first: ``inputs`` (required),
    optionally ``mass`` (GeV, for DisCo) and anything the detector's loss reads. After
    training, the network holds the weights of the best epoch (lowest validation loss,
    or training loss without validation data). With ``checkpoint_dir``, ``last.ckpt`` is
    written there after every epoch; ``resume`` continues from it. ``callbacks`` are extra
    Lightning callbacks (e.g. to interrupt a run in tests).

    Raises
    ------
    JetaeError
        The loss stopped being finite (the best weights so far are restored first), or a
        bad device / option.
    """
    import lightning as L

    config = detector.config
    accelerator = resolve_accelerator(config.device)
    precision = resolve_precision(config.precision, accelerator)
    if len(train.get("inputs", ())) == 0:
        raise JetaeError("no training samples")
    L.seed_everything(config.seed, workers=True, verbose=False)
    use_fast_memory_format(network, accelerator)
    world = config.devices * config.num_nodes
    train_tensors = _to_tensors(train)
    val_tensors = _to_tensors(val) if val and len(val.get("inputs", ())) > 0 else None
    groups = [train_tensors] + ([val_tensors] if val_tensors else [])

    resident = world == 1 and _fits_on_device(groups, accelerator)
    if resident:
        device = torch.device("cuda" if accelerator == "cuda" else accelerator)
        train_tensors = {k: v.to(device) for k, v in train_tensors.items()}
        train_loader: Any = ResidentBatches(train_tensors, config.batch_size, shuffle=True, seed=config.seed,
                                            group=STEPS_PER_CALL)
        val_loader: Any = None
        if val_tensors:
            val_tensors = {k: v.to(device) for k, v in val_tensors.items()}
            val_batch = evaluation_batch_size(config.eval_batch_size, tuple(val_tensors["inputs"].shape[1:]),
                                              accelerator)
            val_loader = ResidentBatches(val_tensors, val_batch, shuffle=False)
    else:
        # DDP (or data larger than the device): a DataLoader, so Lightning can shard it per process.
        pin = accelerator == "cuda"
        train_loader = torch.utils.data.DataLoader(
            _DictDataset(train_tensors), batch_size=config.batch_size, shuffle=True, pin_memory=pin,
            generator=torch.Generator().manual_seed(config.seed),
        )
        val_loader = (
            torch.utils.data.DataLoader(_DictDataset(val_tensors), batch_size=config.eval_batch_size, pin_memory=pin)
            if val_tensors
            else None
        )

    monitor = "val_loss" if val_loader is not None else "train_loss"
    show_progress = config.progress if config.progress is not None else sys.stderr.isatty()
    checkpoint_path = None
    made_checkpoint_dir = False
    if checkpoint_dir is not None:
        made_checkpoint_dir = not Path(checkpoint_dir).exists()
        Path(checkpoint_dir).mkdir(parents=True, exist_ok=True)
        checkpoint_path = Path(checkpoint_dir) / LAST_CHECKPOINT
    module = detector_module_class()(detector, network, monitor=monitor, patience=config.patience,
                                     min_delta=config.min_delta, checkpoint_path=checkpoint_path,
                                     log_progress=show_progress, minibatch_size=config.batch_size,
                                     gradient_clip=config.gradient_clip)
    log.info("training %s on %s (%s, %d process%s): %d samples, %s", detector.name, accelerator, precision, world,
             "es" if world > 1 else "", len(train_tensors["inputs"]),
             f"{len(val_tensors['inputs'])} validation samples" if val_tensors else "no validation set")
    with _quiet_lightning():
        trainer = L.Trainer(
            max_epochs=max_epochs or config.epochs,
            accelerator=accelerator,
            devices=config.devices,
            num_nodes=config.num_nodes,
            strategy=config.strategy,
            precision=precision,
            logger=False,
            enable_checkpointing=False,  # the module writes last.ckpt itself, after the epoch's record
            enable_progress_bar=False,  # the module draws its own bar on stderr (Lightning's goes to stdout)
            enable_model_summary=False,
            num_sanity_val_steps=0,
            inference_mode=False,  # energy-based models need input gradients during validation
            callbacks=list(callbacks or []),
            default_root_dir=str(checkpoint_dir) if checkpoint_dir is not None else None,
            deterministic=accelerator == "cpu",
        )
        if resident:
            train_loader.epoch_source = lambda: trainer.current_epoch
        ckpt_path = None
        if resume:
            candidate = Path(checkpoint_dir or ".") / LAST_CHECKPOINT
            if candidate.exists():
                _check_checkpoint(candidate, module)
                ckpt_path = str(candidate)
                log.info("resuming from %s", candidate)
            else:
                log.warning("--resume given but no checkpoint at %s; starting from scratch", candidate)
        try:
            trainer.fit(module, train_dataloaders=train_loader, val_dataloaders=val_loader, ckpt_path=ckpt_path,
                        weights_only=True)
        except TrainingDiverged as exc:
            module.close_progress_bar()
            _restore_best(module)
            detector.history_ = module.history
            good = (f"restored the weights of epoch {module.best_epoch}" if module.best_state
                    else "no good epoch to restore")
            raise JetaeError(f"training diverged: {exc} ({good}{_kept(checkpoint_path)}). "
                             "Try a lower learning rate.") from exc
        except SystemExit as exc:
            # Lightning turns Ctrl-C into sys.exit(1) after a graceful shutdown; report it as an interrupt.
            if trainer.interrupted:
                raise KeyboardInterrupt from exc
            raise
        finally:
            if made_checkpoint_dir and trainer.is_global_zero:
                _remove_if_empty(Path(checkpoint_dir))
    _restore_best(module)
    if module.best_epoch >= 0:
        log.info("best epoch %d (%s = %.6g)", module.best_epoch, monitor, module.best_score)
    detector.is_global_zero_ = trainer.is_global_zero
    return module.history


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


#: What every checkpoint the engine writes holds (Lightning's keys plus the engine's own).
CHECKPOINT_KEYS = ("epoch", "global_step", "state_dict", "optimizer_states", "loops", "jetae")


def _check_checkpoint(path: Path, module: nn.Module) -> None:
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
        raise JetaeError("cannot resume: the checkpoint holds a different network (were model options changed?)",
                         path)


def _restore_best(module: nn.Module) -> None:
    if module.best_state is not None:
        module.network.load_state_dict(module.best_state)


@torch.no_grad()
def run_batched(
    network: nn.Module,
    inputs: np.ndarray,
    function: Callable[[nn.Module, torch.Tensor], torch.Tensor],
    batch_size: int,
    device: str = "auto",
    precision: str = "auto",
) -> np.ndarray:
    """Apply ``function(network, batch)`` over ``inputs`` in batches; concatenated numpy result."""
    accelerator = resolve_accelerator(device)
    torch_device = torch.device("cuda" if accelerator == "cuda" else accelerator)
    network = use_fast_memory_format(network.to(torch_device).eval(), accelerator)
    use_bf16 = resolve_precision(precision, accelerator).startswith("bf16")
    batch_size = evaluation_batch_size(batch_size, tuple(inputs.shape[1:]), accelerator)
    outputs = []
    for start in range(0, len(inputs), batch_size):
        batch = torch.from_numpy(np.ascontiguousarray(inputs[start : start + batch_size])).to(torch_device)
        with torch.autocast(device_type=torch_device.type, dtype=torch.bfloat16, enabled=use_bf16):
            result = function(network, batch)
        outputs.append(result.float().cpu())
    return torch.cat(outputs).numpy()


def copy_network(network: nn.Module) -> nn.Module:
    """A detached deep copy (e.g. to keep a pretrained AE around)."""
    return copy.deepcopy(network)

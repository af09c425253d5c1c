"""Training data for the engine: the validation split, and batches of a dict of arrays.

The data of a fit are dicts of arrays with the jet axis first: ``inputs`` (required),
optionally ``mass`` (GeV, for DisCo) and anything a model's loss reads; every batch is a dict
of the same keys.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterator

import numpy as np
import torch

from jetae.errors import JetaeError
from jetae.train.config import TrainerConfig
from jetae.train.device import evaluation_batch_size, fits_on_device, torch_device


def split_validation(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded random split of ``range(n)`` into sorted (train, validation) index arrays.

    The validation part is empty when ``n * fraction`` rounds to zero.
    """
    if n < 1:
        raise JetaeError("no training samples")
    order = np.random.default_rng(seed).permutation(n)
    n_val = int(round(n * fraction))
    if n - n_val < 1:
        raise JetaeError(f"training set of {n} jets is too small to hold out a validation fraction of {fraction}")
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def to_tensors(arrays: dict[str, np.ndarray | None]) -> dict[str, torch.Tensor]:
    """CPU tensors sharing memory with the arrays (None entries left out)."""
    return {key: torch.from_numpy(np.ascontiguousarray(value)) for key, value in arrays.items() if value is not None}


class ResidentBatches:
    """Batches sliced from tensors that already live on the training device.

    No DataLoader workers and no host-to-device copies per step: on a GPU the whole
    training set sits in device memory and each batch is an index into it. With
    ``shuffle``, the order of epoch ``e`` is a fixed function of ``(seed, e)``, so a run
    resumed from a checkpoint sees the same batches as an uninterrupted one; ``epoch_source``
    (set by the engine to the trainer's epoch counter) supplies ``e``.
    """

    def __init__(
        self,
        tensors: dict[str, torch.Tensor],
        batch_size: int,
        shuffle: bool,
        seed: int = 0,
        epoch_source: Callable[[], int] | None = None,
        group: int = 1,
    ):
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


class DictDataset(torch.utils.data.Dataset):
    """Map-style dataset over a dict of equal-length tensors (used with DDP samplers)."""

    def __init__(self, tensors: dict[str, torch.Tensor]):
        self.tensors = tensors
        self.n = len(next(iter(tensors.values())))

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {key: value[index] for key, value in self.tensors.items()}


def make_loaders(
    train: dict[str, np.ndarray | None],
    val: dict[str, np.ndarray | None] | None,
    config: TrainerConfig,
    accelerator: str,
    seed: int,
    group: int,
) -> tuple[Any, Any, bool]:
    """``(train_loader, val_loader or None, resident)`` for one fit.

    On one device with room for the data: :class:`ResidentBatches` on the device, ``group``
    mini-batches per Lightning step (``resident`` True; the engine then sets its
    ``epoch_source``). Under DDP, or for data larger than the device: DataLoaders, so that
    Lightning can shard them per process.
    """
    train_tensors = to_tensors(train)
    val_tensors = to_tensors(val) if val and len(val.get("inputs", ())) > 0 else None
    groups = [train_tensors] + ([val_tensors] if val_tensors else [])
    resident = config.devices * config.num_nodes == 1 and fits_on_device(groups, accelerator)
    if resident:
        device = torch_device(accelerator)
        train_loader: Any = ResidentBatches(
            {k: v.to(device) for k, v in train_tensors.items()}, config.batch_size, shuffle=True, seed=seed, group=group
        )
        val_loader: Any = None
        if val_tensors:
            val_batch = evaluation_batch_size(
                config.eval_batch_size, tuple(val_tensors["inputs"].shape[1:]), accelerator
            )
            val_loader = ResidentBatches({k: v.to(device) for k, v in val_tensors.items()}, val_batch, shuffle=False)
        return train_loader, val_loader, True
    pin = accelerator == "cuda"
    train_loader = torch.utils.data.DataLoader(
        DictDataset(train_tensors),
        batch_size=config.batch_size,
        shuffle=True,
        pin_memory=pin,
        generator=torch.Generator().manual_seed(seed),
    )
    val_loader = (
        torch.utils.data.DataLoader(DictDataset(val_tensors), batch_size=config.eval_batch_size, pin_memory=pin)
        if val_tensors
        else None
    )
    return train_loader, val_loader, False

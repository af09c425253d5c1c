"""What the NAE records and checks about its sampler during training: MCMC cost and chain blow-ups."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch

from jetae.models.nae.sampler import NegativeSamples
from jetae.train.protocol import TrainingDiverged


@dataclass
class MCMCStats:
    """Wall time and Langevin steps of the sampling in one epoch."""

    seconds: float = 0.0
    #: Batch-wide steps (latent + input chain per batch) and per-sample steps (times the batch size).
    steps: int = 0
    sample_steps: int = 0

    def timer(self, device: torch.device) -> "_Timer":
        """``with stats.timer(device): ...`` adds the wall time of the block (CUDA work included)."""
        return _Timer(self, device)

    def add_steps(self, steps_per_batch: int, batch_size: int) -> None:
        self.steps += steps_per_batch
        self.sample_steps += steps_per_batch * batch_size

    def record(self) -> dict[str, float]:
        """``mcmc_seconds``, ``mcmc_steps_per_second``, ``mcmc_sample_steps_per_second`` for the history."""
        seconds = self.seconds
        return {
            "mcmc_seconds": seconds,
            "mcmc_steps_per_second": self.steps / seconds if seconds > 0 else 0.0,
            "mcmc_sample_steps_per_second": self.sample_steps / seconds if seconds > 0 else 0.0,
        }


class _Timer:
    def __init__(self, stats: MCMCStats, device: torch.device):
        self.stats, self.device = stats, device

    def __enter__(self) -> None:
        self.began = time.perf_counter()

    def __exit__(self, *exc_info: object) -> None:
        if exc_info[0] is None and self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.stats.seconds += time.perf_counter() - self.began


def check_chains(
    negatives: NegativeSamples, neg_energy: torch.Tensor, max_energy: float, x_step_size: float, z_step_size: float
) -> None:
    """Raise TrainingDiverged when the MCMC blew up (NaN / inf samples, or a mean energy above ``max_energy``)."""
    if not bool(torch.isfinite(negatives.inputs).all()):
        bad = int((~torch.isfinite(negatives.inputs.flatten(1))).any(dim=1).sum())
        raise TrainingDiverged(
            f"MCMC diverged: {bad} of {len(negatives.inputs)} negative samples contain NaN or inf "
            f"(x_step_size={x_step_size}, z_step_size={z_step_size}; lower them, "
            "or set x_grad_clip / keep x_bounds=data)"
        )
    mean_energy = float(neg_energy.mean().detach())
    if not math.isfinite(mean_energy) or mean_energy > max_energy:
        raise TrainingDiverged(
            f"MCMC diverged: mean negative-sample energy {mean_energy:.4g} exceeds max_energy="
            f"{max_energy:g} (lower x_step_size={x_step_size} / z_step_size={z_step_size} or nae_lr)"
        )

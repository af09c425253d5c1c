"""Batched no-grad passes of a trained network (scoring, reconstructions, codes)."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn

from jetae.train.device import (
    evaluation_batch_size,
    resolve_accelerator,
    resolve_precision,
    torch_device,
    use_fast_memory_format,
)


@torch.no_grad()
def run_batched(
    network: nn.Module,
    inputs: np.ndarray,
    function: Callable[[nn.Module, torch.Tensor], torch.Tensor],
    batch_size: int,
    device: str = "auto",
    precision: str = "auto",
) -> np.ndarray:
    """Apply ``function(network, batch)`` over ``inputs`` ``(n, ...)`` in batches, in eval mode.

    Returns the concatenated float32 numpy result ``(n, ...)``. ``device`` and ``precision`` as
    in :class:`~jetae.train.config.TrainerConfig` (``auto``: bf16 autocast on a GPU, fp32 on the CPU).
    """
    accelerator = resolve_accelerator(device)
    target = torch_device(accelerator)
    network = use_fast_memory_format(network.to(target).eval(), accelerator)
    use_bf16 = resolve_precision(precision, accelerator, network, training=False).startswith("bf16")
    batch_size = evaluation_batch_size(batch_size, tuple(inputs.shape[1:]), accelerator)
    outputs = []
    for start in range(0, len(inputs), batch_size):
        batch = torch.from_numpy(np.ascontiguousarray(inputs[start : start + batch_size])).to(target)
        with torch.autocast(device_type=target.type, dtype=torch.bfloat16, enabled=use_bf16):
            result = function(network, batch)
        outputs.append(result.float().cpu())
    return torch.cat(outputs).numpy()

"""Where training and inference run: accelerator, precision, memory layout, batch sizes per device."""

from __future__ import annotations

import contextlib
import functools
import math

import torch
from torch import nn

from jetae.errors import JetaeError

#: On the CPU, evaluation batches hold at most this many input elements (about 330 40x40 images):
#: larger batches fall out of the caches and run up to 2x slower (see docs/models.md).
CPU_EVAL_ELEMENTS = 2**19


def mps_available() -> bool:
    """Whether Apple's MPS backend exists in this torch build and works on this machine."""
    return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()


def resolve_accelerator(device: str) -> str:
    """Map ``auto|cpu|cuda|mps`` to a Lightning accelerator that exists on this machine."""
    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        return "mps" if mps_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise JetaeError("device 'cuda' requested but no CUDA GPU is available (use --set device=cpu or auto)")
    if device == "mps" and not mps_available():
        raise JetaeError("device 'mps' requested but Apple MPS is not available")
    if device not in ("cpu", "cuda", "mps"):
        raise JetaeError(f"unknown device {device!r}; choose auto, cpu, cuda or mps")
    return device


def torch_device(accelerator: str) -> torch.device:
    """The torch device of a resolved accelerator (``cuda`` means the current CUDA device)."""
    return torch.device(accelerator)


@functools.cache
def cpu_has_native_bf16() -> bool:
    """Whether this CPU has bf16 instructions (AVX512-BF16 or AMX), where oneDNN runs bf16 convolutions natively.

    Without them bf16 autocast is emulated and slower than fp32, so ``precision=auto`` keeps fp32.
    """
    for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        check = getattr(torch.cpu, name, None)
        with contextlib.suppress(Exception):  # private helpers: absent or failing on some builds
            if check is not None and check():
                return True
    return False


def is_convolutional(network: nn.Module) -> bool:
    """Whether ``network`` has 2-d convolution weights (4-dimensional parameters)."""
    return any(p.dim() == 4 for p in network.parameters())


def resolve_precision(precision: str, accelerator: str, network: nn.Module | None = None, training: bool = True) -> str:
    """The Lightning precision that ``precision`` means for ``network`` on ``accelerator``.

    ``auto`` is bf16 autocast (``bf16-mixed``) on a CUDA GPU that supports it; on the CPU it is
    bf16 autocast for *training* a convolutional network on a CPU with native bf16
    (:func:`cpu_has_native_bf16`; about 2x the fp32 throughput of conv_ae at the same AUC,
    docs/models.md "Speed"), and fp32 for everything else: dense networks (not faster in bf16),
    CPUs without bf16 instructions and all no-grad passes (``training=False``: scores stay fp32
    on the CPU, so they match fp32 exports). Other values are returned unchanged.
    """
    if precision != "auto":
        return precision
    if accelerator == "cuda" and torch.cuda.is_bf16_supported():
        return "bf16-mixed"
    if (
        accelerator == "cpu"
        and training
        and network is not None
        and is_convolutional(network)
        and cpu_has_native_bf16()
    ):
        return "bf16-mixed"
    return "32-true"


def use_fast_memory_format(network: nn.Module, accelerator: str) -> nn.Module:
    """Conv weights in channels-last memory on the CPU (no-op for dense networks; returns ``network``).

    oneDNN's convolutions are about twice as fast in NHWC for the "QCD or What?" net (see
    docs/models.md); the weights keep their values and ``state_dict`` names. On GPUs the
    default layout is kept until measured (``bench/bench_training.py`` reports both).
    """
    if accelerator == "cpu" and is_convolutional(network):
        network.to(memory_format=torch.channels_last)
    return network


def evaluation_batch_size(batch_size: int, sample_shape: tuple[int, ...], accelerator: str) -> int:
    """``batch_size`` for no-grad passes, capped on the CPU to :data:`CPU_EVAL_ELEMENTS` input elements."""
    if accelerator != "cpu":
        return batch_size
    return max(1, min(batch_size, CPU_EVAL_ELEMENTS // max(1, math.prod(sample_shape))))


def fits_on_device(tensors: list[dict[str, torch.Tensor]], accelerator: str) -> bool:
    """Whether the training (and validation) tensors fit in half of the free memory of the device."""
    if accelerator != "cuda":
        return True
    needed = sum(t.numel() * t.element_size() for group in tensors for t in group.values())
    free, _ = torch.cuda.mem_get_info()
    return needed < 0.5 * free

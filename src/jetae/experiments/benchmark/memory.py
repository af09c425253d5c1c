"""Peak memory of one benchmark direction (train + score): process RSS and, on CUDA, GPU memory.

On Linux the kernel's peak-RSS mark (``VmHWM`` of ``/proc/self/status``) is reset before each
direction (``/proc/self/clear_refs``), so the figure is the peak *during* that direction; elsewhere
(or if the reset is refused) it is the process peak so far (``getrusage``), which only grows, and
the result says so (``peak_rss_scope``). Either way it includes the samples the benchmark holds in
memory: ``rss_start_mb`` is the resident size when the direction started, and the difference is
the model's own footprint (a lower bound: memory freed by earlier models may be reused).
"""

from __future__ import annotations

import contextlib
import logging
import resource
import sys
from pathlib import Path
from typing import Any, Iterator

import torch

log = logging.getLogger(__name__)

STATUS = Path("/proc/self/status")
CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_mb(field: str) -> float | None:
    """A ``kB`` field of ``/proc/self/status`` in MB (None where there is no such file)."""
    try:
        for line in STATUS.read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        return None
    return None


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark of this process (Linux >= 4.0); False if not possible."""
    try:
        CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def _rusage_peak_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0  # bytes on macOS, kB elsewhere


@contextlib.contextmanager
def peak_memory() -> Iterator[dict[str, Any]]:
    """Measure the peak memory of the block; yields a dict filled in on exit with
    ``peak_rss_mb``, ``rss_start_mb``, ``peak_rss_scope`` (``"direction"`` or ``"process"``) and,
    when CUDA is in use, ``peak_gpu_mb`` (``torch.cuda.max_memory_allocated``). Units: MB (2^20 bytes)."""
    record: dict[str, Any] = {}
    start = _status_mb("VmRSS")
    scoped = start is not None and _reset_peak()
    cuda = torch.cuda.is_available() and torch.cuda.is_initialized()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    try:
        yield record
    finally:
        peak = _status_mb("VmHWM") if scoped else None
        record["peak_rss_mb"] = peak if peak is not None else _rusage_peak_mb()
        record["rss_start_mb"] = start
        record["peak_rss_scope"] = "direction" if peak is not None else "process"
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            record["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20

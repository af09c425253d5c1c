"""CPU threads of a benchmark run, and the name of the CPU it ran on."""

from __future__ import annotations

import contextlib
import logging
import platform
from pathlib import Path
from typing import Iterator

import torch

try:  # scikit-learn's dependency, so normally there; without it only torch's threads are limited
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover
    threadpool_limits = None

log = logging.getLogger(__name__)


@contextlib.contextmanager
def thread_limit(threads: int | None) -> Iterator[int]:
    """Limit torch and the BLAS / OpenMP pools of numpy and scipy to ``threads`` (None: unchanged).

    Yields torch's thread count. Oversubscribed threads on a busy CPU are ruinous: the PCA
    eigendecomposition took 31 s with two OpenBLAS threads and 1.8 s with one on the loaded
    2-core machine. Restores the previous settings on exit.
    """
    before = torch.get_num_threads()
    with contextlib.ExitStack() as stack:
        if threads is not None:
            torch.set_num_threads(threads)
            if threadpool_limits is None:
                log.debug("threadpoolctl not installed: BLAS threads not limited")
            else:
                stack.enter_context(threadpool_limits(limits=threads))
        try:
            yield torch.get_num_threads()
        finally:
            torch.set_num_threads(before)


def cpu_name() -> str:
    """The CPU model (``/proc/cpuinfo`` on Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()

"""Running the shards of a plan: in this process, in a local process pool, or on a Dask cluster.

:func:`run_tasks` hands every :class:`~jetae.generation.shards.ShardResult` to a callback
as it finishes, so the caller decides whether results stay in memory
(:func:`jetae.generation.generate.generate_jets`) or go to shard files
(:func:`jetae.generation.generate.generate_to_file`).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, Callable

import numpy as np
from tqdm import tqdm

from jetae.errors import JetaeError
from jetae.generation import clustering
from jetae.generation.shards import ShardResult, ShardTask, run_shard


def progress_bar(total: int, initial: int, description: str, enabled: bool) -> tqdm:
    """A tqdm bar on stderr counting jets (disabled, but still usable, when not ``enabled``)."""
    return tqdm(
        total=total,
        initial=initial,
        unit="jet",
        desc=description,
        file=sys.stderr,
        disable=not enabled,
        dynamic_ncols=True,
        smoothing=0.1,
    )


def runs_in_process(n_tasks: int, workers: int, scheduler: Any) -> bool:
    """Whether shards run in this process: one worker, or a single shard (a pool would only add start-up time)."""
    return scheduler is None and (workers <= 1 or n_tasks <= 1)


def run_tasks(
    tasks: list[ShardTask],
    on_result: Callable[[ShardResult], None],
    workers: int = 1,
    scheduler: Any = None,
    bar=None,
) -> None:
    """Run ``tasks`` and hand each result to ``on_result`` as it finishes.

    One worker or one task (and no scheduler) runs in this process with per-batch progress;
    otherwise a spawn-based process pool of ``workers`` processes, or the Dask cluster
    at ``scheduler`` (an address or a ``distributed.Client``), with per-shard progress.
    """
    if not tasks:
        return
    if scheduler is not None:
        _run_dask(tasks, on_result, scheduler, bar)
    elif runs_in_process(len(tasks), workers, scheduler):
        for task in tasks:
            on_result(run_shard(task, progress=bar.update if bar is not None else None))
    else:
        n_workers = min(workers, len(tasks))
        context = multiprocessing.get_context("spawn")  # no fork of a process with threads
        with ProcessPoolExecutor(max_workers=n_workers, mp_context=context, initializer=_pool_worker_init) as pool:
            futures = [pool.submit(run_shard, task.to_dict()) for task in tasks]
            try:
                for future in as_completed(futures):
                    result = future.result()
                    on_result(result)
                    if bar is not None:
                        bar.update(len(result.constituents))
            except BaseException:
                for future in futures:
                    future.cancel()
                raise


def _pool_worker_init() -> None:
    """Pool workers drop FastJet's banner instead of each printing it to stderr."""
    clustering.BANNER["mode"] = "discard"


def _run_dask(tasks: list[ShardTask], on_result: Callable[[ShardResult], None], scheduler: Any, bar) -> None:
    try:  # dask.distributed takes ~1 s to import: only when a scheduler is given
        from distributed import Client
        from distributed import as_completed as dask_completed
    except ImportError as exc:  # pragma: no cover - dask[distributed] is a dependency
        raise JetaeError(f"--scheduler needs dask.distributed: {exc}") from exc
    own_client = not isinstance(scheduler, Client)
    if own_client:
        try:
            client = Client(str(scheduler), timeout="20s", set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise JetaeError(f"cannot connect to the Dask scheduler at {scheduler}: {exc}") from exc
    else:
        client = scheduler
    try:
        futures = [client.submit(run_shard, task.to_dict(), pure=False) for task in tasks]
        try:
            for future in dask_completed(futures):
                result = future.result()
                on_result(result)
                if bar is not None:
                    bar.update(len(result.constituents))
        except BaseException:
            client.cancel(futures)
            raise
    finally:
        if own_client:
            client.close()


def available_cores() -> int:
    """Cores this process may use (CPU affinity / container limits where the OS tells)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # macOS, Windows
        return os.cpu_count() or 1


def check_workers(workers: int | None) -> int:
    """``workers`` as a positive int; None means :func:`available_cores`.

    Raises
    ------
    JetaeError
        Not a positive integer.
    """
    if workers is None:
        return available_cores()
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers <= 0:
        raise JetaeError(f"workers must be a positive integer, got {workers!r}")
    return int(workers)

"""Planning a ``jetae generate`` run: the process, the checked arguments, and the shards.

The ``n_jets`` jets are split into shards of ``shard_size`` jets. Shard ``i`` uses the
Pythia seed derived from ``(seed, i)`` (:func:`jetae.generation.shards.shard_seed`); the
plan depends only on ``n_jets``, ``seed`` and ``shard_size``, never on the worker count,
so the same arguments give the same jets on 1 core, 16 cores or a Dask cluster.
"""

from __future__ import annotations

import math
import os

import numpy as np

from jetae.errors import JetaeError
from jetae.generation.clustering import JetWindow
from jetae.generation.processes import ProcessSpec, get_process, read_card
from jetae.generation.pythia import make_pythia
from jetae.generation.shards import ShardTask, shard_seed, shard_sizes

#: Bumped whenever a code change alters the jets made from the same arguments; a work
#: directory from another format version is never reused.
GENERATOR_FORMAT = 1


def default_shard_size(n_jets: int) -> int:
    """Jets per shard: ``ceil(n_jets / 32)`` clamped to 500..2000.

    Small enough that 32 workers stay busy and a resumed run loses little, large enough
    that Pythia's initialisation (~0.5 s per shard) stays a few per cent of the work.
    """
    return int(min(2000, max(500, math.ceil(n_jets / 32))))


def resolve_process(process: str | ProcessSpec | None, card: str | os.PathLike | None = None) -> ProcessSpec:
    """A :class:`ProcessSpec` from a built-in name, a spec, or a card file (exactly one)."""
    if card is not None:
        if process is not None:
            raise JetaeError("give either a process name or --card FILE|NAME, not both")
        return read_card(card)
    if process is None:
        raise JetaeError("no process given: choose qcd, top or w, or give --card FILE|NAME")
    if isinstance(process, ProcessSpec):
        return process
    return get_process(str(process))


def make_plan(
    spec: ProcessSpec,
    n_jets: int,
    seed: int,
    window: JetWindow,
    sqrts: float,
    mpi: bool,
    shard_size: int | None = None,
    pthat_min: float | None = None,
    pthat_max: float | None = None,
) -> tuple[dict, list[ShardTask]]:
    """Validate the arguments and split the run into shards.

    Returns the JSON-able arguments record (what must match to resume) and the tasks.
    """
    if isinstance(n_jets, bool) or not isinstance(n_jets, (int, np.integer)) or n_jets <= 0:
        raise JetaeError(f"the number of jets must be a positive integer, got {n_jets!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise JetaeError(f"the seed must be a non-negative integer, got {seed!r}")
    if not 0 <= window.pt_min < window.pt_max:
        raise JetaeError(f"need 0 <= pt-min < pt-max, got {window.pt_min:g} and {window.pt_max:g} GeV")
    if not window.eta_max > 0:
        raise JetaeError(f"eta-max must be positive, got {window.eta_max:g}")
    if not 0 < window.radius <= 2.0:
        raise JetaeError(f"the jet radius must be in (0, 2], got {window.radius:g}")
    if not 1 <= window.max_constituents <= 10_000:
        raise JetaeError(f"max-constituents must be in 1..10000, got {window.max_constituents}")
    if not sqrts > 0:
        raise JetaeError(f"sqrts must be positive, got {sqrts:g} GeV")
    shard_size = default_shard_size(int(n_jets)) if shard_size is None else shard_size
    if isinstance(shard_size, bool) or not isinstance(shard_size, (int, np.integer)) or shard_size <= 0:
        raise JetaeError(f"the shard size must be a positive integer, got {shard_size!r}")
    lo, hi = spec.pthat_window(window.pt_min, window.pt_max)
    lo = lo if pthat_min is None else float(pthat_min)
    hi = hi if pthat_max is None else float(pthat_max)
    if lo < 0 or (hi > 0 and hi <= lo):
        raise JetaeError(f"need 0 <= pthat-min < pthat-max, got {lo:g} and {hi:g} GeV")
    window_dict = {
        "pt_min": float(window.pt_min),
        "pt_max": float(window.pt_max),
        "eta_max": float(window.eta_max),
        "radius": float(window.radius),
        "max_constituents": int(window.max_constituents),
    }
    arguments = {
        "format": GENERATOR_FORMAT,
        "process": spec.to_dict(),
        "n_jets": int(n_jets),
        "seed": int(seed),
        "shard_size": int(shard_size),
        "window": window_dict,
        "sqrts": float(sqrts),
        "mpi": bool(mpi),
        "pthat_min": float(lo),
        "pthat_max": float(hi),
    }
    tasks = [
        ShardTask(
            index=i,
            n_jets=size,
            seed=shard_seed(int(seed), i),
            process=spec.to_dict(),
            window=window_dict,
            sqrts=float(sqrts),
            mpi=bool(mpi),
            pthat_min=float(lo),
            pthat_max=float(hi),
        )
        for i, size in enumerate(shard_sizes(int(n_jets), int(shard_size)))
    ]
    return arguments, tasks


def check_settings(spec: ProcessSpec, task: ShardTask) -> None:
    """Initialise Pythia once here, so a bad card fails before any worker starts."""
    make_pythia(task.settings(), task.seed, card_path=spec.card_path, card_lines=spec.card_lines)

"""Generate jet samples with Pythia 8 + FastJet: ``jetae generate`` and its Python API.

``generate_jets`` returns a :class:`~jetae.jets.Jets` sample; ``generate_to_file``
writes the Top Tagging Reference layout (readable by ``pandas.read_hdf(path, "table")``
and :func:`jetae.io.toptag.read_jets`) plus a provenance sidecar ``FILE.json``.

The steps, each in its own module (details and measured numbers in ``docs/generation.md``):

* :mod:`jetae.generation.plan`: the process and the checked arguments, split into shards
  whose seeds depend only on ``n_jets``, ``seed`` and ``shard_size``, never on the worker
  count, so the same arguments give the same jets on 1 core, 16 cores or a Dask cluster;
* :mod:`jetae.generation.run`: shards run in this process (``workers=1``), in a local
  process pool, or on an existing Dask cluster (``scheduler="tcp://host:8786"``);
  :mod:`jetae.generation.shards` makes one shard;
* :mod:`jetae.generation.shard_files`: ``generate_to_file`` keeps finished shards in a work
  directory ``.FILE.parts/`` next to the output, so running the same command again after an
  interruption reuses them; the output appears (atomically) only when every shard is done.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Iterable

from jetae import __version__
from jetae.errors import JetaeError
from jetae.generation.clustering import JetWindow
from jetae.generation.plan import check_settings, make_plan, resolve_process
from jetae.generation.processes import ProcessSpec
from jetae.generation.pythia import pythia_version
from jetae.generation.run import check_workers, progress_bar, run_tasks, runs_in_process
from jetae.generation.shard_files import (
    iter_shard_jets,
    load_shard,
    prepare_work_dir,
    save_shard,
    shard_path,
    work_dir_for,
)
from jetae.generation.shards import ShardResult, ShardTask, assemble
from jetae.io.atomic import atomic_path, write_text_atomic
from jetae.io.provenance import sidecar_for
from jetae.io.toptag import write_jet_chunks
from jetae.jets import N_CONSTITUENTS_MAX, Jets

log = logging.getLogger(__name__)


def _summary(shards: Iterable[dict], is_signal: bool) -> dict:
    """Totals over per-shard summaries (:meth:`ShardResult.summary`)."""
    shards = list(shards)
    n_jets = sum(s["n_jets"] for s in shards)
    n_events = sum(s["n_events"] for s in shards)
    n_window = sum(s["n_in_window"] for s in shards)
    return {
        "n_jets": int(n_jets),
        "n_events": int(n_events),
        "jets_per_event": round(n_jets / n_events, 4) if n_events else None,
        "matched_fraction": round(n_jets / n_window, 4) if n_window and is_signal else None,
        "shard_seconds": round(sum(s["seconds"] for s in shards), 2),
    }


def generate_jets(
    process: str | ProcessSpec | None,
    n_jets: int,
    seed: int = 0,
    workers: int | None = None,
    scheduler: Any = None,
    card: str | os.PathLike | None = None,
    pt_min: float = 550.0,
    pt_max: float = 650.0,
    eta_max: float = 2.0,
    radius: float = 0.8,
    sqrts: float = 14000.0,
    mpi: bool = False,
    max_constituents: int = N_CONSTITUENTS_MAX,
    shard_size: int | None = None,
    pthat_min: float | None = None,
    pthat_max: float | None = None,
    progress: bool = False,
) -> Jets:
    """Generate ``n_jets`` jets of ``process`` in memory.

    Parameters
    ----------
    process:
        ``"qcd"``, ``"top"``, ``"w"``, a :class:`ProcessSpec`, or ``None`` with ``card``.
    n_jets:
        Number of jets (exactly this many are returned).
    seed:
        Run seed; with ``n_jets`` and ``shard_size`` it fixes the jets completely.
    workers:
        Local processes (default: all available cores); 1 runs in this process.
    scheduler:
        Dask scheduler address (``"tcp://host:8786"``) or a ``distributed.Client``; the
        shards then run on that cluster instead of local processes.
    card:
        A Pythia settings file with a ``! jetae: match = ID`` line (see
        :mod:`jetae.generation.processes`).
    pt_min, pt_max, eta_max, radius, max_constituents:
        Anti-kT ``radius`` jets with ``pt_min < pT < pt_max`` GeV and ``|eta| < eta_max``;
        the hardest ``max_constituents`` constituents are kept.
    sqrts, mpi:
        Collision energy in GeV and multiple parton interactions (off, as in the reference).
    shard_size:
        Jets per shard (default :func:`default_shard_size`).
    pthat_min, pthat_max:
        ``PhaseSpace:pTHat`` window in GeV (default: the process's fractions of the jet window).
    progress:
        Show a tqdm progress bar on stderr.

    Returns
    -------
    Jets
        ``constituents (n_jets, max_constituents, 4)`` (E, px, py, pz) GeV ordered by pT,
        ``truth`` the matched parton (zeros for background), ``ttv = 0``,
        ``is_signal`` 1 for matched processes.
    """
    spec = resolve_process(process, card)
    window = JetWindow(pt_min, pt_max, eta_max, radius, max_constituents)
    arguments, tasks = make_plan(spec, n_jets, seed, window, sqrts, mpi, shard_size, pthat_min, pthat_max)
    workers = check_workers(workers)
    if spec.card_path is not None or not runs_in_process(len(tasks), workers, scheduler):
        check_settings(spec, tasks[0])
    results: list[ShardResult] = []
    bar = progress_bar(int(n_jets), 0, f"generate {spec.name}", progress)
    try:
        run_tasks(tasks, results.append, workers=workers, scheduler=scheduler, bar=bar)
    finally:
        bar.close()
    return assemble(results, spec.is_signal)


def _scheduler_name(scheduler: Any) -> str | None:
    if scheduler is None or isinstance(scheduler, str):
        return scheduler
    address = getattr(getattr(scheduler, "scheduler", None), "address", None)
    return str(address) if address else repr(scheduler)


def _versions() -> dict:
    def version(name: str) -> str | None:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return None

    return {
        "jetae": __version__,
        "pythia8mc": pythia_version(),
        "fastjet": version("fastjet"),
        "numpy": version("numpy"),
        "python": sys.version.split()[0],
    }


def generate_to_file(
    out: str | os.PathLike,
    process: str | ProcessSpec | None,
    n_jets: int,
    seed: int = 0,
    workers: int | None = None,
    scheduler: Any = None,
    card: str | os.PathLike | None = None,
    pt_min: float = 550.0,
    pt_max: float = 650.0,
    eta_max: float = 2.0,
    radius: float = 0.8,
    sqrts: float = 14000.0,
    mpi: bool = False,
    max_constituents: int = N_CONSTITUENTS_MAX,
    shard_size: int | None = None,
    pthat_min: float | None = None,
    pthat_max: float | None = None,
    overwrite: bool = False,
    restart: bool = False,
    progress: bool = False,
    command: list[str] | None = None,
) -> dict:
    """Generate jets into ``out`` (Top Tagging Reference layout) with resume support.

    Arguments as in :func:`generate_jets`, plus:

    out:
        Output HDF5 file; must not exist unless ``overwrite``. Its folder must be writable.
    overwrite:
        Replace an existing output (only once the new one is complete).
    restart:
        Discard the work directory of an earlier run instead of resuming it.
    command:
        The command line, recorded in the provenance.

    Returns
    -------
    dict
        The provenance record, also written to ``OUT.json``.

    Raises
    ------
    JetaeError
        Bad arguments, unknown process, a card Pythia rejects, an existing output
        (without ``overwrite``), an unwritable folder (a missing one is made), a work directory from other
        arguments (without ``restart``). Nothing is written before the checks pass.
    """
    started = time.perf_counter()
    out = Path(out)
    spec = resolve_process(process, card)
    window = JetWindow(pt_min, pt_max, eta_max, radius, max_constituents)
    arguments, tasks = make_plan(spec, n_jets, seed, window, sqrts, mpi, shard_size, pthat_min, pthat_max)
    workers = check_workers(workers)
    if out.is_dir():
        raise JetaeError("is a directory; give an output file name like sample.h5", out)
    if out.exists() and not overwrite:
        raise JetaeError("output file exists; use --overwrite to replace it", out)
    folder = out.parent if str(out.parent) else Path(".")
    # A missing folder (``data/`` on a fresh clone) is made, but only after every check passed.
    nearest = next((path for path in (folder, *folder.parents) if path.exists()), Path("."))
    if not nearest.is_dir():
        raise JetaeError("the output folder cannot be made: a file is in its way", nearest)
    if not os.access(nearest, os.W_OK | os.X_OK):
        raise JetaeError("the output folder is not writable", nearest)
    if spec.card_path is not None or not runs_in_process(len(tasks), workers, scheduler):
        check_settings(spec, tasks[0])  # fail here, with the card line, not in a worker
    folder.mkdir(parents=True, exist_ok=True)

    work_dir = work_dir_for(out)
    prepare_work_dir(work_dir, arguments, restart)
    summaries: dict[int, dict] = {}  # only numbers in memory: the jets live in the shard files
    todo: list[ShardTask] = []
    for task in tasks:
        reused = load_shard(shard_path(work_dir, task.index), task, window.max_constituents)
        if reused is None:
            todo.append(task)
        else:
            summaries[task.index] = reused.summary()
    if summaries:
        log.info("resuming: %d of %d shards already done in %s", len(summaries), len(tasks), work_dir)

    def keep(result: ShardResult) -> None:
        save_shard(shard_path(work_dir, result.index), result)
        summaries[result.index] = result.summary()

    done_jets = sum(s["n_jets"] for s in summaries.values())
    bar = progress_bar(int(n_jets), done_jets, f"generate {spec.name}", progress)
    try:
        run_tasks(todo, keep, workers=workers, scheduler=scheduler, bar=bar)
    except BaseException:
        if not any(work_dir.glob("shard-*.npz")):
            shutil.rmtree(work_dir, ignore_errors=True)  # nothing worth resuming: leave no trace
        else:
            log.warning("finished shards are kept in %s; run the same command again to resume", work_dir)
        raise
    finally:
        bar.close()

    ordered = [summaries[t.index] for t in tasks]
    provenance = {
        "generator": "jetae generate",
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "versions": _versions(),
        "arguments": arguments,
        "pythia_settings": tasks[0].settings(),
        "shards": [{**summary, "seed": t.seed} for summary, t in zip(ordered, tasks)],
        "shards_reused": len(tasks) - len(todo),
        "workers": workers if scheduler is None else None,
        "scheduler": _scheduler_name(scheduler),
        "totals": {**_summary(ordered, spec.is_signal), "wall_seconds": round(time.perf_counter() - started, 2)},
        "layout": "Top Tagging Reference (pandas HDFStore key 'table'); ttv = 0; "
        "truth = matched parton (zeros for background)",
    }
    # the data file and its sidecar appear together, and only when complete
    with atomic_path(out, suffix=".h5") as tmp:
        # the reference layout has 200 constituent slots; more constituents widen it
        width = max(N_CONSTITUENTS_MAX, window.max_constituents)
        write_jet_chunks(tmp, iter_shard_jets(work_dir, tasks, window.max_constituents, spec.is_signal), width)
        write_text_atomic(sidecar_for(out), json.dumps(provenance, indent=1))
    log.info("wrote %d jets to %s", provenance["totals"]["n_jets"], out)
    shutil.rmtree(work_dir, ignore_errors=True)
    totals = provenance["totals"]
    log.info(
        "%s: %d %s jets from %d events (%.3f jets/event) in %.1f s",
        out,
        totals["n_jets"],
        spec.name,
        totals["n_events"],
        totals["jets_per_event"] or 0.0,
        totals["wall_seconds"],
    )
    return provenance

"""Generate jet samples with Pythia 8 + FastJet: ``jetae generate`` and its Python API.

``generate_jets`` returns a :class:`~jetae.data.jets.Jets` sample; ``generate_to_file``
writes the Top Tagging Reference layout (readable by ``pandas.read_hdf(path, "table")``
and :func:`jetae.data.toptag.read_jets`) plus a provenance sidecar ``FILE.json``.

Design (details and measured numbers in ``docs/generation.md``):

* The ``n_jets`` jets are split into shards of ``shard_size`` jets. Shard ``i`` uses the
  Pythia seed derived from ``(seed, i)``; the shard plan depends only on ``n_jets``,
  ``seed`` and ``shard_size``, never on the worker count, so the same arguments give the
  same jets on 1 core, 16 cores or a Dask cluster.
* Shards run in this process (``workers=1``), in a local process pool, or on an existing
  Dask cluster (``scheduler="tcp://host:8786"``).
* ``generate_to_file`` keeps finished shards in a work directory ``.FILE.parts/`` next to
  the output, with a manifest of the arguments. Running the same command again after an
  interruption reuses them; the output appears (atomically) only when every shard is
  done, and the work directory is then removed.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import math
import multiprocessing
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from jetae._atomic import atomic_path, write_text_atomic
from jetae.data.gen_jets import JetWindow
from jetae.data.gen_pythia import make_pythia, pythia_version
from jetae.data.gen_shard import ShardResult, ShardTask, run_shard, shard_seed, shard_sizes
from jetae.data.jets import N_CONSTITUENTS_MAX, Jets
from jetae.data.processes import ProcessSpec, get_process, read_card
from jetae.errors import JetaeError

log = logging.getLogger(__name__)

#: Bumped whenever a code change alters the jets made from the same arguments; a work
#: directory from another format version is never reused.
GENERATOR_FORMAT = 1

MANIFEST = "manifest.json"


def default_shard_size(n_jets: int) -> int:
    """Jets per shard: ``ceil(n_jets / 32)`` clamped to 500..2000.

    Small enough that 32 workers stay busy and a resumed run loses little, large enough
    that Pythia's initialisation (~0.5 s per shard) stays a few per cent of the work.
    """
    return int(min(2000, max(500, math.ceil(n_jets / 32))))


def work_dir_for(out: str | os.PathLike) -> Path:
    """The resume directory of output ``out``: ``.OUT.parts`` in the same folder."""
    out = Path(out)
    return out.with_name(f".{out.name}.parts")


def sidecar_for(out: str | os.PathLike) -> Path:
    """The provenance sidecar of output ``out``: ``OUT.json``."""
    out = Path(out)
    return out.with_name(out.name + ".json")


# --- planning --------------------------------------------------------------------------------


def resolve_process(process: str | ProcessSpec | None, card: str | os.PathLike | None = None) -> ProcessSpec:
    """A :class:`ProcessSpec` from a built-in name, a spec, or a card file (exactly one)."""
    if card is not None:
        if process is not None:
            raise JetaeError("give either a process name or --card FILE, not both")
        return read_card(card)
    if process is None:
        raise JetaeError("no process given: choose qcd, top or w, or give --card FILE")
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
        "pt_min": float(window.pt_min), "pt_max": float(window.pt_max), "eta_max": float(window.eta_max),
        "radius": float(window.radius), "max_constituents": int(window.max_constituents),
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
            index=i, n_jets=size, seed=shard_seed(int(seed), i), process=spec.to_dict(), window=window_dict,
            sqrts=float(sqrts), mpi=bool(mpi), pthat_min=float(lo), pthat_max=float(hi),
        )
        for i, size in enumerate(shard_sizes(int(n_jets), int(shard_size)))
    ]
    return arguments, tasks


def check_settings(spec: ProcessSpec, task: ShardTask) -> None:
    """Initialise Pythia once here, so a bad card fails before any worker starts."""
    make_pythia(task.settings(), task.seed, card_path=spec.card_path, card_lines=spec.card_lines)


# --- running shards --------------------------------------------------------------------------


def _progress_bar(total: int, initial: int, description: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="jet", desc=description, file=sys.stderr,
                disable=not enabled, dynamic_ncols=True, smoothing=0.1)


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
    from jetae.data import gen_jets

    gen_jets.BANNER["mode"] = "discard"


def _run_dask(tasks: list[ShardTask], on_result: Callable[[ShardResult], None], scheduler: Any, bar) -> None:
    try:
        from distributed import Client, as_completed as dask_completed
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


def _assemble(results: Iterable[ShardResult], is_signal: bool) -> Jets:
    results = sorted(results, key=lambda r: r.index)
    constituents = np.concatenate([r.constituents for r in results])
    truth = np.concatenate([r.truth for r in results])
    n = len(constituents)
    return Jets(
        constituents=constituents,
        truth=truth,
        ttv=np.zeros(n, np.int64),
        is_signal=np.full(n, int(is_signal), np.int64),
    )


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


# --- public API ------------------------------------------------------------------------------


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
        :mod:`jetae.data.processes`).
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
    workers = _check_workers(workers)
    if spec.card_path is not None or not runs_in_process(len(tasks), workers, scheduler):
        check_settings(spec, tasks[0])
    results: list[ShardResult] = []
    bar = _progress_bar(int(n_jets), 0, f"generate {spec.name}", progress)
    try:
        run_tasks(tasks, results.append, workers=workers, scheduler=scheduler, bar=bar)
    finally:
        bar.close()
    return _assemble(results, spec.is_signal)


def available_cores() -> int:
    """Cores this process may use (CPU affinity / container limits where the OS tells)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # macOS, Windows
        return os.cpu_count() or 1


def _check_workers(workers: int | None) -> int:
    if workers is None:
        return available_cores()
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers <= 0:
        raise JetaeError(f"workers must be a positive integer, got {workers!r}")
    return int(workers)


def _save_shard(path: Path, result: ShardResult) -> None:
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as handle:
            np.savez(
                handle,
                constituents=result.constituents,
                truth=result.truth,
                meta=np.array([result.index, result.n_events, result.n_in_window], dtype=np.int64),
                seconds=np.array(result.seconds),
            )


def _load_shard(path: Path, task: ShardTask, max_constituents: int) -> ShardResult | None:
    """A finished shard from the work directory, or None if missing or not usable.

    A shard file is only a cache of :func:`run_shard` (same task, same jets): anything that is
    not exactly what :func:`_save_shard` wrote is made again, with a warning naming the file.
    """
    if not path.exists():
        return None
    expected = {
        "constituents": ((task.n_jets, max_constituents, 4), np.float32),
        "truth": ((task.n_jets, 4), np.float32),
        "meta": ((3,), np.int64),
        "seconds": ((), np.float64),
    }
    try:
        with np.load(path, allow_pickle=False) as data:
            if not isinstance(data, np.lib.npyio.NpzFile) or sorted(data.files) != sorted(expected):
                raise ValueError("not a shard file")
            arrays = {name: data[name] for name in expected}
    # A damaged file raises whatever zipfile, zlib or numpy's format reader meet first (BadZipFile,
    # EOFError, OSError, ValueError, ...): every one of them means "make this shard again".
    except Exception as exc:  # noqa: BLE001
        log.warning("%s: unreadable shard file (%s: %s); making it again", path, type(exc).__name__, exc)
        return None
    for name, (shape, dtype) in expected.items():
        if arrays[name].shape != shape or arrays[name].dtype != dtype:
            log.warning("%s: shard file does not match the plan (%s); making it again", path, name)
            return None
    index, n_events, n_in_window = (int(v) for v in arrays["meta"])
    if index != task.index:
        log.warning("%s: holds shard %d, not shard %d; making it again", path, index, task.index)
        return None
    constituents, truth, seconds = arrays["constituents"], arrays["truth"], float(arrays["seconds"])
    return ShardResult(index=index, constituents=constituents, truth=truth, n_events=n_events,
                       n_in_window=n_in_window, seconds=seconds)


def _differences(old: dict, new: dict, prefix: str = "") -> list[str]:
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out.extend(_differences(a, b, f"{prefix}{key}."))
        elif a != b:
            shown_a = json.dumps(a)[:40]
            shown_b = json.dumps(b)[:40]
            out.append(f"{prefix}{key}: {shown_a} then, {shown_b} now")
    return out


def _prepare_work_dir(work_dir: Path, arguments: dict, restart: bool) -> None:
    manifest = work_dir / MANIFEST
    if restart and work_dir.exists():
        log.info("--restart: removing %s", work_dir)
        shutil.rmtree(work_dir)
    if work_dir.exists():
        try:
            previous = json.loads(manifest.read_text())["arguments"]
        except (OSError, ValueError, KeyError, TypeError):
            raise JetaeError(
                "work directory without a readable manifest; remove it or add --restart", work_dir) from None
        if previous != arguments:
            changes = "; ".join(_differences(previous, arguments)[:4])
            raise JetaeError(
                f"holds shards of a run with different arguments ({changes}); "
                "run the same command to resume it, or add --restart to discard it", work_dir)
        return
    try:
        work_dir.mkdir(parents=False)
    except OSError as exc:
        raise JetaeError(f"cannot create the work directory next to the output: {exc.strerror or exc}",
                         work_dir) from exc
    write_text_atomic(manifest, json.dumps({"arguments": arguments}, indent=1))


def _shard_path(work_dir: Path, index: int) -> Path:
    return work_dir / f"shard-{index:05d}.npz"


def _write_reference_table(path: Path, work_dir: Path, tasks: list[ShardTask], max_constituents: int,
                           is_signal: bool) -> None:
    """Stream the shard files, in order, into a new reference-layout HDF5 file ``path``.

    Same layout as :func:`jetae.data.toptag.write_jets`, but one shard in memory at a time.
    """
    import pandas as pd

    from jetae.data.toptag import KEY, jets_to_frame

    offset = 0
    # the reference layout has 200 constituent slots; more constituents widen it
    width = max(N_CONSTITUENTS_MAX, max_constituents)
    with pd.HDFStore(path, mode="w", complevel=1, complib="zlib") as store:
        for task in tasks:
            result = _load_shard(_shard_path(work_dir, task.index), task, max_constituents)
            if result is None:
                raise JetaeError("a finished shard vanished or was damaged while writing the output; "
                                 "run the same command again", _shard_path(work_dir, task.index))
            jets = _assemble([result], is_signal)
            frame = jets_to_frame(jets, n_constituents=width)
            frame.index = pd.RangeIndex(offset, offset + len(frame))
            store.append(KEY, frame, format="table", index=False)
            offset += len(frame)


def _scheduler_name(scheduler: Any) -> str | None:
    if scheduler is None or isinstance(scheduler, str):
        return scheduler
    address = getattr(getattr(scheduler, "scheduler", None), "address", None)
    return str(address) if address else repr(scheduler)


def _versions() -> dict:
    import importlib.metadata

    from jetae import __version__

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
    workers = _check_workers(workers)
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
    _prepare_work_dir(work_dir, arguments, restart)
    summaries: dict[int, dict] = {}  # only numbers in memory: the jets live in the shard files
    todo: list[ShardTask] = []
    for task in tasks:
        reused = _load_shard(_shard_path(work_dir, task.index), task, window.max_constituents)
        if reused is None:
            todo.append(task)
        else:
            summaries[task.index] = reused.summary()
    if summaries:
        log.info("resuming: %d of %d shards already done in %s", len(summaries), len(tasks), work_dir)

    def keep(result: ShardResult) -> None:
        _save_shard(_shard_path(work_dir, result.index), result)
        summaries[result.index] = result.summary()

    done_jets = sum(s["n_jets"] for s in summaries.values())
    bar = _progress_bar(int(n_jets), done_jets, f"generate {spec.name}", progress)
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
        _write_reference_table(tmp, work_dir, tasks, window.max_constituents, spec.is_signal)
        write_text_atomic(sidecar_for(out), json.dumps(provenance, indent=1))
    log.info("wrote %d jets to %s", provenance["totals"]["n_jets"], out)
    shutil.rmtree(work_dir, ignore_errors=True)
    totals = provenance["totals"]
    log.info("%s: %d %s jets from %d events (%.3f jets/event) in %.1f s",
             out, totals["n_jets"], spec.name, totals["n_events"], totals["jets_per_event"] or 0.0,
             totals["wall_seconds"])
    return provenance

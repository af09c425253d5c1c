"""Benchmark ``jetae generate``: jets per second per core, and the pipeline's overhead over
Pythia's own event loop for the same events.

Two Pythia instances with the same seed make the same events; chunk by chunk (interleaved,
so load changes on the machine hit both alike, and in alternating order, so neither always
runs on caches the other has just used) one runs the plain ``pythia.next()`` loop and the
other the full jetae pipeline on the same events (``nextBatch`` extraction, visible
final-state selection, skeleton and regional FastJet clustering, window, truth matching,
packing). Times are CPU seconds of this process (``time.process_time``), which other jobs on
the machine disturb less than wall-clock time; wall-clock figures are recorded too.

After each chunk, untimed for the overhead figure, the same events also go through
``find_jets(..., regional=False)`` (every event clustered in full, the reference): the jets
must be identical, and its CPU time gives the overhead jetae had without regional clustering.

Usage::

    .venv/bin/python bench/bench_generate.py                 # 2000 events per process
    .venv/bin/python bench/bench_generate.py --events 500    # quicker

Writes ``bench/results/generate.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from jetae.generation.clustering import JetWindow
from jetae.generation.jet_finding import find_jets
from jetae.generation.processes import get_process
from jetae.generation.pythia import VisibilityTable, make_pythia, next_batch, physics_settings
from jetae.generation.shards import ShardTask, run_shard

RESULTS = Path(__file__).resolve().parent / "results" / "generate.json"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _same_jets(a, b) -> bool:
    return (
        np.array_equal(a.constituents, b.constituents)
        and np.array_equal(a.truth, b.truth)
        and np.array_equal(a.event, b.event)
        and np.array_equal(a.window_event, b.window_event)
    )


def bench_event_loop(name: str, n_events: int, batch: int, seed: int) -> dict:
    """Pipeline vs ``pythia.next()`` on the same events (interleaved chunks of ``batch``)."""
    spec = get_process(name)
    window = JetWindow()
    lo, hi = spec.pthat_window(window.pt_min, window.pt_max)
    settings = [*spec.settings, *physics_settings(14000.0, False, lo, hi)]
    plain = make_pythia(settings, seed)
    piped = make_pythia(settings, seed)
    visible = VisibilityTable(piped)
    # warm-up on a third instance: imports, FastJet banner, first-call costs
    warm = make_pythia(settings, seed + 1)
    warm_events = next_batch(warm, 20)
    find_jets(warm_events, VisibilityTable(warm), window, spec.match_id)
    find_jets(warm_events, VisibilityTable(warm), window, spec.match_id, regional=False)

    cpu = {"next": 0.0, "batch": 0.0, "jets": 0.0, "jets_full": 0.0}
    wall = {"next": 0.0, "batch": 0.0, "jets": 0.0}
    stages: dict[str, float] = {}
    stats: dict[str, int] = {}
    n_jets = n_window = n_done = 0
    identical = True
    per_chunk = []  # overhead fraction of each chunk, to show the spread

    def run_plain() -> float:
        c0, w0 = time.process_time(), time.perf_counter()
        for _ in range(batch):
            while not plain.next():  # nextBatch skips failed events the same way
                pass
        cpu["next"] += time.process_time() - c0
        wall["next"] += time.perf_counter() - w0
        return time.process_time() - c0

    for chunk in range(n_events // batch):
        if chunk % 2 == 0:
            plain_cpu = run_plain()
        c1, w1 = time.process_time(), time.perf_counter()
        events = next_batch(piped, batch)
        c2, w2 = time.process_time(), time.perf_counter()
        jets = find_jets(events, visible, window, spec.match_id, timings=stages, stats=stats)
        c3, w3 = time.process_time(), time.perf_counter()
        if chunk % 2 == 1:
            plain_cpu = run_plain()
        per_chunk.append((c3 - c1) / plain_cpu - 1.0)
        cpu["batch"] += c2 - c1
        cpu["jets"] += c3 - c2
        wall["batch"] += w2 - w1
        wall["jets"] += w3 - w2
        # the reference: every event clustered in full (untimed for the overhead)
        c4 = time.process_time()
        reference = find_jets(events, visible, window, spec.match_id, regional=False)
        cpu["jets_full"] += time.process_time() - c4
        identical = identical and _same_jets(jets, reference)
        n_jets += len(jets)
        n_window += jets.n_in_window
        n_done += events.n_events
        # same events? the last event record of the chunk must agree
        assert events.offsets[-1] - events.offsets[-2] == plain.event.size(), "event streams diverged"
    per_event = lambda seconds: 1e3 * seconds / n_done  # noqa: E731 - ms per event
    pipeline_cpu = cpu["batch"] + cpu["jets"]
    return {
        "events": n_done,
        "batch_events": batch,
        "jets": n_jets,
        "jets_per_event": round(n_jets / n_done, 4),
        "jets_in_window_per_event": round(n_window / n_done, 4),
        "pythia_next_ms_per_event": round(per_event(cpu["next"]), 4),
        "pipeline_ms_per_event": round(per_event(pipeline_cpu), 4),
        "overhead_fraction": round(pipeline_cpu / cpu["next"] - 1.0, 4),
        "overhead_ms_per_event": {
            "extract_nextBatch": round(per_event(cpu["batch"] - cpu["next"]), 4),
            **{stage: round(per_event(seconds), 4) for stage, seconds in stages.items()},
        },
        "overhead_fraction_chunk_quartiles": [round(float(q), 4) for q in np.percentile(per_chunk, [25, 50, 75])],
        "overhead_fraction_wall": round((wall["batch"] + wall["jets"]) / wall["next"] - 1.0, 4),
        "jets_per_second_per_core_event_loop": round(n_jets / pipeline_cpu, 2),
        "regional": {
            "events_clustered_fraction": round(stats["events_clustered"] / stats["events"], 4),
            "particles_per_event": round(stats["particles"] / stats["events"], 1),
            "particles_clustered_per_event": round(stats["particles_clustered"] / stats["events"], 1),
            "skeleton_particles_per_event": round(stats["skeleton_particles"] / stats["events"], 1),
            "events_clustered_in_full": stats["events_in_full"],
        },
        "full_clustering": {
            "identical_jets": identical,
            "find_jets_ms_per_event": round(per_event(cpu["jets_full"]), 4),
            "overhead_fraction": round((cpu["batch"] + cpu["jets_full"]) / cpu["next"] - 1.0, 4),
        },
    }


def bench_shard(name: str, n_jets: int, seed: int) -> dict:
    """One shard end to end on one core, Pythia initialisation included."""
    spec = get_process(name)
    window = JetWindow()
    lo, hi = spec.pthat_window(window.pt_min, window.pt_max)
    task = ShardTask(
        index=0,
        n_jets=n_jets,
        seed=seed,
        process=spec.to_dict(),
        window=window.__dict__,
        sqrts=14000.0,
        mpi=False,
        pthat_min=lo,
        pthat_max=hi,
    )
    c0, w0 = time.process_time(), time.perf_counter()
    result = run_shard(task)
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    return {
        "jets": n_jets,
        "events": result.n_events,
        "cpu_seconds": round(cpu, 3),
        "wall_seconds": round(wall, 3),
        "jets_per_second_per_core": round(n_jets / cpu, 2),
    }


#: pTHat slice edges (GeV) and events per slice for ``--pthat-study``: low slices give few
#: jets per event, so they get more events.
PTHAT_EDGES = (200, 300, 400, 440, 500, 550, 600, 650, 700, 750, 812.5, 900, 1100)
PTHAT_EVENTS = {200: 4000, 300: 3000, 400: 2000}


def pthat_study(name: str, seed: int, scale: float = 1.0) -> dict:
    """Where do the jets in the window come from? Jets per event and cross-section in
    ``PhaseSpace:pTHat`` slices, to choose and document the default pTHat window.

    The fraction of all window jets that a pTHat window keeps is
    ``sum(sigma * jets_per_event over its slices) / sum over all slices`` (slices above 1100
    and below 200 GeV are neglected; the table shows how fast they fall off).
    """
    spec = get_process(name)
    window = JetWindow()
    rows = []
    for lo, hi in zip(PTHAT_EDGES[:-1], PTHAT_EDGES[1:]):
        n_events = int(scale * PTHAT_EVENTS.get(lo, 1000))
        pythia = make_pythia([*spec.settings, *physics_settings(14000.0, False, lo, hi)], seed + int(lo))
        visible = VisibilityTable(pythia)
        jets = done = 0
        while done < n_events:
            events = next_batch(pythia, min(200, n_events - done))
            jets += len(find_jets(events, visible, window, spec.match_id))
            done += events.n_events
        sigma = pythia.infoPython().sigmaGen()  # mb
        rows.append(
            {
                "pthat_min": lo,
                "pthat_max": hi,
                "sigma_mb": sigma,
                "events": done,
                "jets": jets,
                "jets_per_event": jets / done,
                "jet_sigma_mb": sigma * jets / done,
            }
        )
        print(
            f"[bench_generate] pTHat {name} {lo}-{hi}: {jets}/{done} jets/events, sigma {sigma:.3e} mb",
            file=sys.stderr,
            flush=True,
        )
    total = sum(r["jet_sigma_mb"] for r in rows)
    windows = {}
    for i in range(len(rows)):
        for k in range(i + 1, len(rows) + 1):
            chosen = rows[i:k]
            kept = sum(r["jet_sigma_mb"] for r in chosen)
            windows[f"{chosen[0]['pthat_min']:g}-{chosen[-1]['pthat_max']:g}"] = {
                "kept_fraction": round(kept / total, 4),
                "jets_per_event": round(kept / sum(r["sigma_mb"] for r in chosen), 4),
            }
    return {"slices": rows, "windows": windows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2000, help="events per process for the overhead figure")
    parser.add_argument("--batch", type=int, default=200, help="events per nextBatch call (as in jetae)")
    parser.add_argument("--shard-jets", type=int, default=300, help="jets for the end-to-end shard figure")
    parser.add_argument("--processes", nargs="+", default=["qcd", "top", "w"])
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--pthat-study",
        action="store_true",
        help="instead: jets per event and cross-section in pTHat slices (writes generate_pthat.json next to --out)",
    )
    parser.add_argument("--study-scale", type=float, default=1.0, help="scale the events per pTHat slice")
    args = parser.parse_args(argv)

    if args.pthat_study:
        study = {name: pthat_study(name, args.seed, args.study_scale) for name in args.processes}
        path = args.out.with_name("generate_pthat.json")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            json.dumps(
                {
                    "study": "pTHat acceptance of the jet window (550-650 GeV, |eta| < 2)",
                    "command": " ".join(["bench/bench_generate.py", *(argv or sys.argv[1:])]),
                    "results": study,
                },
                indent=1,
            )
            + "\n"
        )
        print(f"[bench_generate] wrote {path}", file=sys.stderr)
        return 0

    load_before = os.getloadavg()
    started = time.perf_counter()
    results: dict = {}
    for name in args.processes:
        print(f"[bench_generate] {name}: event loop ({args.events} events)", file=sys.stderr, flush=True)
        loop = bench_event_loop(name, args.events, args.batch, args.seed)
        print(f"[bench_generate] {name}: one {args.shard_jets}-jet shard", file=sys.stderr, flush=True)
        shard = bench_shard(name, args.shard_jets, args.seed)
        results[name] = {"event_loop": loop, "shard": shard}
        print(
            f"[bench_generate] {name}: next {loop['pythia_next_ms_per_event']:.3f} ms/event, pipeline "
            f"{loop['pipeline_ms_per_event']:.3f} ms/event, overhead {100 * loop['overhead_fraction']:.1f}% "
            f"({loop['overhead_ms_per_event']}; full clustering would give "
            f"{100 * loop['full_clustering']['overhead_fraction']:.1f}%, identical jets: "
            f"{loop['full_clustering']['identical_jets']}), {shard['jets_per_second_per_core']:.1f} jets/s/core",
            file=sys.stderr,
            flush=True,
        )
    import importlib.metadata as md

    record = {
        "benchmark": "jetae generate",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": " ".join(["bench/bench_generate.py", *(argv if argv is not None else sys.argv[1:])]),
        "machine": {
            "cpu": _cpu_model(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
        "versions": {pkg: md.version(pkg) for pkg in ("pythia8mc", "fastjet", "numpy", "awkward")},
        "definitions": {
            "overhead_fraction": "CPU time of (nextBatch + jet finding) / CPU time of pythia.next() on the same "
            "events, minus 1; target < 0.15",
            "overhead_fraction_chunk_quartiles": "25/50/75 % quantiles of the overhead of single chunks (batch "
            "events each): the measurement's spread on this machine",
            "overhead_ms_per_event": "extract_nextBatch = nextBatch minus next() CPU time on the same events; "
            "select/regions/cluster/match/pack = CPU time of the stages of find_jets "
            "(regions = skeleton clustering, candidates and region selection)",
            "regional": "events with a candidate jet (clustered at all), particles clustered per event "
            "(all events), events clustered in full because a jet reached towards its region's edge",
            "full_clustering": "reference find_jets(regional=False) on the same events, untimed for the overhead: "
            "identical_jets = same constituents, truth, event and window counts; "
            "overhead_fraction = what the overhead would be with it",
            "jets_per_second_per_core_event_loop": "jets / pipeline CPU seconds, no Pythia initialisation",
            "shard.jets_per_second_per_core": "one shard end to end on one core, Pythia init included",
        },
        "results": results,
        "seconds": round(time.perf_counter() - started, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"[bench_generate] wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How much a benchmark number moves with the training seed: ``jetae benchmark --seed-summary``.

The ± of ``benchmark.md`` is the bootstrap spread of one trained model on fixed test samples.
Retraining with another ``--seed`` (other initial weights, batch order, dropout and MCMC
noise) moves a model's AUC too, often by more than that. This module reads benchmark runs of
the same preset and samples made with different ``--seed`` and gives, per model and metric,
the value of every seed, their mean, standard deviation (``n - 1``), minimum and maximum,
next to the mean bootstrap spread of the single runs.

Usage (each run a directory of ``jetae benchmark`` or its ``benchmark.json``; runs may hold
different models, e.g. the parts of a split run)::

    jetae benchmark --preset full --seed 1 --out reports/seed1
    jetae benchmark --preset full --seed 2 --out reports/seed2
    jetae benchmark --seed-summary bench/results/benchmark_full.json reports/seed1 reports/seed2 --out reports/seeds

or, in one command, ``jetae benchmark --seeds 0 1 2 --out reports/seeds`` (:func:`run_seed_benchmarks`:
each seed's run in ``OUT/seed<S>/``, the summary in ``OUT``). Runs with a signal zoo (presets
``zoo``, ``zoo-quick``, ``--zoo``) also give ``zoo.json`` and ``zoo.md``
(:func:`jetae.experiments.benchmark.zoo.zoo_summary`).

(``jetae.benchmark_seeds`` before issue #17.)
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from jetae.errors import JetaeError
from jetae.experiments.benchmark.config import BenchmarkConfig, command_line
from jetae.experiments.benchmark.presets import MODEL_ORDER
from jetae.experiments.benchmark.results import check_same_setup, read_runs
from jetae.experiments.benchmark.run import run_benchmark
from jetae.experiments.benchmark.zoo import zoo_markdown, zoo_summary
from jetae.experiments.outputs import write_outputs
from jetae.experiments.tables import markdown_table, number_cell

log = logging.getLogger(__name__)

JSON_FILE = "benchmark_seeds.json"
MARKDOWN_FILE = "benchmark_seeds.md"
#: The signal-zoo summary of runs with a zoo (layout: :mod:`jetae.experiments.benchmark.zoo`).
ZOO_JSON_FILE = "zoo.json"
ZOO_MARKDOWN_FILE = "zoo.md"

#: Summarised metrics: key -> (direction, keys into that direction's result block, column label).
METRICS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "top_auc": ("forward", ("signals", "top", "auc"), "top AUC"),
    "top_r30": ("forward", ("signals", "top", "r30"), "top R30"),
    "w_auc": ("forward", ("signals", "w", "auc"), "W AUC"),
    "w_r30": ("forward", ("signals", "w", "r30"), "W R30"),
    "reverse_auc": ("reverse", ("signals", "qcd", "auc"), "reverse AUC"),
    "jsd50": ("forward", ("mass_sculpting", "jsd_eff50"), "JSD50"),
    "jsd10": ("forward", ("mass_sculpting", "jsd_eff10"), "JSD10"),
    "train_s": ("forward", ("train_seconds",), "train s"),
    "infer_jets_s": ("forward", ("inference_jets_per_s",), "infer jets/s"),
}
#: Speed metrics: they depend on how busy the machine was, so the tables give their range.
SPEED_METRICS = ("train_s", "infer_jets_s")
#: AUC metrics and the block whose bootstrap error (``auc_err``) belongs to them.
AUC_METRICS = ("top_auc", "w_auc", "reverse_auc")


def run_seed(payload: Mapping[str, Any]) -> int:
    """The ``--seed`` of a benchmark run (the seed of every model in it)."""
    seeds = payload["meta"].get("seeds") or {}
    seed = seeds.get("models", (payload.get("config") or {}).get("seed"))
    if seed is None:
        raise JetaeError("benchmark results without a model seed (meta.seeds.models)")
    return int(seed)


def _dig(block: Any, keys: Sequence[str]) -> Any:
    """``block[k0][k1]...``, or None where a key is missing."""
    for key in keys:
        if not isinstance(block, Mapping) or key not in block:
            return None
        block = block[key]
    return block


def _stats(values: Sequence[float | None]) -> dict[str, float | None]:
    """Mean, sd (n - 1; None for one value), min and max; all None if a value is missing
    (an R30 without background left, or a failed run)."""
    if not values or any(v is None for v in values):
        return {"mean": None, "sd": None, "min": None, "max": None}
    array = np.asarray(values, dtype=np.float64)
    return {
        "mean": float(array.mean()),
        "sd": float(array.std(ddof=1)) if len(array) > 1 else None,
        "min": float(array.min()),
        "max": float(array.max()),
    }


def summarize_seeds(runs: Sequence[str | os.PathLike], command: str | None = None) -> dict[str, Any]:
    """Per model and metric, every seed's value and their spread (see the module doc).

    For runs with a signal zoo (``meta.zoo``), ``summary["zoo"]`` is their zoo summary
    (:func:`~jetae.experiments.benchmark.zoo.zoo_summary`, written to ``zoo.json`` by
    :func:`write_summary`, not to ``benchmark_seeds.json``); else None. ``command``: the command
    that made the summary (recorded in ``meta.command``).

    Raises :class:`JetaeError` for fewer than two runs, runs on other presets, zoo signals, sizes
    or sample files, and a model given twice for the same seed.
    """
    if len(runs) < 2:
        raise JetaeError("--seed-summary needs at least two benchmark runs")
    payloads = read_runs(runs)
    check_same_setup(runs, payloads, "summarize")
    results: dict[str, dict[int, Mapping[str, Any]]] = {}
    where: dict[tuple[str, int], str] = {}
    run_info = []
    for run, payload in zip(runs, payloads):
        seed = run_seed(payload)
        for name, directions in payload["models"].items():
            if (name, seed) in where:
                raise JetaeError(
                    f"{name} with seed {seed} is also in {where[name, seed]}; give each model and seed once", run
                )
            where[name, seed] = str(run)
            results.setdefault(name, {})[seed] = directions
        run_info.append(
            {
                "run": str(run),
                "seed": seed,
                "models": list(payload["models"]),
                "command": payload["meta"].get("command"),
                "started": payload["meta"].get("started"),
            }
        )
    order = [name for name in MODEL_ORDER if name in results] + sorted(set(results) - set(MODEL_ORDER))
    models, failed = {}, []
    for name in order:
        by_seed = results[name]
        seeds = sorted(by_seed)
        ok = {
            (seed, direction): (by_seed[seed].get(direction) or {}).get("status") == "ok"
            for seed in seeds
            for direction in ("forward", "reverse")
        }
        failed += [f"{name} seed {seed} {direction}" for (seed, direction), good in ok.items() if not good]
        values = {
            key: [_dig(by_seed[seed][direction], keys) if ok[seed, direction] else None for seed in seeds]
            for key, (direction, keys, _) in METRICS.items()
        }
        bootstrap = {}
        for key in AUC_METRICS:
            direction, keys, _ = METRICS[key]
            errors = [_dig(by_seed[s].get(direction) or {}, (*keys[:-1], "auc_err")) for s in seeds]
            errors = [e for e in errors if e is not None]
            bootstrap[key] = float(np.mean(errors)) if errors else None
        models[name] = {
            "seeds": seeds,
            "values": values,
            "stats": {key: _stats(column) for key, column in values.items()},
            "bootstrap_sd": bootstrap,
        }
    first = payloads[0]["meta"]
    zoo = list(first.get("zoo") or [])
    meta = {
        "preset": first.get("preset"),
        "command": command,
        "zoo": zoo,
        "seeds": sorted({info["seed"] for info in run_info}),
        "sizes": first.get("sizes"),
        "samples": {name: info.get("path") for name, info in first.get("samples", {}).items()},
        "runs": run_info,
    }
    return {
        "meta": meta,
        "metrics": {key: label for key, (_, _, label) in METRICS.items()},
        "models": models,
        "failed": failed,
        "zoo": zoo_summary({name: results[name] for name in order}, zoo) if zoo else None,
    }


def _cell(stats: Mapping[str, float | None], spec: str, spread: str = "sd") -> str:
    """``mean ± sd``, or ``min-max`` for ``spread="range"``; a single seed's value alone."""
    if stats["mean"] is None:
        return "–"
    if stats["sd"] is None:
        return format(stats["mean"], spec)
    if spread == "range":
        return f"{format(stats['min'], spec)}-{format(stats['max'], spec)}"
    return f"{format(stats['mean'], spec)} ± {format(stats['sd'], spec)}"


#: Number formats of the table columns.
_FORMATS = {
    "top_auc": ".3f",
    "top_r30": ".1f",
    "w_auc": ".3f",
    "w_r30": ".1f",
    "reverse_auc": ".3f",
    "jsd50": ".3f",
    "jsd10": ".3f",
    "train_s": ".0f",
    "infer_jets_s": ",.0f",
}


def summary_rows(summary: Mapping[str, Any]) -> list[list[str]]:
    """Rows of the spread table: model, seeds, then ``mean ± sd`` per metric (min-max for speeds)."""
    return [
        [
            name,
            ", ".join(str(s) for s in block["seeds"]),
            *(_cell(block["stats"][key], _FORMATS[key], "range" if key in SPEED_METRICS else "sd") for key in METRICS),
        ]
        for name, block in summary["models"].items()
    ]


def summary_table(summary: Mapping[str, Any]) -> str:
    """Just the spread table (for the terminal)."""
    header = ("model", "seeds", *(label for _, _, label in METRICS.values()))
    return "\n".join(markdown_table(header, summary_rows(summary), right=tuple(range(2, len(header))))) + "\n"


def markdown_summary(summary: Mapping[str, Any]) -> str:
    """``benchmark_seeds.md``: the spread table, every seed's AUCs, the runs."""
    meta = summary["meta"]
    lines = [
        f"# jetae benchmark over seeds (preset `{meta['preset']}`)",
        "",
        f"Model seeds {', '.join(str(s) for s in meta['seeds'])}; the same samples and sizes in every run (checked).",
        "",
        summary_table(summary).rstrip("\n"),
        "",
        "- mean ± standard deviation over the seeds (n - 1); a single seed: its value. R30 and JSD as in "
        "`benchmark.md`; train s and infer jets/s: the range of the forward training wall times and "
        "inference rates (which depend on how busy the machine was).",
        "",
    ]
    header = ("model", "top AUC per seed", "W AUC per seed", "reverse AUC per seed", "bootstrap sd (one run)")
    rows = []
    for name, block in summary["models"].items():
        per_seed = [" / ".join(number_cell(v, ".3f", "–") for v in block["values"][key]) for key in AUC_METRICS]
        boot = [number_cell(block["bootstrap_sd"][key], ".3f", "–") for key in AUC_METRICS]
        rows.append([name, *per_seed, " / ".join(boot)])
    lines += markdown_table(header, rows)
    lines += [
        "",
        "- per seed: in the order of the seeds column above; bootstrap sd: the mean ± of the single "
        "runs for top / W / reverse AUC (test-sample statistics only).",
        "",
        "Runs:",
        "",
    ]
    lines += [
        f"- seed {info['seed']}: `{info['run']}` ({', '.join(info['models'])})"
        + (f": `{info['command']}`" if info.get("command") else "")
        for info in meta["runs"]
    ]
    if summary["failed"]:
        lines += [
            "",
            "Failed (no mean or spread for the metrics of that direction, shown as –): " + "; ".join(summary["failed"]),
        ]
    return "\n".join(lines) + "\n"


def zoo_copy_stem(preset: str | None) -> str:
    """Name of the zoo summary in ``--results-copy``: ``zoo`` for the zoo preset (``bench/results/zoo.json``),
    ``zoo_<preset>`` for the others."""
    return "zoo" if preset == "zoo" else f"zoo_{str(preset).replace('-', '_')}"


def write_summary(
    summary: Mapping[str, Any],
    out_dir: str | os.PathLike,
    overwrite: bool = False,
    results_copy: str | os.PathLike | None = None,
    into_existing: bool = False,
) -> None:
    """Write ``benchmark_seeds.json`` and ``.md`` (and, for zoo runs, ``zoo.json`` and ``zoo.md``)
    atomically to ``out_dir`` (and a copy, ``benchmark_<preset>_seeds.{json,md}`` and
    ``zoo.{json,md}`` for the zoo preset or ``zoo_<preset>.{json,md}``, if asked).
    ``into_existing``: see :func:`jetae.experiments.outputs.write_outputs`."""
    preset = summary["meta"]["preset"]
    seeds_part = {key: value for key, value in summary.items() if key != "zoo"}
    texts = {JSON_FILE: json.dumps(seeds_part, indent=2) + "\n", MARKDOWN_FILE: markdown_summary(summary)}
    copy_names = {}
    if summary.get("zoo") is not None:
        stem = zoo_copy_stem(preset)
        texts[ZOO_JSON_FILE] = json.dumps(summary["zoo"], indent=2) + "\n"
        texts[ZOO_MARKDOWN_FILE] = zoo_markdown(summary["zoo"], summary["meta"])
        copy_names = {ZOO_JSON_FILE: f"{stem}.json", ZOO_MARKDOWN_FILE: f"{stem}.md"}
    write_outputs(
        out_dir,
        texts,
        overwrite,
        results_copy,
        f"benchmark_{preset}_seeds",
        copy_names=copy_names,
        into_existing=into_existing,
    )


def seed_dir(out_dir: str | os.PathLike, seed: int) -> Path:
    """The run directory of ``seed`` in a multi-seed run: ``OUT/seed<S>``."""
    return Path(out_dir) / f"seed{seed}"


def run_seed_benchmarks(
    config: BenchmarkConfig, seeds: Sequence[int], set_options: Sequence[str] = ()
) -> dict[str, Any]:
    """Run the benchmark once per seed and summarize the runs (``jetae benchmark --seeds``).

    Each seed's run (``config`` with that ``seed``) is a whole :func:`run_benchmark` written to
    ``OUT/seed<S>/`` as it finishes; then the seed summary (:func:`summarize_seeds`, with
    ``zoo.json`` for zoo runs) is written next to them into ``OUT`` (and to
    ``config.results_copy``, which the single runs do not get). ``OUT`` must not exist unless
    ``config.overwrite``. ``set_options``: the ``--set`` items, recorded in each run's command.
    Returns the summary.
    """
    seeds = list(seeds)
    if len(seeds) < 2 or len(set(seeds)) != len(seeds):
        raise JetaeError(f"--seeds needs at least two different seeds, got {' '.join(map(str, seeds))}")
    if any(seed < 0 for seed in seeds):
        raise JetaeError(f"seeds must be >= 0, got {' '.join(map(str, seeds))}")
    out_dir = Path(config.out_dir)
    if out_dir.exists() and not config.overwrite:
        raise JetaeError("output directory already exists; pass --overwrite to replace it", out_dir)
    config.resolved()  # bad options fail before the first seed runs
    runs = []
    for seed in seeds:
        single = dataclasses.replace(config, seed=seed, out_dir=str(seed_dir(out_dir, seed)), results_copy=None)
        single.command = command_line(single, set_options)
        log.info("seed %d of %s -> %s", seed, ", ".join(map(str, seeds)), single.out_dir)
        run_benchmark(single)
        runs.append(single.out_dir)
    summary = summarize_seeds(runs, command=config.command)
    write_summary(summary, out_dir, config.overwrite, config.results_copy, into_existing=True)
    remove_stale_seed_dirs(out_dir, seeds)
    return summary


def remove_stale_seed_dirs(out_dir: Path, seeds: Sequence[int]) -> None:
    """Delete ``OUT/seed<S>`` run directories of seeds not in ``seeds`` (left by an earlier run that
    ``--overwrite`` replaced), so that OUT holds exactly the runs its summary describes. Called
    only after the new runs and summary are written: a failed run keeps the old results."""
    for path in sorted(out_dir.iterdir()):
        match = re.fullmatch(r"seed(\d+)", path.name)
        if match and path.is_dir() and int(match.group(1)) not in seeds:
            log.info("removing %s: a run of an earlier --seeds that --overwrite replaced", path)
            shutil.rmtree(path)

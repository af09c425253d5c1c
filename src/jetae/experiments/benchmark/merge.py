"""Combining benchmark runs of disjoint model sets on the same samples (``jetae benchmark --merge``)."""

from __future__ import annotations

import logging
import os
from typing import Any, Sequence

from jetae.errors import JetaeError
from jetae.experiments.benchmark.presets import MODEL_ORDER
from jetae.experiments.benchmark.results import check_same_setup, read_runs

log = logging.getLogger(__name__)


def merge_benchmarks(run_dirs: Sequence[str | os.PathLike]) -> dict[str, Any]:
    """Combine benchmark runs of disjoint model sets on the same samples into one payload.

    A full run of the zoo can be split over processes or machines (``--models``); the
    parts must share preset, sample sizes and samples. A model in a later directory replaces
    the same model of an earlier one (a re-run), recorded in ``meta.parts``.
    ``meta.parts`` keeps each part's command, start and wall time; ``meta.wall_seconds``
    is their sum (the CPU cost of one sequential run, roughly).
    """
    if len(run_dirs) < 2:
        raise JetaeError("--merge needs at least two benchmark directories")
    payloads = read_runs(run_dirs)
    check_same_setup(run_dirs, payloads, "merge")
    first = payloads[0]["meta"]
    models: dict[str, Any] = {}
    for run_dir, payload in zip(run_dirs, payloads):
        for name, block in payload["models"].items():
            if name in models:
                log.info("%s: %s replaces the result of an earlier directory", run_dir, name)
            models[name] = block
    order = [name for name in MODEL_ORDER if name in models] + sorted(set(models) - set(MODEL_ORDER))
    samples = {}
    for payload in payloads:
        samples.update(payload["meta"]["samples"])
    parts = []
    for index, (run_dir, p) in enumerate(zip(run_dirs, payloads)):
        later = {name for q in payloads[index + 1 :] for name in q["models"]}
        parts.append(
            {
                "run_dir": str(run_dir),
                "command": p["meta"].get("command"),
                "started": p["meta"].get("started"),
                "wall_seconds": p["meta"].get("wall_seconds"),
                "models": list(p["models"]),
                "replaced_by_later_runs": sorted(set(p["models"]) & later),
            }
        )
    sizes = dict(first["sizes"])
    for payload in payloads:
        sizes.update({key: value for key, value in payload["meta"]["sizes"].items() if value is not None})
    meta = dict(
        first,
        samples=samples,
        parts=parts,
        sizes=sizes,
        wall_seconds=sum(part["wall_seconds"] or 0.0 for part in parts),
        command=" ; ".join(part["command"] or "?" for part in parts),
    )
    return {
        "meta": meta,
        "config": payloads[0].get("config"),
        "models": {name: models[name] for name in order},
        "failed": [item for payload in payloads for item in payload.get("failed", [])],
        "published_reference": first.get("published_reference") or payloads[0].get("published_reference"),
    }

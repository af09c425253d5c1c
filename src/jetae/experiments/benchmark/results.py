"""The result files of a benchmark run: ``benchmark.json`` and ``benchmark.md``, written and read back."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from jetae.errors import JetaeError
from jetae.experiments.benchmark.markdown import markdown_report
from jetae.experiments.outputs import write_outputs

JSON_FILE = "benchmark.json"
MARKDOWN_FILE = "benchmark.md"


def write_results(
    payload: Mapping[str, Any],
    out_dir: str | os.PathLike,
    overwrite: bool = False,
    results_copy: str | os.PathLike | None = None,
) -> None:
    """Write ``benchmark.json`` and ``benchmark.md`` atomically to ``out_dir`` (and a copy,
    ``benchmark_<preset>.{json,md}``, if asked)."""
    write_outputs(
        out_dir,
        {JSON_FILE: json.dumps(payload, indent=2) + "\n", MARKDOWN_FILE: markdown_report(payload)},
        overwrite,
        results_copy,
        f"benchmark_{payload['meta']['preset']}",
    )


def same_sizes(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two ``meta.sizes`` blocks agree (``n_outliers`` is null in runs without an outlier-exposed
    model, and matches anything)."""
    keys = set(a) | set(b)
    return all(a.get(key) == b.get(key) or (key == "n_outliers" and None in (a.get(key), b.get(key))) for key in keys)


def read_runs(runs: Sequence[str | os.PathLike]) -> list[dict[str, Any]]:
    """The payloads of benchmark runs, each given as its directory or its ``benchmark.json``."""
    payloads = []
    for run in runs:
        path = Path(run)
        if not path.exists():
            raise JetaeError("no such benchmark directory or results file", run)
        if path.is_dir():
            path = path / JSON_FILE
        try:
            payload = json.loads(path.read_text())
        except FileNotFoundError as exc:
            raise JetaeError(f"not a benchmark directory (no {JSON_FILE})", run) from exc
        except (OSError, json.JSONDecodeError) as exc:
            raise JetaeError(f"unreadable benchmark results: {exc}", path) from exc
        if not isinstance(payload, dict) or not {"meta", "models"} <= set(payload):
            raise JetaeError("not jetae benchmark results (no 'meta' and 'models')", path)
        payloads.append(payload)
    return payloads


def check_same_setup(runs: Sequence[str | os.PathLike], payloads: Sequence[Mapping[str, Any]], action: str) -> None:
    """Raise unless every run has the first run's preset, zoo signals, sample sizes and sample files."""
    first = payloads[0]["meta"]
    for run, payload in zip(runs, payloads):
        meta = payload["meta"]
        if meta.get("preset") != first.get("preset"):
            raise JetaeError(f"cannot {action}: preset differs from that of {runs[0]}", run)
        if list(meta.get("zoo") or []) != list(first.get("zoo") or []):
            raise JetaeError(f"cannot {action}: zoo signals differ from those of {runs[0]}", run)
        # n_outliers is null in runs without an outlier-exposed model.
        if not same_sizes(meta["sizes"], first["sizes"]):
            raise JetaeError(f"cannot {action}: sizes differs from that of {runs[0]}", run)
        paths = {name: info.get("path") for name, info in meta["samples"].items()}
        if any(paths.get(name) not in (None, info.get("path")) for name, info in first["samples"].items()):
            raise JetaeError(f"cannot {action}: different sample files than {runs[0]}", run)

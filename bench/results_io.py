"""What the study scripts share: seed means, and the result-file tail (meta with date and run time, atomic write)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from jetae.io.atomic import write_text_atomic


def mean_sd(values: list[float]) -> dict:
    """``{"mean", "sd"}`` of per-seed figures (sample sd; None for one seed), rounded to 4 digits."""
    array = np.asarray(values, dtype=float)
    sd = float(array.std(ddof=1)) if len(array) > 1 else None
    return {"mean": round(float(array.mean()), 4), "sd": None if sd is None else round(sd, 4)}


def write_results(path: Path, results: dict, meta: dict, started: float) -> None:
    """Write ``results`` with ``results["meta"] = meta`` + date + seconds since ``started`` to ``path``."""
    seconds = time.time() - started
    results["meta"] = {**meta, "date": time.strftime("%Y-%m-%d"), "seconds": round(seconds, 1)}
    write_text_atomic(path, json.dumps(results, indent=1) + "\n")
    print(f"wrote {path} ({seconds:.0f} s)")

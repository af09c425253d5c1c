"""The result-file tail the study scripts share: meta with date and run time, atomic JSON write."""

from __future__ import annotations

import json
import time
from pathlib import Path

from jetae.io.atomic import write_text_atomic


def write_results(path: Path, results: dict, meta: dict, started: float) -> None:
    """Write ``results`` with ``results["meta"] = meta`` + date + seconds since ``started`` to ``path``."""
    seconds = time.time() - started
    results["meta"] = {**meta, "date": time.strftime("%Y-%m-%d"), "seconds": round(seconds, 1)}
    write_text_atomic(path, json.dumps(results, indent=1) + "\n")
    print(f"wrote {path} ({seconds:.0f} s)")

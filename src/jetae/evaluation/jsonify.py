"""Results as JSON: numpy and non-finite values made JSON-safe, and writing them."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np


def json_ready(value: Any) -> Any:
    """Recursively convert to JSON types; non-finite floats become None (JSON null)."""
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_ready(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, str):
        return value
    return str(value)


def write_json(path: str | os.PathLike, data: Any) -> None:
    """``json_ready(data)`` as indented JSON (plus a newline) at ``path`` (inside an atomic directory)."""
    Path(path).write_text(json.dumps(json_ready(data), indent=2) + "\n")

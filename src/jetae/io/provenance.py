"""Provenance sidecars: the JSON record written next to a data file (``FILE.h5`` -> ``FILE.h5.json``).

``jetae generate`` writes one for every sample (arguments, seeds, versions, totals);
``jetae info`` prints it and evaluation copies it into its own provenance. A sidecar is
informational: a missing or unreadable one never stops a command (it warns instead).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def sidecar_for(data_path: str | os.PathLike) -> Path:
    """Where the sidecar of ``data_path`` goes: ``FILE.h5`` -> ``FILE.h5.json`` (it may not exist)."""
    data_path = Path(data_path)
    return data_path.with_name(data_path.name + ".json")


def sidecar_path(data_path: str | os.PathLike) -> Path | None:
    """The existing sidecar of ``data_path``: ``FILE.h5.json``, else ``FILE.json``; None without one."""
    data_path = Path(data_path)
    for candidate in (sidecar_for(data_path), data_path.with_suffix(".json")):
        if candidate != data_path and candidate.is_file():
            return candidate
    return None


def read_provenance(data_path: str | os.PathLike) -> tuple[Path | None, Any]:
    """``(sidecar path, parsed JSON)`` of the sidecar found by :func:`sidecar_path`.

    ``(None, None)`` without a sidecar; ``(path, None)`` with a warning when it is not
    readable JSON.
    """
    sidecar = sidecar_path(data_path)
    if sidecar is None:
        return None, None
    try:
        return sidecar, json.loads(sidecar.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        log.warning("%s: provenance sidecar is not readable JSON (%s); ignoring it", sidecar, exc)
        return sidecar, None


def read_sidecar(data_path: str | os.PathLike) -> tuple[dict | None, str | None]:
    """The generation record at :func:`sidecar_for` ``(data_path)``.

    Returns ``(record, None)``, ``(None, None)`` if there is no sidecar, or ``(None, why)``
    (with a warning) if it is unreadable or not a JSON object.
    """
    path = sidecar_for(data_path)
    if not path.is_file():
        return None, None
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        log.warning("%s: ignoring unreadable generation record: %s", path, exc)
        return None, f"{path}: {exc}"
    if not isinstance(record, dict):
        return None, f"{path}: expected a JSON object"
    return record, None

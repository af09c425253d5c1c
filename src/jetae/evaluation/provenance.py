"""Where the evaluated jets came from: the input files, their generation records, the evaluation.

``jetae generate`` writes a generation record next to each data file (``FILE.h5.json``,
the *sidecar*). An evaluation records, per input file, its path, jet counts, label counts
and that sidecar, and for itself the time, the jetae version, the bootstrap size and the seed.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from jetae import __version__
from jetae.errors import JetaeError
from jetae.evaluation.jsonify import json_ready
from jetae.io.toptag import count_jets
from jetae.jets import Jets

log = logging.getLogger(__name__)

PathLike = str | os.PathLike


def sidecar_path(data_path: PathLike) -> Path:
    """The generation record next to a data file: ``FILE.h5`` -> ``FILE.h5.json``."""
    return Path(os.fspath(data_path) + ".json")


def read_sidecar(data_path: PathLike) -> tuple[dict | None, str | None]:
    """``(record, None)``, ``(None, None)`` if there is no sidecar, or ``(None, why)`` if unreadable."""
    path = sidecar_path(data_path)
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


def file_provenance(jets: Jets, path: PathLike | None = None) -> dict[str, Any]:
    """Where a sample came from: path, jet counts, label counts and the generation sidecar."""
    path = path if path is not None else jets.source
    info: dict[str, Any] = {
        "path": None if path is None else os.fspath(Path(path).resolve()),
        "n_jets_used": len(jets),
        "n_jets_in_file": None,
        "n_labelled_signal": int(np.count_nonzero(jets.is_signal == 1)),
        "sidecar": None,
        "generation": None,
    }
    if path is not None and Path(path).is_file():
        try:
            info["n_jets_in_file"] = count_jets(path)
        except JetaeError:
            pass  # the jets came from elsewhere; the count is informational only
        record, error = read_sidecar(path)
        if record is not None or error is not None:
            info["sidecar"] = os.fspath(sidecar_path(path))
        info["generation"] = record
        if error:
            info["sidecar_error"] = error
    return info


def evaluation_provenance(
    background: Jets,
    signals: Mapping[str, Jets],
    background_path: PathLike | None,
    signal_paths: Mapping[str, PathLike | None],
    extra: Mapping[str, Any] | None,
    n_bootstrap: int,
    seed: int,
) -> dict[str, Any]:
    """The ``provenance.json`` of an evaluation: ``{"background", "signals", "evaluation"}``.

    ``extra``: ``"background"`` / ``"signals"`` entries replace the file records derived from
    the inputs; anything else (e.g. ``{"command": ...}``) is recorded under ``"evaluation"``.
    """
    extra = dict(extra or {})
    provenance: dict[str, Any] = {
        "background": file_provenance(background, background_path),
        "signals": {name: file_provenance(jets, signal_paths.get(name)) for name, jets in signals.items()},
        "evaluation": {
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "jetae": __version__,
            "n_bootstrap": n_bootstrap,
            "seed": seed,
        },
    }
    for key in ("background", "signals"):
        if key in extra:
            provenance[key] = extra.pop(key)
    provenance["evaluation"].update(extra.pop("evaluation", {}))
    provenance["evaluation"].update(extra)
    return json_ready(provenance)

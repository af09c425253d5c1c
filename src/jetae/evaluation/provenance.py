"""Where the evaluated jets came from: the input files, their generation records, the evaluation.

``jetae generate`` writes a generation record next to each data file (``FILE.h5.json``,
the *sidecar*). An evaluation records, per input file, its path, jet counts, label counts
and that sidecar, and for itself the time, the jetae version, the bootstrap size and the seed.
"""

from __future__ import annotations

import datetime
import logging
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from jetae import __version__
from jetae.errors import JetaeError
from jetae.evaluation.jsonify import json_ready
from jetae.io.provenance import read_sidecar, sidecar_for
from jetae.io.toptag import count_jets
from jetae.jets import Jets

log = logging.getLogger(__name__)

PathLike = str | os.PathLike


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
            info["sidecar"] = os.fspath(sidecar_for(path))
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

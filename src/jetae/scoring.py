"""Per-jet score tables: anomaly scores next to jet mass, pT and label.

A score table is a dict of equal-length 1-d arrays, written to HDF5 (h5py) so that
sculpting studies run downstream without the model.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from jetae._atomic import atomic_path
from jetae.data.jets import Jets
from jetae.errors import JetaeError
from jetae.features.kinematics import jet_kinematics


def score_table(detector, jets: Jets, scores: list[str] | None = None) -> dict[str, np.ndarray]:
    """``{"score": (n,), "score_<name>": ..., "mass", "pt", "eta", "multiplicity", "is_signal"}``.

    ``score`` is the detector's default score (or the first of ``scores``); every requested
    score is also stored under ``score_<name>``. Masses and pT in GeV.
    """
    names = list(scores) if scores else [detector.score_names[0]]
    table: dict[str, np.ndarray] = {}
    for name in names:
        table[f"score_{name}"] = detector.anomaly_score(jets, score=name)
    table["score"] = table[f"score_{names[0]}"]
    kinematics = jet_kinematics(jets.constituents)
    for key in ("mass", "pt", "eta", "multiplicity"):
        table[key] = kinematics[key]
    table["is_signal"] = jets.is_signal
    return table


def check_finite_scores(table: dict[str, np.ndarray], model: str, where: str | os.PathLike | None = None,
                        role: str = "") -> None:
    """Refuse a score table with NaN or infinite scores (a diverged or corrupted model).

    ``model`` names the detector, ``where`` the scored file and ``role`` the jets (e.g.
    ``"background"``) in the message; every ``score_<name>`` column is checked.

    Raises
    ------
    JetaeError
        How many of the jets got a non-finite score, and which score.
    """
    for key, values in table.items():
        if not key.startswith("score_"):
            continue
        bad = int(np.count_nonzero(~np.isfinite(values)))
        if bad:
            jets = f"{role} jets" if role else "jets"
            raise JetaeError(f"model {model!r} gave non-finite (NaN or inf) {key[len('score_'):]!r} scores for "
                             f"{bad} of {len(values)} {jets}; the model is broken (diverged training or corrupted "
                             "weights?)", where)


def write_scores(path: str | os.PathLike, table: dict[str, np.ndarray], attrs: dict | None = None,
                 overwrite: bool = True) -> Path:
    """Write a score table to an HDF5 file atomically (one dataset per column).

    With ``overwrite=False`` an existing ``path`` is a :class:`JetaeError` (checked again
    just before the rename, so a file that appeared while scoring is not replaced).
    """
    path = Path(path)
    if not overwrite and (path.exists() or path.is_symlink()):
        raise JetaeError("exists; pass --overwrite to replace it", path)
    with atomic_path(path, suffix=".h5") as tmp:
        with h5py.File(tmp, "w") as handle:
            for key, values in table.items():
                handle.create_dataset(key, data=np.asarray(values))
            for key, value in (attrs or {}).items():
                handle.attrs[key] = value
        if not overwrite and (path.exists() or path.is_symlink()):
            raise JetaeError("appeared while scoring; pass --overwrite to replace it", path)
    return path


def read_scores(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a score table written by :func:`write_scores`."""
    path = Path(path)
    if not path.exists():
        raise JetaeError("file not found", path)
    try:
        with h5py.File(path, "r") as handle:
            table = {key: handle[key][()] for key in handle.keys()}
    except OSError as exc:
        raise JetaeError(f"not a readable score file: {exc}", path) from exc
    if "score" not in table:
        raise JetaeError("not a jetae score file (no 'score' dataset)", path)
    return table

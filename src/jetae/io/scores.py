"""Score-table files: per-jet anomaly scores next to jet mass, pT and label, in HDF5 (h5py).

A score table is a dict of equal-length 1-d arrays (``score``, ``score_<name>``, ``mass``,
``pt``, ``eta``, ``multiplicity``, ``is_signal``; see :func:`jetae.scoring.score_table`),
one dataset per column, so that sculpting studies run downstream without the model.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from jetae.errors import JetaeError
from jetae.io.atomic import atomic_path


def write_scores(
    path: str | os.PathLike, table: dict[str, np.ndarray], attrs: dict | None = None, overwrite: bool = True
) -> Path:
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

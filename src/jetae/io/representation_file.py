"""Representation files: model inputs (jet images, constituent arrays) without the jets behind them.

``jetae sample`` writes the jets an autoencoder's decoder generates in this format: they exist
only as the model's representation (there are no four-momenta to put into the reference layout).
Layout (HDF5, written with h5py; plain datasets and attributes, nothing that needs unpickling)::

    /inputs            float32 (n_jets, *shape): one row per jet, in representation units
                       (what jetae.features.make_representation returns: images (n, 1, n_pixels,
                       n_pixels), or constituents (n, n_constituents, n_features) or flattened)
    /<other datasets>  optional per-jet (first axis n_jets) or descriptive arrays, e.g. the
                       latent codes the jets were decoded from
    attrs:
      format           "jetae-representation/1"
      representation   the representation spec as JSON ({"kind": "image", "n_pixels": 40, ...})
      metadata         JSON object: where the rows came from (model, run directory, sampler, seed)

Read back with :func:`read_representation_file`; ``jetae info FILE.h5`` prints its summary.
A model trained on that representation scores the rows directly:
``detector.anomaly_score(read_representation_file(path).inputs)``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import h5py
import numpy as np

from jetae.errors import JetaeError
from jetae.io.atomic import atomic_path

#: The ``format`` attribute of a representation file (bumped when the layout changes).
REPRESENTATION_FORMAT = "jetae-representation/1"
INPUTS = "inputs"


@dataclass
class RepresentationSample:
    """Rows of a representation file.

    Attributes
    ----------
    inputs:
        ``(n_jets, *shape)`` float32 model inputs in representation units.
    representation:
        The representation spec (``{"kind": ..., options}``).
    metadata:
        Where the rows came from (free-form, JSON-ready).
    arrays:
        The file's other datasets by name.
    source:
        The file path.
    """

    inputs: np.ndarray
    representation: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    source: str | None = None

    def __len__(self) -> int:
        return len(self.inputs)


def write_representation_file(
    path: str | os.PathLike,
    inputs: np.ndarray,
    representation: Mapping[str, Any],
    metadata: Mapping[str, Any] | None = None,
    arrays: Mapping[str, np.ndarray] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``inputs`` ``(n_jets, *shape)`` and their representation spec to ``path`` atomically.

    ``arrays``: further datasets (names other than ``inputs``); ``metadata``: JSON-ready provenance.
    An existing ``path`` is refused unless ``overwrite``.
    """
    path = Path(path)
    if not overwrite and (path.exists() or path.is_symlink()):
        raise JetaeError("exists; pass --overwrite to replace it", path)
    inputs = np.asarray(inputs, dtype=np.float32)
    if inputs.ndim < 2 or len(inputs) == 0:
        raise JetaeError(f"representation rows must have shape (n_jets, ...) with n_jets > 0, got {inputs.shape}")
    if not isinstance(representation, Mapping) or "kind" not in representation:
        raise JetaeError(f"representation must be a mapping with a 'kind', got {representation!r}")
    extra = dict(arrays or {})
    if INPUTS in extra:
        raise JetaeError(f"dataset name {INPUTS!r} is reserved for the rows")
    with atomic_path(path, suffix=".h5") as tmp:
        with h5py.File(tmp, "w") as handle:
            handle.create_dataset(INPUTS, data=inputs, compression="gzip", compression_opts=4)
            for name, values in extra.items():
                handle.create_dataset(name, data=np.asarray(values))
            handle.attrs["format"] = REPRESENTATION_FORMAT
            handle.attrs["representation"] = json.dumps(dict(representation), sort_keys=True)
            handle.attrs["metadata"] = json.dumps(dict(metadata or {}), default=str)
    return path


def is_representation_file(path: str | os.PathLike) -> bool:
    """True for an HDF5 file whose ``format`` attribute says it is a representation file."""
    try:
        with h5py.File(path, "r") as handle:
            return _text(handle.attrs.get("format")) == REPRESENTATION_FORMAT
    except Exception:  # a probe: whatever h5py makes of a damaged or foreign file, it is not ours
        return False


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else None


def _json_attribute(handle: h5py.File, name: str, path: Path) -> Any:
    text = _text(handle.attrs.get(name))
    if text is None:
        raise JetaeError(f"representation file without a readable {name!r} attribute", path)
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise JetaeError(f"representation file: attribute {name!r} is not JSON", path) from None


def read_representation_file(path: str | os.PathLike, n_max: int | None = None) -> RepresentationSample:
    """The rows (at most the first ``n_max``), representation spec, metadata and datasets of ``path``.

    Raises
    ------
    JetaeError
        A missing or unreadable file, one that is not a representation file, or rows that are
        not a finite float array of shape ``(n_jets, ...)``.
    """
    path = Path(path)
    if not path.exists():
        raise JetaeError("file not found", path)
    if n_max is not None and n_max < 1:
        raise JetaeError(f"number of rows (n_max) must be >= 1, got {n_max}")
    try:
        with h5py.File(path, "r") as handle:
            fmt = _text(handle.attrs.get("format"))
            if fmt != REPRESENTATION_FORMAT:
                found = f"format {fmt!r}" if fmt else "no format attribute"
                raise JetaeError(f"not a jetae representation file ({found}; expected {REPRESENTATION_FORMAT!r})", path)
            representation = _json_attribute(handle, "representation", path)
            metadata = _json_attribute(handle, "metadata", path)
            if not isinstance(representation, dict) or "kind" not in representation:
                raise JetaeError("representation file: the representation attribute has no 'kind'", path)
            dataset = handle.get(INPUTS)
            if not isinstance(dataset, h5py.Dataset) or dataset.ndim < 2 or dataset.dtype.kind != "f":
                raise JetaeError(f"representation file without a float dataset {INPUTS!r} of shape (n_jets, ...)", path)
            stop = len(dataset) if n_max is None else min(n_max, len(dataset))
            inputs = np.asarray(dataset[:stop], dtype=np.float32)
            arrays = {
                name: np.asarray(item[:stop] if item.ndim and len(item) == len(dataset) else item[()])
                for name, item in handle.items()
                if name != INPUTS and isinstance(item, h5py.Dataset)
            }
    except OSError as exc:
        raise JetaeError(f"cannot read as HDF5: {exc}", path) from None
    if len(inputs) == 0:
        raise JetaeError("representation file holds no rows", path)
    if not np.isfinite(inputs).all():
        raise JetaeError("representation file: rows contain NaN or inf", path)
    return RepresentationSample(
        inputs, representation, metadata if isinstance(metadata, dict) else {}, arrays, str(path)
    )

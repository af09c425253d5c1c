"""Convert any jet file jetae reads into the Top Tagging Reference layout (``jetae convert``).

:func:`convert_file` streams the input (JetClass ROOT, JetNet HDF5, or the reference layout
itself) chunk by chunk through the readers of :mod:`jetae.io.datasets` and
:mod:`jetae.io.toptag`, with their checks, and writes the reference layout with
:func:`jetae.io.toptag.write_jet_chunks`: ``n_constituents`` slots per jet (default 200),
jets with more constituents keep the hardest ones (counted in a warning and in the
record). The output appears only when complete (temporary file, then rename), never
replaces the input, and gets a provenance sidecar ``OUT.h5.json`` (source, format, class
counts and the class-to-label mapping, truncation) that ``jetae info`` prints.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from jetae import __version__
from jetae.errors import JetaeError
from jetae.features.kinematics import padding_mask
from jetae.io.atomic import atomic_path, check_not_input, check_writable, write_text_atomic
from jetae.io.datasets import FORMATS, class_counts, detect_format, iter_dataset, open_dataset
from jetae.io.provenance import sidecar_for
from jetae.io.toptag import iter_jets, write_jet_chunks
from jetae.io.validate import check_policy
from jetae.jets import N_CONSTITUENTS_MAX, Jets

log = logging.getLogger(__name__)


def convert_file(
    source: str | os.PathLike,
    out: str | os.PathLike,
    n_constituents: int = N_CONSTITUENTS_MAX,
    overwrite: bool = False,
    background: Sequence[str] | None = None,
    on_unphysical: str = "error",
    chunk_size: int = 100_000,
) -> dict[str, Any]:
    """Write the jets of ``source`` to ``out`` in the reference layout; returns the provenance record.

    Parameters
    ----------
    source:
        A JetClass ROOT, JetNet HDF5 or reference-layout file (recognised by content).
    out:
        The HDF5 file to write (pandas ``HDFStore``, key ``table``, ``E_i, PX_i, PY_i, PZ_i``
        for ``i < n_constituents``, GeV; ``truth*`` zero for JetClass / JetNet input,
        ``ttv`` 0, ``is_signal_new`` from the classes).
    n_constituents:
        Constituent slots per jet; harder constituents are kept when a jet has more.
    overwrite:
        Replace an existing ``out`` (never the input itself).
    background:
        JetClass / JetNet class names labelled ``is_signal_new = 0`` (default: ``QCD``;
        ``g`` and ``q``); every other class is 1. Not allowed for reference-layout input.
    on_unphysical:
        ``"error"`` or ``"drop"`` (see :func:`jetae.io.toptag.read_jets`).

    Returns
    -------
    The record also written to ``out``'s sidecar ``OUT.h5.json``: ``source``, ``format``,
    ``n_jets``, ``n_constituents``, ``n_truncated``, ``classes``, ``background``, ...

    Raises
    ------
    JetaeError
        Unreadable or bad input (the readers' errors), ``out`` is the input, exists without
        ``overwrite``, or cannot be written; ``n_constituents < 1``; no jets.
    """
    source, out = Path(source), Path(out)
    check_policy(on_unphysical)
    if n_constituents < 1:
        raise JetaeError(f"n_constituents must be at least 1, got {n_constituents}")
    if not source.exists():
        raise JetaeError("file not found", source)
    check_writable(out, "file")
    check_not_input(out, [source], "file")
    if not overwrite and (out.exists() or out.is_symlink()):
        raise JetaeError("exists; pass --overwrite to replace it", out)
    kind = detect_format(source)
    record: dict[str, Any] = {
        "command": "jetae convert",
        "source": str(source.resolve()),
        "format": FORMATS[kind],
        "jetae": __version__,
    }
    if kind == "toptag":
        if background is not None:
            raise JetaeError("background classes apply to JetClass and JetNet files only", source)
        chunks: Iterable[Jets] = iter_jets(source, chunk_size=chunk_size, on_unphysical=on_unphysical)
    else:
        with open_dataset(source, kind) as data:
            background_names = [data.classes[i] for i in data.background_indices(background)]
            record["layout"] = data.describe()
        record["classes"] = class_counts(source)
        record["background"] = background_names
        record["labels"] = f"is_signal_new = 0 for {', '.join(background_names)}, 1 for every other class"
        chunks = iter_dataset(
            source,
            chunk_size=chunk_size,
            on_unphysical=on_unphysical,
            n_constituents=None,
            background=background_names,
        )
    counts = {"n_jets": 0, "n_truncated": 0, "max_multiplicity": 0}

    def counted(stream: Iterable[Jets]) -> Iterator[Jets]:
        for jets in stream:
            if not len(jets):
                continue
            real = padding_mask(jets.constituents)
            counts["n_jets"] += len(jets)
            counts["n_truncated"] += int(real[:, n_constituents:].any(axis=1).sum())
            counts["max_multiplicity"] = max(counts["max_multiplicity"], int(real.sum(axis=1).max()))
            yield jets

    with atomic_path(out, suffix=".h5") as tmp:
        write_jet_chunks(tmp, counted(chunks), n_constituents)
        if counts["n_jets"] == 0:
            raise JetaeError("contains no jets", source)
    if counts["n_truncated"]:
        log.warning(
            "%s: %d of %d jets have more than %d constituents; their softest constituents were dropped "
            "(--n-constituents sets the number kept)",
            source,
            counts["n_truncated"],
            counts["n_jets"],
            n_constituents,
        )
    record.update(n_constituents=n_constituents, **counts)
    write_text_atomic(sidecar_for(out), json.dumps(record, indent=2) + "\n")
    log.info("wrote %d jets from %s (%s) to %s", counts["n_jets"], source, FORMATS[kind], out)
    return record

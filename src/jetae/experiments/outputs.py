"""Writing the result files of an experiment: atomically, with an optional copy (e.g. ``bench/results``)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Mapping

from jetae.errors import JetaeError
from jetae.io.atomic import atomic_dir, write_text_atomic

log = logging.getLogger(__name__)


def write_outputs(
    out_dir: str | os.PathLike,
    texts: Mapping[str, str],
    overwrite: bool = False,
    results_copy: str | os.PathLike | None = None,
    copy_stem: str = "",
    copy_names: Mapping[str, str] | None = None,
    into_existing: bool = False,
) -> None:
    """Write ``texts`` (file name -> text) atomically into ``out_dir``, and, with ``results_copy``,
    each also to ``results_copy/<copy_stem><suffix of its name>`` (e.g. ``bench/results``), or to
    ``results_copy/<copy_names[name]>`` for the names given there.

    ``out_dir`` is replaced as a whole, or, with ``into_existing``, the files are written one by
    one (each atomically) into it, next to what it already holds (e.g. the run directories of a
    multi-seed run). Raises a JetaeError if ``out_dir`` (``into_existing``: one of the files)
    exists and ``overwrite`` is not set.
    """
    if into_existing:
        existing = [name for name in texts if (Path(out_dir) / name).exists()]
        if existing and not overwrite:
            raise JetaeError(f"{', '.join(existing)} already exists; pass --overwrite to replace it", out_dir)
        for name, text in texts.items():
            write_text_atomic(Path(out_dir) / name, text)
    else:
        try:
            with atomic_dir(Path(out_dir), overwrite=overwrite) as tmp:
                for name, text in texts.items():
                    (tmp / name).write_text(text)
        except FileExistsError as exc:
            raise JetaeError("output directory already exists; pass --overwrite to replace it", out_dir) from exc
    if results_copy:
        copy_dir = Path(results_copy)
        targets = {name: (copy_names or {}).get(name, f"{copy_stem}{Path(name).suffix}") for name in texts}
        for name, text in texts.items():
            write_text_atomic(copy_dir / targets[name], text)
        log.info("copied the results to %s: %s", copy_dir, ", ".join(targets.values()))

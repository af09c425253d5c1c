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
) -> None:
    """Write ``texts`` (file name -> text) atomically into ``out_dir``, and, with ``results_copy``,
    each also to ``results_copy/<copy_stem><suffix of its name>`` (e.g. ``bench/results``).

    Raises a JetaeError if ``out_dir`` exists and ``overwrite`` is not set.
    """
    try:
        with atomic_dir(Path(out_dir), overwrite=overwrite) as tmp:
            for name, text in texts.items():
                (tmp / name).write_text(text)
    except FileExistsError as exc:
        raise JetaeError("output directory already exists; pass --overwrite to replace it", out_dir) from exc
    if results_copy:
        copy_dir = Path(results_copy)
        for name, text in texts.items():
            write_text_atomic(copy_dir / f"{copy_stem}{Path(name).suffix}", text)
        log.info(
            "copied the results to %s/%s.{%s}",
            copy_dir,
            copy_stem,
            ",".join(Path(name).suffix.lstrip(".") for name in texts),
        )

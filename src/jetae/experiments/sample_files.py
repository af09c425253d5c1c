"""Generated samples cached on disk: ``DATA_DIR/<name>.h5`` made once, reused by the next run.

Shared by ``jetae demo`` and ``jetae benchmark --preset quick``.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Mapping

from jetae.errors import JetaeError
from jetae.generation.generate import generate_to_file
from jetae.io.toptag import count_jets

log = logging.getLogger(__name__)


def ensure_sample_files(
    data_dir: str | Path, samples: Mapping[str, tuple[str, int, int]], workers: int | None = None
) -> dict[str, Path]:
    """Generate ``DATA_DIR/<name>.h5`` for each ``{name: (process, n_jets, seed)}`` not cached yet.

    A file is reused when it holds exactly ``n_jets`` jets; a missing, unreadable or
    differently sized one is (re)generated with Pythia 8 + FastJet (``workers`` processes,
    default all cores), with its ``FILE.h5.json`` sidecar. Returns ``{name: path}``.
    """
    paths = {}
    for name, (process, n_jets, seed) in samples.items():
        path = Path(data_dir) / f"{name}.h5"
        if path.exists():
            try:
                if count_jets(path) == n_jets:
                    log.info("reusing cached %s (%d jets)", path, n_jets)
                    paths[name] = path
                    continue
            except JetaeError:
                log.warning("cached %s is unreadable; generating it again", path)
        log.info("generating %d %s jets -> %s", n_jets, process, path)
        path.parent.mkdir(parents=True, exist_ok=True)
        generate_to_file(
            path,
            process,
            n_jets,
            seed=seed,
            workers=workers,
            overwrite=True,
            progress=sys.stderr.isatty(),
            command=["jetae", "generate", process, "--n", str(n_jets), "--seed", str(seed), "--out", str(path)],
        )
        paths[name] = path
    return paths

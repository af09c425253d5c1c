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
    data_dir: str | Path,
    samples: Mapping[str, tuple[str | None, int, int]],
    workers: int | None = None,
    cards: Mapping[str, str] | None = None,
) -> dict[str, Path]:
    """Generate ``DATA_DIR/<name>.h5`` for each ``{name: (process, n_jets, seed)}`` not cached yet.

    A file is reused when it holds exactly ``n_jets`` jets; a missing, unreadable or
    differently sized one is (re)generated with Pythia 8 + FastJet (``workers`` processes,
    default all cores), with its ``FILE.h5.json`` sidecar. ``cards`` (``{name: card}``, a card
    shipped with jetae or a ``.cmnd`` file) generates those samples from the card instead of a
    process (their process is then None). A name may hold a folder (``zoo/light_top``).
    Returns ``{name: path}``.
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
        card = (cards or {}).get(name)
        source = ["--card", card] if card is not None else [str(process)]
        log.info("generating %d %s jets -> %s", n_jets, card or process, path)
        path.parent.mkdir(parents=True, exist_ok=True)
        generate_to_file(
            path,
            None if card is not None else process,
            n_jets,
            seed=seed,
            workers=workers,
            card=card,
            overwrite=True,
            progress=sys.stderr.isatty(),
            command=["jetae", "generate", *source, "--n", str(n_jets), "--seed", str(seed), "--out", str(path)],
        )
        paths[name] = path
    return paths

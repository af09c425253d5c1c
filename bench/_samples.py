"""The shared benchmark samples in ``data/`` (made by ``bench/make_samples.sh``), read by the bench scripts."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from jetae.data.jets import Jets
from jetae.data.toptag import read_jets

log = logging.getLogger("bench")


def read_samples(data_dir: Path, files: Mapping[str, str], sizes: Mapping[str, int]) -> dict[str, Jets]:
    """The first ``sizes[key]`` jets of ``data_dir / files[key]`` for every key; exits if one is missing."""
    samples = {}
    for key, name in files.items():
        path = data_dir / name
        if not path.exists():
            raise SystemExit(f"{path}: missing (the shared benchmark samples live in {data_dir}; "
                             "bench/make_samples.sh makes them)")
        samples[key] = read_jets(path, n_max=sizes[key])
        log.info("%s: %d jets from %s", key, len(samples[key]), path)
    return samples

"""The main job: generate jets, train the baseline detectors, evaluate them, write a report.

``jetae demo`` (and ``make demo``) runs this on a fresh 2-core CPU machine in a few
minutes. Generated samples are cached in ``data_dir``: a second run reuses them.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from jetae.errors import JetaeError

log = logging.getLogger(__name__)


@dataclass
class DemoConfig:
    """Sizes and places of the demo (defaults fit a 2-core CPU in well under 10 minutes)."""

    data_dir: str = "data/demo"
    runs_dir: str = "runs/demo"
    report_dir: str = "reports/demo"
    n_train: int = 4000
    n_test: int = 1000
    models: tuple[str, ...] = ("pca", "dense_ae", "conv_ae")
    epochs: int = 15
    seed: int = 1
    workers: int | None = None
    #: Per-model option overrides (merged into the model config).
    model_options: dict[str, dict[str, Any]] = field(default_factory=lambda: {
        "pca": {"n_components": 10},
        "dense_ae": {"batch_size": 128, "patience": 4},
        # Small batches: the conv net needs optimizer steps more than epochs on 4000 jets.
        "conv_ae": {"batch_size": 32, "patience": 4},
    })


def demo_samples(config: DemoConfig) -> dict[str, tuple[str, int, int]]:
    """``{sample name: (process, n_jets, seed)}`` of the demo."""
    return {
        "qcd_train": ("qcd", config.n_train, config.seed),
        "qcd_test": ("qcd", config.n_test, config.seed + 1),
        "top": ("top", config.n_test, config.seed + 2),
        "w": ("w", config.n_test, config.seed + 3),
    }


def ensure_sample_files(data_dir: str | Path, samples: Mapping[str, tuple[str, int, int]],
                        workers: int | None = None) -> dict[str, Path]:
    """Generate ``DATA_DIR/<name>.h5`` for each ``{name: (process, n_jets, seed)}`` not cached yet.

    A file is reused when it holds exactly ``n_jets`` jets; a missing, unreadable or
    differently sized one is (re)generated with Pythia 8 + FastJet (``workers`` processes,
    default all cores), with its ``FILE.h5.json`` sidecar. Returns ``{name: path}``.
    Shared by ``jetae demo`` and ``jetae benchmark --preset quick``.
    """
    from jetae.data.generate import generate_to_file
    from jetae.data.toptag import count_jets

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
        generate_to_file(path, process, n_jets, seed=seed, workers=workers, overwrite=True,
                         progress=sys.stderr.isatty(),
                         command=["jetae", "generate", process, "--n", str(n_jets), "--seed", str(seed),
                                  "--out", str(path)])
        paths[name] = path
    return paths


def ensure_samples(config: DemoConfig) -> dict[str, Path]:
    """Generate the demo samples that are not cached yet; returns their paths."""
    return ensure_sample_files(config.data_dir, demo_samples(config), config.workers)


def run_demo(config: DemoConfig | None = None) -> dict[str, Any]:
    """Generate (or reuse) samples, train ``config.models`` on QCD, evaluate on QCD vs top and W.

    Returns the combined metrics dict (as in ``REPORT_DIR/metrics.json``).
    """
    from jetae.data.toptag import read_jets
    from jetae.evaluation.evaluate import evaluate_models
    from jetae.models import create_model

    config = config or DemoConfig()
    start = time.perf_counter()
    paths = ensure_samples(config)
    train_jets = read_jets(paths["qcd_train"])
    run_dirs = []
    for name in config.models:
        options = {"seed": config.seed, **config.model_options.get(name, {})}
        detector = create_model(name, options)
        if hasattr(detector.config, "epochs"):
            detector = create_model(name, {**options, "epochs": config.epochs})
        tick = time.perf_counter()
        detector.fit(train_jets)
        run_dir = Path(config.runs_dir) / name
        detector.save(run_dir, overwrite=True, extra={"command": "jetae demo", "train_file": str(paths["qcd_train"]),
                                                      "n_train": len(train_jets)})
        log.info("trained %s in %.1f s", name, time.perf_counter() - tick)
        run_dirs.append(run_dir)
    metrics = evaluate_models(run_dirs, paths["qcd_test"], {"top": paths["top"], "w": paths["w"]},
                              config.report_dir, overwrite=True, provenance={"command": "jetae demo"})
    log.info("demo finished in %.0f s", time.perf_counter() - start)
    return metrics

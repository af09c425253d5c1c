"""The main job: generate jets, train the baseline detectors, evaluate them, write a report.

``jetae demo`` (and ``make demo``) runs this on a fresh 2-core CPU machine in a few
minutes. Generated samples are cached in ``data_dir``: a second run reuses them
(:func:`jetae.experiments.sample_files.ensure_sample_files`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jetae.evaluation.evaluate import evaluate_models
from jetae.evaluation.samples import read_sample
from jetae.experiments.options import has_option
from jetae.experiments.sample_files import ensure_sample_files
from jetae.models import create_model

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
    model_options: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {
            "pca": {"n_components": 10},
            "dense_ae": {"batch_size": 128, "patience": 4},
            # Small batches: the conv net needs optimizer steps more than epochs on 4000 jets.
            "conv_ae": {"batch_size": 32, "patience": 4},
        }
    )


def demo_samples(config: DemoConfig) -> dict[str, tuple[str, int, int]]:
    """``{sample name: (process, n_jets, seed)}`` of the demo."""
    return {
        "qcd_train": ("qcd", config.n_train, config.seed),
        "qcd_test": ("qcd", config.n_test, config.seed + 1),
        "top": ("top", config.n_test, config.seed + 2),
        "w": ("w", config.n_test, config.seed + 3),
    }


def ensure_samples(config: DemoConfig) -> dict[str, Path]:
    """Generate the demo samples that are not cached yet; returns their paths."""
    return ensure_sample_files(config.data_dir, demo_samples(config), config.workers)


def run_demo(config: DemoConfig | None = None) -> dict[str, Any]:
    """Generate (or reuse) samples, train ``config.models`` on QCD, evaluate on QCD vs top and W.

    Returns the combined metrics dict (as in ``REPORT_DIR/metrics.json``).
    """
    config = config or DemoConfig()
    start = time.perf_counter()
    paths = ensure_samples(config)
    train_jets = read_sample(paths["qcd_train"], "qcd_train")
    run_dirs = []
    for name in config.models:
        options = {"seed": config.seed, **config.model_options.get(name, {})}
        if has_option(name, "epochs"):
            options["epochs"] = config.epochs
        detector = create_model(name, options)
        tick = time.perf_counter()
        detector.fit(train_jets)
        run_dir = Path(config.runs_dir) / name
        detector.save(
            run_dir,
            overwrite=True,
            extra={"command": "jetae demo", "train_file": str(paths["qcd_train"]), "n_train": len(train_jets)},
        )
        log.info("trained %s in %.1f s", name, time.perf_counter() - tick)
        run_dirs.append(run_dir)
    metrics = evaluate_models(
        run_dirs,
        paths["qcd_test"],
        {"top": paths["top"], "w": paths["w"]},
        config.report_dir,
        overwrite=True,
        provenance={"command": "jetae demo"},
    )
    log.info("demo finished in %.0f s", time.perf_counter() - start)
    return metrics

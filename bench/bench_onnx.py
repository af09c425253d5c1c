#!/usr/bin/env python
"""ONNX export parity: every exportable model, jetae's ``anomaly_score`` against onnxruntime on the exported graph.

For each registered model (a few epochs on a few thousand QCD jets of the shared samples; the NAE
with short phases) and each of its scores: export the graph from raw constituents
(:func:`jetae.models.export.export_onnx`), score QCD + top test jets with jetae and with
onnxruntime (CPU, one thread, like torch here), and record

* ``auc_jetae``, ``auc_onnx``: top-vs-QCD AUC of either score;
* ``fraction_within_1e-3``, ``max_relative_difference``, ``median_relative_difference``;
* ``jets_per_s_onnx`` / ``jets_per_s_jetae``: scoring throughput, both from raw constituents
  (representation included), batches of 4096 jets.

Usage (from the repository root; heavy, so under the shared CPU lock)::

    flock /work/cpu.lock .venv/bin/python bench/bench_onnx.py --data-dir /work/main/data
    .venv/bin/python bench/bench_onnx.py --quick --models pca,dense_ae   # smoke run

Writes ``bench/results/onnx_parity.json`` (``--out``).
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import torch
from sklearn.metrics import roc_auc_score

from jetae import __version__
from jetae.io.atomic import write_text_atomic
from jetae.io.toptag import read_jets
from jetae.jets import Jets
from jetae.models import available_models, create_model
from jetae.models.export import OnnxScorer, export_onnx, has_onnx_version, score_agreement

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger("bench_onnx")


def model_options(name: str, epochs: int) -> dict[str, Any]:
    """Each model's defaults, trained for ``epochs`` epochs (the NAE: that many AE epochs, one short NAE epoch)."""
    if name == "pca":
        return {}
    if name == "ensemble":
        return {"model": "dense_ae", "members": 2, "options": {"epochs": epochs}}
    if name == "nae":
        return {"epochs": epochs, "ae_epochs": epochs, "nae_epochs": 1, "x_steps": 10, "z_steps": 10}
    return {"epochs": epochs}


def timed_scores(score: Any, data: Any, repeats: int = 2) -> tuple[np.ndarray, float]:
    """``(scores, jets per second)``: the best of ``repeats`` runs of ``score(data)``."""
    best, scores = np.inf, None
    for _ in range(repeats):
        start = time.perf_counter()
        scores = score(data)
        best = min(best, time.perf_counter() - start)
    return np.asarray(scores), len(scores) / best


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data")
    parser.add_argument("--n-train", type=int, default=4000, help="QCD training jets")
    parser.add_argument("--n-test", type=int, default=2000, help="jets per test sample (QCD and top)")
    parser.add_argument("--n-outliers", type=int, default=2000, help="W jets for oe_vae's outlier exposure")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--models", help="comma-separated models (default: every registered one)")
    parser.add_argument("--threads", type=int, default=1, help="torch and onnxruntime intra-op threads")
    parser.add_argument("--quick", action="store_true", help="smoke run: 600 / 300 jets, 1 epoch")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "onnx_parity.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.n_train, args.n_test, args.n_outliers, args.epochs = 600, 300, 300, 1
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("jetae").setLevel(logging.WARNING)
    torch.set_num_threads(args.threads)
    data = args.data_dir
    train = read_jets(data / "qcd_train.h5", n_max=args.n_train)
    test = Jets.concatenate(
        [read_jets(data / "qcd_test.h5", n_max=args.n_test), read_jets(data / "top_test.h5", n_max=args.n_test)]
    )
    outliers = read_jets(data / "w_outliers.h5", n_max=args.n_outliers)
    specs = {spec.name: spec for spec in available_models()}
    names = args.models.split(",") if args.models else list(specs)
    results: dict[str, Any] = {}
    for name in [name for name in names if not has_onnx_version(specs[name].detector_cls)]:
        results[name] = {"exportable": False, "reason": "its score is not a forward pass of a torch network or of PCA"}
        names.remove(name)
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            options = model_options(name, args.epochs)
            extra = {"outliers": outliers} if name == "oe_vae" else {}
            start = time.perf_counter()
            detector = create_model(name, options).fit(train, **extra)
            fit_seconds = time.perf_counter() - start
            entry: dict[str, Any] = {
                "exportable": True,
                "options": options,
                "fit_seconds": round(fit_seconds, 1),
                "scores": {},
            }
            for score in detector.score_names:
                start = time.perf_counter()
                path = export_onnx(detector, Path(tmp) / f"{name}-{score}.onnx", score=score)
                export_seconds = time.perf_counter() - start
                scorer = OnnxScorer(path, threads=args.threads)
                reference, jetae_rate = timed_scores(
                    lambda jets, model=detector, s=score: model.anomaly_score(jets, score=s), test
                )
                exported, onnx_rate = timed_scores(scorer, test.constituents)
                agreement = score_agreement(reference, exported)
                entry["scores"][score] = {
                    "auc_jetae": round(float(roc_auc_score(test.is_signal, reference)), 5),
                    "auc_onnx": round(float(roc_auc_score(test.is_signal, exported)), 5),
                    "fraction_within_1e-3": agreement["fraction_within"],
                    "max_relative_difference": agreement["max_relative_difference"],
                    "median_relative_difference": agreement["median_relative_difference"],
                    "jets_per_s_onnx": round(onnx_rate),
                    "jets_per_s_jetae": round(jetae_rate),
                    "export_seconds": round(export_seconds, 2),
                    "onnx_bytes": path.stat().st_size,
                }
                log.info("%s %s: %s", name, score, entry["scores"][score])
            results[name] = entry
    report = {
        "what": "jetae anomaly_score vs onnxruntime on the exported graph (raw constituents -> score)",
        "command": "bench/bench_onnx.py " + " ".join(argv or []),
        "samples": {
            "train": f"{len(train)} jets of {data / 'qcd_train.h5'}",
            "test": f"{args.n_test} jets each of qcd_test.h5 and top_test.h5",
            "outliers (oe_vae)": f"{len(outliers)} jets of w_outliers.h5",
        },
        "epochs": args.epochs,
        "threads": args.threads,
        "versions": {
            "jetae": __version__,
            "torch": torch.__version__,
            "onnxruntime": onnxruntime.__version__,
            "python": platform.python_version(),
            "cpu": platform.processor() or platform.machine(),
        },
        "models": results,
    }
    write_text_atomic(args.out, json.dumps(report, indent=1) + "\n")
    log.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))

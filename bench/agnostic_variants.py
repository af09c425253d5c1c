"""What was tried against the complexity bias (issue #18, docs/agnostic.md): one seed per variant.

Trains each variant on the QCD training jets, scores the QCD test jets, top, W and the seven zoo
signals, and writes per-signal AUCs, the zoo minimum and median, training and scoring speed and the
peak memory to bench/results/agnostic_variants.json. The seed-averaged figures of the variants that
were kept come from ``jetae benchmark --preset zoo`` (bench/results/zoo.json).

    python bench/agnostic_variants.py                    # all variants, ~15 min on 2 CPU cores
    python bench/agnostic_variants.py --only pca_fixed_mass observable_density
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from jetae.io.toptag import read_jets
from jetae.models import create_model

#: The signal zoo (cards in jetae/generation/cards, samples: bench/make_zoo_samples.sh).
ZOO_SIGNALS = (
    "light_scalar_gg",
    "light_scalar_qq",
    "higgs_bb",
    "higgs_aa_4b",
    "light_top",
    "heavy_scalar_ww",
    "dark_shower",
)
IMAGE = {"kind": "image"}
VARIANTS: dict[str, tuple[str, dict]] = {
    # reconstruction error of images, with preprocessing against the complexity bias
    "pca": ("pca", {}),
    "pca_fixed_mass": ("pca", {"representation": dict(IMAGE, fixed_mass=100.0, fixed_energy=400.0)}),
    "pca_smooth1": ("pca", {"representation": dict(IMAGE, smooth=1.0)}),
    "pca_sqrt_intensity": ("pca", {"representation": dict(IMAGE, intensity_power=0.5)}),
    # densities on physics observables (mass + N-subjettiness, WTA exclusive-kT axes)
    "observable_density": ("observable_density", {}),
    "observable_density_k10": ("observable_density", {"n_components": 10}),
    "observable_density_ratios": ("observable_density", {"representation": {"kind": "observables", "ratios": True}}),
    "observable_density_3betas": (
        "observable_density",
        {"n_components": 10, "representation": {"kind": "observables", "betas": [0.5, 1.0, 2.0]}},
    ),
    "observable_density_flow": ("observable_density", {"estimator": "flow"}),
    # density on the latent codes of an autoencoder, alone and combined with its reconstruction error
    "latent_density_dense_ae": ("latent_density", {"options": {"epochs": 10}}),
    # background-calibrated combinations, Fisher's rule (the class defaults when this ran; they are
    # now configs/agnostic.yaml's members and rule)
    "combination": ("combination", {"members": ["pca", "observable_density"], "method": "fisher"}),
    "combination_min_p": ("combination", {"members": ["pca", "observable_density"], "method": "min_p"}),
    "combination_smooth1": (
        "combination",
        {
            "members": [{"model": "pca", "options": {"representation": dict(IMAGE, smooth=1.0)}}, "observable_density"],
            "method": "fisher",
        },
    ),
    "combination_sqrt_intensity": (
        "combination",
        {
            "members": [
                {"model": "pca", "options": {"representation": dict(IMAGE, intensity_power=0.5)}},
                "observable_density",
            ],
            "method": "fisher",
        },
    ),
}


def auc(background: np.ndarray, signal: np.ndarray) -> float:
    labels = np.r_[np.zeros(len(background)), np.ones(len(signal))]
    return float(roc_auc_score(labels, np.r_[background, signal]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="data", help="directory of bench/make_samples.sh and zoo/")
    parser.add_argument("--n-train", type=int, default=50000)
    parser.add_argument("--only", nargs="*", help="variants to run (default: all)")
    parser.add_argument("--out", default="bench/results/agnostic_variants.json")
    args = parser.parse_args()
    data = Path(args.data)
    train = read_jets(data / "qcd_train.h5")[: args.n_train]
    tests = {"qcd": read_jets(data / "qcd_test.h5"), "top": read_jets(data / "top_test.h5")}
    tests["w"] = read_jets(data / "w_test.h5")
    for signal in ZOO_SIGNALS:
        tests[signal] = read_jets(data / "zoo" / f"{signal}.h5")
    out = Path(args.out)
    results = json.loads(out.read_text()) if out.exists() else {}
    for name, (model, options) in VARIANTS.items():
        if args.only and name not in args.only:
            continue
        detector = create_model(model, options)
        start = time.perf_counter()
        detector.fit(train)
        train_seconds = time.perf_counter() - start
        for score in detector.score_names:
            start = time.perf_counter()
            scores = {sample: detector.anomaly_score(jets, score) for sample, jets in tests.items()}
            score_seconds = time.perf_counter() - start
            aucs = {sample: auc(scores["qcd"], values) for sample, values in scores.items() if sample != "qcd"}
            zoo = [aucs[signal] for signal in ZOO_SIGNALS]
            key = name if len(detector.score_names) == 1 else f"{name}:{score}"
            results[key] = {
                "model": model,
                "options": options,
                "score": score,
                "auc": {k: round(v, 4) for k, v in aucs.items()},
                "min_auc": round(min(zoo), 4),
                "median_auc": round(float(np.median(zoo)), 4),
                "train_jets_per_s": round(len(train) / train_seconds, 1),
                "score_jets_per_s": round(sum(map(len, tests.values())) / score_seconds, 1),
                # the process peak so far (variants run one after the other)
                "process_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            }
            print(f"{key:40s} min {min(zoo):.3f} median {np.median(zoo):.3f} top {aucs['top']:.3f}", flush=True)
        out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()

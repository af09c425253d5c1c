"""Outlier exposure, leave one signal out (issue #18, docs/agnostic.md).

For each zoo signal S, ``oe_vae`` (benchmark ``full`` options) trains on the QCD training jets and is
exposed to 5000 outlier jets drawn evenly from the *other* zoo signals (rows 5000-9999 of their
files); it is then scored on S (all 10 000 jets) against the QCD test jets. The question: does
exposure to some anomalies help with an unseen one? Writes bench/results/oe_vae_loso.json.

    python bench/oe_vae_loso.py --seed 0        # ~10 min on one CPU core
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from jetae.io.toptag import read_jets
from jetae.jets import Jets
from jetae.models import create_model

ZOO = ("light_scalar_gg", "light_scalar_qq", "higgs_bb", "higgs_aa_4b", "light_top", "heavy_scalar_ww", "dark_shower")
OPTIONS = {"epochs": 50, "batch_size": 256, "patience": 5}


def auc(detector, background_scores: np.ndarray, jets: Jets) -> float:
    scores = detector.anomaly_score(jets)
    labels = np.r_[np.zeros(len(background_scores)), np.ones(len(scores))]
    return float(roc_auc_score(labels, np.r_[background_scores, scores]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="data")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-outliers", type=int, default=5000)
    parser.add_argument("--out", default="bench/results/oe_vae_loso.json")
    args = parser.parse_args()
    data = Path(args.data)
    train = read_jets(data / "qcd_train.h5")
    background = read_jets(data / "qcd_test.h5")
    zoo = {name: read_jets(data / "zoo" / f"{name}.h5") for name in ZOO}
    results: dict = {"seed": args.seed, "options": OPTIONS, "n_outliers": args.n_outliers, "auc": {}, "seen_auc": {}}
    for left_out in ZOO:
        others = [name for name in ZOO if name != left_out]
        per_signal = args.n_outliers // len(others)
        outliers = Jets.concatenate([zoo[name][5000 : 5000 + per_signal] for name in others])
        start = time.perf_counter()
        detector = create_model("oe_vae", dict(OPTIONS, seed=args.seed)).fit(train, outliers=outliers)
        seconds = time.perf_counter() - start
        qcd = detector.anomaly_score(background)
        results["auc"][left_out] = round(auc(detector, qcd, zoo[left_out]), 4)
        # the exposed signals, on their rows not used as outliers (not unsupervised: for comparison)
        results["seen_auc"][left_out] = {name: round(auc(detector, qcd, zoo[name][:5000]), 4) for name in others}
        print(f"{left_out:18s} unseen AUC {results['auc'][left_out]:.3f}  (trained in {seconds:.0f} s)", flush=True)
    values = list(results["auc"].values())
    results["min_auc"], results["median_auc"] = round(min(values), 4), round(float(np.median(values)), 4)
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    print(f"min {results['min_auc']:.3f} median {results['median_auc']:.3f}")


if __name__ == "__main__":
    main()

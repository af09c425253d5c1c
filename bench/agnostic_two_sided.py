"""Is "higher reconstruction error = more anomalous" the complexity bias? (issue #18, one seed)

A reconstruction-error score calls a jet anomalous only when it is reconstructed *worse* than QCD,
so signals simpler than QCD (light two-prong jets) can only be missed. Two signal-agnostic ways
around that, tested here on the fast pair (`pca` + `observable_density`, Fisher's method, as
`configs/agnostic_fast.yaml` had it until it moved to Stouffer's on 2026-12-06):

- ``pca2``: the PCA's error as a **two-sided** p-value against the QCD calibration jets
  (``2 * min(upper, lower tail)``): a jet reconstructed unusually *well* is flagged too;
- ``density(base+pca)``: the error as a seventh coordinate of the observable density
  (log(1 + m), log tau_1..tau_5, log error), so "unusual error for a jet with these observables",
  in either direction, is what the density scores.

Same fits as ``bench/agnostic_features.py`` (its cached features, 40 000 QCD jets for the fits,
the next 10 000 for the p-values; reverse: 16 000 + 4 000 top jets), scored on the zoo and on the
held-out signals of ``bench/holdout_samples.sh`` against their own fresh QCD sample.

    python bench/agnostic_features.py --only base   # once, fills the feature cache
    python bench/agnostic_two_sided.py              # ~2 min on one core

Writes bench/results/agnostic_two_sided.json.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from agnostic_features import (
    BASE,
    N_CAL,
    N_CAL_TOP,
    N_FIT,
    N_FIT_TOP,
    SIGNALS,
    ZOO_SIGNALS,
    auc,
    density_scorer,
    load_samples,
    p_values,
    sample_paths,
)
from holdout_check import HOLDOUT
from jetae.models import create_model
from results_io import write_results

#: A view: ("pca", two_sided) or ("density", coordinates; "pca" = the error of the direction's PCA).
VARIANTS: dict[str, list[tuple]] = {
    "pca+base": [("pca", False), ("density", BASE)],
    "pca2+base": [("pca", True), ("density", BASE)],
    "pca2": [("pca", True)],
    "density(base+pca)": [("density", [*BASE, "pca"])],
    "pca+density(base+pca)": [("pca", False), ("density", [*BASE, "pca"])],
    "pca+base+density(m,pca)": [("pca", False), ("density", BASE), ("density", ["m", "pca"])],
}


def two_sided_p_values(reference: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """``2 * min(upper, lower)`` tail p-values of ``scores`` against ``reference`` (+1 smoothing), at most 1."""
    lower = (np.searchsorted(np.sort(reference), scores, side="right") + 1) / (len(reference) + 1)
    return np.minimum(1.0, 2.0 * np.minimum(p_values(reference, scores), lower))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("data"), help="bench/make_samples.sh directory")
    parser.add_argument("--cache", type=Path, default=Path("data/agnostic_features"), help="feature cache")
    parser.add_argument("--out", type=Path, default=Path("bench/results/agnostic_two_sided.json"))
    args = parser.parse_args()
    started = time.time()

    paths = sample_paths(args.data)
    # the held-out signals and their QCD sample (not the fresh top samples that directory also holds)
    paths.update({f"holdout/{name}": args.data / "holdout" / f"{name}.h5" for name in ("qcd_test", *HOLDOUT)})
    jets, features = load_samples(paths, args.cache)
    holdout = [name for name in jets if name.startswith("holdout/") and name != "holdout/qcd_test"]

    pca = {
        "forward": create_model("pca").fit(jets["qcd_train"][:N_FIT]),
        "reverse": create_model("pca").fit(jets["top_train"][:N_FIT_TOP]),
    }
    errors = {direction: {s: model.anomaly_score(jets[s]) for s in jets} for direction, model in pca.items()}

    def view_scores(view: tuple, direction: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """(calibration scores, {sample: scores}) of one view, trained in ``direction``."""
        train, n_fit, n_cal = (
            ("qcd_train", N_FIT, N_CAL) if direction == "forward" else ("top_train", N_FIT_TOP, N_CAL_TOP)
        )
        samples = {s: {**features[s], "pca": errors[direction][s]} for s in jets}
        if view[0] == "pca":
            scores = {s: values["pca"] for s, values in samples.items()}
        else:
            score = density_scorer(samples[train], view[1], 0.0, 0.0, n_fit)
            scores = {s: score(values) for s, values in samples.items()}
        return scores[train][n_fit : n_fit + n_cal], scores

    results: dict = {"variants": {}}
    for name, views in VARIANTS.items():
        fisher = {}
        for direction in ("forward", "reverse"):
            total: dict[str, np.ndarray] = {}
            for view in views:
                calibration, scores = view_scores(view, direction)
                p = two_sided_p_values if view[0] == "pca" and view[1] else p_values
                for sample, values in scores.items():
                    total[sample] = total.get(sample, 0.0) - np.log(p(calibration, values))
            fisher[direction] = total
        forward = fisher["forward"]
        aucs = {s: auc(forward["qcd_test"], forward[s]) for s in SIGNALS}
        aucs.update({s.split("/")[1]: auc(forward["holdout/qcd_test"], forward[s]) for s in holdout})
        zoo = [aucs[s] for s in ZOO_SIGNALS]
        held_out = [aucs[s.split("/")[1]] for s in holdout]
        results["variants"][name] = {
            "views": [list(view) for view in views],
            "min_auc": round(min(zoo), 4),
            "median_auc": round(float(np.median(zoo)), 4),
            "holdout_min_auc": round(min(held_out), 4),
            "reverse_auc": round(auc(fisher["reverse"]["top_test"], fisher["reverse"]["qcd_test"]), 4),
            "auc": {s: round(v, 4) for s, v in aucs.items()},
        }
        entry = results["variants"][name]
        print(
            f"{name}: zoo min {entry['min_auc']}, median {entry['median_auc']}, held-out min "
            f"{entry['holdout_min_auc']}, reverse {entry['reverse_auc']}, top {entry['auc']['top_test']}",
            flush=True,
        )
    write_results(args.out, results, {"command": "python bench/agnostic_two_sided.py", "seed": 0}, started)


if __name__ == "__main__":
    main()

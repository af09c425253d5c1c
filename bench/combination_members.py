"""Which members should the recommended combination have? An image AE in place of, or next to, PCA.

The detector chosen on the zoo combined ``pca`` and ``observable_density`` by Fisher's method (now
``configs/agnostic_fast.yaml``; this script's result made ``conv_ae`` the image view of the
recommended ``configs/agnostic.yaml``). ``conv_ae`` (10 epochs) finds the dark shower better than
``pca`` does (zoo: 0.77 against 0.71) and is close elsewhere, so this asks whether it is the better
image member. One ``combination`` with all three members (``pca``, ``conv_ae`` at 10 epochs,
``observable_density``) is trained per seed and direction; each subset's score combines its
members' p-values (``member_p_values``) by Fisher's method (the sum of ``-log p``), by
Stouffer's (the sum of normal quantiles; stored as ``NAME:stouffer``) and by Stouffer's with each
quantile floored at -1.645 (``NAME:stouffer_floor``), which is what a
``combination`` of just those members with that ``method`` computes (same seed: same calibration
split, same member training). Scored: the zoo, top
and W against ``data/qcd_test.h5``; the reverse direction (trained on the first 20 000 top jets,
QCD is the anomaly); and the held-out signals of
``bench/holdout_check.py`` against their own QCD sample (``data/holdout``).

    python bench/combination_members.py --seeds 0 1 2      # 23 min on one thread

Writes bench/results/combination_members.json: per subset and seed the AUCs, the zoo's minimum and
median, reverse, the held-out minimum; means and sample sd over seeds.
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np

from holdout_check import HOLDOUT, ZOO
from jetae.evaluation.metrics import auc
from jetae.io.toptag import read_jets
from jetae.models import create_model
from jetae.models.density import STOUFFER_Z_FLOOR, combine_p_values
from results_io import mean_sd, write_results

MEMBERS = [
    {"model": "pca"},
    {"model": "conv_ae", "options": {"epochs": 10}},
    {"model": "observable_density"},
]
NAMES = ("pca", "conv_ae", "observable_density")
N_REVERSE = 20_000


def subsets() -> list[tuple[int, ...]]:
    """Every combination of two or three members, and each member alone."""
    return [s for k in (1, 2, 3) for s in itertools.combinations(range(len(NAMES)), k)]


#: How a subset's p-values are combined: (method, z_floor) of ``combine_p_values``; a rule other
#: than Fisher's is stored as "NAME:RULE". ``stouffer_floor``: Stouffer's with every member's normal
#: quantile floored at -1.645 (its 5 % lower tail), as in configs/agnostic.yaml since 2026-12-06.
METHODS = {
    "fisher": ("fisher", None),
    "stouffer": ("stouffer", None),
    "stouffer_floor": ("stouffer", STOUFFER_Z_FLOOR),
}


def subset_name(subset: tuple[int, ...], method: str) -> str:
    name = "+".join(NAMES[i] for i in subset)
    return name if method == "fisher" else f"{name}:{method}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("data"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=Path("bench/results/combination_members.json"))
    args = parser.parse_args()
    started = time.time()

    train = read_jets(args.data / "qcd_train.h5")
    top_train = read_jets(args.data / "top_train.h5")[:N_REVERSE]
    forward_samples = {"qcd_test": args.data / "qcd_test.h5", "top": args.data / "top_test.h5"}
    forward_samples["W"] = args.data / "w_test.h5"
    forward_samples.update({name: args.data / "zoo" / f"{name}.h5" for name in ZOO})
    forward_samples["holdout_qcd"] = args.data / "holdout" / "qcd_test.h5"
    forward_samples.update({name: args.data / "holdout" / f"{name}.h5" for name in HOLDOUT})
    forward_jets = {name: read_jets(path) for name, path in forward_samples.items()}

    runs: dict[str, list[dict]] = {subset_name(s, m): [] for m in METHODS for s in subsets()}
    for seed in args.seeds:
        options = {"members": MEMBERS, "seed": seed}
        forward = create_model("combination", options).fit(train)
        p_forward = {name: forward.member_p_values(jets) for name, jets in forward_jets.items()}
        reverse = create_model("combination", options).fit(top_train)
        p_reverse = {name: reverse.member_p_values(forward_jets[name]) for name in ("top", "qcd_test")}
        n_forward, n_reverse = len(forward.reference_[0]), len(reverse.reference_[0])
        for method, subset in itertools.product(METHODS, subsets()):
            name = subset_name(subset, method)
            rule, z_floor = METHODS[method]
            scores = {
                sample: combine_p_values(p[list(subset)], rule, n_forward, z_floor) for sample, p in p_forward.items()
            }
            run: dict = {"seed": seed, "auc": {}}
            for signal in ("top", "W", *ZOO):
                run["auc"][signal] = round(auc(scores["qcd_test"], scores[signal]), 4)
            for signal in HOLDOUT:
                run["auc"][signal] = round(auc(scores["holdout_qcd"], scores[signal]), 4)
            zoo = [run["auc"][s] for s in ZOO]
            run["min_auc"], run["median_auc"] = min(zoo), float(np.median(zoo))
            run["holdout_min_auc"] = min(run["auc"][s] for s in HOLDOUT)
            reverse_scores = {
                sample: combine_p_values(p[list(subset)], rule, n_reverse, z_floor) for sample, p in p_reverse.items()
            }
            run["reverse_auc"] = round(auc(reverse_scores["top"], reverse_scores["qcd_test"]), 4)
            runs[name].append(run)
            print(
                f"seed {seed} {name}: min {run['min_auc']:.3f} median {run['median_auc']:.3f} "
                f"reverse {run['reverse_auc']:.3f} top {run['auc']['top']:.3f}"
                f" holdout min {run['holdout_min_auc']:.3f}",
                flush=True,
            )

    models = {}
    for name, entries in runs.items():
        summary = {key: mean_sd([r[key] for r in entries]) for key in ("min_auc", "median_auc", "reverse_auc")}
        summary["holdout_min_auc"] = mean_sd([r["holdout_min_auc"] for r in entries])
        summary["auc"] = {s: mean_sd([r["auc"][s] for r in entries]) for s in entries[0]["auc"]}
        models[name] = {"runs": entries, "summary": summary}
    results = {"members": MEMBERS, "zoo": list(ZOO), "holdout": list(HOLDOUT), "models": models}
    meta = {
        "command": "python bench/combination_members.py --seeds " + " ".join(map(str, args.seeds)),
        "n_train": len(train),
        "n_reverse_train": len(top_train),
    }
    write_results(args.out, results, meta, started)


if __name__ == "__main__":
    main()

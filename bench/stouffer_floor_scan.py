"""How low may one view pull a jet's Stouffer score? A scan of ``z_floor`` (issue #18, one seed).

Stouffer's rule lets a view that finds a jet ordinary pull its combined score down: that vetoes
QCD jets only one view finds odd (the rule's gain over Fisher's), but an image autoencoder also
finds some jets *more* ordinary than nearly all background, the simple jets it reconstructs too
well: QCD jets in the reverse direction (trained on top jets), the tau pair. ``z_floor`` caps
that: a member's normal quantile counts as at least ``z_floor``. This trains the recommended pair
(``configs/agnostic.yaml``'s members, seed 0) once per direction and scores Fisher's rule,
Stouffer's, and Stouffer's with floors from 0 (a view adds evidence, never subtracts it) to -2.5,
on the zoo, the held-out signals and the reverse direction (the usual and the fresh test pair of
``bench/reverse_check.py``). -1.645 (a view's 5 % lower tail) is the floor of the configs.

    python bench/stouffer_floor_scan.py      # ~8 min on one thread

Writes bench/results/stouffer_floor_scan.json.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from combination_members import HOLDOUT, N_REVERSE, ZOO
from jetae.config import load_config_file
from jetae.evaluation.metrics import auc
from jetae.io.toptag import read_jets
from jetae.models import create_model
from jetae.models.density import combine_p_values
from results_io import write_results

FLOORS = (0.0, -0.5, -1.0, -1.282, -1.645, -2.0, -2.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("data"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--config", type=Path, default=Path("configs/agnostic.yaml"))
    parser.add_argument("--out", type=Path, default=Path("bench/results/stouffer_floor_scan.json"))
    args = parser.parse_args()
    started = time.time()

    config = load_config_file(args.config)
    options = {"members": config["members"], "seed": args.seed}
    paths = {"qcd_test": "qcd_test", "top": "top_test", "W": "w_test", "holdout_qcd": "holdout/qcd_test"}
    paths.update(
        {"holdout_top": "holdout/top_test", **{s: f"zoo/{s}" for s in ZOO}, **{s: f"holdout/{s}" for s in HOLDOUT}}
    )
    jets = {name: read_jets(args.data / f"{path}.h5") for name, path in paths.items()}
    forward = create_model("combination", options).fit(read_jets(args.data / "qcd_train.h5"))
    reverse = create_model("combination", options).fit(read_jets(args.data / "top_train.h5")[:N_REVERSE])
    p_forward = {name: forward.member_p_values(sample) for name, sample in jets.items()}
    reverse_samples = ("qcd_test", "top", "holdout_qcd", "holdout_top")
    p_reverse = {name: reverse.member_p_values(jets[name]) for name in reverse_samples}
    n_forward, n_reverse = len(forward.reference_[0]), len(reverse.reference_[0])

    rules = {"fisher": ("fisher", None), "stouffer": ("stouffer", None)}
    rules.update({f"stouffer_floor{floor:g}": ("stouffer", floor) for floor in FLOORS})
    results: dict = {"rules": {}}
    for rule, (method, floor) in rules.items():
        scores = {name: combine_p_values(p, method, n_forward, floor) for name, p in p_forward.items()}
        back = {name: combine_p_values(p, method, n_reverse, floor) for name, p in p_reverse.items()}
        aucs = {s: round(auc(scores["qcd_test"], scores[s]), 4) for s in ("top", "W", *ZOO)}
        aucs.update({s: round(auc(scores["holdout_qcd"], scores[s]), 4) for s in HOLDOUT})
        zoo = [aucs[s] for s in ZOO]
        entry = {
            "z_floor": floor,
            "min_auc": min(zoo),
            "median_auc": float(np.median(zoo)),
            "holdout_min_auc": min(aucs[s] for s in HOLDOUT),
            "reverse_auc": round(auc(back["top"], back["qcd_test"]), 4),
            "reverse_auc_fresh_test": round(auc(back["holdout_top"], back["holdout_qcd"]), 4),
            "auc": aucs,
        }
        results["rules"][rule] = entry
        print(
            f"{rule}: zoo min {entry['min_auc']:.3f} median {entry['median_auc']:.3f} held-out min "
            f"{entry['holdout_min_auc']:.3f} reverse {entry['reverse_auc']:.3f} "
            f"(fresh test {entry['reverse_auc_fresh_test']:.3f}) top {aucs['top']:.3f}",
            flush=True,
        )
    meta = {
        "command": "python bench/stouffer_floor_scan.py" + (f" --seed {args.seed}" if args.seed else ""),
        "members": config["members"],
        "seed": args.seed,
    }
    write_results(args.out, results, meta, started)


if __name__ == "__main__":
    main()

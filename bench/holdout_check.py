"""Signals the detectors were not chosen on (issue #18, docs/agnostic.md "Held-out signals").

The detectors were compared on the seven-signal zoo; the task's own figures are re-measured on
other samples with other signals. This check trains a `combination` (``--config``, the recommended
`configs/agnostic.yaml` by default) and the members of `configs/agnostic_fast.yaml` on the usual
50 000 QCD training jets and scores a *fresh* QCD test sample (seed 411, made for this check)
against four signals from `bench/holdout_cards/` that no choice looked at until
`bench/combination_members.py` (which chose conv_ae over pca as the recommended image member on all
eleven signals, docs/agnostic.md): a 60 GeV scalar -> b bbar and an 80 GeV scalar -> g g (both
inside the QCD jet-mass bulk, median 77 GeV), a 150 GeV scalar -> light quarks (two prongs in QCD's
upper mass tail) and, added later, a 50 GeV scalar -> tau tau (neutrinos, few constituents), plus
the top test jets for reference.

    bench/holdout_samples.sh                   # the samples, ~10 min on 2 cores
    python bench/holdout_check.py --seeds 0 1 2 --config configs/agnostic_fast.yaml
    python bench/holdout_check.py --seeds 0 --models conv_ae dense_ae vae oe_vae lola_ae seq_ae \
        --out bench/results/holdout_check_aes.json       # the autoencoders, for comparison

``--train FILE`` trains on another QCD sample (the training sample's share of the figures), ``--zoo``
also scores the seven zoo signals against ``data/qcd_test.h5``.

Writes bench/results/holdout_check.json: per model and seed the AUC and R30 of each signal, the
minimum over the held-out signals, their mean and sample sd over seeds.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from jetae.config import load_config_file
from jetae.evaluation.metrics import auc, r30
from jetae.experiments.benchmark.config import BenchmarkConfig, model_options, needs_outliers
from jetae.io.atomic import write_text_atomic
from jetae.io.toptag import read_jets
from jetae.models import create_model
from results_io import mean_sd

HOLDOUT = ("scalar_bb_60", "scalar_gg_80", "scalar_qq_150", "scalar_tautau_50")
ZOO = ("light_scalar_qq", "light_scalar_gg", "higgs_bb", "higgs_aa_4b", "light_top", "heavy_scalar_ww", "dark_shower")
#: A combination (--config) and the members of configs/agnostic_fast.yaml at their defaults.
RECOMMENDED = ("combination", "observable_density", "pca")


def detector_options(name: str, seed: int, config: Path = Path("configs/agnostic.yaml")) -> dict:
    """``config`` for ``combination`` (the recommended one by default), else the zoo benchmark's options."""
    if name == "combination":
        options = load_config_file(config)
        options.pop("model")
        return {**options, "seed": seed}
    if name in RECOMMENDED:
        return {"seed": seed}
    return model_options(BenchmarkConfig(preset="zoo", seed=seed).resolved(), name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("data"), help="bench/make_samples.sh directory")
    parser.add_argument("--holdout", type=Path, default=Path("data/holdout"), help="bench/holdout_samples.sh output")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--models",
        nargs="+",
        default=list(RECOMMENDED),
        help="default: the recommended detector and its members; any other registered model trains with "
        "the options of `jetae benchmark --preset zoo` (oe_vae exposed to data/w_outliers.h5)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=Path("configs/agnostic.yaml"),
        help="the combination's config (bench/results/holdout_check.json: configs/agnostic_fast.yaml, "
        "which was configs/agnostic.yaml when it ran)",
    )
    parser.add_argument(
        "--train",
        type=Path,
        default=None,
        help="QCD training jets (default: DATA/qcd_train.h5); another sample "
        "shows how much the figures owe to the training sample",
    )
    parser.add_argument(
        "--zoo", action="store_true", help="also score the seven zoo signals against DATA/qcd_test.h5 (zoo_min_auc)"
    )
    parser.add_argument("--out", type=Path, default=Path("bench/results/holdout_check.json"))
    args = parser.parse_args()
    started = time.time()

    train = read_jets(args.train or args.data / "qcd_train.h5")
    background = read_jets(args.holdout / "qcd_test.h5")
    signals = {name: read_jets(args.holdout / f"{name}.h5") for name in HOLDOUT}
    signals["top"] = read_jets(args.data / "top_test.h5")
    zoo_background = read_jets(args.data / "qcd_test.h5") if args.zoo else None
    zoo = {name: read_jets(args.data / "zoo" / f"{name}.h5") for name in ZOO} if args.zoo else {}
    outliers = read_jets(args.data / "w_outliers.h5") if any(map(needs_outliers, args.models)) else None

    results: dict = {"signals": [*HOLDOUT, "top", *zoo], "models": {}}
    for name in args.models:
        runs = []
        for seed in args.seeds:
            detector = create_model(name, **detector_options(name, seed, args.config))
            detector.fit(train, **({"outliers": outliers} if needs_outliers(name) else {}))
            run = {"seed": seed}
            for reference, samples in ((background, signals), (zoo_background, zoo)):
                background_scores = detector.anomaly_score(reference) if samples else None
                for signal, jets in samples.items():
                    scores = detector.anomaly_score(jets)
                    rejection = r30(background_scores, scores)
                    run[signal] = {
                        "auc": round(auc(background_scores, scores), 4),
                        "r30": round(rejection, 1) if np.isfinite(rejection) else None,
                    }
            run["min_auc"] = min(run[s]["auc"] for s in HOLDOUT)
            if zoo:
                run["zoo_min_auc"] = min(run[s]["auc"] for s in zoo)
            runs.append(run)
            print(name, seed, {s: run[s]["auc"] for s in results["signals"]}, flush=True)
        summary = {
            key: mean_sd([run[key] if key.endswith("min_auc") else run[key]["auc"] for run in runs])
            for key in (*results["signals"], "min_auc", *(["zoo_min_auc"] if zoo else []))
        }
        results["models"][name] = {"runs": runs, "summary": summary}
    results["meta"] = {
        "command": "python bench/holdout_check.py --seeds "
        + " ".join(map(str, args.seeds))
        + ("" if args.models == list(RECOMMENDED) else " --models " + " ".join(args.models))
        + ("" if args.config == Path("configs/agnostic.yaml") else f" --config {args.config}")
        + ("" if args.train is None else f" --train {args.train}")
        + (" --zoo" if args.zoo else "")
        + ("" if args.out == Path("bench/results/holdout_check.json") else f" --out {args.out}"),
        "train": str(args.train or args.data / "qcd_train.h5"),
        "n_train": len(train),
        "n_background": len(background),
        "n_signal": {name: len(jets) for name, jets in {**signals, **zoo}.items()},
        "date": time.strftime("%Y-%m-%d"),
        "seconds": round(time.time() - started, 1),
    }
    if "combination" in args.models:  # the config file may change later: keep what this run used
        options = detector_options("combination", 0, args.config)
        options.pop("seed")
        results["meta"]["combination_config"] = {"path": str(args.config), **options}
    write_text_atomic(args.out, json.dumps(results, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

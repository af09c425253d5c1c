"""The default `vae`'s posterior collapse against its KL weight beta, on the signal zoo.

At its defaults (beta = 0.1, reconstruction averaged over the 60 standardised inputs, KL summed over
10 latents) the `vae` keeps about one latent dimension active (docs/ae_tool.md): the KL weight
corresponds to a Gaussian decoder of per-input variance beta * 60 / 2 = 3, three times the
variance of the standardised inputs. This script trains the `vae` at several beta (everything else
at the zoo benchmark's options: 50 epochs, batch 256, patience 5) and reports, per beta:

* active latent dimensions: the standard deviation over QCD test jets of each dimension's
  posterior mean (active: > 0.1) and the mean KL per dimension;
* AUC of every VAE score for top, W and the seven zoo signals against the QCD test jets, their
  minimum and median over the zoo, and the reverse AUC (trained on the first 20 000 top jets,
  QCD test jets as the anomaly), as in ``jetae benchmark --preset zoo``;

per seed (``--seeds``, default 0 1 2) and as mean and sample sd over the seeds.

    OMP_NUM_THREADS=1 python bench/vae_beta_scan.py                 # ~10 min on one thread
    python bench/vae_beta_scan.py --betas 0.1 0.01 --seeds 0 --n-train 5000 --n-test 2000 --out /tmp/scan.json

Samples: bench/make_samples.sh and bench/make_zoo_samples.sh (data/). Writes
bench/results/vae_beta_scan.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from jetae.evaluation.metrics import auc
from jetae.evaluation.samples import read_sample
from jetae.io.atomic import write_text_atomic
from jetae.models import create_model
from jetae.models.vae import VAE_SCORES

#: The zoo benchmark's vae options (src/jetae/experiments/benchmark/presets.yaml, preset zoo).
BENCHMARK_OPTIONS = {"epochs": 50, "batch_size": 256, "patience": 5}
ZOO = (
    "light_scalar_qq",
    "light_scalar_gg",
    "higgs_bb",
    "higgs_aa_4b",
    "light_top",
    "heavy_scalar_ww",
    "dark_shower",
)


def latent_usage(detector, jets) -> dict:
    """Per latent dimension: sd of the posterior mean and mean KL to the prior over ``jets``."""
    inputs = torch.from_numpy(np.asarray(detector.transform(jets), dtype=np.float32))
    network = detector.network_
    with torch.no_grad():
        mu, logvar = network.encode(inputs)
    kl = 0.5 * (mu.square() + logvar.exp() - 1 - logvar)
    sd = mu.std(dim=0)
    return {
        "posterior_mean_sd": [round(float(v), 4) for v in sd],
        "mean_kl_per_dim": [round(float(v), 4) for v in kl.mean(dim=0)],
        "active_dims": int((sd > 0.1).sum()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--betas", type=float, nargs="+", default=[0.1, 0.01, 0.001])
    parser.add_argument("--n-train", type=int, default=50_000)
    parser.add_argument("--n-reverse", type=int, default=20_000)
    parser.add_argument("--n-test", type=int, default=10_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("bench/results/vae_beta_scan.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = args.data_dir

    def sample(name: str, n: int):
        return read_sample(data / f"{name}.h5", name, n_max=n)

    train, top_train = sample("qcd_train", args.n_train), sample("top_train", args.n_reverse)
    qcd = sample("qcd_test", args.n_test)
    signals = {"top": sample("top_test", args.n_test), "W": sample("w_test", args.n_test)}
    signals.update({name: read_sample(data / "zoo" / f"{name}.h5", name, n_max=args.n_test) for name in ZOO})

    results: dict = {
        "meta": {
            "command": " ".join(["python", *sys.argv]),
            "options": BENCHMARK_OPTIONS,
            "seeds": args.seeds,
            "n_train": len(train),
            "n_reverse_train": len(top_train),
            "n_test": args.n_test,
            "threads": args.threads,
            "load_average_start": os.getloadavg(),
            "active": "posterior-mean sd over the QCD test jets > 0.1",
        },
        "betas": {},
    }
    for beta in args.betas:
        runs = {}
        for seed in args.seeds:
            runs[str(seed)] = train_and_score(beta, seed, train, top_train, qcd, signals)
            elbo = runs[str(seed)]["scores"]["elbo"]
            print(
                f"beta {beta:g} seed {seed}: active dims {runs[str(seed)]['latent']['active_dims']}, "
                f"elbo min {elbo['min_auc']:.3f} median {elbo['median_auc']:.3f} top {elbo['auc']['top']:.3f} "
                f"reverse {elbo['reverse_auc']:.3f}",
                flush=True,
            )
        results["betas"][str(beta)] = {"runs": runs, "summary": summarize(list(runs.values()))}
        results["meta"]["load_average_end"] = os.getloadavg()
        write_text_atomic(args.out, json.dumps(results, indent=1) + "\n")


def train_and_score(beta: float, seed: int, train, top_train, qcd, signals: dict) -> dict:
    """One seed at one beta: latent usage and every score's AUCs (forward, zoo, reverse)."""
    options = dict(BENCHMARK_OPTIONS, beta=beta, seed=seed, progress=False)
    start = time.perf_counter()
    forward = create_model("vae", **options).fit(train)
    seconds = time.perf_counter() - start
    reverse = create_model("vae", **options).fit(top_train)
    entry: dict = {
        "fit_seconds": round(seconds, 1),
        "epochs_run": len(forward.history_),
        "latent": latent_usage(forward, qcd),
        "scores": {},
    }
    for score in VAE_SCORES:
        background = forward.anomaly_score(qcd, score=score)
        aucs = {
            name: round(auc(background, forward.anomaly_score(jets, score=score)), 4) for name, jets in signals.items()
        }
        zoo = [aucs[name] for name in ZOO]
        # reverse: trained on top, QCD is the anomaly
        reverse_auc = auc(reverse.anomaly_score(signals["top"], score=score), reverse.anomaly_score(qcd, score=score))
        entry["scores"][score] = {
            "auc": aucs,
            "min_auc": min(zoo),
            "median_auc": float(np.median(zoo)),
            "reverse_auc": round(reverse_auc, 4),
        }
    return entry


def summarize(runs: list[dict]) -> dict:
    """Mean and sample sd over seeds of the active dimensions and, per score, min / median / reverse / top / W."""

    def spread(values: list[float]) -> dict:
        array = np.asarray(values, dtype=float)
        return {
            "mean": round(float(array.mean()), 4),
            "sd": round(float(array.std(ddof=1)), 4) if len(array) > 1 else None,
        }

    summary: dict = {"active_dims": spread([run["latent"]["active_dims"] for run in runs]), "scores": {}}
    for score in VAE_SCORES:
        parts = [run["scores"][score] for run in runs]
        summary["scores"][score] = {
            "min_auc": spread([p["min_auc"] for p in parts]),
            "median_auc": spread([p["median_auc"] for p in parts]),
            "reverse_auc": spread([p["reverse_auc"] for p in parts]),
            "top": spread([p["auc"]["top"] for p in parts]),
            "W": spread([p["auc"]["W"] for p in parts]),
        }
    return summary


if __name__ == "__main__":
    main()

#!/usr/bin/env python
"""VAE family benchmark: scores, outlier exposure and DisCo mass decorrelation.

Reproduces the qualitative results of arXiv:2007.01850 in jetae: trained on QCD only,
per anomaly score the AUC and R30 for top and W jets and the sculpting of the QCD mass
(JSD after cuts keeping 50% / 10% of the background); then a DisCo lambda scan of the
plain ``vae`` and of the ``oe_vae`` (outliers = W jets, tested on top) and the
AUC-vs-1/JSD trade-off plot.

Every run is trained, scored and summarised by ``jetae.evaluation.direction.tag_direction`` (the
function behind ``jetae benchmark``) on samples read by ``jetae.evaluation.samples.read_sample``.

Usage (from the repository root, with jetae installed; heavy on 2 cores, so run it niced)::

    nice -n 10 .venv/bin/python bench/bench_vae.py            # shared samples in data/
    .venv/bin/python bench/bench_vae.py --quick                # smoke run, small samples

Writes ``bench/results/vae.json`` and ``bench/results/vae_tradeoff.png``; with ``--report DIR``
also jetae's HTML comparison report of the scanned ``vae`` / ``oe_vae`` runs, whose
"Sensitivity vs mass sculpting" section holds the AUC-vs-1/JSD curves.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import platform
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from jetae import __version__
from jetae.config import parse_set_options
from jetae.errors import JetaeError
from jetae.evaluation.direction import tag_direction
from jetae.evaluation.evaluate import evaluate_models
from jetae.evaluation.plots import plot_style
from jetae.evaluation.plots import plot_tradeoff as tradeoff_figure
from jetae.evaluation.samples import read_sample
from jetae.features.kinematics import jet_mass
from jetae.io.atomic import atomic_path, write_text_atomic
from jetae.jets import Jets
from jetae.models import create_model

ROOT = Path(__file__).resolve().parents[1]

log = logging.getLogger("bench_vae")

#: Representations to compare: the paper's raw four-momenta, or jet-axis-relative features.
REPRESENTATIONS = {
    "raw": {"kind": "constituents", "n_constituents": 20, "features": ["E", "px", "py", "pz"], "flatten": True},
    "relative": {
        "kind": "constituents",
        "n_constituents": 20,
        "features": ["delta_eta", "delta_phi", "pt_rel"],
        "flatten": True,
    },
}
SAMPLES = {
    "qcd_train": "qcd_train.h5",
    "qcd_test": "qcd_test.h5",
    "top_test": "top_test.h5",
    "w_test": "w_test.h5",
    "w_outliers": "w_outliers.h5",
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data")
    parser.add_argument("--n-train", type=int, default=50_000, help="QCD training jets")
    parser.add_argument("--n-test", type=int, default=20_000, help="jets per test sample")
    parser.add_argument("--n-outliers", type=int, default=10_000, help="W jets for outlier exposure")
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--representation", choices=sorted(REPRESENTATIONS), default="relative")
    parser.add_argument("--beta", type=float, default=None, help="KL weight (default: the model default)")
    parser.add_argument(
        "--tag-score",
        default="elbo",
        help="tagging score of every scanned model, so the curves compare one score (default: elbo)",
    )
    parser.add_argument(
        "--kl-oe-baseline",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also train oe_vae with its default tag score kl (reference KL-OE) at lambda = 0",
    )
    parser.add_argument("--lambdas", default="0,1,3,10,30", help="DisCo lambdas to scan (comma separated)")
    parser.add_argument(
        "--models",
        default="vae,oe_vae,oe_vae_resampled",
        help="vae, oe_vae (W outliers) and/or oe_vae_resampled (W outliers with QCD-like masses)",
    )
    parser.add_argument(
        "--raw-baseline",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also train vae and oe_vae on raw (E, px, py, pz) at lambda = 0",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads (1 is fastest for these small nets on a shared machine)",
    )
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="extra model option")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "vae.json")
    parser.add_argument("--plot", type=Path, default=ROOT / "bench" / "results" / "vae_tradeoff.png")
    parser.add_argument(
        "--report",
        type=Path,
        default=None,
        metavar="DIR",
        help="also write jetae's HTML report of the scanned vae / oe_vae runs (AUC-vs-1/JSD curves) "
        "to DIR (replaced if it exists)",
    )
    parser.add_argument("--quick", action="store_true", help="small samples and few epochs (smoke test)")
    return parser.parse_args(argv)


def load_samples(args: argparse.Namespace) -> dict[str, Jets]:
    """The first jets of each shared sample in ``--data-dir`` (exits naming bench/make_samples.sh if one is missing)."""
    sizes = {
        "qcd_train": args.n_train,
        "qcd_test": args.n_test,
        "top_test": args.n_test,
        "w_test": args.n_test,
        "w_outliers": args.n_outliers,
    }
    try:
        return {key: read_sample(args.data_dir / name, key, n_max=sizes[key]) for key, name in SAMPLES.items()}
    except JetaeError as exc:
        raise SystemExit(
            f"{exc} (the shared benchmark samples live in {args.data_dir}; bench/make_samples.sh makes them)"
        ) from None


def rescale_jet_angles(jets: Jets, factor: np.ndarray) -> Jets:
    """Jets whose constituents' (eta, phi) offsets from the jet axis are scaled by ``factor`` (per jet).

    At fixed pT the prong separation of a boosted two-body decay is ~ 2 m / pT, so scaling
    the angles of W jets by k emulates W-like (two-prong) jets of mass ~ k * m_W: outliers
    that are two-pronged but not at one mass. Constituent pT is kept; constituents are massless.
    """
    p4 = jets.constituents.astype(np.float64)
    real = np.any(p4 != 0.0, axis=-1)
    pt = np.hypot(p4[..., 1], p4[..., 2])
    eta = np.arcsinh(np.divide(p4[..., 3], pt, out=np.zeros_like(pt), where=pt > 0))
    phi = np.arctan2(p4[..., 2], p4[..., 1])
    jet = p4.sum(axis=1)
    jet_eta = np.arcsinh(jet[:, 3] / np.hypot(jet[:, 1], jet[:, 2]))[:, None]
    jet_phi = np.arctan2(jet[:, 2], jet[:, 1])[:, None]
    scale = np.asarray(factor, dtype=np.float64)[:, None]
    eta = jet_eta + scale * (eta - jet_eta)
    phi = jet_phi + scale * ((phi - jet_phi + np.pi) % (2 * np.pi) - np.pi)
    out = np.stack([pt * np.cosh(eta), pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)], axis=-1)
    out[~real] = 0.0
    return Jets(out.astype(np.float32), jets.truth, jets.ttv, jets.is_signal, source=f"{jets.source} (mass-resampled)")


def mass_resampled_outliers(outliers: Jets, background: Jets, seed: int = 0) -> Jets:
    """W outliers with a QCD-like mass spectrum (cf. the resampled outliers of arXiv:2007.01850).

    Each W jet gets a target mass drawn from the background masses (20-250 GeV) and its
    angles are scaled by target / mass (clipped to [0.25, 3]).
    """
    rng = np.random.default_rng(seed)
    background_mass = jet_mass(background.constituents)
    pool = background_mass[(background_mass > 20.0) & (background_mass < 250.0)]
    target = rng.choice(pool, len(outliers))
    factor = np.clip(target / np.maximum(jet_mass(outliers.constituents), 1.0), 0.25, 3.0)
    return rescale_jet_angles(outliers, factor)


def finite(value: float) -> float | None:
    """JSON-safe number (inf -> None)."""
    return None if value is None or not math.isfinite(value) else float(value)


def scores_block(direction: Any) -> dict:
    """Per score of a :func:`tag_direction` result: top / W summaries and the QCD mass-sculpting block."""
    results = {}
    for name, block in direction.blocks.items():
        out = {
            signal: {k: finite(summary[k]) for k in ("auc", "auc_err", "r30", "r50")}
            for signal, summary in block["signals"].items()
        }
        # figures the sample does not resolve are None with a "<figure>_reason" string
        out["mass"] = {k: v if isinstance(v, str) else finite(v) for k, v in block["mass_sculpting"].items()}
        results[name] = out
    return results


def train_and_evaluate(
    label: str, options: dict, samples: dict, qcd_mass: np.ndarray, all_scores: bool
) -> tuple[dict, object]:
    model = "vae" if label == "vae" else "oe_vae"
    detector = create_model(model, options)
    fit_options = {}
    if label == "oe_vae":
        fit_options["outliers"] = samples["w_outliers"]
    elif label == "oe_vae_resampled":
        fit_options["outliers"] = samples["w_outliers_resampled"]
    names = list(detector.score_names) if all_scores else [detector.score_names[0]]
    direction = tag_direction(
        detector,
        samples["qcd_test"],
        {"top": samples["top_test"], "w": samples["w_test"]},
        train=samples["qcd_train"],
        fit_params=fit_options,
        scores=names,
        background_mass=qcd_mass,
        n_bootstrap=20,
        seed=0,
    )
    seconds = direction.train_seconds
    last = detector.history_[-1]
    run = {
        "label": label,
        "model": model,
        "representation": options["representation"],
        "disco_lambda": detector.config.disco_lambda,
        "tag_score": detector.config.tag_score,
        "train_seconds": round(seconds, 1),
        "epochs_run": len(detector.history_),
        "final_val_loss": finite(last.get("val_loss", float("nan"))),
        "final_val_disco": finite(last["val_disco"]) if "val_disco" in last else None,
        "scores": scores_block(direction),
    }
    tag = run["scores"][detector.score_names[0]]
    log.info(
        "%s lambda=%g (%s, %.0f s): top AUC %.3f, W AUC %.3f, 1/JSD50 %.3g, 1/JSD10 %.3g",
        label,
        run["disco_lambda"],
        run["tag_score"],
        seconds,
        tag["top"]["auc"],
        tag["w"]["auc"],
        tag["mass"]["inv_jsd_eff50"] or math.inf,
        tag["mass"]["inv_jsd_eff10"] or math.inf,
    )
    return run, detector


#: Curves of the trade-off plot: run label -> legend entry.
TRADEOFF_CURVES = {
    "vae": "VAE + DisCo",
    "oe_vae": "OE-VAE (W) + DisCo",
    "oe_vae_resampled": "OE-VAE (mass-resampled W) + DisCo",
}


def plot_tradeoff(runs: list[dict], path: Path) -> None:
    """Top AUC vs 1/JSD50 of the scanned runs, one curve per model (jetae's report figure)."""
    series = {}
    for key, legend in TRADEOFF_CURVES.items():
        points = sorted(
            (run["disco_lambda"], run["scores"][run["tag_score"]])
            for run in runs
            if run["label"] == key and run.get("scan", True)
        )
        if points:
            series[legend] = [
                (block["mass"]["inv_jsd_eff50"], block["top"]["auc"], f"λ={lam:g}") for lam, block in points
            ]
    figure = tradeoff_figure(series, "top", target_inv_jsd=10.0, target_auc=0.85)
    with plot_style(), atomic_path(path, suffix=".png") as tmp:
        figure.savefig(tmp, format="png", dpi=100)


def write_report(detectors: dict, samples: dict, directory: Path, command: str) -> None:
    """jetae's HTML comparison report of the scanned detectors (tables, ROC, AUC-vs-1/JSD curves)."""
    evaluate_models(
        detectors,
        samples["qcd_test"],
        {"top": samples["top_test"], "w": samples["w_test"]},
        directory,
        provenance={"command": command, "note": "bench/bench_vae.py DisCo scan"},
        overwrite=True,
        n_bootstrap=20,
        n_latent=1000,
    )
    log.info("wrote the report %s", directory / "report.html")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.quick:
        args.n_train, args.n_test, args.n_outliers, args.epochs = 4000, 2000, 1000, 3
        args.lambdas = "0,10"
    torch.set_num_threads(args.threads)
    samples = load_samples(args)
    samples["w_outliers_resampled"] = mass_resampled_outliers(samples["w_outliers"], samples["qcd_train"], args.seed)
    qcd_mass = jet_mass(samples["qcd_test"].constituents)
    base = {
        "representation": REPRESENTATIONS[args.representation],
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "progress": False,
        "device": "cpu",
    }
    if args.beta is not None:
        base["beta"] = args.beta
    if args.tag_score:
        base["tag_score"] = args.tag_score
    base.update(parse_set_options(args.set))
    lambdas = [float(x) for x in args.lambdas.split(",")]
    runs = []
    plan = [(label, lam, base) for label in args.models.split(",") for lam in lambdas]
    if args.kl_oe_baseline:
        plan.append(("oe_vae", 0.0, dict(base, tag_score="kl")))
    if args.raw_baseline:
        raw = dict(base, representation=REPRESENTATIONS["raw"])
        plan += [(label, 0.0, raw) for label in ("vae", "oe_vae") if raw["representation"] != base["representation"]]
    report_detectors = {}
    for label, lam, options in tqdm(plan, desc="VAE runs", file=sys.stderr):
        run, detector = train_and_evaluate(
            label, dict(options, disco_lambda=lam), samples, qcd_mass, all_scores=lam == 0
        )
        run["scan"] = options is base  # the extra baselines are not part of the trade-off curves
        runs.append(run)
        # oe_vae_resampled has oe_vae's config (only its outliers differ), so the report would merge the curves
        if args.report and run["scan"] and label in ("vae", "oe_vae"):
            report_detectors[f"{label}_l{lam:g}"] = detector

    result = {
        "benchmark": "vae",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "setup": {
            "n_train": len(samples["qcd_train"]),
            "n_test": {k: len(samples[k]) for k in ("qcd_test", "top_test", "w_test")},
            "n_outliers": len(samples["w_outliers"]),
            "data_dir": str(args.data_dir),
            "options": base,
            "representation": args.representation,
            "lambdas": lambdas,
            "quick": args.quick,
            "versions": {"jetae": __version__, "torch": torch.__version__, "python": platform.python_version()},
            "machine": platform.machine(),
            "threads": torch.get_num_threads(),
        },
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.out, json.dumps(result, indent=1) + "\n")
    plot_tradeoff(runs, args.plot)
    log.info("wrote %s and %s", args.out, args.plot)
    if report_detectors:
        write_report(report_detectors, samples, args.report, result["command"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

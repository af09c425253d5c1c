#!/usr/bin/env python
"""Ablation of ``conv_ae``'s defaults against a plain recipe (issue #22): which differences matter.

The plain recipe (the issue's): 4x4 kernels, PReLU, unit-sum images not scaled further, linear
output, mean squared error over pixels, Adam 1e-3 with cosine decay to 0 over all steps, batch
256, every training jet used for training (no validation split). jetae's old defaults: 3x3
kernels, ReLU, the ``global`` scaler (divide by the training pixels' RMS), linear output, MSE,
constant learning rate, batch 256, 10% held out for early stopping and the best epoch.

Each variant is a set of options over the old defaults (pinned here, so the script measures the
same thing after the defaults change); ``new_defaults`` is ``conv_ae`` with no options at all,
i.e. whatever the installed jetae's defaults are (its resolved options are recorded). Every
variant is trained on the first ``--n-train`` jets of the QCD training file for ``--epochs``
epochs with each seed, at the trainer's default precision (bf16 autocast on a CPU with bf16
instructions; the ``+fp32`` variants in float32), and scored (fp32, as ``jetae score`` does) on
QCD test jets against top, W and every signal of the zoo; the AUCs, their mean and standard
deviation over seeds, the zoo's minimum and the training time are written to ``--out`` (merged
into the file under ``--stage``; a rerun replaces a variant's runs of the same seeds and keeps the
others, and the earlier runs' ``meta`` moves to the stage's ``earlier_meta`` list).

    # screening (reduced size): 20k jets, 5 epochs, seed 0
    python bench/conv_ae_ablation.py --stage screen --n-train 20000 --epochs 5 --seeds 0
    # final comparison at the issue's budget: 50k jets, 10 epochs, 3 seeds
    python bench/conv_ae_ablation.py --stage final --n-train 50000 --epochs 10 --seeds 0,1,2 \\
        --variants old,new_defaults --n-test 10000 --n-zoo 5000

Heavy: run it under ``flock /work/cpu.lock`` on the shared machine (one thread by default).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from jetae import __version__
from jetae.evaluation.metrics import auc
from jetae.evaluation.samples import read_sample
from jetae.features import make_representation
from jetae.io.atomic import write_text_atomic
from jetae.models import create_model
from jetae.models.autoencoders import ConvAE
from jetae.train.device import resolve_precision

log = logging.getLogger("conv_ae_ablation")

ROOT = Path(__file__).resolve().parents[1]

#: jetae's conv_ae defaults before issue #22 (trainer options included), pinned.
OLD: dict[str, Any] = {
    "kernel_size": 3,
    "activation": "relu",
    "scaler": "global",
    "output_activation": "none",
    "lr_schedule": "constant",
    "batch_size": 256,
    "val_fraction": 0.1,
    "patience": 5,
    "lr": 1e-3,
}
#: The issue's plain recipe in jetae's options (same stages, dense layer and code size as OLD).
RECIPE: dict[str, Any] = {
    **OLD,
    "kernel_size": 4,
    "activation": "prelu",
    "scaler": "none",
    "lr_schedule": "cosine",
    "val_fraction": 0.0,
    "patience": 0,
}
#: What each recipe factor is, as options (its own value and the old default's).
FACTORS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "kernel4": ({"kernel_size": 4}, {"kernel_size": 3}),
    "prelu": ({"activation": "prelu"}, {"activation": "relu"}),
    "unscaled": ({"scaler": "none"}, {"scaler": "global"}),
    "cosine": ({"lr_schedule": "cosine"}, {"lr_schedule": "constant"}),
    "no_val": ({"val_fraction": 0.0, "patience": 0}, {"val_fraction": 0.1, "patience": 5}),
}

#: Variant name -> options over OLD (``loss_reduction`` is handled by this script, see SumLossConvAE).
VARIANTS: dict[str, dict[str, Any]] = {
    "old": dict(OLD),
    "recipe": dict(RECIPE),
    **{f"old+{name}": {**OLD, **own} for name, (own, _) in FACTORS.items()},
    "old+batch128": {**OLD, "batch_size": 128},
    "old+batch512": {**OLD, "batch_size": 512},
    # learning rate (not one of the recipe's factors: both use 1e-3): is 10 epochs under-trained?
    **{f"old+lr{lr}": {**OLD, "lr": float(lr)} for lr in ("2e-3", "3e-3", "5e-3")},
    "old+softplus_out": {**OLD, "output_activation": "softplus"},
    "old+loss_sum": {**OLD, "loss_reduction": "sum"},
    **{f"recipe-{name}": {**RECIPE, **old} for name, (_, old) in FACTORS.items()},
    "recipe+batch128": {**RECIPE, "batch_size": 128},
    "recipe+softplus_out": {**RECIPE, "output_activation": "softplus"},
    "recipe+loss_sum": {**RECIPE, "loss_reduction": "sum"},
    "new_defaults": {},
}
# Layout (not a recipe factor): one conv instead of two at the 40x40 resolution, in the encoder and
# the mirrored decoder, which is where ~3/4 of the training arithmetic is (docs/models.md, "Speed").
VARIANTS["old+single40"] = {**OLD, "stages": [[10], [10, 5]]}
# Training precision (not a recipe factor: the plain loop ran in float32; jetae trains conv_ae
# in bf16 autocast on CPUs that have it): unscaled unit-sum images (pixels ~1e-3) may lose their
# detail to bf16's 8-bit mantissa once a layer adds a bias of order 0.01-0.1.
for _name in ("old", "recipe", "old+unscaled"):
    VARIANTS[f"{_name}+fp32"] = {**VARIANTS[_name], "precision": "32-true"}


class SumLossConvAE(ConvAE):
    """conv_ae trained on the squared error *summed* over pixels (scored as usual: the mean).

    The sum is the mean times the number of pixels; Adam is invariant to a constant factor on the
    loss except through its epsilon, which matters only where gradients are tiny (unscaled images).
    """

    def training_loss(self, network, batch, stage, module=None):
        parts = super().training_loss(network, batch, stage, module)
        parts["loss"] = parts["loss"] * float(np.prod(batch["inputs"].shape[1:]))
        return parts


def make_detector(options: dict[str, Any], seed: int, epochs: int):
    options = dict(options)
    reduction = options.pop("loss_reduction", "mean")
    options.update(seed=seed, epochs=epochs, progress=False)
    if reduction == "sum":
        return SumLossConvAE(None, **options)
    return create_model("conv_ae", **options)


def load_images(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """40x40 images: training QCD, test QCD, and each signal's test jets (first n of each file)."""
    spec = {"kind": "image"}
    data = Path(args.data_dir)

    def images(path: Path, n: int) -> np.ndarray:
        return np.asarray(make_representation(read_sample(path, path.stem, n_max=n), spec), dtype=np.float32)

    train = images(data / "qcd_train.h5", args.n_train)
    if len(train) < args.n_train:
        raise SystemExit(f"{data / 'qcd_train.h5'} has only {len(train)} jets")
    background = images(data / "qcd_test.h5", args.n_test)
    signals = {"top": images(data / "top_test.h5", args.n_test), "W": images(data / "w_test.h5", args.n_test)}
    for path in sorted((data / "zoo").glob("*.h5")):
        signals[path.stem] = images(path, args.n_zoo)
    return train, background, signals


def run_variant(
    name: str, options: dict[str, Any], seed: int, args: argparse.Namespace, train, background, signals
) -> dict[str, Any]:
    detector = make_detector(options, seed, args.epochs)
    start = time.perf_counter()
    detector.fit(train)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    qcd = detector.anomaly_score(background)
    aucs = {key: float(auc(qcd, detector.anomaly_score(images))) for key, images in signals.items()}
    score_seconds = time.perf_counter() - start
    zoo = [value for key, value in aucs.items() if key not in ("top", "W")]
    record = {
        "seed": seed,
        "auc": aucs,
        "zoo_min": min(zoo) if zoo else None,
        "zoo_min_signal": min((v, k) for k, v in aucs.items() if k not in ("top", "W"))[1] if zoo else None,
        "fit_seconds": fit_seconds,
        "score_seconds": score_seconds,
        "epochs_run": len(detector.history_),
        "best_epoch": int(np.argmin([r.get("val_loss", r["train_loss"]) for r in detector.history_])),
        "precision": resolve_precision(detector.trainer_config.precision, "cpu", detector.network_),
    }
    log.info(
        "%s seed %d: top %.4f W %.4f zoo min %.4f (%s), %.0f s",
        name,
        seed,
        aucs["top"],
        aucs["W"],
        record["zoo_min"] or float("nan"),
        record["zoo_min_signal"],
        fit_seconds,
    )
    return record, detector


def aggregate(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and sample standard deviation over seeds of every AUC and of the zoo minimum."""
    keys = list(runs[0]["auc"])
    out: dict[str, Any] = {}
    for key in keys + ["zoo_min"]:
        values = np.array([run["auc"][key] if key != "zoo_min" else run["zoo_min"] for run in runs], dtype=float)
        out[key] = {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if len(values) > 1 else None}
    out["fit_seconds_mean"] = float(np.mean([run["fit_seconds"] for run in runs]))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", required=True, help="section of the JSON file (e.g. screen, final)")
    parser.add_argument("--data-dir", default="/work/main/data" if not (ROOT / "data").exists() else str(ROOT / "data"))
    parser.add_argument("--n-train", type=int, default=20000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seeds", type=lambda s: [int(x) for x in s.split(",")], default=[0])
    parser.add_argument("--variants", type=lambda s: s.split(","), default=None, help="default: all")
    parser.add_argument("--n-test", type=int, default=5000, help="QCD, top and W test jets")
    parser.add_argument("--n-zoo", type=int, default=2000, help="test jets of each zoo signal")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "conv_ae_ablation.json"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("jetae").setLevel(logging.WARNING)
    variants = args.variants or list(VARIANTS)
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)}; known: {', '.join(VARIANTS)}")
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    results = json.loads(out.read_text()) if out.exists() else {}
    stage = results.setdefault(args.stage, {"variants": {}})
    if "meta" in stage:  # runs added to a stage (e.g. more seeds) keep the earlier runs' commands
        stage.setdefault("earlier_meta", []).append(stage["meta"])
    stage["meta"] = {
        "command": " ".join(["conv_ae_ablation.py", *(argv if argv is not None else sys.argv[1:])]),
        "jetae": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
        "n_train": args.n_train,
        "epochs": args.epochs,
        "n_test": args.n_test,
        "n_zoo": args.n_zoo,
        "data_dir": args.data_dir,
    }
    started = time.perf_counter()
    train, background, signals = load_images(args)
    stage["meta"]["signals"] = {key: len(images) for key, images in signals.items()}
    stage["meta"]["n_background"] = len(background)
    for name in variants:
        entry = stage["variants"].setdefault(name, {"runs": []})
        for seed in args.seeds:
            record, detector = run_variant(name, VARIANTS[name], seed, args, train, background, signals)
            entry["runs"] = [run for run in entry["runs"] if run["seed"] != seed] + [record]
            entry["runs"].sort(key=lambda run: run["seed"])
            entry["options"] = {
                **{k: v for k, v in detector.get_params().items() if k not in ("seed", "progress", "device")},
                **({"loss_reduction": "sum"} if VARIANTS[name].get("loss_reduction") == "sum" else {}),
            }
            entry["summary"] = aggregate(entry["runs"])
            stage["meta"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
            stage["meta"]["seconds"] = time.perf_counter() - started
            out.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(out, json.dumps(results, indent=1) + "\n")
    print_table(stage)
    return 0


def print_table(stage: dict[str, Any]) -> None:
    """A markdown table of the stage: mean (and std over seeds) of top, W, the zoo minimum and each zoo signal."""
    variants = stage["variants"]
    if not variants:
        return
    first = next(iter(variants.values()))["summary"]
    zoo = [k for k in first if k not in ("top", "W", "zoo_min", "fit_seconds_mean")]
    header = ["variant", "seeds", "top", "W", "zoo min", *zoo, "fit s"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))

    def cell(value: dict[str, Any]) -> str:
        return f"{value['mean']:.3f}" + (f" ± {value['std']:.3f}" if value.get("std") is not None else "")

    for name, entry in variants.items():
        summary = entry["summary"]
        row = [name, str(len(entry["runs"])), cell(summary["top"]), cell(summary["W"]), cell(summary["zoo_min"])]
        row += [f"{summary[k]['mean']:.3f}" for k in zoo]
        row.append(f"{summary['fit_seconds_mean']:.0f}")
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    sys.exit(main())

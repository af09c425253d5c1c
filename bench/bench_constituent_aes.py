#!/usr/bin/env python
"""Constituent autoencoders (``lola_ae``, ``particle_ae``, ``seq_ae``): top tagging, both directions.

For every run (a model with its default options, or a named variant such as ``lola_ae@n20``):

* forward: trained on the first ``--n-train`` jets of ``qcd_train.h5`` (10% of them held out
  for validation / early stopping by the engine), scored on ``qcd_test.h5`` (background) and
  ``top_test.h5`` (signal);
* reverse: trained on the first ``--n-train`` jets of ``top_train.h5``, scored on
  ``top_test.h5`` (background) and ``qcd_test.h5`` (the anomaly).

Recorded per run and direction: AUC and R30 (background rejection at 30% signal efficiency)
of the default score and of every other score, training wall time (``fit``, including the
input representation and the latent fit), training throughput (jets x epochs / s), median
epoch time, inference throughput (``anomaly_score`` on both test samples), epochs run (of the
trainer config's ``epochs``) and the fully resolved options (``detector.get_params()``: model and
trainer options in one flat dict, as ``create_model`` takes them). Results go to
``bench/results/constituent_aes.json``; a table is printed.

Usage (from the repository root; the samples are those of ``bench/make_samples.sh``)::

    .venv/bin/python bench/bench_constituent_aes.py                     # 20k training jets, 10k test jets
    .venv/bin/python bench/bench_constituent_aes.py --runs lola_ae@n20 --merge   # add one variant
    .venv/bin/python bench/bench_constituent_aes.py --quick             # smoke test: tiny generated samples

``--set RUN.KEY=VALUE`` (or ``KEY=VALUE`` for every run) overrides a model or trainer option
(``create_model`` routes each key to its config); values are JSON (``--set particle_ae.channels=[32,32]``,
``--set seq_ae.cell='"lstm"'``, ``--set lr=3e-3``).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from jetae import __version__
from jetae.evaluation.metrics import auc, r30
from jetae.evaluation.samples import read_sample
from jetae.experiments.sample_files import ensure_sample_files
from jetae.features.kinematics import jet_mass
from jetae.io.atomic import write_text_atomic
from jetae.models import create_model

log = logging.getLogger("bench_constituent_aes")

ROOT = Path(__file__).resolve().parents[1]
FILES = {"qcd_train": "qcd_train.h5", "top_train": "top_train.h5", "qcd_test": "qcd_test.h5", "top_test": "top_test.h5"}

#: Named runs: ``name -> (model, options over the model's defaults)``. ``@`` marks a variant.
RUNS: dict[str, tuple[str, dict[str, Any]]] = {
    "lola_ae": ("lola_ae", {}),
    "particle_ae": ("particle_ae", {}),
    "seq_ae": ("seq_ae", {}),
    # The 20 hardest constituents instead of the paper's 40 (top AUC 0.919 vs 0.905 with 6k training jets).
    "lola_ae@n20": ("lola_ae", {"representation": {"n_constituents": 20}}),
    # The entropic earth mover's distance instead of Chamfer (about 3x the training time per epoch).
    "particle_ae@sinkhorn": ("particle_ae", {"set_loss": "sinkhorn", "sinkhorn_iterations": 20}),
}
DEFAULT_RUNS = ("lola_ae", "particle_ae", "seq_ae", "lola_ae@n20")
DIRECTIONS = ("forward", "reverse")
QUICK = {"n_train": 300, "n_test": 200, "epochs": 2}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=ROOT / "data",
        help="folder with qcd_train.h5, top_train.h5, qcd_test.h5, top_test.h5",
    )
    parser.add_argument("--n-train", type=int, default=20_000, help="training jets per direction")
    parser.add_argument("--n-test", type=int, default=10_000, help="jets of each test sample")
    parser.add_argument(
        "--runs",
        nargs="+",
        default=list(DEFAULT_RUNS),
        choices=sorted(RUNS),
        metavar="RUN",
        help=f"runs to measure (default: {' '.join(DEFAULT_RUNS)}; all: {', '.join(RUNS)})",
    )
    parser.add_argument("--directions", nargs="+", default=list(DIRECTIONS), choices=DIRECTIONS)
    parser.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="override every run's epochs (a trainer option; default: the model's own)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="[RUN.]KEY=VALUE",
        help="model or trainer option (JSON value) for one run or, without RUN., for all",
    )
    parser.add_argument("--device", default="cpu", help="auto, cpu or cuda (default cpu: the CPU budget is measured)")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1: these networks are tiny, and two threads on a busy "
        "2-core machine made epochs 5-50x slower; 0: torch's default, one per core)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "constituent_aes.json")
    parser.add_argument("--merge", action="store_true", help="keep the other runs already in --out")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke test: {QUICK['n_train']} training / {QUICK['n_test']} test jets, "
        f"{QUICK['epochs']} epochs; missing samples are generated into bench/work/",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.n_train, args.n_test = QUICK["n_train"], QUICK["n_test"]
        args.epochs = args.epochs or QUICK["epochs"]
    return args


def run_options(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Options per run: the run's own, then --epochs / --device / --seed, then --set (model and trainer
    options in one flat dict: ``create_model`` routes each to the detector's config or trainer config)."""
    options = {}
    for name in args.runs:
        _, own = RUNS[name]
        merged = json.loads(json.dumps(own))
        merged.update({"device": args.device, "seed": args.seed, "progress": False})
        if args.epochs:
            merged["epochs"] = args.epochs
        options[name] = merged
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--set {item!r}: expected [RUN.]KEY=VALUE")
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = value  # a bare string
        run, _, option = key.partition(".") if key.split(".")[0] in RUNS else ("", "", key)
        targets = [run] if run else list(options)
        for target in targets:
            if target not in options:
                raise SystemExit(f"--set {item!r}: run {target!r} is not among --runs")
            *parents, leaf = option.split(".")  # representation.n_constituents=20 -> nested
            node = options[target]
            for parent in parents:
                node = node.setdefault(parent, {})
            node[leaf] = parsed
    return options


def ensure_quick_samples(args: argparse.Namespace) -> Path:
    """The data dir if it has every file, else tiny samples generated with ``jetae generate`` (--quick only)."""
    if all((args.data_dir / name).exists() for name in FILES.values()):
        return args.data_dir
    if not args.quick:
        return args.data_dir  # read_sample stops with a message naming the missing file
    work = ROOT / "bench" / "work" / "constituent_quick"
    plan = {"qcd_train": ("qcd", 101), "top_train": ("top", 106), "qcd_test": ("qcd", 102), "top_test": ("top", 103)}
    sizes = {key: args.n_train if key.endswith("train") else args.n_test for key in plan}
    log.warning("%s lacks the benchmark samples: using tiny generated ones in %s", args.data_dir, work)
    ensure_sample_files(work, {key: (process, sizes[key], seed) for key, (process, seed) in plan.items()})
    return work


def finite(value: float) -> float | None:
    """JSON has no infinity: R30 = inf (no background jet passes) is stored as null."""
    return float(value) if math.isfinite(value) else None


def measure(name: str, model: str, options: dict[str, Any], train, background, signal) -> dict[str, Any]:
    """Train once, score both test samples with every score; times and metrics."""
    detector = create_model(model, options)
    start = time.perf_counter()
    detector.fit(train)
    train_seconds = time.perf_counter() - start
    history = detector.history_
    epochs = len(history)
    start = time.perf_counter()
    default_background, default_signal = detector.anomaly_score(background), detector.anomaly_score(signal)
    infer_seconds = time.perf_counter() - start
    scores = {}
    for score in detector.score_names:
        if score == detector.score_names[0]:
            b, s = default_background, default_signal
        else:
            b, s = detector.anomaly_score(background, score=score), detector.anomaly_score(signal, score=score)
        scores[score] = {"auc": auc(b, s), "r30": finite(r30(b, s))}
    default = scores[detector.score_names[0]]
    monitor = "val_loss" if history and "val_loss" in history[0] else "train_loss"
    best_epoch = int(np.argmin([h.get(monitor, np.inf) for h in history])) if history else None
    trainer = detector.trainer_config
    n_fit = len(train) - int(round(len(train) * trainer.val_fraction))  # the engine's validation split
    result = {
        "auc": default["auc"],
        "r30": default["r30"],
        "score": detector.score_names[0],
        "scores": scores,
        "n_train": len(train),
        "n_background_test": len(background),
        "n_signal_test": len(signal),
        "train_seconds": train_seconds,
        "epochs": epochs,
        "max_epochs": trainer.epochs,
        "best_epoch": best_epoch,
        "epoch_seconds_median": float(np.median([h["seconds"] for h in history])) if history else None,
        "train_jets_per_second": n_fit * epochs / train_seconds,
        "inference_jets_per_second": (len(background) + len(signal)) / infer_seconds,
        "final": {k: v for k, v in (history[-1] if history else {}).items() if k.endswith("loss")},
        "config": detector.get_params(),
        "torch_threads": torch.get_num_threads(),
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
    log.info("%s: AUC %.3f, R30 %s, %d epochs in %.0f s", name, result["auc"], result["r30"], epochs, train_seconds)
    return result


def print_table(runs: dict[str, dict[str, Any]]) -> None:
    header = (
        f"{'run':<22} {'direction':<8} {'AUC':>6} {'R30':>7} {'best latent AUC':>16} {'train s':>8} "
        f"{'train jets/s':>12} {'infer jets/s':>12} {'epochs':>6}"
    )
    print(header)
    print("-" * len(header))
    for name, directions in runs.items():
        for direction, result in directions.items():
            latent = {k: v["auc"] for k, v in result["scores"].items() if k != result["score"]}
            best = max(latent, key=latent.get) if latent else None
            latent_text = f"{latent[best]:.3f} ({best[:5]})" if best else "-"
            r30_text = "inf" if result["r30"] is None else f"{result['r30']:.1f}"
            print(
                f"{name:<22} {direction:<8} {result['auc']:>6.3f} {r30_text:>7} {latent_text:>16} "
                f"{result['train_seconds']:>8.1f} {result['train_jets_per_second']:>12,.0f} "
                f"{result['inference_jets_per_second']:>12,.0f} {result['epochs']:>6d}"
            )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    if args.threads:
        torch.set_num_threads(args.threads)
    import lightning  # noqa: F401  (imported here, so its seconds of import time are not in the first fit)

    options = run_options(args)
    data_dir = ensure_quick_samples(args)
    sizes = {"qcd_train": args.n_train, "top_train": args.n_train, "qcd_test": args.n_test, "top_test": args.n_test}
    samples = {key: read_sample(data_dir / name, key, n_max=sizes[key]) for key, name in FILES.items()}
    started = time.perf_counter()
    meta = {
        "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
        "jetae": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": args.device,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
        "data_dir": str(data_dir),
        "files": FILES,
        "n_train": args.n_train,
        "n_test": args.n_test,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    results: dict[str, dict[str, Any]] = {}
    for name in args.runs:
        model, _ = RUNS[name]
        results[name] = {}
        for direction in args.directions:
            if direction == "forward":
                train, background, signal = samples["qcd_train"], samples["qcd_test"], samples["top_test"]
            else:
                train, background, signal = samples["top_train"], samples["top_test"], samples["qcd_test"]
            log.info("%s, %s: training on %d jets", name, direction, len(train))
            results[name][direction] = measure(name, model, options[name], train, background, signal)
    meta["wall_seconds"] = time.perf_counter() - started
    meta["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    baselines = {
        "jet_mass": {
            direction: auc(*(jet_mass(samples[key].constituents) for key in keys))
            for direction, keys in (("forward", ("qcd_test", "top_test")), ("reverse", ("top_test", "qcd_test")))
        }
    }
    payload: dict[str, Any] = {"meta": meta, "commands": [meta["command"]], "baselines": baselines, "runs": results}
    if args.merge and args.out.exists():
        previous = json.loads(args.out.read_text())
        payload["runs"] = {**previous.get("runs", {}), **results}
        payload["commands"] = [*previous.get("commands", []), meta["command"]]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.out, json.dumps(payload, indent=1) + "\n")
    print_table(payload["runs"])
    print(
        "\njet mass alone (higher = more anomalous): "
        + ", ".join(f"{direction} AUC {value:.3f}" for direction, value in baselines["jet_mass"].items())
    )
    print(f"\nwritten {args.out} ({meta['wall_seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

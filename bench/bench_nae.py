#!/usr/bin/env python
"""Normalized autoencoder (NAE) benchmark: both tagging directions, MCMC cost, digits hold-out.

On the same samples in both directions (arXiv:2206.14225, Dillon et al.):

* ``qcd``: trained on QCD jets (``qcd_train.h5``), tagging top (``top_test.h5``) and W
  (``w_test.h5``) against ``qcd_test.h5``;
* ``top``: trained on top jets (``top_train.h5``), tagging QCD (``qcd_test.h5`` as the
  anomaly) against ``top_test.h5``;

this trains ``conv_ae`` and ``nae`` with the same architecture (image size, conv stages,
dense layers, latent_dim, output activation) and records AUC (bootstrap error), R30 and R50
of: the plain ``conv_ae``; the NAE after its AE phase (its pretrained spherical
autoencoder, captured when the NAE phase starts: no extra training); the final NAE. Also:
training wall time per phase, the test AUC after every epoch on small monitor samples,
and MCMC throughput (Langevin steps/s and samples x steps/s of the input chain and the
latent chain alone, at the training batch size, timed by calling ``sample`` directly).
Then the digits hold-out study (``jetae.studies.digits``): per held-out digit AUC of
``conv_ae`` vs ``nae``.

Each model and direction is scored and summarised by ``jetae.evaluation.direction.tag_direction``
(the function behind ``jetae benchmark``) on samples read by ``jetae.evaluation.samples.read_sample``.

Usage (from the repository root, with jetae installed; heavy on a shared 2-core CPU, so run it niced)::

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python bench/bench_nae.py            # shared samples in data/
    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python bench/bench_nae.py --quick    # smoke run, < 2 min
    .venv/bin/python bench/bench_nae.py --set x_steps=30 --set nae_lr=3e-4 --out /tmp/try.json   # a variant

Writes ``bench/results/nae.json`` (atomically), ``nae_roc.png`` and
``nae_negatives_<direction>.png`` (negative samples next to real training-class jets).
``--save-scores STEM.npz`` also keeps the NAE's per-jet test scores (final weights and each of
the last ``--snapshot-epochs`` epochs, plus ``--n-reference`` held-out training-class jets) in
``STEM_<direction>.npz``: ``bench/nae_ensemble.py`` combines the runs of several seeds.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
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
from jetae.config import merge_options, parse_set_options
from jetae.errors import JetaeError
from jetae.evaluation.direction import BACKGROUND, tag_direction
from jetae.evaluation.metrics import auc, not_resolvable_text, roc_curve
from jetae.evaluation.model_plots import plot_negative_samples
from jetae.evaluation.plots import COLOURS, LINE_STYLES, PNG_DPI, new_figure, plot_style
from jetae.evaluation.samples import read_sample
from jetae.experiments.benchmark import MODEL_OPTIONS
from jetae.experiments.studies.digits import digits_holdout_study
from jetae.io.atomic import atomic_path, write_text_atomic
from jetae.jets import Jets
from jetae.models import create_model
from jetae.models.nae import NormalizedAutoencoder

ROOT = Path(__file__).resolve().parents[1]

log = logging.getLogger("bench_nae")

SAMPLES = {
    "qcd_train": "qcd_train.h5",
    "top_train": "top_train.h5",
    "qcd_test": "qcd_test.h5",
    "top_test": "top_test.h5",
    "w_test": "w_test.h5",
}
#: Training sample, known class (test background) and anomalies (signals) of each direction.
DIRECTIONS = {
    "qcd": {"train": "qcd_train", "background": "qcd_test", "signals": ("top_test", "w_test")},
    "top": {"train": "top_train", "background": "top_test", "signals": ("qcd_test",)},
}
#: Image extent of the "QCD or What?" images (eta x phi); kept whatever the pixel count.
IMAGE_EXTENT = (1.16, 1.40)

#: The tuned options: ``nae``'s defaults (they are the tuned setting), with what ``jetae benchmark
#: --preset full --models nae`` sets over them (nothing, unless the preset is changed again).
_TUNED_KEYS = (
    "representation",
    "stages",
    "conv_dense",
    "kernel_size",
    "activation",
    "latent_dim",
    "output_activation",
    "scaler",
    "batch_size",
    "ae_epochs",
    "epochs",
    "nae_lr",
    "nae_lr_schedule",
    "gamma",
    "x_steps",
    "x_step_size",
    "x_noise",
    "z_steps",
    "z_step_size",
    "z_noise",
    "init",
)
_FULL_PRESET_NAE: dict[str, Any] = {
    **{key: value for key, value in create_model("nae").get_params().items() if key in _TUNED_KEYS},
    **MODEL_OPTIONS["full"].get("nae", {}),
}
#: Architecture shared by conv_ae and nae: nae's default 3-d code, but a linear output layer. With nae's
#: default softplus output both got stuck on these images (conv_ae at the mean image, val loss 1.03; nae at
#: 0.32) while the linear output reaches 0.05 (docs/nae.md, "Benchmark").
ARCHITECTURE: dict[str, Any] = {
    key: _FULL_PRESET_NAE[key]
    for key in ("stages", "conv_dense", "kernel_size", "activation", "latent_dim", "output_activation", "scaler")
}
#: Options that act only in the NAE phase (everything else shapes the AE phase too).
NAE_PHASE_OPTIONS = (
    "epochs",
    "nae_epochs",
    "nae_lr",
    "nae_lr_schedule",
    "nae_lr_final_factor",
    "temperature",
    "x_temperature",
    "z_temperature",
    "gamma",
    "neg_energy_l2",
    "weight_l2",
    "init",
    "x_steps",
    "x_step_size",
    "x_noise",
    "x_grad_clip",
    "x_bounds",
    "z_steps",
    "z_step_size",
    "z_noise",
    "z_grad_clip",
    "buffer_size",
    "replay_fraction",
    "max_energy",
)
#: NAE settings (see docs/nae.md for how they were chosen); image size and batch size come from the options.
NAE_OPTIONS: dict[str, Any] = {
    key: value
    for key, value in _FULL_PRESET_NAE.items()
    if key not in ARCHITECTURE and key not in ("representation", "batch_size")
}


# ---------------------------------------------------------------- the monitored NAE
class MonitoredNAE(NormalizedAutoencoder):
    """``nae`` that keeps its AE-phase weights and scores small test samples after every epoch.

    Only bookkeeping is added (the training is the registered ``nae``'s): ``ae_state_``
    holds the weights at the start of the NAE phase (= the pretrained autoencoder, best
    validation epoch); ``history_`` gains ``monitor_auc_<signal>`` per epoch; the time spent
    monitoring is excluded from the phase times ``phase_seconds_``.
    """

    monitor: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    #: ``--save-scores``: jets scored in full after each of the last ``snapshot_epochs`` NAE epochs.
    snapshot_samples: dict[str, Jets] = {}
    snapshot_epochs: int = 0

    def fit(self, train: Any, val: Any = None, **fit_params: Any) -> "MonitoredNAE":
        self.ae_state_: dict | None = None
        self._monitor_inputs: dict[str, tuple[np.ndarray, np.ndarray]] | None = None
        self._monitor_seconds = 0.0
        self._snapshot_inputs: dict[str, np.ndarray] | None = None
        self._nae_epochs_done = 0
        self.snapshot_scores_: dict[str, np.ndarray] = {}
        self._ae_seconds: float | None = None  # wall time until the NAE phase started
        self._ae_monitor_seconds = 0.0
        self._fit_began = began = time.perf_counter()
        super().fit(train, val, **fit_params)
        total = time.perf_counter() - began
        ae = total if self._ae_seconds is None else self._ae_seconds
        self.phase_seconds_ = {
            "ae": ae - self._ae_monitor_seconds,
            "nae": (total - ae) - (self._monitor_seconds - self._ae_monitor_seconds),
            "monitoring": self._monitor_seconds,
            "total": total,
        }
        return self

    #: Weights to start from instead of training the AE phase (``--ae-cache``; used with ae_epochs=0).
    pretrained_state: dict | None = None

    def build_network(self, input_shape: tuple[int, ...]) -> Any:
        network = super().build_network(input_shape)
        if self.pretrained_state is not None:
            network.load_state_dict(self.pretrained_state)
        return network

    def on_epoch_start(self, module: Any) -> None:
        if module is not None and self._phase == "nae" and self.ae_state_ is None:
            self.ae_state_ = {k: v.detach().cpu().clone() for k, v in module.network.state_dict().items()}
            self._ae_seconds = time.perf_counter() - self._fit_began
            self._ae_monitor_seconds = self._monitor_seconds
        super().on_epoch_start(module)

    def epoch_diagnostics(self, module: Any) -> dict[str, float]:
        record = super().epoch_diagnostics(module)
        if not self.monitor:
            return record
        began = time.perf_counter()
        if self._monitor_inputs is None:
            self._monitor_inputs = {
                name: (self.transform(known), self.transform(anomalies))
                for name, (known, anomalies) in self.monitor.items()
            }
        for name, (known, anomalies) in self._monitor_inputs.items():
            record[f"monitor_auc_{name}"] = auc(
                self._score(known, "reconstruction"), self._score(anomalies, "reconstruction")
            )
        if self._phase == "nae":
            self._nae_epochs_done += 1
            if self.snapshot_samples and self._nae_epochs_done > self.trainer_config.epochs - self.snapshot_epochs:
                if self._snapshot_inputs is None:
                    self._snapshot_inputs = {name: self.transform(jets) for name, jets in self.snapshot_samples.items()}
                for name, inputs in self._snapshot_inputs.items():
                    self.snapshot_scores_[f"epoch{self._nae_epochs_done}/{name}"] = self._score(
                        inputs, "reconstruction"
                    )
        module.network.train()
        self._monitor_seconds += time.perf_counter() - began
        return record

    def scores_with(self, state: dict, jets: Jets) -> np.ndarray:
        """Anomaly scores of ``jets`` with the weights ``state`` (the current weights are restored)."""
        current = {k: v.detach().clone() for k, v in self.network_.state_dict().items()}
        self.network_.load_state_dict(state)
        try:
            return self.anomaly_score(jets)
        finally:
            self.network_.load_state_dict(current)


# ---------------------------------------------------------------- helpers
def finite(value: Any) -> float | None:
    """JSON-safe number (inf / NaN -> None)."""
    return None if value is None or not math.isfinite(float(value)) else float(value)


def image_representation(n_pixels: int) -> dict[str, Any]:
    """Jet images of ``n_pixels`` x ``n_pixels`` covering the standard 1.16 x 1.40 (eta x phi)."""
    return {
        "kind": "image",
        "n_pixels": n_pixels,
        "pixel_eta": IMAGE_EXTENT[0] / n_pixels,
        "pixel_phi": IMAGE_EXTENT[1] / n_pixels,
    }


def load_samples(args: argparse.Namespace) -> dict[str, Jets]:
    """The first jets of each shared sample in ``--data-dir`` (exits naming bench/make_samples.sh if one is missing)."""
    n_train = args.n_train + (args.n_reference if args.save_scores is not None else 0)
    sizes = {
        "qcd_train": n_train,
        "top_train": n_train,
        "qcd_test": args.n_test,
        "top_test": args.n_test,
        "w_test": args.n_test,
    }
    try:
        return {key: read_sample(args.data_dir / name, key, n_max=sizes[key]) for key, name in SAMPLES.items()}
    except JetaeError as exc:
        raise SystemExit(
            f"{exc} (the shared benchmark samples live in {args.data_dir}; bench/make_samples.sh makes them)"
        ) from None


def score_direction(
    detector: Any, samples: dict[str, Jets], direction: str, n_bootstrap: int, seed: int, score_fn: Any = None
) -> tuple[dict[str, dict], dict[str, np.ndarray]]:
    """Metrics per anomaly class (AUC, its error, R30, R50) and the raw scores (for ROC curves) of one
    fitted detector in one direction; ``score_fn(jets, score)`` replaces ``detector.anomaly_score``."""
    spec = DIRECTIONS[direction]
    signals = {signal.removesuffix("_test"): samples[signal] for signal in spec["signals"]}
    result = tag_direction(
        detector,
        samples[spec["background"]],
        signals,
        sculpting=False,
        n_bootstrap=n_bootstrap,
        seed=seed,
        score_fn=score_fn,
    )
    score = result.score_names[0]
    raw = {spec["background"]: result.scores[BACKGROUND][score]}
    raw.update({signal: result.scores[signal.removesuffix("_test")][score] for signal in spec["signals"]})
    metrics = {
        name: {k: finite(block[k]) for k in ("auc", "auc_err", "r30", "r50")} for name, block in result.signals.items()
    }
    return metrics, raw


def mcmc_throughput(detector: NormalizedAutoencoder, batch_size: int, repeats: int, seed: int) -> dict[str, Any]:
    """Langevin steps/s of the input chain and of the latent chain alone, at ``batch_size`` chains.

    Calls ``detector.sample`` directly (best of ``repeats``) with the other chain switched
    off; the input-chain call also decodes its start points once (a small overhead).
    """
    config = detector.config
    device = torch.device("cpu")
    network = detector.network_.to(device).eval()
    result: dict[str, Any] = {
        "batch_size": batch_size,
        "repeats": repeats,
        "device": "cpu",
        "torch_threads": torch.get_num_threads(),
    }
    chains = {
        "x": dataclasses.replace(config, init="on_manifold", z_steps=0, buffer_size=0),
        "z": dataclasses.replace(config, init="on_manifold", x_steps=0, buffer_size=0),
    }
    try:
        for chain, chain_config in chains.items():
            steps = chain_config.x_steps if chain == "x" else chain_config.z_steps
            if steps == 0:
                continue
            detector.config = chain_config
            generator = torch.Generator().manual_seed(seed)
            times = []
            for _ in range(repeats):
                began = time.perf_counter()
                detector.sample(network, batch_size, device, generator)
                times.append(time.perf_counter() - began)
            best = min(times)
            result[f"{chain}_chain"] = {
                "steps": steps,
                "seconds": best,
                "steps_per_second": steps / best,
                "sample_steps_per_second": steps * batch_size / best,
            }
    finally:
        detector.config = config
    return result


def phase_epochs(history: list[dict], phase: str) -> int:
    return sum(1 for record in history if record.get("phase") == phase)


def compact_history(history: list[dict]) -> list[dict]:
    keep = (
        "epoch",
        "phase",
        "seconds",
        "train_loss",
        "val_loss",
        "train_pos_energy",
        "val_pos_energy",
        "train_neg_energy",
        "train_neg_start_energy",
        "mcmc_seconds",
        "mcmc_steps_per_second",
        "mcmc_sample_steps_per_second",
    )
    return [
        {
            k: (finite(v) if isinstance(v, float) else v)
            for k, v in record.items()
            if k in keep or k.startswith("monitor_auc_")
        }
        for record in history
    ]


# ---------------------------------------------------------------- one direction
def run_direction(
    direction: str, samples: dict[str, Jets], args: argparse.Namespace, conv_options: dict, nae_options: dict
) -> tuple[dict, dict]:
    """Train conv_ae and nae on one direction's training jets; returns (JSON block, plot data)."""
    spec = DIRECTIONS[direction]
    train = samples[spec["train"]][: args.n_train]
    block: dict[str, Any] = {
        "train": spec["train"],
        "background": spec["background"],
        "anomalies": list(spec["signals"]),
        "n_train": len(train),
    }
    curves: dict[str, dict[str, np.ndarray]] = {}
    if args.conv_ae:
        detector = create_model("conv_ae", conv_options)
        began = time.perf_counter()
        detector.fit(train)
        seconds = time.perf_counter() - began
        metrics, raw = score_direction(detector, samples, direction, args.n_bootstrap, args.seed)
        block["conv_ae"] = {
            "train_seconds": round(seconds, 1),
            "epochs_run": len(detector.history_),
            "final_val_loss": finite(detector.history_[-1].get("val_loss", math.nan)),
            "tagging": metrics,
        }
        curves["conv_ae"] = raw
        log.info("%s-trained conv_ae (%.0f s): %s", direction, seconds, _auc_text(metrics))

    cache_path = None
    if args.ae_cache is not None:
        # The AE phase depends on these only: the NAE-phase variants of a tuning scan share it.
        ae_keys = sorted(set(nae_options) - set(NAE_PHASE_OPTIONS))
        key = json.dumps([direction, len(train), {k: nae_options[k] for k in ae_keys}], sort_keys=True, default=str)
        cache_path = args.ae_cache / f"ae_{direction}_{hashlib.sha1(key.encode()).hexdigest()[:12]}.pt"
    if cache_path is not None and cache_path.exists():
        detector = MonitoredNAE(dict(nae_options, ae_epochs=0))
        detector.pretrained_state = torch.load(cache_path, weights_only=True)
        log.info("%s-trained nae: AE phase loaded from %s", direction, cache_path)
    else:
        detector = MonitoredNAE(nae_options)
    n_monitor = min(args.n_monitor, args.n_test)
    detector.monitor = {
        signal.removesuffix("_test"): (samples[spec["background"]][:n_monitor], samples[signal][:n_monitor])
        for signal in spec["signals"]
    }
    if args.save_scores is not None:
        detector.snapshot_epochs = args.snapshot_epochs
        detector.snapshot_samples = {name: samples[name] for name in (spec["background"], *spec["signals"])}
        # held-out jets of the training class (after the training jets): a scale for each model's energies
        detector.snapshot_samples["reference"] = samples[spec["train"]][args.n_train :]
    record: dict[str, Any] = {}
    try:
        detector.fit(train)
    except JetaeError as exc:  # MCMC divergence: recorded, the benchmark goes on
        log.error("%s-trained nae: %s", direction, exc)
        record["error"] = str(exc)
        record["history"] = compact_history(getattr(detector, "history_", []))
        block["nae"] = record
        return block, {"curves": curves}
    if cache_path is not None and not cache_path.exists() and detector.ae_state_ is not None:
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(cache_path, suffix=".pt") as tmp:
            torch.save(detector.ae_state_, tmp)
    if detector.pretrained_state is not None:
        record["ae_phase_from_cache"] = str(cache_path)
    history = detector.history_
    record.update(
        {
            "train_seconds": {k: round(v, 1) for k, v in detector.phase_seconds_.items()},
            "epochs_run": {"ae": phase_epochs(history, "ae"), "nae": phase_epochs(history, "nae")},
        }
    )
    if detector.ae_state_ is not None:
        metrics, raw = score_direction(
            detector,
            samples,
            direction,
            args.n_bootstrap,
            args.seed,
            score_fn=lambda jets, _: detector.scores_with(detector.ae_state_, jets),
        )
        record["ae_phase_tagging"] = metrics
        curves["nae (AE phase)"] = raw
        log.info("%s-trained nae after its AE phase: %s", direction, _auc_text(metrics))
    metrics, raw = score_direction(detector, samples, direction, args.n_bootstrap, args.seed)
    record["tagging"] = metrics
    curves["nae"] = raw
    if args.save_scores is not None:
        final = {f"final/{name}": detector.anomaly_score(jets) for name, jets in detector.snapshot_samples.items()}
        path = args.save_scores.with_name(f"{args.save_scores.stem}_{direction}.npz")
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez(tmp, **detector.snapshot_scores_, **final)
        record["scores_file"] = str(path)
    nae_history = [r for r in history if r.get("phase") == "nae"]
    if nae_history:
        record["training_mcmc"] = {
            "steps_per_second": finite(np.mean([r["mcmc_steps_per_second"] for r in nae_history])),
            "sample_steps_per_second": finite(np.mean([r["mcmc_sample_steps_per_second"] for r in nae_history])),
            "mcmc_fraction_of_nae_phase": finite(
                sum(r["mcmc_seconds"] for r in nae_history) / max(sum(r["seconds"] for r in nae_history), 1e-9)
            ),
        }
        record["final_energies"] = {
            k: finite(nae_history[-1].get(k, math.nan))
            for k in ("train_pos_energy", "val_pos_energy", "train_neg_energy", "train_neg_start_energy")
        }
    record["mcmc_throughput"] = mcmc_throughput(
        detector, detector.trainer_config.batch_size, args.mcmc_repeats, args.seed
    )
    record["history"] = compact_history(history)
    log.info(
        "%s-trained nae (AE %.0f s, NAE %.0f s): %s",
        direction,
        detector.phase_seconds_["ae"],
        detector.phase_seconds_["nae"],
        _auc_text(metrics),
    )
    block["nae"] = record
    plot_data = {
        "curves": curves,
        "negatives": detector.sample_negatives(args.n_negatives, seed=args.seed),
        "real": detector.scaler_.inverse_transform(detector.transform(samples[spec["background"]][: args.n_negatives])),
    }
    return block, plot_data


def _auc_text(metrics: dict) -> str:
    return ", ".join(
        f"{name} AUC {not_resolvable_text(m['auc'], '.3f')} R30 {not_resolvable_text(m['r30'], '.1f')}"
        for name, m in metrics.items()
    )


# ---------------------------------------------------------------- digits
def run_digits(args: argparse.Namespace) -> dict[str, Any]:
    digits = [int(d) for d in args.digits.split(",")] if args.digits else list(range(10))
    overrides: dict[str, dict] = {"conv_ae": {}, "nae": {}}
    if args.quick:
        overrides = {"conv_ae": {"epochs": 3}, "nae": {"ae_epochs": 3, "epochs": 1, "x_steps": 5, "z_steps": 5}}
    for item in args.digits_set:
        model, _, assignment = item.partition(":")
        if model not in overrides or not assignment:
            raise SystemExit(f"--digits-set expects conv_ae:KEY=VALUE or nae:KEY=VALUE, got {item!r}")
        overrides[model] = merge_options(overrides[model], parse_set_options([assignment]))
    began = time.perf_counter()
    result = digits_holdout_study(
        models=("conv_ae", "nae"), digits=digits, seed=args.seed, model_options=overrides, progress=False
    )
    result["wall_seconds"] = round(time.perf_counter() - began, 1)
    for model in ("conv_ae", "nae"):
        log.info(
            "digits %s: %s (mean %.3f)",
            model,
            " ".join(f"{d}:{result['auc'][model][str(d)]:.2f}" for d in digits),
            result["mean_auc"][model],
        )
    return result


# ---------------------------------------------------------------- plots
def plot_roc_panels(plot_data: dict[str, dict], path: Path) -> None:
    """One panel per direction: ROC (rejection vs efficiency) of conv_ae, nae after its AE phase and nae."""
    directions = [d for d in DIRECTIONS if d in plot_data and plot_data[d]["curves"]]
    if not directions:
        return
    with plot_style():
        figure, axes = new_figure(1, len(directions), size=(7.0 * len(directions), 5.6))
        for ax, direction in zip(axes[0], directions):
            spec = DIRECTIONS[direction]
            for i, (model, raw) in enumerate(plot_data[direction]["curves"].items()):
                for j, signal in enumerate(spec["signals"]):
                    eps_s, eps_b, _ = roc_curve(raw[spec["background"]], raw[signal])
                    keep = eps_b > 0
                    value = auc(raw[spec["background"]], raw[signal])
                    ax.plot(
                        eps_s[keep],
                        1.0 / eps_b[keep],
                        color=COLOURS[1 + i],
                        ls=LINE_STYLES[j],
                        lw=2,
                        label=f"{model}: {signal.removesuffix('_test')} (AUC {value:.3f})",
                    )
            grid = np.linspace(1e-3, 1.0, 200)
            ax.plot(grid, 1.0 / grid, ls="--", color="grey", lw=1.2, label="random")
            ax.set_yscale("log")
            ax.set_xlim(0, 1)
            ax.set_ylim(1, None)
            ax.set_xlabel(r"Anomaly efficiency $\varepsilon_S$")
            ax.set_ylabel(r"Rejection $1/\varepsilon_B$ of " + spec["background"].removesuffix("_test"))
            ax.set_title(f"trained on {spec['train'].removesuffix('_train')}", fontsize="small")
            ax.legend(fontsize="xx-small", loc="upper right")
    _save_png(figure, path)


def plot_negatives(direction: str, data: dict, path: Path) -> None:
    spec = DIRECTIONS[direction]
    figure = plot_negative_samples(
        data["real"],
        data["negatives"],
        real_label=f"real {spec['background'].removesuffix('_test')} jets",
        negative_label=f"NAE negatives ({direction}-trained)",
    )
    _save_png(figure, path)


def _save_png(figure: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with plot_style(), atomic_path(path, suffix=".png") as tmp:
        figure.savefig(tmp, format="png", dpi=PNG_DPI)


# ---------------------------------------------------------------- main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data")
    parser.add_argument(
        "--n-train",
        type=int,
        default=10_000,
        help="training jets per direction (default sized for ~15 min per model on a shared 2-core "
        "CPU; top_train.h5 holds 30000)",
    )
    parser.add_argument("--n-test", type=int, default=10_000, help="jets per test sample")
    parser.add_argument("--n-monitor", type=int, default=1000, help="test jets per class scored after every epoch")
    parser.add_argument(
        "--n-pixels",
        type=int,
        default=20,
        help="image side; the pixels cover the standard 1.16 x 1.40 extent (40 = QCD or What?)",
    )
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--ae-epochs", type=int, default=None, help="AE epochs of conv_ae and of the NAE's AE phase")
    parser.add_argument("--nae-epochs", type=int, default=None, help="NAE-phase epochs")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="nae option")
    parser.add_argument(
        "--arch-set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="architecture / training option of both conv_ae and nae",
    )
    parser.add_argument("--directions", default="qcd,top", help="qcd (QCD-trained) and / or top (top-trained)")
    parser.add_argument(
        "--conv-ae",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also train the plain conv_ae of the same architecture",
    )
    parser.add_argument("--digits", default=None, help="held-out digits for the digits study (default: all 10)")
    parser.add_argument(
        "--digits-set",
        action="append",
        default=[],
        metavar="MODEL:KEY=VALUE",
        help="digits-study option, e.g. nae:epochs=10",
    )
    parser.add_argument("--skip-digits", action="store_true", help="no digits hold-out study")
    parser.add_argument("--skip-jets", action="store_true", help="only the digits hold-out study")
    parser.add_argument(
        "--ae-cache",
        type=Path,
        default=None,
        help="directory keeping the NAE's AE-phase weights per direction and AE settings: NAE-phase "
        "variants (tuning) then skip the AE phase",
    )
    parser.add_argument(
        "--save-scores",
        type=Path,
        default=None,
        metavar="STEM.npz",
        help="write the NAE's per-jet test scores (final weights and each of the last "
        "--snapshot-epochs epochs) to STEM_<direction>.npz, for ensembles (bench/nae_ensemble.py)",
    )
    parser.add_argument("--snapshot-epochs", type=int, default=4, help="NAE epochs scored in full for --save-scores")
    parser.add_argument(
        "--n-reference",
        type=int,
        default=2000,
        help="held-out training-class jets (after the training jets) scored with --save-scores",
    )
    parser.add_argument("--n-bootstrap", type=int, default=20)
    parser.add_argument("--n-negatives", type=int, default=6, help="negative samples in the figures")
    parser.add_argument("--mcmc-repeats", type=int, default=2, help="timed sample calls per chain (best counts)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--label", default=None, help="free text stored in the JSON (e.g. the variant tried)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "nae.json")
    parser.add_argument("--quick", action="store_true", help="tiny samples, 1-2 epochs, 2 digits (< 2 min)")
    args = parser.parse_args(argv)
    if args.quick:
        args.n_train, args.n_test, args.n_monitor, args.n_pixels = 400, 400, 200, 16
        args.ae_epochs = args.ae_epochs or 2
        args.nae_epochs = args.nae_epochs or 1
        args.digits = args.digits or "1,7"
        args.mcmc_repeats = 1
        args.n_bootstrap = 5
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("lightning", "lightning.pytorch", "lightning.fabric", "jetae.train.engine", "jetae.models.base"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    torch.set_num_threads(args.threads)
    began = time.perf_counter()
    load_start = list(os.getloadavg())
    common = merge_options(
        dict(ARCHITECTURE),
        {
            "representation": image_representation(args.n_pixels),
            "batch_size": args.batch_size,
            "seed": args.seed,
            "device": "cpu",
            "progress": False,
        },
    )
    common = merge_options(common, parse_set_options(args.arch_set))
    nae_options = merge_options(merge_options(dict(common), NAE_OPTIONS), parse_set_options(args.set))
    if args.quick:
        nae_options.update(x_steps=min(nae_options["x_steps"], 5), z_steps=min(nae_options["z_steps"], 5))
    if args.ae_epochs is not None:
        nae_options["ae_epochs"] = args.ae_epochs
    if args.nae_epochs is not None:
        nae_options["epochs"] = args.nae_epochs
    try:
        nae_model = create_model("nae", nae_options)
        nae_config, nae_trainer = nae_model.config, nae_model.trainer_config
    except JetaeError as exc:
        raise SystemExit(f"nae: {exc}") from None
    # The plain AE trains like the NAE's AE phase: same epochs, learning rate and early stopping.
    conv_options = merge_options(
        dict(common),
        {
            "epochs": nae_config.ae_epochs,
            "lr": nae_config.ae_lr or nae_trainer.lr,
            "patience": nae_trainer.patience,
            "min_delta": nae_trainer.min_delta,
            "val_fraction": nae_trainer.val_fraction,
        },
    )
    for name, options in (("conv_ae", conv_options),):
        try:
            create_model(name, options)
        except JetaeError as exc:
            raise SystemExit(f"{name}: {exc}") from None

    result: dict[str, Any] = {
        "benchmark": "nae",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "label": args.label,
        "meta": {
            "quick": args.quick,
            "n_train": args.n_train,
            "n_test": args.n_test,
            "n_monitor": args.n_monitor,
            "n_pixels": args.n_pixels,
            "data_dir": str(args.data_dir),
            "seed": args.seed,
            "note": (
                "n_train is below the 50k of qcd_train.h5: the NAE phase (Langevin MCMC) costs ~40 network "
                "passes per training jet, and the shared 2-core CPU allows ~10-15 min per model"
                if args.n_train < 50_000 and not args.quick
                else None
            ),
            "options": {"conv_ae": conv_options, "nae": nae_options},
            "versions": {"jetae": __version__, "torch": torch.__version__, "python": platform.python_version()},
            "machine": platform.machine(),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "load_average_start": [round(x, 2) for x in load_start],
        },
        "directions": {},
    }
    plot_data: dict[str, dict] = {}
    if not args.skip_jets:
        samples = load_samples(args)
        for direction in args.directions.split(","):
            if direction not in DIRECTIONS:
                raise SystemExit(f"unknown direction {direction!r}; choose from {', '.join(DIRECTIONS)}")
            block, plot_data[direction] = run_direction(direction, samples, args, conv_options, nae_options)
            result["directions"][direction] = block
            _write(args.out, result)  # partial results survive an interrupted run
    if not args.skip_digits:
        result["digits"] = run_digits(args)
    result["meta"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    result["meta"]["total_seconds"] = round(time.perf_counter() - began, 1)
    _write(args.out, result)
    stem = args.out.with_suffix("")
    if plot_data:
        plot_roc_panels(plot_data, stem.parent / f"{stem.name}_roc.png")
        for direction, data in plot_data.items():
            if "negatives" in data:
                plot_negatives(direction, data, stem.parent / f"{stem.name}_negatives_{direction}.png")
    log.info("wrote %s (%.0f s)", args.out, result["meta"]["total_seconds"])
    return 0


def _write(path: Path, result: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(result, indent=1, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return finite(value.item()) if isinstance(value.item(), float) else value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


if __name__ == "__main__":
    raise SystemExit(main())

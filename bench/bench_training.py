#!/usr/bin/env python
"""Training and inference speed of jetae's engine vs a plain PyTorch loop; the speed settings; PyOD.

On the device that is there (CUDA if available, else the CPU) this measures:

* ``dense_ae`` (flattened constituents) and ``conv_ae`` (40x40 images, the "QCD or What?"
  net): training throughput in jets/s through ``Detector.fit`` (jetae's Lightning engine)
  and through a plain PyTorch loop with the same network, device-resident data, batch size,
  loss and Adam, and the ratio engine / plain loop; inference throughput of
  ``anomaly_score`` and of a plain batched forward pass (fp32 and bf16);
* ``settings``: the plain loop under every speed setting (fp32 / bf16 autocast, NCHW /
  channels-last memory, eager / ``torch.compile``, batch size, CPU threads) on ``--n-settings``
  jets, against the fp32 plain loop, and the engine at its default (``precision=auto``) against
  the engine in fp32 (its CPU default before bf16 autocast);
* ``auc_check``: the default precision against fp32 at equal budget (``--auc-seeds`` seeds,
  ``--auc-train`` jets, ``--auc-epochs`` epochs): top-vs-QCD AUC per seed, mean and spread;
* ``summary``: the headline, default vs fp32 throughput and AUC;
* PyOD's ``AutoEncoder`` on the same scaled constituent features as ``dense_ae`` (same
  layers, epochs, batch size and learning rate; and PyOD's defaults): fit time and
  top-vs-QCD AUC next to ``dense_ae`` (skipped without pyod).

Every time is the best of the timed epochs or passes (after one warm-up epoch), and
the load average is recorded, because other jobs on a shared machine disturb CPU timings.
Results go to ``bench/results/training_<device>.json``.

    .venv/bin/python bench/bench_training.py --threads 1  # shared samples in data/ (or small generated ones)
    .venv/bin/python bench/bench_training.py --quick      # about a minute, for a smoke test
    .venv/bin/pip install pyod                            # for the PyOD comparison (else it is skipped)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from jetae import __version__
from jetae.errors import JetaeError
from jetae.evaluation.metrics import auc
from jetae.evaluation.samples import read_sample
from jetae.experiments.sample_files import ensure_sample_files
from jetae.features import make_representation
from jetae.io.atomic import write_text_atomic
from jetae.io.toptag import count_jets
from jetae.models import create_model
from jetae.train import engine
from jetae.train.device import evaluation_batch_size, resolve_accelerator, resolve_precision, use_fast_memory_format

log = logging.getLogger("bench_training")

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("dense_ae", "conv_ae")


# ---------------------------------------------------------------- helpers
def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def best(times: list[float]) -> float:
    return float(min(times))


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


@contextlib.contextmanager
def threads(n: int | None):
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def training_jets_needed(args: argparse.Namespace) -> int:
    """QCD training jets the run reads (the largest of the sections' sizes)."""
    sizes = [args.n_train, args.n_train_conv]
    if "settings" in args.sections:
        sizes.append(args.n_settings)
    if "auc" in args.sections and args.auc_seeds > 0:
        sizes.append(args.auc_train)
    return max(sizes)


def ensure_samples(args: argparse.Namespace) -> dict[str, Path]:
    """The shared samples in data/, or small ones generated with ``jetae generate`` into bench/work/."""
    wanted = {"qcd_train": args.qcd_train, "qcd_test": args.qcd_test, "top_test": args.top_test}
    if all(Path(p).exists() for p in wanted.values()):
        return {k: Path(v) for k, v in wanted.items()}
    work = ROOT / "bench" / "work"
    plan = {
        "qcd_train": ("qcd", training_jets_needed(args), 201),
        "qcd_test": ("qcd", args.n_test, 202),
        "top_test": ("top", args.n_test, 203),
    }
    missing = {
        f"{key}_{n}": (process, n, seed) for key, (process, n, seed) in plan.items() if not Path(wanted[key]).exists()
    }
    log.warning("generating the missing samples into %s: %s", work, ", ".join(missing))
    generated = ensure_sample_files(work, missing)
    paths = {
        key: Path(wanted[key]) if Path(wanted[key]).exists() else generated[f"{key}_{n}"]
        for key, (_, n, _) in plan.items()
    }
    return paths


class EpochTimer:
    """Lightning callback: wall time of every training epoch (start to start, last one to the end)."""

    def __init__(self, device: torch.device):
        import lightning as L

        class _Timer(L.Callback):
            def __init__(inner):
                inner.starts: list[float] = []

            def on_train_epoch_start(inner, trainer, module):
                synchronize(device)
                inner.starts.append(time.perf_counter())

            def on_train_end(inner, trainer, module):
                synchronize(device)
                inner.starts.append(time.perf_counter())

        self.callback = _Timer()

    @property
    def epochs(self) -> list[float]:
        return list(np.diff(self.callback.starts))


# ---------------------------------------------------------------- measurements
def engine_training(
    name: str, inputs: np.ndarray, options: dict, epochs: int, device: torch.device, group: int | None = None
) -> dict[str, Any]:
    """Steady-state epoch time of ``Detector.fit`` (best epoch after a warm-up)."""
    timer = EpochTimer(device)
    saved_group = engine.STEPS_PER_CALL
    if group is not None:
        engine.STEPS_PER_CALL = group
    try:
        detector = create_model(name, options, epochs=epochs + 1, patience=0, val_fraction=0.0, progress=False)
        start = time.perf_counter()
        detector.fit(inputs, callbacks=[timer.callback])
        wall = time.perf_counter() - start
    finally:
        engine.STEPS_PER_CALL = saved_group
    epoch_times = timer.epochs
    steady = best(epoch_times[1:])
    return {
        "epoch_seconds": epoch_times,
        "best_epoch_seconds": steady,
        "jets_per_second": len(inputs) / steady,
        "fit_wall_seconds": wall,
        "final_train_loss": detector.history_[-1]["train_loss"],
        "precision": resolve_precision(detector.trainer_config.precision, device.type, detector.network_),
    }, detector


def plain_training(
    network: torch.nn.Module,
    inputs: np.ndarray,
    batch_size: int,
    lr: float,
    epochs: int,
    device: torch.device,
    *,
    channels_last: bool | None = None,
    compile_network: bool = False,
    bf16: bool = False,
    seed: int = 0,
    n_threads: int | None = None,
) -> dict[str, Any]:
    """The same training in a hand-written loop: device-resident data, randperm batches, Adam, MSE.

    ``channels_last``: conv weights and images in NHWC memory (None: the engine's choice for the device).
    ``bf16``: the forward pass under bf16 autocast (weights, gradients and the loss stay fp32).
    ``n_threads``: torch CPU threads for this loop (None: unchanged).
    """
    with threads(n_threads):
        return _plain_training(
            network, inputs, batch_size, lr, epochs, device, channels_last, compile_network, bf16, seed
        )


def _plain_training(
    network: torch.nn.Module,
    inputs: np.ndarray,
    batch_size: int,
    lr: float,
    epochs: int,
    device: torch.device,
    channels_last: bool | None,
    compile_network: bool,
    bf16: bool,
    seed: int,
) -> dict[str, Any]:
    torch.manual_seed(seed)
    network = network.to(device).train()
    x = torch.from_numpy(np.ascontiguousarray(inputs)).to(device)
    if channels_last is None:
        use_fast_memory_format(network, device.type)
    elif channels_last:
        network = network.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    else:
        network = network.to(memory_format=torch.contiguous_format)
    optimizer = torch.optim.Adam(network.parameters(), lr=lr)
    forward: Callable = torch.compile(network) if compile_network else network
    n = len(x)
    times, losses = [], []
    for _ in range(epochs + 1):
        synchronize(device)
        start = time.perf_counter()
        order = torch.randperm(n, device=device)
        for first in range(0, n, batch_size):
            batch = x[order[first : first + batch_size]]
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16):
                reconstruction = forward(batch)["reconstruction"]
            loss = (reconstruction.float() - batch.float()).square().flatten(1).mean(dim=1).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        synchronize(device)
        times.append(time.perf_counter() - start)
        losses.append(float(loss.detach()))
    steady = best(times[1:])
    return {
        "epoch_seconds": times,
        "best_epoch_seconds": steady,
        "jets_per_second": n / steady,
        "first_epoch_seconds": times[0],
        "final_batch_loss": losses[-1],
    }


def engine_inference(detector, inputs: np.ndarray, repeats: int) -> dict[str, float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        detector.anomaly_score(inputs)
        times.append(time.perf_counter() - start)
    return {"best_seconds": best(times), "jets_per_second": len(inputs) / best(times)}


@torch.no_grad()
def plain_inference(
    network: torch.nn.Module,
    inputs: np.ndarray,
    batch_size: int,
    device: torch.device,
    repeats: int,
    bf16: bool = False,
) -> dict[str, float]:
    network = use_fast_memory_format(network.to(device).eval(), device.type)
    x = torch.from_numpy(np.ascontiguousarray(inputs)).to(device)
    times = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        for first in range(0, len(x), batch_size):
            batch = x[first : first + batch_size]
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16):
                reconstruction = network(batch)["reconstruction"]
            (reconstruction.float() - batch).square().flatten(1).mean(dim=1)
        synchronize(device)
        times.append(time.perf_counter() - start)
    return {"best_seconds": best(times), "jets_per_second": len(x) / best(times)}


def representation_speed(jets, spec: dict, repeats: int) -> dict[str, float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        make_representation(jets, spec)
        times.append(time.perf_counter() - start)
    return {"best_seconds": best(times), "jets_per_second": len(jets) / best(times)}


def benchmark_model(name: str, jets, args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    """Engine vs plain loop for one model, over batch sizes and speed options."""
    template = create_model(name, device=args.device)
    spec = template.config.representation
    n = args.n_train if name == "dense_ae" else args.n_train_conv
    train_jets = jets["qcd_train"][:n]
    raw = np.asarray(make_representation(train_jets, spec), dtype=np.float32)
    result: dict[str, Any] = {
        "representation": spec,
        "input_shape": list(raw.shape[1:]),
        "n_train": len(raw),
        "representation_speed": representation_speed(train_jets, spec, args.repeats),
        "batch_sizes": {},
    }
    detector = None
    for batch_size in args.batch_sizes:
        log.info("%s: batch size %d", name, batch_size)
        options = {"batch_size": batch_size, "device": args.device}
        engine_result, detector = engine_training(name, raw, options, args.epochs, device)
        scaled = detector.transform(raw)
        plain = plain_training(
            detector.build_network(detector.input_shape_),
            scaled,
            batch_size,
            detector.trainer_config.lr,
            args.epochs,
            device,
            bf16=engine_result["precision"].startswith("bf16"),
        )
        result["batch_sizes"][str(batch_size)] = {
            "engine": engine_result,
            "plain": plain,
            "engine_over_plain_time": engine_result["best_epoch_seconds"] / plain["best_epoch_seconds"],
        }
    # The engine's grouping of mini-batches per Lightning step, at the first batch size.
    batch_size = args.batch_sizes[0]
    options: dict[str, Any] = {}
    ungrouped, _ = engine_training(
        name, raw, {"batch_size": batch_size, "device": args.device}, args.epochs, device, group=1
    )
    grouped = result["batch_sizes"][str(batch_size)]["engine"]
    options["engine_one_minibatch_per_lightning_step"] = {
        **ungrouped,
        "time_over_grouped": ungrouped["best_epoch_seconds"] / grouped["best_epoch_seconds"],
    }
    result["options"] = options

    # Inference on test jets: the Detector API (host arrays in, scores out) and a plain forward,
    # in the precision scoring uses by default, and in the other one.
    test_raw = np.asarray(make_representation(jets["qcd_test"][: args.n_test], spec), dtype=np.float32)
    eval_batch = evaluation_batch_size(detector.trainer_config.eval_batch_size, detector.input_shape_, device.type)
    test_scaled = detector.transform(test_raw)
    scoring = resolve_precision(detector.trainer_config.precision, device.type, detector.network_, training=False)
    bf16_scoring = scoring.startswith("bf16")
    result["inference"] = {
        "n": len(test_raw),
        "batch_size": eval_batch,
        "precision": scoring,
        "engine_anomaly_score": engine_inference(detector, test_raw, args.repeats),
        "plain_forward": plain_inference(
            detector.network_, test_scaled, eval_batch, device, args.repeats, bf16=bf16_scoring
        ),
        f"plain_forward_{'fp32' if bf16_scoring else 'bf16'}": plain_inference(
            detector.network_, test_scaled, eval_batch, device, args.repeats, bf16=not bf16_scoring
        ),
    }
    if eval_batch != detector.trainer_config.eval_batch_size:  # the CPU cap on evaluation batches: what it buys
        result["inference"][f"plain_forward_batch_{detector.trainer_config.eval_batch_size}"] = plain_inference(
            detector.network_,
            test_scaled,
            detector.trainer_config.eval_batch_size,
            device,
            args.repeats,
            bf16=bf16_scoring,
        )
    return result


def speed_settings(name: str, jets, args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    """The plain loop under each speed setting, and the engine at its default vs fp32, on ``--n-settings`` jets.

    Every setting is relative to ``fp32`` (the plain fp32 loop in PyTorch's default NCHW memory,
    one thread as set for the run, batch 256): ``speedup`` = its jets/s over that one's. The
    engine entries are ``Detector.fit`` at the model's defaults (``precision=auto``) and with
    ``precision=32-true``.
    """
    template = create_model(name, device=args.device)
    spec = template.config.representation
    raw = np.asarray(make_representation(jets["qcd_train"][: args.n_settings], spec), dtype=np.float32)
    conv = len(raw.shape) == 4
    batch_size = template.trainer_config.batch_size
    settings: dict[str, dict[str, Any]] = {"fp32": {}}
    if conv:
        settings["fp32_channels_last"] = {"channels_last": True}
    settings["fp32_compile"] = {"compile_network": True}
    settings["bf16"] = {"bf16": True}
    if conv:
        settings["bf16_channels_last"] = {"bf16": True, "channels_last": True}
        settings["bf16_channels_last_compile"] = {"bf16": True, "channels_last": True, "compile_network": True}
    else:
        settings["bf16_compile"] = {"bf16": True, "compile_network": True}
    best_layout = {"channels_last": True} if conv else {}
    for size in args.settings_batch_sizes:
        if size != batch_size:
            settings[f"bf16{'_channels_last' if conv else ''}_batch_{size}"] = {
                "bf16": True,
                **best_layout,
                "batch_size": size,
            }
    current = torch.get_num_threads()
    other = (os.cpu_count() or 1) if current == 1 else 1
    if device.type == "cpu" and other != current:
        settings[f"fp32{'_channels_last' if conv else ''}_{other}_threads"] = {**best_layout, "n_threads": other}
        settings[f"bf16{'_channels_last' if conv else ''}_{other}_threads"] = {
            "bf16": True,
            **best_layout,
            "n_threads": other,
        }
    # Scaled inputs of a fitted detector (a short fit: the scaler is all that is needed from it).
    detector = create_model(name, device=args.device, epochs=1, patience=0, val_fraction=0.0, progress=False)
    detector.fit(raw[: min(len(raw), 512)])
    scaled = detector.transform(raw)
    result: dict[str, Any] = {
        "n_train": len(raw),
        "epochs": args.epochs,
        "batch_size": batch_size,
        "threads": current,
        "reference": "fp32",
        "plain": {},
    }
    if not args.compile:
        settings = {key: options for key, options in settings.items() if not options.get("compile_network")}
    for key, options in settings.items():
        log.info("%s settings: %s", name, key)
        options = dict(options)
        size = options.pop("batch_size", batch_size)
        options.setdefault("channels_last", False)
        try:
            entry = plain_training(
                detector.build_network(detector.input_shape_),
                scaled,
                size,
                detector.trainer_config.lr,
                args.epochs,
                device,
                **options,
            )
        except Exception as exc:  # no compiler toolchain, unsupported backend, ...
            entry = {"error": f"{type(exc).__name__}: {exc}"[:500]}
        entry["setting"] = {"batch_size": size, "threads": options.get("n_threads") or current, **options}
        result["plain"][key] = entry
    reference = result["plain"]["fp32"]["jets_per_second"]
    for entry in result["plain"].values():
        if "jets_per_second" in entry:
            entry["speedup"] = entry["jets_per_second"] / reference
    fastest = max(
        (k for k in result["plain"] if "jets_per_second" in result["plain"][k]),
        key=lambda k: result["plain"][k]["jets_per_second"],
    )
    result["fastest_plain"] = fastest
    engine_default, fitted = engine_training(name, raw, {"device": args.device}, args.epochs, device)
    engine_fp32, _ = engine_training(name, raw, {"device": args.device, "precision": "32-true"}, args.epochs, device)
    result["engine_default"] = engine_default
    result["engine_fp32"] = engine_fp32
    result["engine_default_over_fp32_throughput"] = engine_default["jets_per_second"] / engine_fp32["jets_per_second"]
    return result


def auc_check(jets, args: argparse.Namespace, device: torch.device, name: str = "conv_ae") -> dict[str, Any]:
    """Top-vs-QCD AUC of ``name`` at its default precision and in fp32, same budget, ``--auc-seeds`` seeds.

    "Equal AUC" means: the difference of the means is within the seed spread (the larger of the
    two sample standard deviations over seeds).
    """
    train = jets["qcd_train"][: args.auc_train]
    qcd, top = jets["qcd_test"][: args.n_test], jets["top_test"][: args.n_test]
    runs: dict[str, dict[str, Any]] = {}
    for label, precision in (("default", "auto"), ("fp32", "32-true")):
        per_seed = []
        for seed in range(args.auc_seeds):
            log.info("AUC check %s: %s, seed %d", name, label, seed)
            detector = create_model(
                name, seed=seed, epochs=args.auc_epochs, precision=precision, device=args.device, progress=False
            )
            start = time.perf_counter()
            detector.fit(train)
            seconds = time.perf_counter() - start
            epoch_seconds = [record["seconds"] for record in detector.history_]
            per_seed.append(
                {
                    "seed": seed,
                    "auc_top_vs_qcd": auc(detector.anomaly_score(qcd), detector.anomaly_score(top)),
                    "fit_seconds": seconds,
                    "epochs_run": len(detector.history_),
                    "train_jets_per_second": len(train)
                    * (1 - detector.trainer_config.val_fraction)
                    / float(np.median(epoch_seconds)),
                    "precision": resolve_precision(precision, device.type, detector.network_),
                }
            )
        aucs = np.array([run["auc_top_vs_qcd"] for run in per_seed])
        runs[label] = {
            "runs": per_seed,
            "auc_mean": float(aucs.mean()),
            "auc_std": float(aucs.std(ddof=1)) if len(aucs) > 1 else 0.0,
            "median_train_jets_per_second": float(np.median([run["train_jets_per_second"] for run in per_seed])),
        }
    return {
        "model": name,
        "n_train": len(train),
        "epochs": args.auc_epochs,
        "n_test_each": len(qcd),
        **runs,
        **auc_verdict(runs),
    }


def auc_verdict(runs: dict[str, Any]) -> dict[str, Any]:
    """Default vs fp32 of an AUC check: difference of the means against the seed spread.

    ``seed_spread`` is the larger of the two sample standard deviations over seeds; the default
    *keeps* the AUC when it is not lower than fp32's by more than that (``not_worse_than_seed_spread``);
    ``within_seed_spread`` is the two-sided version.
    """
    spread = max(runs["default"]["auc_std"], runs["fp32"]["auc_std"])
    difference = runs["default"]["auc_mean"] - runs["fp32"]["auc_mean"]
    return {
        "auc_difference_default_minus_fp32": difference,
        "seed_spread": spread,
        "not_worse_than_seed_spread": bool(difference >= -spread),
        "within_seed_spread": bool(abs(difference) <= spread),
        "paired_differences": [
            a["auc_top_vs_qcd"] - b["auc_top_vs_qcd"] for a, b in zip(runs["default"]["runs"], runs["fp32"]["runs"])
        ],
        "throughput_ratio_default_over_fp32": runs["default"]["median_train_jets_per_second"]
        / runs["fp32"]["median_train_jets_per_second"],
    }


def engine_overhead(args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    """Per-step cost of the engine on a network so small that the step itself costs almost nothing.

    A 16-8-2-8-16 autoencoder on random data, batch 64: time per optimizer step of the plain
    loop, of the engine (16 mini-batches per Lightning step, the default) and of the engine
    with one mini-batch per Lightning step (plain Lightning usage).
    """
    n, batch_size = (4000 if args.quick else 20000), 64
    inputs = np.random.default_rng(0).normal(size=(n, 16)).astype(np.float32)
    options = {"hidden": [8], "latent_dim": 2, "batch_size": batch_size, "device": args.device, "scaler": "none"}
    steps = -(-n // batch_size)
    result: dict[str, Any] = {"n": n, "batch_size": batch_size, "network": "16-8-2-8-16"}
    grouped, detector = engine_training("dense_ae", inputs, options, args.epochs, device)
    single, _ = engine_training("dense_ae", inputs, options, args.epochs, device, group=1)
    plain = plain_training(
        detector.build_network((16,)), inputs, batch_size, detector.trainer_config.lr, args.epochs, device
    )
    for key, entry in (("plain", plain), ("engine", grouped), ("engine_one_minibatch_per_lightning_step", single)):
        result[f"{key}_us_per_step"] = entry["best_epoch_seconds"] / steps * 1e6
    return result


def benchmark_pyod(jets, args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    """dense_ae (its defaults) vs PyOD AutoEncoder on the same scaled features: fit time and AUC."""
    try:
        from pyod.models.auto_encoder import AutoEncoder
    except ImportError:
        return {"skipped": "pyod is not installed (.venv/bin/pip install pyod)"}
    train = jets["qcd_train"][: args.n_train]
    qcd, top = jets["qcd_test"][: args.n_test], jets["top_test"][: args.n_test]
    start = time.perf_counter()
    dense = create_model("dense_ae", device=args.device, progress=False).fit(train)
    dense_seconds = time.perf_counter() - start
    result: dict[str, Any] = {
        "n_train": len(train),
        "n_test_each": len(qcd),
        "dense_ae": {
            "fit_seconds": dense_seconds,
            "epochs_run": len(dense.history_),
            "auc_top_vs_qcd": auc(dense.anomaly_score(qcd), dense.anomaly_score(top)),
            "config": {
                k: dense.get_params()[k]
                for k in ("hidden", "latent_dim", "batch_size", "lr", "epochs", "patience", "val_fraction", "scaler")
            },
        },
    }
    # The same features the dense_ae saw: its representation and its fitted standard scaler.
    features = {key: dense.transform(sample) for key, sample in (("train", train), ("qcd", qcd), ("top", top))}
    config = dense.config
    variants = {
        "pyod_matched": dict(
            hidden_neuron_list=[*config.hidden, config.latent_dim],
            batch_norm=False,
            dropout_rate=0.0,
            epoch_num=len(dense.history_),
            batch_size=dense.trainer_config.batch_size,
            lr=dense.trainer_config.lr,
            optimizer_params={"weight_decay": 0.0},
        ),
        "pyod_defaults": {},
    }
    for key, options in variants.items():
        log.info("PyOD AutoEncoder: %s", key)
        model = AutoEncoder(preprocessing=False, verbose=0, random_state=0, device=device, **options)
        with contextlib.redirect_stdout(sys.stderr):
            start = time.perf_counter()
            model.fit(features["train"])
            seconds = time.perf_counter() - start
            scores = model.decision_function(features["qcd"]), model.decision_function(features["top"])
        result[key] = {
            "fit_seconds": seconds,
            "auc_top_vs_qcd": auc(*scores),
            "options": {k: v for k, v in model.get_params().items() if k not in ("device",)},
        }
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    data = ROOT / "data"
    parser.add_argument("--qcd-train", default=str(data / "qcd_train.h5"))
    parser.add_argument("--qcd-test", default=str(data / "qcd_test.h5"))
    parser.add_argument("--top-test", default=str(data / "top_test.h5"))
    parser.add_argument("--n-train", type=int, default=20000, help="training jets for dense_ae and PyOD")
    parser.add_argument("--n-train-conv", type=int, default=1500, help="training jets for conv_ae")
    parser.add_argument("--n-test", type=int, default=5000, help="test jets of each class")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs (after one warm-up epoch)")
    parser.add_argument("--repeats", type=int, default=3, help="inference passes (best is kept)")
    parser.add_argument("--batch-sizes", type=lambda s: [int(x) for x in s.split(",")], default=[256, 1024])
    parser.add_argument("--n-settings", type=int, default=10000, help="training jets of the speed settings (conv_ae)")
    parser.add_argument(
        "--settings-batch-sizes", type=lambda s: [int(x) for x in s.split(",")], default=[128, 256, 512, 1024]
    )
    parser.add_argument("--auc-train", type=int, default=20000, help="training jets of the AUC check")
    parser.add_argument("--auc-epochs", type=int, default=5, help="epochs of the AUC check")
    parser.add_argument("--auc-seeds", type=int, default=3, help="seeds of the AUC check (0 = skip it)")
    parser.add_argument(
        "--sections",
        type=lambda s: s.split(","),
        default=["overhead", "models", "settings", "auc", "pyod"],
        help="comma-separated subset of overhead,models,settings,auc,pyod",
    )
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads for the run (0: torch's default)")
    parser.add_argument("--models", type=lambda s: s.split(","), default=list(MODELS))
    parser.add_argument("--no-compile", dest="compile", action="store_false", help="skip torch.compile")
    parser.add_argument("--no-pyod", dest="pyod", action="store_false", help="skip the PyOD comparison")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test of this script")
    parser.add_argument(
        "--resummarize",
        metavar="JSON",
        help="recompute the derived fields (AUC verdict, summary) of a results file from its raw numbers, then exit",
    )
    parser.add_argument(
        "--check-device", action="store_true", help="only check that --device exists (exit 2 with a message if not)"
    )
    parser.add_argument("--out", help="JSON file (default bench/results/training_<device>.json)")
    args = parser.parse_args(argv)
    unknown = set(args.sections) - {"overhead", "models", "settings", "auc", "pyod"}
    if unknown:
        parser.error(f"unknown section(s) {', '.join(sorted(unknown))}")
    if args.quick:
        args.n_train, args.n_train_conv, args.n_test, args.epochs, args.repeats = 2000, 500, 1000, 1, 1
        args.n_settings, args.auc_train, args.auc_epochs, args.auc_seeds = 500, 1000, 1, 2
        args.batch_sizes = args.batch_sizes[:1]
        args.settings_batch_sizes = args.settings_batch_sizes[:1]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    if args.resummarize:
        path = Path(args.resummarize)
        results = json.loads(path.read_text())
        if "auc_check" in results:
            check = results["auc_check"]
            check.update(auc_verdict({"default": check["default"], "fp32": check["fp32"]}))
        results["summary"] = summary(results)
        write_text_atomic(path, json.dumps(results, indent=1, default=str) + "\n")
        print_summary(results)
        return 0
    try:
        device = torch.device(resolve_accelerator(args.device))
    except JetaeError as exc:
        print(f"bench_training.py: {exc}", file=sys.stderr)
        return 2
    if args.check_device:
        print(f"device {device.type}: {device_name(device)}, torch {torch.__version__}")
        return 0
    import lightning

    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    meta = {
        "device": device.type,
        "device_name": device_name(device),
        "jetae": __version__,
        "torch": torch.__version__,
        "lightning": lightning.__version__,
        "python": platform.python_version(),
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "load_average_start": load_average(),
        "engine_steps_per_lightning_step": engine.STEPS_PER_CALL,
        "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
        "settings": {k: v for k, v in vars(args).items()},
        "timing": "best of the timed epochs after one warm-up epoch (training), best of --repeats (inference)",
    }
    paths = ensure_samples(args)
    meta["samples"] = {k: str(v) for k, v in paths.items()}
    n_train = training_jets_needed(args)
    jets = {
        "qcd_train": read_sample(paths["qcd_train"], "qcd_train", n_max=n_train),
        "top_test": read_sample(paths["top_test"], "top_test", n_max=args.n_test),
    }
    if paths["qcd_train"].resolve() == paths["qcd_test"].resolve():
        # One QCD file for both: disjoint ranges, training jets first, test jets from the end.
        total = count_jets(paths["qcd_test"])
        if n_train + args.n_test > total:
            raise SystemExit(f"{paths['qcd_test']} has {total} jets, fewer than the training jets + --n-test")
        jets["qcd_test"] = read_sample(paths["qcd_test"], "qcd_test", n_max=args.n_test, start=total - args.n_test)
        meta["qcd_split"] = {"train": [0, n_train], "test": [total - args.n_test, total]}
    else:
        jets["qcd_test"] = read_sample(paths["qcd_test"], "qcd_test", n_max=args.n_test)
    if len(jets["qcd_train"]) < n_train:
        raise SystemExit(f"{paths['qcd_train']} has {len(jets['qcd_train'])} jets, fewer than the {n_train} asked for")
    out = Path(args.out) if args.out else ROOT / "bench" / "results" / f"training_{device.type}.json"
    results: dict[str, Any] = {"meta": meta}

    def save(complete: bool) -> None:
        """Write what is measured so far (a run stopped by a time limit keeps its finished sections)."""
        results["summary"] = summary(results)
        meta["complete"] = complete
        meta["load_average_end"] = load_average()
        meta["total_seconds"] = time.perf_counter() - started
        out.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(out, json.dumps(results, indent=1, default=str) + "\n")

    if "overhead" in args.sections:
        results["engine_overhead"] = engine_overhead(args, device)
        save(False)
    if "models" in args.sections:
        results["models"] = {}
        for name in args.models:
            results["models"][name] = benchmark_model(name, jets, args, device)
            log.info("%s done", name)
            save(False)
    if "settings" in args.sections:
        results["settings"] = {}
        for name in args.models:
            results["settings"][name] = speed_settings(name, jets, args, device)
            save(False)
    if "auc" in args.sections and args.auc_seeds > 0:
        results["auc_check"] = auc_check(jets, args, device)
        save(False)
    if "pyod" in args.sections and args.pyod:
        results["pyod_comparison"] = benchmark_pyod(jets, args, device)
    save(True)
    print_summary(results)
    print(f"wrote {out}")
    return 0


def summary(results: dict[str, Any]) -> dict[str, Any]:
    """The headline numbers: per model, the engine at its default vs fp32 and the fastest plain setting;
    the AUC check."""
    out: dict[str, Any] = {}
    for name, entry in results.get("settings", {}).items():
        out[name] = {
            "engine_default_jets_per_second": entry["engine_default"]["jets_per_second"],
            "engine_default_precision": entry["engine_default"]["precision"],
            "engine_fp32_jets_per_second": entry["engine_fp32"]["jets_per_second"],
            "engine_default_over_fp32_throughput": entry["engine_default_over_fp32_throughput"],
            "fastest_plain_setting": entry["fastest_plain"],
            "fastest_plain_speedup_over_fp32": entry["plain"][entry["fastest_plain"]]["speedup"],
        }
    check = results.get("auc_check")
    if check:
        out["auc_check"] = {
            key: check[key]
            for key in (
                "model",
                "n_train",
                "epochs",
                "auc_difference_default_minus_fp32",
                "seed_spread",
                "not_worse_than_seed_spread",
                "within_seed_spread",
                "throughput_ratio_default_over_fp32",
            )
        }
        out["auc_check"]["default_auc"] = f"{check['default']['auc_mean']:.4f} +- {check['default']['auc_std']:.4f}"
        out["auc_check"]["fp32_auc"] = f"{check['fp32']['auc_mean']:.4f} +- {check['fp32']['auc_std']:.4f}"
    return out


def print_summary(results: dict[str, Any]) -> None:
    meta = results["meta"]
    print(
        f"device: {meta['device_name']} ({meta['device']}), torch {meta['torch']}, "
        f"load average {meta['load_average_start']} -> {meta.get('load_average_end')}"
    )
    overhead = results.get("engine_overhead")
    if overhead:
        print(
            f"engine overhead ({overhead['network']}, batch {overhead['batch_size']}): "
            + ", ".join(f"{k[:-12]} {v:.0f} us" for k, v in overhead.items() if k.endswith("_us_per_step"))
        )
    for name, model in results.get("models", {}).items():
        for batch_size, entry in model["batch_sizes"].items():
            print(
                f"{name:9s} bs={batch_size:>5s}  engine {entry['engine']['jets_per_second']:9.0f} jets/s  "
                f"plain {entry['plain']['jets_per_second']:9.0f} jets/s  engine/plain time "
                f"{entry['engine_over_plain_time']:.2f} ({entry['engine']['precision']})"
            )
        for option, entry in model["options"].items():
            ratio = {k: v for k, v in entry.items() if k.startswith("time_over")}
            print(f"{name:9s} {option:40s} {entry.get('jets_per_second', float('nan')):9.0f} jets/s  {ratio}")
        inference = model["inference"]
        for key, entry in inference.items():
            if isinstance(entry, dict):
                print(
                    f"{name:9s} inference {key} (batch {inference['batch_size']}): "
                    f"{entry['jets_per_second']:.0f} jets/s"
                )
    for name, entry in results.get("settings", {}).items():
        for key, setting in entry["plain"].items():
            if "jets_per_second" in setting:
                print(f"{name:9s} plain {key:36s} {setting['jets_per_second']:9.0f} jets/s  x{setting['speedup']:.2f}")
            else:
                print(f"{name:9s} plain {key:36s} {setting.get('error')}")
        print(
            f"{name:9s} engine default ({entry['engine_default']['precision']}) "
            f"{entry['engine_default']['jets_per_second']:.0f} jets/s, engine fp32 "
            f"{entry['engine_fp32']['jets_per_second']:.0f} jets/s: x{entry['engine_default_over_fp32_throughput']:.2f}"
        )
    check = results.get("auc_check")
    if check:
        for label in ("default", "fp32"):
            per_seed = ", ".join(f"{run['auc_top_vs_qcd']:.4f}" for run in check[label]["runs"])
            print(
                f"AUC check {check['model']} {label:8s} top AUC {check[label]['auc_mean']:.4f} +- "
                f"{check[label]['auc_std']:.4f} ({per_seed}), {check[label]['median_train_jets_per_second']:.0f} jets/s"
            )
        print(
            f"AUC check: default - fp32 = {check['auc_difference_default_minus_fp32']:+.4f}, seed spread "
            f"{check['seed_spread']:.4f}, not worse by more than it: {check['not_worse_than_seed_spread']}, "
            f"within it: {check['within_seed_spread']}"
        )
    pyod = results.get("pyod_comparison", {})
    if "skipped" in pyod:
        print(f"PyOD comparison skipped: {pyod['skipped']}")
    for key in ("dense_ae", "pyod_matched", "pyod_defaults"):
        if key in pyod:
            print(f"{key:14s} fit {pyod[key]['fit_seconds']:7.1f} s  AUC top vs QCD {pyod[key]['auc_top_vs_qcd']:.4f}")


if __name__ == "__main__":
    sys.exit(main())

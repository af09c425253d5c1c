"""Running ``jetae benchmark``: both directions of every model, recorded failures, the results.

* **forward**: every model is trained on QCD jets and tags top and W jets (AUC with a
  bootstrap error, R30 per signal), with the mass sculpting of the QCD background
  (JSD at 50% and 10% background efficiency), the training time and the inference
  throughput (``anomaly_score`` on the test sets);
* **reverse**: the same model trained on top jets, with QCD jets as the anomaly.

With a signal zoo (presets ``zoo``, ``zoo-quick`` or ``--zoo``) the forward direction also tags
every zoo signal, and both directions evaluate every score of each model (``score_names``).
Each direction is one :func:`jetae.evaluation.direction.tag_direction`, with its peak memory
(:mod:`.memory`).
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import os
import platform
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

from jetae import __version__
from jetae.errors import JetaeError
from jetae.evaluation.direction import tag_direction
from jetae.evaluation.jsonify import json_ready
from jetae.evaluation.resolvability import not_resolvable_text
from jetae.experiments.benchmark.config import BenchmarkConfig, model_options, needs_outliers
from jetae.experiments.benchmark.memory import peak_memory
from jetae.experiments.benchmark.presets import MODEL_TRAIN_JETS, PUBLISHED
from jetae.experiments.benchmark.results import write_results
from jetae.experiments.benchmark.samples import Samples, load_samples, prepare_samples, sample_seed
from jetae.experiments.benchmark.threads import cpu_name, thread_limit
from jetae.generation.run import available_cores
from jetae.io.atomic import check_not_input, check_writable
from jetae.jets import Jets
from jetae.models import create_model
from jetae.train.device import resolve_accelerator

log = logging.getLogger(__name__)

#: Signals of the forward direction: ``{name in the results: sample}``.
FORWARD_SIGNALS = {"top": "top_test", "w": "w_test"}

#: Failures recorded per model and direction; anything else is a bug and stops the run.
#: (TrainingDiverged reaches us as a JetaeError from the engine, or raw from a model; torch's
#: own failures such as running out of GPU memory are RuntimeErrors.)
RECORDED_ERRORS = (JetaeError, RuntimeError, ValueError)


def failure_block(exc: BaseException, seconds: float) -> dict[str, Any]:
    """The result block of a direction that failed after ``seconds``."""
    return {
        "status": "failed",
        "error": str(exc) or type(exc).__name__,
        "error_type": type(exc).__name__,
        "seconds": seconds,
    }


def run_direction(
    name: str,
    options: Mapping[str, Any],
    train: Jets,
    background: Jets,
    signals: Mapping[str, Jets],
    outliers: Jets | None = None,
    sculpting: bool = True,
    n_bootstrap: int = 100,
    seed: int = 0,
    all_scores: bool = False,
) -> dict[str, Any]:
    """Train ``name`` on ``train`` and evaluate it on ``background`` vs each of ``signals``
    (:func:`jetae.evaluation.direction.tag_direction`).

    Returns ``{"status": "ok", "n_train", "n_outliers", "train_seconds", "train_jets_per_s",
    "epochs_run", "score", "score_names", "n_scored", "inference_seconds", "inference_jets_per_s",
    "signals": {name: summarize()}, "mass_sculpting": {...}, "memory": {...}, "options"}``
    (``mass_sculpting`` only with ``sculpting``). ``score``, ``signals`` and ``mass_sculpting`` are
    those of the model's default score; with ``all_scores`` every score of the model
    (``score_names``) is evaluated, and ``"scores": {score: {"signals", "mass_sculpting"}}`` holds
    each. Training time includes building the representation; inference is ``anomaly_score`` on
    background + signals (``n_scored`` counts each jet once per score); ``memory`` is
    :func:`~jetae.experiments.benchmark.memory.peak_memory` of training and scoring. Errors
    propagate (the caller records them).
    """
    detector = create_model(name, dict(options))
    fit_params = {"outliers": outliers} if needs_outliers(name) else {}
    with peak_memory() as memory:
        result = tag_direction(
            detector,
            background,
            signals,
            train=train,
            fit_params=fit_params,
            # score_names is read after fit: a model may know its scores only once trained.
            scores=_AllScores(detector) if all_scores else None,
            sculpting=sculpting,
            n_bootstrap=n_bootstrap,
            seed=seed,
        )
    train_seconds = result.train_seconds or 0.0
    block: dict[str, Any] = {
        "status": "ok",
        "n_train": result.n_train,
        "n_outliers": len(outliers) if fit_params else None,
        "train_seconds": result.train_seconds,
        "train_jets_per_s": result.n_train / train_seconds if result.n_train and train_seconds > 0 else None,
        "epochs_run": result.epochs_run,
        "score": result.score_names[0],
        "score_names": list(result.score_names),
        "n_scored": result.n_scored,
        "inference_seconds": result.inference_seconds,
        "inference_jets_per_s": result.inference_jets_per_s,
        "signals": result.signals,
    }
    if sculpting:
        block["mass_sculpting"] = result.mass_sculpting
    if all_scores:
        block["scores"] = result.blocks
    block["memory"] = memory
    block["options"] = detector.get_params()
    return block


class _AllScores(Sequence[str]):
    """Every score of ``detector``, looked up when used (after ``fit``), default score first."""

    def __init__(self, detector: Any) -> None:
        self.detector = detector

    def _names(self) -> tuple[str, ...]:
        return tuple(self.detector.score_names)

    def __getitem__(self, index: Any) -> Any:
        return self._names()[index]

    def __len__(self) -> int:
        return len(self._names())


def describe_direction(name: str, direction: str, block: Mapping[str, Any]) -> str:
    """The progress line of one model / direction."""
    if block["status"] != "ok":
        return f"{name} {direction}: FAILED after {block['seconds']:.1f} s: {block['error']}"
    parts = [
        f"{name} {direction}: trained on {block['n_train']} jets in {block['train_seconds']:.1f} s, scored "
        f"{block['n_scored']} jets at {block['inference_jets_per_s']:.0f} jets/s"
    ]
    text = not_resolvable_text
    for signal, s in block["signals"].items():
        err = s.get("auc_err")
        parts.append(
            f"{signal} AUC {text(s.get('auc'), '.3f')}"
            + (f"±{err:.3f}" if err is not None else "")
            + f" R30 {text(s.get('r30'), '.1f')}"
        )
    if "mass_sculpting" in block:
        parts.append(f"JSD50 {text(block['mass_sculpting'].get('jsd_eff50'), '.3g')}")
    return "; ".join(parts)


def run_models(
    config: BenchmarkConfig, options: Mapping[str, Mapping[str, Any]], samples: Samples
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Both directions of every model: ``({name: {"forward": block, "reverse": block}}, ["name/direction" failed])``.

    A failure (:data:`RECORDED_ERRORS`) is recorded for its model and direction; the rest go on.
    """
    results: dict[str, dict[str, Any]] = {}
    failed: list[str] = []
    all_scores = bool(config.zoo)
    for index, (name, opts) in enumerate(options.items(), start=1):
        outliers = samples.w_outliers if needs_outliers(name) else None
        n_train, _ = MODEL_TRAIN_JETS.get(config.preset, {}).get(name, (None, ""))
        forward_signals = {signal: getattr(samples, sample) for signal, sample in FORWARD_SIGNALS.items()}
        directions = {
            "forward": dict(
                train=samples.qcd_train[:n_train],
                background=samples.qcd_test,
                signals={**forward_signals, **samples.zoo},
                sculpting=True,
            ),
            "reverse": dict(
                train=samples.top_train[:n_train],
                background=samples.top_holdout,
                signals={"qcd": samples.qcd_test},
                sculpting=False,
            ),
        }
        results[name] = {}
        for direction, data in directions.items():
            tick = time.perf_counter()
            try:
                block = run_direction(
                    name,
                    opts,
                    outliers=outliers,
                    n_bootstrap=config.n_bootstrap,
                    seed=config.seed,
                    all_scores=all_scores,
                    **data,
                )
            except RECORDED_ERRORS as exc:
                if not isinstance(exc, JetaeError):
                    log.exception("%s %s raised %s", name, direction, type(exc).__name__)
                block = failure_block(exc, time.perf_counter() - tick)
                failed.append(f"{name}/{direction}")
            results[name][direction] = block
            log.info("[%d/%d] %s", index, len(options), describe_direction(name, direction, block))
    return results, failed


def run_benchmark(config: BenchmarkConfig) -> dict[str, Any]:
    """Run the benchmark and write ``benchmark.json`` and ``benchmark.md`` to ``config.out_dir``.

    Returns the (JSON-ready) contents of ``benchmark.json``::

        {"meta": {command, preset, started, wall_seconds, jetae, torch, device, device_name,
                  cpu_count, available_cores, torch_threads, seeds, sizes, samples: {name: provenance}},
         "config": resolved BenchmarkConfig,
         "models": {name: {"forward": {...}, "reverse": {...}}},
         "failed": ["name/direction", ...],
         "published_reference": {"heading", "rows", "caveats"}}

    ``meta.zoo``: the zoo signals (empty without a zoo); with a zoo, each direction also has
    ``scores`` (every score of the model, see :func:`run_direction`).
    ``forward``: trained on QCD; ``signals`` ``top``, ``w`` and the zoo signals (each :func:`summarize`:
    auc, auc_err, r30, r50, ...), ``mass_sculpting`` (jsd_eff50, jsd_eff10, ...),
    ``train_seconds``, ``inference_jets_per_s``, ``options`` (resolved model config).
    ``reverse``: trained on top; ``signals`` ``qcd`` (background = held-out top jets).
    A failed direction is ``{"status": "failed", "error", "error_type", "seconds"}``;
    the other models continue. Units: seconds, jets per second; JSD in bits.
    """
    started = datetime.datetime.now(datetime.timezone.utc)
    start = time.perf_counter()
    config = config.resolved()
    out_dir = Path(config.out_dir)
    if out_dir.exists() and not config.overwrite:
        raise JetaeError("output directory already exists; pass --overwrite to replace it", out_dir)
    # The output directory is replaced as a whole: it may not be or hold the samples it reads.
    check_not_input(out_dir, [config.data_dir], kind="dir")
    check_writable(out_dir, kind="dir")
    options = {name: model_options(config, name) for name in config.models or ()}
    for name, opts in options.items():
        create_model(name, opts)  # invalid options fail now, before any data is read or generated
    accelerator = resolve_accelerator(config.device or "auto")
    device_name = torch.cuda.get_device_name(0) if accelerator == "cuda" else cpu_name()
    paths = prepare_samples(config)
    samples = load_samples(config, paths)
    with thread_limit(config.threads) as threads:
        results, failed = run_models(config, options, samples)

    meta = {
        "command": config.command,
        "preset": config.preset,
        "zoo": list(config.zoo or ()),
        "started": started.isoformat(timespec="seconds"),
        "wall_seconds": time.perf_counter() - start,
        "jetae": __version__,
        "torch": torch.__version__,
        "device": accelerator,
        "device_name": device_name,
        "cpu_count": os.cpu_count(),
        "available_cores": available_cores(),
        "torch_threads": threads,
        "python": platform.python_version(),
        "seeds": {
            "models": config.seed,
            "bootstrap": config.seed,
            "samples": {name: sample_seed(name) for name in paths},
        },
        "sizes": {
            "n_train_forward": len(samples.qcd_train),
            "n_train_reverse": len(samples.top_train),
            "n_test": config.n_test,
            "n_reverse_test": len(samples.top_holdout),
            "n_outliers": None if samples.w_outliers is None else len(samples.w_outliers),
        },
        "roles": {
            "forward": "trained on qcd_train; background qcd_test; signals top_test (top), w_test (w)"
            + "".join(f", zoo/{signal}.h5 ({signal})" for signal in config.zoo or ()),
            "reverse": "trained on the first jets of top_train; background = the last n_test jets of "
            "top_train (held out); anomaly qcd_test",
            "outliers": "oe_vae trains with w_outliers as outliers in both directions",
        },
        "samples": samples.provenance,
    }
    payload = json_ready(
        {
            "meta": meta,
            "config": dataclasses.asdict(config),
            "models": results,
            "failed": failed,
            "published_reference": PUBLISHED.as_dict(),
        }
    )
    write_results(payload, out_dir, config.overwrite, config.results_copy)
    log.info("benchmark finished in %.0f s (%d failure(s)); results in %s", meta["wall_seconds"], len(failed), out_dir)
    return payload

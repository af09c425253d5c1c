"""``jetae benchmark``: the whole model zoo on one dataset, in both directions.

* **forward**: every model is trained on QCD jets and tags top and W jets (AUC with a
  bootstrap error, R30 per signal), with the mass sculpting of the QCD background
  (JSD at 50% and 10% background efficiency), the training time and the inference
  throughput (``anomaly_score`` on the test sets);
* **reverse**: the same model trained on top jets, with QCD jets as the anomaly.

Samples (``DATA_DIR/<name>.h5``, the names of ``bench/make_samples.sh``)::

    qcd_train   forward training (first n_train jets)
    top_train   reverse training (first jets) + reverse test background (its LAST n_test jets)
    qcd_test    forward background; reverse anomaly
    top_test    forward signal "top"
    w_test      forward signal "w"
    w_outliers  outlier-exposure jets for oe_vae (both directions), never the W test file

The reverse test set is held out of ``top_train`` (its last ``n_test`` jets), so the
top jets of the forward signal (``top_test``) and of the reverse background are
different, independent samples; the reverse training set is the jets before them.

Presets: ``quick`` generates (and caches) small samples with Pythia 8 + FastJet and
trains briefly (the whole zoo in a few minutes on 2 CPU cores); ``full`` reads the
shared samples of ``bench/make_samples.sh`` and never generates. Per-model options
of both presets live in :data:`MODEL_OPTIONS`.

Output (``out_dir``, written atomically): ``benchmark.json`` (see :func:`run_benchmark`)
and ``benchmark.md`` (the result table, then the published reference numbers of
:data:`PUBLISHED_REFERENCE`, clearly labelled as another sample).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import logging
import math
import os
import platform
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

import numpy as np
from tabulate import tabulate

from jetae.errors import JetaeError
from jetae.evaluation.metrics import NOT_AVAILABLE, not_resolvable_text

if TYPE_CHECKING:
    from jetae.data.jets import Jets

log = logging.getLogger(__name__)

JSON_FILE = "benchmark.json"
MARKDOWN_FILE = "benchmark.md"
PRESETS = ("quick", "full")
MAKE_SAMPLES = "bench/make_samples.sh"

#: ``{sample name: (process, seed)}``; the seeds are those of bench/make_samples.sh, so the
#: quick samples are made the same way as the full ones, only fewer of them.
SAMPLES: dict[str, tuple[str, int]] = {
    "qcd_train": ("qcd", 101),
    "qcd_test": ("qcd", 102),
    "top_test": ("top", 103),
    "w_test": ("w", 104),
    "w_outliers": ("w", 105),
    "top_train": ("top", 106),
}


@dataclass(frozen=True)
class PresetDefaults:
    """Sizes and places of one preset (each can be overridden from the command line)."""

    data_dir: str
    #: Forward training jets (first n_train of qcd_train); the reverse direction trains on
    #: the first min(n_train, len(top_train) - n_test) top jets.
    n_train: int
    #: Jets of each test sample (qcd_test, top_test, w_test and the held-out top jets).
    n_test: int
    #: Outlier jets for oe_vae (first n_outliers of w_outliers).
    n_outliers: int
    #: Generate missing samples (quick) or stop with an error pointing at bench/make_samples.sh (full).
    generate: bool
    #: torch CPU threads (None: torch's default, one per core). One thread is robust on a small CPU
    #: shared with other work: oversubscribed threads made training 10-90x slower on the 2-core machine.
    threads: int | None = None


PRESET_DEFAULTS: dict[str, PresetDefaults] = {
    "quick": PresetDefaults(data_dir="data/benchmark-quick", n_train=2000, n_test=1000, n_outliers=500,
                            generate=True, threads=1),
    "full": PresetDefaults(data_dir="data", n_train=50_000, n_test=10_000, n_outliers=5000, generate=False),
}

# ----------------------------------------------------------------------------------------------
#: Per-model options of each preset, merged over the model's own defaults (``jetae models
#: --options MODEL``) and under ``--epochs`` / ``--device`` / ``--set MODEL.KEY=VALUE``.
#: This is the one place to tune the benchmark (epochs, batch sizes, learning rates ...).
#: ``quick`` is a smoke test of the whole pipeline, not a measurement.
MODEL_OPTIONS: dict[str, dict[str, dict[str, Any]]] = {
    "quick": {
        "pca": {},
        "dense_ae": {"epochs": 8, "batch_size": 128, "patience": 3},
        # Small batches: conv nets need optimizer steps more than epochs (top AUC 0.35 after 3 epochs
        # of batch 128, 0.78 after 4 epochs of batch 32, on the quick samples).
        "conv_ae": {"epochs": 4, "batch_size": 32, "patience": 2},
        "sparse_ae": {"epochs": 8, "batch_size": 128, "patience": 3},
        "denoising_ae": {"epochs": 4, "batch_size": 32, "patience": 2},
        "dropout_ae": {"epochs": 4, "batch_size": 32, "patience": 2},
        "vae": {"epochs": 8, "batch_size": 128, "patience": 3},
        "oe_vae": {"epochs": 8, "batch_size": 128, "patience": 3},
        # Langevin chains make every NAE-phase step ~(x_steps + z_steps) times a plain AE step.
        "nae": {"ae_epochs": 4, "epochs": 1, "batch_size": 32, "x_steps": 3, "z_steps": 3},
    },
    "full": {
        "pca": {},
        "dense_ae": {"epochs": 50, "batch_size": 256, "patience": 5},
        # conv_ae: 24 epochs of batch 128 on 50k QCD jets reach top AUC 0.896 (runs/conv_ae_qcd50k_e24,
        # 55 s/epoch on one CPU core); 8 epochs give 0.865. The loss is still falling at 20 epochs.
        "conv_ae": {"epochs": 20, "batch_size": 128, "patience": 4},
        "sparse_ae": {"epochs": 50, "batch_size": 256, "patience": 5},
        # Fewer epochs for the two conv variants keep a full run inside ~1 h on a 2-core CPU.
        "denoising_ae": {"epochs": 10, "batch_size": 128, "patience": 4},
        "dropout_ae": {"epochs": 10, "batch_size": 128, "patience": 4},
        "vae": {"epochs": 50, "batch_size": 256, "patience": 5},
        "oe_vae": {"epochs": 50, "batch_size": 256, "patience": 5},
        # Tuned with bench/bench_nae.py, which reads it from here (docs/nae.md): 20x20 images of the
        # usual extent, a linear output layer, 8 NAE epochs with a cosine-decayed learning rate.
        "nae": {"representation": {"kind": "image", "n_pixels": 20, "pixel_eta": 0.058, "pixel_phi": 0.07},
                "stages": [[10, 10], [10, 5]], "conv_dense": [100], "latent_dim": 3, "output_activation": "none",
                "scaler": "global", "batch_size": 128, "ae_epochs": 20, "epochs": 8, "nae_lr": 1e-3,
                "nae_lr_schedule": "cosine", "gamma": 0.1, "x_steps": 20, "x_step_size": 10.0, "x_noise": 0.005,
                "z_steps": 20, "z_step_size": 0.1, "z_noise": 0.01, "init": "on_manifold"},
    },
}
#: Models trained on only the first N jets of each training sample in a preset (the test samples
#: stay the same), with the reason shown under the table.
MODEL_TRAIN_JETS: dict[str, dict[str, tuple[int, str]]] = {
    "full": {"nae": (10_000, "its Langevin MCMC costs ~40 network passes per training jet")},
}
# ----------------------------------------------------------------------------------------------

#: Order of the table (registered models not listed here follow, alphabetically).
MODEL_ORDER = ("pca", "dense_ae", "conv_ae", "sparse_ae", "denoising_ae", "dropout_ae", "vae", "oe_vae", "nae")

#: Options set by ``--epochs``: every epoch count a model has (nae: both training phases).
EPOCH_OPTIONS = ("epochs", "ae_epochs")

#: Heading of the published table: other samples, never to be read as a comparison on ours.
PUBLISHED_HEADING = ("Published reference numbers: Top Tagging Reference dataset with Delphes detector simulation "
                     "— not the same sample")

#: Published numbers, each with the source it was read in (transcribed from the project's list of
#: verified anchors; nothing from memory). ``None`` = not given by that source.
PUBLISHED_REFERENCE: tuple[dict[str, Any], ...] = (
    {"source": "heidelberg-hepml/normalized-autoencoders, development notebook (not the paper's final numbers)",
     "model": "conv AE, latent 3, 40x40 images", "data": "Top Tagging Reference",
     "top_auc": 0.824, "r30": 18.0, "reverse_auc": 0.362, "jetae_model": "conv_ae"},
    {"source": "heidelberg-hepml/normalized-autoencoders, development notebook (not the paper's final numbers)",
     "model": "normalized AE (NAE)", "data": "Top Tagging Reference",
     "top_auc": 0.911, "r30": 83.0, "reverse_auc": 0.448, "jetae_model": "nae"},
    {"source": "Hao et al., arXiv:2212.07347", "model": "conv image AE", "data": "JetNet, 30 particles, ~1 TeV",
     "top_auc": 0.8962, "r30": None, "reverse_auc": None, "jetae_model": "conv_ae"},
    {"source": "Hao et al., arXiv:2212.07347", "model": "graph AE (particle-level latent)", "data": "JetNet",
     "top_auc": 0.8917, "r30": None, "reverse_auc": None, "jetae_model": None},
    {"source": "Hao et al., arXiv:2212.07347", "model": "Lorentz-group-equivariant AE (LGAE-Mix)", "data": "JetNet",
     "top_auc": 0.8669, "r30": None, "reverse_auc": None, "jetae_model": None},
    {"source": "Hao et al., arXiv:2212.07347", "model": "Lorentz-group-equivariant AE (LGAE-Min-Max)", "data": "JetNet",
     "top_auc": 0.8539, "r30": None, "reverse_auc": None, "jetae_model": None},
)

#: Caveats printed under the published table.
PUBLISHED_CAVEATS: tuple[str, ...] = (
    "Top Tagging Reference (zenodo 2603256): 14 TeV, Pythia 8 + Delphes (ATLAS card), no MPI or pile-up, "
    "anti-kT R = 0.8 particle-flow jets, 550 < pT < 650 GeV, |eta| < 2. jetae's samples follow the same "
    "generator-level recipe but have no detector simulation; particle-level jets separate more easily, so "
    "numbers on them are not expected to match.",
    "The JetNet rows (Hao et al.) are yet another sample (30 particles per jet, jet pT about 1 TeV), not the "
    "Top Tagging Reference dataset.",
    "The heidelberg-hepml numbers come from a development notebook, not from the paper's final tables.",
    "For orientation: on the first 10k training jets of the Top Tagging Reference dataset, the jet mass alone "
    "separates top from QCD with AUC 0.869.",
    "Headline tables not read here (cite as 'about' / unverified): \"QCD or What?\" (arXiv:1808.08979, image AE "
    "top AUC about 0.9, unverified), Farina-Nakai-Shih (arXiv:1808.08992), Finke et al. (arXiv:2104.09051), "
    "Cheng et al. OE-VAE (arXiv:2007.01850), the NAE paper (arXiv:2206.14225).",
)

#: Signals of the forward direction: ``{name in the results: sample}``.
FORWARD_SIGNALS = {"top": "top_test", "w": "w_test"}


@dataclass
class BenchmarkConfig:
    """What ``jetae benchmark`` runs. ``None`` fields take the preset's value (:data:`PRESET_DEFAULTS`)."""

    preset: str = "quick"
    #: Model names (default: every registered model, ``jetae.models.available_models()``).
    models: tuple[str, ...] | None = None
    data_dir: str | None = None
    out_dir: str = "reports/benchmark"
    n_train: int | None = None
    n_test: int | None = None
    n_outliers: int | None = None
    #: Overrides every epoch count (:data:`EPOCH_OPTIONS`) of every model.
    epochs: int | None = None
    #: ``auto``, ``cpu``, ``cuda`` or ``mps`` for every torch model.
    device: str | None = None
    #: Per-model option overrides ``{model: {key: value}}`` (``--set model.key=value``), merged last.
    model_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Seed of every model and of the bootstrap.
    seed: int = 0
    #: Bootstrap replicas for the AUC errors.
    n_bootstrap: int = 100
    #: Generation processes for the quick samples (default: all cores).
    workers: int | None = None
    #: torch CPU threads for training and scoring (None: the preset's, see :class:`PresetDefaults`).
    threads: int | None = None
    overwrite: bool = False
    #: Also copy the results to ``RESULTS_COPY/benchmark_<preset>.{json,md}`` (e.g. ``bench/results``).
    results_copy: str | None = None
    #: The command line that started the run (recorded in the results).
    command: str | None = None

    def resolved(self) -> "BenchmarkConfig":
        """A copy with the preset's defaults filled in and everything checked (JetaeError if invalid)."""
        from jetae.models import available_models, get_model_spec

        if self.preset not in PRESETS:
            raise JetaeError(f"unknown preset {self.preset!r}; valid: {', '.join(PRESETS)}")
        defaults = PRESET_DEFAULTS[self.preset]
        if self.models:
            models = tuple(self.models)
        else:  # the zoo, baselines first; models registered later go at the end
            registered = [spec.name for spec in available_models() if spec.detector_cls.benchmark_by_default]
            models = tuple([m for m in MODEL_ORDER if m in registered] + [m for m in registered if m not in MODEL_ORDER])
        for name in models:
            get_model_spec(name)  # unknown names fail here, listing the known ones
        if len(set(models)) != len(models):
            raise JetaeError(f"model listed twice in {', '.join(models)}")
        resolved = dataclasses.replace(
            self, models=models, data_dir=self.data_dir or defaults.data_dir,
            n_train=self.n_train if self.n_train is not None else defaults.n_train,
            n_test=self.n_test if self.n_test is not None else defaults.n_test,
            n_outliers=self.n_outliers if self.n_outliers is not None else defaults.n_outliers,
            threads=self.threads if self.threads is not None else defaults.threads,
            model_options={k: dict(v) for k, v in self.model_options.items()},
        )
        for name in ("n_train", "n_test", "n_outliers", "epochs", "workers", "threads"):
            value = getattr(resolved, name)
            if value is not None and value < 1:
                raise JetaeError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
        if resolved.n_bootstrap < 0:
            raise JetaeError(f"--n-bootstrap must be >= 0, got {resolved.n_bootstrap}")
        for name in resolved.model_options:
            get_model_spec(name)
            if name not in models:
                log.warning("options given for %s, which is not benchmarked (--models %s)", name, " ".join(models))
        return resolved


def model_options(config: BenchmarkConfig, name: str) -> dict[str, Any]:
    """The option overrides of model ``name``: preset dict < --epochs / --device / seed < --set."""
    from jetae.config import _merge
    from jetae.models import get_model_spec

    config_cls = get_model_spec(name).config_cls
    fields = {f.name for f in dataclasses.fields(config_cls)}
    if "options" in fields:  # a model made of other models (ensemble): members get their model's preset and flags
        member = config.model_options.get(name, {}).get("model", config_cls().model)
        member_options = {k: v for k, v in model_options(config, member).items() if k != "seed"}
        return _merge({"seed": config.seed, "model": member, "options": member_options},
                      config.model_options.get(name, {}))
    options: dict[str, Any] = dict(MODEL_OPTIONS[config.preset].get(name, {}))
    options["seed"] = config.seed
    if config.epochs is not None:
        options.update({key: config.epochs for key in EPOCH_OPTIONS if key in fields})
    if config.device is not None and "device" in fields:
        options["device"] = config.device
    return _merge(options, config.model_options.get(name, {}))


def needs_outliers(name: str) -> bool:
    """True for models whose ``fit`` takes outlier jets (outlier exposure, e.g. oe_vae)."""
    from jetae.models import get_model_spec

    return "outliers" in getattr(get_model_spec(name).detector_cls, "fit_options", ())


# ------------------------------------------------------------------------------------- samples
def required_samples(config: BenchmarkConfig) -> dict[str, int]:
    """``{sample name: minimum number of jets}`` for a resolved config."""
    assert config.n_train is not None and config.n_test is not None and config.n_outliers is not None
    required = {
        "qcd_train": config.n_train,
        "top_train": config.n_train + config.n_test,
        "qcd_test": config.n_test,
        "top_test": config.n_test,
        "w_test": config.n_test,
    }
    if any(needs_outliers(name) for name in config.models or ()):
        required["w_outliers"] = config.n_outliers
    return required


def _count(path: Path) -> int | None:
    """Jets in ``path``; None if it is missing, -1 if it is unreadable."""
    from jetae.data.toptag import count_jets

    if not path.exists():
        return None
    try:
        return count_jets(path)
    except JetaeError:
        return -1


def prepare_samples(config: BenchmarkConfig) -> dict[str, Path]:
    """Paths of the samples, generated first for the quick preset; a clear error if any is missing.

    Quick: a file with at least the needed number of jets is reused (its first jets are
    taken); a missing, unreadable or smaller one is (re)generated with Pythia 8 + FastJet.
    Full: never generates; every missing file is named with the script that makes it.
    ``top_train`` may be smaller than ``n_train + n_test`` (the reverse direction then
    trains on fewer jets), but must hold more than ``n_test``.
    """
    from jetae.demo import ensure_sample_files

    data_dir = Path(config.data_dir or ".")
    required = required_samples(config)
    assert config.n_test is not None
    minimum = dict(required, top_train=config.n_test + 1)
    counts = {name: _count(data_dir / f"{name}.h5") for name in required}
    short = {name: n for name, n in required.items() if (counts[name] or 0) < minimum[name]}
    if short and PRESET_DEFAULTS[config.preset].generate:
        log.info("generating %d quick benchmark sample(s) in %s (cached for the next run)", len(short), data_dir)
        ensure_sample_files(data_dir, {name: (SAMPLES[name][0], n, SAMPLES[name][1]) for name, n in short.items()},
                            workers=config.workers)
    elif short:
        def why(name: str) -> str:
            count = counts[name]
            return "missing" if count is None else "unreadable" if count < 0 else \
                f"{count} jets, needs {minimum[name]}"

        problems = [f"{data_dir / f'{name}.h5'} ({why(name)})" for name in short]
        raise JetaeError(f"the {config.preset} benchmark needs the shared samples made by {MAKE_SAMPLES} "
                         f"(run `bash {MAKE_SAMPLES}` from the repository root, or point --data-dir at a copy); "
                         f"not usable: {', '.join(problems)}")
    return {name: data_dir / f"{name}.h5" for name in required}


@dataclass
class Samples:
    """The jets of one benchmark run (see the module docstring for the roles)."""

    qcd_train: "Jets"
    #: The reverse training jets (first jets of top_train) and the held-out reverse test jets (its last).
    top_train: "Jets"
    top_holdout: "Jets"
    qcd_test: "Jets"
    top_test: "Jets"
    w_test: "Jets"
    w_outliers: "Jets | None"
    #: Provenance per file: path, counts, rows used, generation sidecar.
    provenance: dict[str, Any]


def load_samples(config: BenchmarkConfig, paths: Mapping[str, Path]) -> Samples:
    """Read the jets of every role (first jets of each file; the held-out top jets are the last ``n_test``)."""
    from jetae.data.toptag import count_jets, read_jets
    from jetae.evaluation.provenance import file_provenance
    from jetae.evaluation.samples import check_labels

    assert config.n_train is not None and config.n_test is not None and config.n_outliers is not None
    n_top = count_jets(paths["top_train"])
    n_reverse_train = min(config.n_train, n_top - config.n_test)
    rows = {
        "qcd_train": {"train": (0, config.n_train)},
        "top_train": {"reverse_train": (0, n_reverse_train), "reverse_test": (n_top - config.n_test, n_top)},
        "qcd_test": {"test": (0, config.n_test)},
        "top_test": {"test": (0, config.n_test)},
        "w_test": {"test": (0, config.n_test)},
    }
    if "w_outliers" in paths:
        rows["w_outliers"] = {"outliers": (0, config.n_outliers)}
    jets: dict[str, Any] = {}
    provenance: dict[str, Any] = {}
    for name, slices in rows.items():
        for role, (start, stop) in slices.items():
            tick = time.perf_counter()
            jets[role if name == "top_train" else name] = read_jets(paths[name], n_max=stop - start, start=start)
            log.info("read %s rows %d-%d (%s) in %.1f s", paths[name], start, stop, role, time.perf_counter() - tick)
        first = jets["reverse_train" if name == "top_train" else name]
        record = file_provenance(first, paths[name])
        record.pop("n_jets_used", None)
        record.pop("n_labelled_signal", None)
        record["rows_used"] = {role: [start, stop] for role, (start, stop) in slices.items()}
        provenance[name] = record
    # Catch swapped files from the is_signal_new labels (errors only for an all-signal QCD sample).
    check_labels(jets["qcd_train"], {})
    check_labels(jets["qcd_test"], {"top": jets["top_test"], "w": jets["w_test"], "top_train": jets["reverse_train"]})
    return Samples(qcd_train=jets["qcd_train"], top_train=jets["reverse_train"], top_holdout=jets["reverse_test"],
                   qcd_test=jets["qcd_test"], top_test=jets["top_test"], w_test=jets["w_test"],
                   w_outliers=jets.get("w_outliers"), provenance=provenance)


# ------------------------------------------------------------------------------------- one run
def _scores(detector: Any, jets: Any, role: str) -> tuple[np.ndarray, float]:
    """``(n,)`` default anomaly scores of ``jets`` and the seconds it took; non-finite scores are an error."""
    tick = time.perf_counter()
    scores = detector.anomaly_score(jets)
    seconds = time.perf_counter() - tick
    bad = ~np.isfinite(scores)
    if bad.any():
        raise JetaeError(f"model {detector.name!r} gave {int(bad.sum())} non-finite scores for the {role} jets",
                         jets.source)
    return scores, seconds


def run_direction(
    name: str,
    options: Mapping[str, Any],
    train: Any,
    background: Any,
    signals: Mapping[str, Any],
    outliers: Any | None = None,
    sculpting: bool = True,
    n_bootstrap: int = 100,
    seed: int = 0,
) -> dict[str, Any]:
    """Train ``name`` on ``train`` and evaluate it on ``background`` vs each of ``signals``.

    Returns ``{"status": "ok", "n_train", "train_seconds", "epochs_run", "score",
    "n_scored", "inference_seconds", "inference_jets_per_s", "signals": {name: summarize()},
    "mass_sculpting": {...}}`` (the last only with ``sculpting``). Training time includes
    building the representation; inference is ``anomaly_score`` on background + signals.
    Errors propagate (the caller records them).
    """
    from jetae.evaluation import metrics as m
    from jetae.features.kinematics import jet_mass
    from jetae.models import create_model

    detector = create_model(name, dict(options))
    fit_params = {"outliers": outliers} if needs_outliers(name) else {}
    tick = time.perf_counter()
    detector.fit(train, **fit_params)
    train_seconds = time.perf_counter() - tick
    background_scores, seconds = _scores(detector, background, "background")
    n_scored = len(background)
    signal_scores = {}
    for signal, jets in signals.items():
        signal_scores[signal], more = _scores(detector, jets, f"signal {signal!r}")
        seconds += more
        n_scored += len(jets)
    history = [r for r in getattr(detector, "history_", []) if isinstance(r, dict) and "epoch" in r]
    result: dict[str, Any] = {
        "status": "ok",
        "n_train": len(train),
        "n_outliers": len(outliers) if fit_params else None,
        "train_seconds": train_seconds,
        "epochs_run": len(history) or None,
        "score": detector.score_names[0],
        "n_scored": n_scored,
        "inference_seconds": seconds,
        "inference_jets_per_s": n_scored / seconds if seconds > 0 else math.inf,
        "signals": {signal: m.summarize(background_scores, scores, n_bootstrap=n_bootstrap, seed=seed)
                    for signal, scores in signal_scores.items()},
    }
    if sculpting:
        result["mass_sculpting"] = m.mass_sculpting(jet_mass(background.constituents), background_scores, seed=seed)
    result["options"] = _resolved_options(detector)
    return result


def _resolved_options(detector: Any) -> dict[str, Any]:
    from jetae.config import config_to_dict

    return config_to_dict(detector.config)


#: Failures recorded per model and direction; anything else is a bug and stops the run.
#: (TrainingDiverged reaches us as a JetaeError from the engine, or raw from a model; torch's
#: own failures such as running out of GPU memory are RuntimeErrors.)
RECORDED_ERRORS = (JetaeError, RuntimeError, ValueError)


def _failure(exc: BaseException, seconds: float) -> dict[str, Any]:
    return {"status": "failed", "error": str(exc) or type(exc).__name__, "error_type": type(exc).__name__,
            "seconds": seconds}


def _describe(name: str, direction: str, block: Mapping[str, Any]) -> str:
    """The progress line of one model / direction."""
    if block["status"] != "ok":
        return f"{name} {direction}: FAILED after {block['seconds']:.1f} s: {block['error']}"
    parts = [f"{name} {direction}: trained on {block['n_train']} jets in {block['train_seconds']:.1f} s, scored "
             f"{block['n_scored']} jets at {block['inference_jets_per_s']:.0f} jets/s"]
    text = not_resolvable_text
    for signal, s in block["signals"].items():
        err = s.get("auc_err")
        parts.append(f"{signal} AUC {text(s.get('auc'), '.3f')}" + (f"±{err:.3f}" if err is not None else "")
                     + f" R30 {text(s.get('r30'), '.1f')}")
    if "mass_sculpting" in block:
        parts.append(f"JSD50 {text(block['mass_sculpting'].get('jsd_eff50'), '.3g')}")
    return "; ".join(parts)


@contextlib.contextmanager
def thread_limit(threads: int | None) -> Iterator[int]:
    """Limit torch and the BLAS / OpenMP pools of numpy and scipy to ``threads`` (None: unchanged).

    Yields torch's thread count. Oversubscribed threads on a busy CPU are ruinous: the PCA
    eigendecomposition took 31 s with two OpenBLAS threads and 1.8 s with one on the loaded
    2-core machine. Restores the previous settings on exit.
    """
    import torch

    before = torch.get_num_threads()
    with contextlib.ExitStack() as stack:
        if threads is not None:
            torch.set_num_threads(threads)
            try:
                from threadpoolctl import threadpool_limits
            except ImportError:  # scikit-learn's dependency; without it only torch is limited
                log.debug("threadpoolctl not installed: BLAS threads not limited")
            else:
                stack.enter_context(threadpool_limits(limits=threads))
        try:
            yield torch.get_num_threads()
        finally:
            torch.set_num_threads(before)


def cpu_name() -> str:
    """The CPU model (``/proc/cpuinfo`` on Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# ------------------------------------------------------------------------------------- the run
def run_models(config: BenchmarkConfig, options: Mapping[str, Mapping[str, Any]], samples: Samples
               ) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Both directions of every model: ``({name: {"forward": block, "reverse": block}}, ["name/direction" failed])``.

    A failure (:data:`RECORDED_ERRORS`) is recorded for its model and direction; the rest go on.
    """
    results: dict[str, dict[str, Any]] = {}
    failed: list[str] = []
    for index, (name, opts) in enumerate(options.items(), start=1):
        outliers = samples.w_outliers if needs_outliers(name) else None
        n_train, _ = MODEL_TRAIN_JETS.get(config.preset, {}).get(name, (None, ""))
        directions = {
            "forward": dict(train=samples.qcd_train[:n_train], background=samples.qcd_test,
                            signals={signal: getattr(samples, sample) for signal, sample in FORWARD_SIGNALS.items()},
                            sculpting=True),
            "reverse": dict(train=samples.top_train[:n_train], background=samples.top_holdout,
                            signals={"qcd": samples.qcd_test}, sculpting=False),
        }
        results[name] = {}
        for direction, data in directions.items():
            tick = time.perf_counter()
            try:
                block = run_direction(name, opts, outliers=outliers, n_bootstrap=config.n_bootstrap, seed=config.seed,
                                      **data)
            except RECORDED_ERRORS as exc:
                if not isinstance(exc, JetaeError):
                    log.exception("%s %s raised %s", name, direction, type(exc).__name__)
                block = _failure(exc, time.perf_counter() - tick)
                failed.append(f"{name}/{direction}")
            results[name][direction] = block
            log.info("[%d/%d] %s", index, len(options), _describe(name, direction, block))
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

    ``forward``: trained on QCD; ``signals`` ``top`` and ``w`` (each :func:`summarize`:
    auc, auc_err, r30, r50, ...), ``mass_sculpting`` (jsd_eff50, jsd_eff10, ...),
    ``train_seconds``, ``inference_jets_per_s``, ``options`` (resolved model config).
    ``reverse``: trained on top; ``signals`` ``qcd`` (background = held-out top jets).
    A failed direction is ``{"status": "failed", "error", "error_type", "seconds"}``;
    the other models continue. Units: seconds, jets per second; JSD in bits.
    """
    import torch

    from jetae import __version__
    from jetae.data.generate import available_cores
    from jetae.evaluation.jsonify import json_ready
    from jetae.train.engine import resolve_accelerator

    started = datetime.datetime.now(datetime.timezone.utc)
    start = time.perf_counter()
    config = config.resolved()
    out_dir = Path(config.out_dir)
    if out_dir.exists() and not config.overwrite:
        raise JetaeError("output directory already exists; pass --overwrite to replace it", out_dir)
    options = {name: model_options(config, name) for name in config.models or ()}
    from jetae.models import create_model

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
        "seeds": {"models": config.seed, "bootstrap": config.seed,
                  "samples": {name: SAMPLES[name][1] for name in paths}},
        "sizes": {"n_train_forward": len(samples.qcd_train), "n_train_reverse": len(samples.top_train),
                  "n_test": config.n_test, "n_reverse_test": len(samples.top_holdout),
                  "n_outliers": None if samples.w_outliers is None else len(samples.w_outliers)},
        "roles": {"forward": "trained on qcd_train; background qcd_test; signals top_test (top), w_test (w)",
                  "reverse": "trained on the first jets of top_train; background = the last n_test jets of "
                             "top_train (held out); anomaly qcd_test",
                  "outliers": "oe_vae trains with w_outliers as outliers in both directions"},
        "samples": samples.provenance,
    }
    payload = json_ready({
        "meta": meta,
        "config": dataclasses.asdict(config),
        "models": results,
        "failed": failed,
        "published_reference": {"heading": PUBLISHED_HEADING, "rows": list(PUBLISHED_REFERENCE),
                                "caveats": list(PUBLISHED_CAVEATS)},
    })
    write_results(payload, out_dir, config.overwrite, config.results_copy)
    log.info("benchmark finished in %.0f s (%d failure(s)); results in %s", meta["wall_seconds"], len(failed),
             out_dir)
    return payload


def write_outputs(out_dir: str | os.PathLike, texts: Mapping[str, str], overwrite: bool = False,
                  results_copy: str | os.PathLike | None = None, copy_stem: str = "") -> None:
    """Write ``texts`` (file name -> text) atomically into ``out_dir``, and, with ``results_copy``,
    each also to ``results_copy/<copy_stem><suffix of its name>`` (e.g. ``bench/results``)."""
    from jetae._atomic import atomic_dir, write_text_atomic

    try:
        with atomic_dir(Path(out_dir), overwrite=overwrite) as tmp:
            for name, text in texts.items():
                (tmp / name).write_text(text)
    except FileExistsError as exc:
        raise JetaeError("output directory already exists; pass --overwrite to replace it", out_dir) from exc
    if results_copy:
        copy_dir = Path(results_copy)
        for name, text in texts.items():
            write_text_atomic(copy_dir / f"{copy_stem}{Path(name).suffix}", text)
        log.info("copied the results to %s/%s.{%s}", copy_dir, copy_stem,
                 ",".join(Path(name).suffix.lstrip(".") for name in texts))


def write_results(payload: Mapping[str, Any], out_dir: str | os.PathLike, overwrite: bool = False,
                  results_copy: str | os.PathLike | None = None) -> None:
    """Write ``benchmark.json`` and ``benchmark.md`` atomically to ``out_dir`` (and a copy,
    ``benchmark_<preset>.{json,md}``, if asked)."""
    write_outputs(out_dir, {JSON_FILE: json.dumps(payload, indent=2) + "\n", MARKDOWN_FILE: markdown_report(payload)},
                  overwrite, results_copy, f"benchmark_{payload['meta']['preset']}")


def _same_sizes(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    keys = set(a) | set(b)
    return all(a.get(key) == b.get(key) or (key == "n_outliers" and None in (a.get(key), b.get(key)))
               for key in keys)


def read_runs(runs: Sequence[str | os.PathLike]) -> list[dict[str, Any]]:
    """The payloads of benchmark runs, each given as its directory or its ``benchmark.json``."""
    payloads = []
    for run in runs:
        path = Path(run)
        if not path.exists():
            raise JetaeError("no such benchmark directory or results file", run)
        if path.is_dir():
            path = path / JSON_FILE
        try:
            payload = json.loads(path.read_text())
        except FileNotFoundError as exc:
            raise JetaeError(f"not a benchmark directory (no {JSON_FILE})", run) from exc
        except (OSError, json.JSONDecodeError) as exc:
            raise JetaeError(f"unreadable benchmark results: {exc}", path) from exc
        if not isinstance(payload, dict) or not {"meta", "models"} <= set(payload):
            raise JetaeError("not jetae benchmark results (no 'meta' and 'models')", path)
        payloads.append(payload)
    return payloads


def check_same_setup(runs: Sequence[str | os.PathLike], payloads: Sequence[Mapping[str, Any]], action: str) -> None:
    """Raise unless every run has the first run's preset, sample sizes and sample files."""
    first = payloads[0]["meta"]
    for run, payload in zip(runs, payloads):
        meta = payload["meta"]
        if meta.get("preset") != first.get("preset"):
            raise JetaeError(f"cannot {action}: preset differs from that of {runs[0]}", run)
        # n_outliers is null in runs without an outlier-exposed model.
        if not _same_sizes(meta["sizes"], first["sizes"]):
            raise JetaeError(f"cannot {action}: sizes differs from that of {runs[0]}", run)
        paths = {name: info.get("path") for name, info in meta["samples"].items()}
        if any(paths.get(name) not in (None, info.get("path")) for name, info in first["samples"].items()):
            raise JetaeError(f"cannot {action}: different sample files than {runs[0]}", run)


def merge_benchmarks(run_dirs: Sequence[str | os.PathLike]) -> dict[str, Any]:
    """Combine benchmark runs of disjoint model sets on the same samples into one payload.

    A full run of the zoo can be split over processes or machines (``--models``); the
    parts must share preset, sample sizes and samples. A model in a later directory replaces
    the same model of an earlier one (a re-run), recorded in ``meta.parts``.
    ``meta.parts`` keeps each part's command, start and wall time; ``meta.wall_seconds``
    is their sum (the CPU cost of one sequential run, roughly).
    """
    if len(run_dirs) < 2:
        raise JetaeError("--merge needs at least two benchmark directories")
    payloads = read_runs(run_dirs)
    check_same_setup(run_dirs, payloads, "merge")
    first = payloads[0]["meta"]
    models: dict[str, Any] = {}
    for run_dir, payload in zip(run_dirs, payloads):
        for name, block in payload["models"].items():
            if name in models:
                log.info("%s: %s replaces the result of an earlier directory", run_dir, name)
            models[name] = block
    order = [name for name in MODEL_ORDER if name in models] + sorted(set(models) - set(MODEL_ORDER))
    samples = {}
    for payload in payloads:
        samples.update(payload["meta"]["samples"])
    parts = []
    for index, (run_dir, p) in enumerate(zip(run_dirs, payloads)):
        later = {name for q in payloads[index + 1:] for name in q["models"]}
        parts.append({"run_dir": str(run_dir), "command": p["meta"].get("command"), "started": p["meta"].get("started"),
                      "wall_seconds": p["meta"].get("wall_seconds"), "models": list(p["models"]),
                      "replaced_by_later_runs": sorted(set(p["models"]) & later)})
    sizes = dict(first["sizes"])
    for payload in payloads:
        sizes.update({key: value for key, value in payload["meta"]["sizes"].items() if value is not None})
    meta = dict(first, samples=samples, parts=parts, sizes=sizes,
                wall_seconds=sum(part["wall_seconds"] or 0.0 for part in parts),
                command=" ; ".join(part["command"] or "?" for part in parts))
    return {"meta": meta, "config": payloads[0].get("config"), "models": {name: models[name] for name in order},
            "failed": [item for payload in payloads for item in payload.get("failed", [])],
            "published_reference": first.get("published_reference") or payloads[0].get("published_reference")}


# ------------------------------------------------------------------------------------- markdown
def _auc_cell(block: Mapping[str, Any] | None) -> str:
    """``AUC ± error``; "n/a" where the samples do not resolve the AUC (null in the results), "–" without a block."""
    if not block:
        return "–"
    if block.get("auc") is None:
        return NOT_AVAILABLE
    err = block.get("auc_err")
    return f"{block['auc']:.3f} ± {err:.3f}" if err is not None else f"{block['auc']:.3f}"


def _number(value: Any, spec: str, none: str = NOT_AVAILABLE) -> str:
    """A table number; ``none`` (default "n/a": not resolvable with these samples) for null."""
    return none if value is None else format(value, spec)


def result_rows(payload: Mapping[str, Any]) -> list[list[str]]:
    """The cells of the result table (one row per model, columns of :data:`RESULT_COLUMNS`)."""
    rows = []
    for name, directions in payload["models"].items():
        forward, reverse = directions.get("forward", {}), directions.get("reverse", {})
        if forward.get("status") == "ok":
            top, w = forward["signals"]["top"], forward["signals"]["w"]
            sculpt = forward["mass_sculpting"]
            cells = [_auc_cell(top), _number(top.get("r30"), ".1f"), _auc_cell(w), _number(w.get("r30"), ".1f")]
        else:
            cells = ["failed"] + ["–"] * 3
        cells.append(_auc_cell(reverse["signals"]["qcd"]) if reverse.get("status") == "ok" else "failed")
        if forward.get("status") == "ok":
            cells += [_number(sculpt.get("jsd_eff50"), ".3g"), _number(sculpt.get("jsd_eff10"), ".3g"),
                      f"{forward['train_seconds']:.1f}", _number(forward.get("inference_jets_per_s"), ",.0f")]
        else:
            cells += ["–"] * 4
        label = f"{name} (a)" if needs_outliers_safe(name) else name
        rows.append([label, *cells])
    return rows


def needs_outliers_safe(name: str) -> bool:
    """:func:`needs_outliers`, False for names no longer registered (reading old results)."""
    try:
        return needs_outliers(name)
    except JetaeError:
        return False


RESULT_COLUMNS = ("model", "top AUC", "top R30", "W AUC", "W R30", "reverse AUC", "JSD50", "JSD10", "train s",
                  "infer jets/s")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[int] = ()) -> list[str]:
    """A Markdown (pipe) table of pre-formatted cells, by ``tabulate``; columns ``right`` right-aligned.

    Cells are taken as text (no number parsing, so "0.870 ± 0.010" and "1,234" stay as
    formatted); a ``|`` inside a cell becomes ``/``.
    """
    cells = [[str(cell).replace("|", "/") for cell in row] for row in rows]
    aligns = ["right" if i in right else "left" for i in range(len(header))]
    return tabulate(cells, headers=list(header), tablefmt="pipe", disable_numparse=True, colalign=aligns).splitlines()


def markdown_report(payload: Mapping[str, Any]) -> str:
    """``benchmark.md``: the result table, notes, failures, then the published reference table."""
    meta = payload["meta"]
    sizes = meta["sizes"]
    lines = [f"# jetae benchmark (preset `{meta['preset']}`)", ""]
    if meta.get("command"):
        lines += [f"Command: `{meta['command']}`", ""]
    files = ", ".join(f"`{Path(info['path']).name}`" for info in meta["samples"].values() if info.get("path"))
    lines += [
        f"jetae {meta['jetae']}, torch {meta['torch']}, device {meta['device']} ({meta['device_name']}), "
        f"{meta['available_cores']} of {meta['cpu_count']} CPU cores; started {meta['started']}, "
        f"wall time {meta['wall_seconds']:.0f} s.",
        "",
        f"Samples (Pythia 8 + FastJet, particle level; {files}): forward = trained on {sizes['n_train_forward']} QCD "
        f"jets, tested on {sizes['n_test']} QCD, top and W jets each; reverse = trained on "
        f"{sizes['n_train_reverse']} top jets, tested on {sizes['n_reverse_test']} held-out top jets vs "
        f"{sizes['n_test']} QCD jets as the anomaly."
        + (f" oe_vae sees {sizes['n_outliers']} W jets of a separate file as outliers." if sizes.get("n_outliers")
           else ""),
        "",
    ]
    lines += _table(RESULT_COLUMNS, result_rows(payload), right=tuple(range(1, len(RESULT_COLUMNS))))
    lines += [
        "",
        "- AUC ± its bootstrap standard deviation; R30 = background rejection 1/eps_B at 30% signal efficiency "
        "(n/a: not resolvable with these test samples, e.g. fewer than 10 background jets pass; the reason is in "
        "benchmark.json). Each model's default score (higher = more anomalous).",
        "- reverse AUC: the model trained on top jets, QCD jets as the anomaly (below 0.5: QCD looks *less* "
        "anomalous than top).",
        "- JSD50 / JSD10: Jensen-Shannon divergence (bits, 0 = unchanged) between the QCD jet-mass distribution "
        "before and after a score cut keeping 50% / 10% of the QCD jets (forward direction).",
        "- train s: forward training wall time (including the input representation); infer jets/s: "
        "`anomaly_score` throughput on the forward test sets.",
    ]
    for name, directions in payload["models"].items():
        trained = {d: b.get("n_train") for d, b in directions.items() if b.get("status") == "ok"}
        if trained.get("forward", sizes["n_train_forward"]) != sizes["n_train_forward"] or \
                trained.get("reverse", sizes["n_train_reverse"]) != sizes["n_train_reverse"]:
            _, reason = MODEL_TRAIN_JETS.get(meta["preset"], {}).get(name, (None, ""))
            lines.append(f"- {name}: trained on the first {trained.get('forward', '–')} QCD / "
                         f"{trained.get('reverse', '–')} top jets only" + (f" ({reason})" if reason else "")
                         + "; same test samples.")
    if any(needs_outliers_safe(name) for name in payload["models"]):
        lines.append("- (a) trained with W jets as outliers (outlier exposure): its W column is not an unsupervised "
                     "result; top is the unseen signal.")
    failures = [(f"{name} {direction}", block) for name, directions in payload["models"].items()
                for direction, block in directions.items() if block.get("status") != "ok"]
    if failures:
        lines += ["", "Failures:", ""]
        lines += [f"- {what}: {block.get('error_type')}: {block.get('error')}" for what, block in failures]
    reference = payload.get("published_reference") or {"heading": PUBLISHED_HEADING,
                                                       "rows": list(PUBLISHED_REFERENCE),
                                                       "caveats": list(PUBLISHED_CAVEATS)}
    lines += ["", f"## {reference['heading']}", "",
              "Numbers read in the sources below, on *other* samples: for orientation only, not a comparison on "
              "the same jets.", ""]
    rows = [[r["model"], r["data"], _number(r.get("top_auc"), ".4g", "–"), _number(r.get("r30"), ".0f", "–"),
             _number(r.get("reverse_auc"), ".3f", "–"), r["source"]] for r in reference["rows"]]
    lines += _table(("model", "data", "top AUC", "R30", "reverse AUC", "source"), rows, right=(2, 3, 4))
    lines += [""] + [f"- {caveat}" for caveat in reference["caveats"]]
    return "\n".join(lines) + "\n"


def markdown_table_only(payload: Mapping[str, Any]) -> str:
    """Just the result table (for the terminal)."""
    return "\n".join(_table(RESULT_COLUMNS, result_rows(payload), right=tuple(range(1, len(RESULT_COLUMNS))))) + "\n"


def command_words(config: BenchmarkConfig, set_options: Sequence[str] = ()) -> list[str]:
    """The run as a ``jetae benchmark`` command line (from the options, however it was called)."""
    words = ["jetae", "benchmark", "--preset", config.preset]
    if config.models:
        words += ["--models", *config.models]
    for flag in ("data_dir", "n_train", "n_test", "n_outliers", "epochs", "device", "workers", "threads",
                 "results_copy"):
        value = getattr(config, flag)
        if value is not None:
            words += [f"--{flag.replace('_', '-')}", str(value)]
    for item in set_options:
        words += ["--set", item]
    words += ["--seed", str(config.seed), "--n-bootstrap", str(config.n_bootstrap), "--out", config.out_dir]
    return words + (["--overwrite"] if config.overwrite else [])


def command_line(config: BenchmarkConfig, set_options: Sequence[str] = ()) -> str:
    return shlex.join(command_words(config, set_options))

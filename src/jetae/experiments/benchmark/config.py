"""What ``jetae benchmark`` runs: the configuration, each model's options, the command line."""

from __future__ import annotations

import dataclasses
import logging
import re
import shlex
from dataclasses import dataclass, field
from typing import Any, Sequence

from jetae.config import merge_options
from jetae.errors import JetaeError
from jetae.experiments.benchmark.presets import (
    MODEL_OPTIONS,
    MODEL_ORDER,
    PRESET_DEFAULTS,
    PRESET_ZOO,
    PRESETS,
    ZOO_SAMPLES,
)
from jetae.models import available_models, get_model_spec

log = logging.getLogger(__name__)

#: Options set by ``--epochs``: every epoch count a model has (nae: both training phases).
EPOCH_OPTIONS = ("epochs", "ae_epochs")
#: Names of signals of one's own in ``--zoo`` (non-generating presets read ``DATA_DIR/zoo/NAME.h5``).
OWN_SIGNAL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


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
    #: Zoo signals (names of ``zoo_samples`` in ``presets.yaml``, read from ``DATA_DIR/zoo/NAME.h5``)
    #: added to the forward direction; None: the preset's (``PRESET_ZOO``). With a zoo, every score
    #: of every model is evaluated (``score_names``), in both directions.
    zoo: tuple[str, ...] | None = None

    def resolved(self) -> "BenchmarkConfig":
        """A copy with the preset's defaults filled in and everything checked (JetaeError if invalid)."""
        if self.preset not in PRESETS:
            raise JetaeError(f"unknown preset {self.preset!r}; valid: {', '.join(PRESETS)}")
        defaults = PRESET_DEFAULTS[self.preset]
        if self.models:
            models = tuple(self.models)
        else:  # the zoo, baselines first; models registered later go at the end
            registered = [spec.name for spec in available_models() if spec.detector_cls.benchmark_by_default]
            models = tuple(
                [m for m in MODEL_ORDER if m in registered] + [m for m in registered if m not in MODEL_ORDER]
            )
        for name in models:
            get_model_spec(name)  # unknown names fail here, listing the known ones
        if len(set(models)) != len(models):
            raise JetaeError(f"model listed twice in {', '.join(models)}")
        zoo = tuple(self.zoo) if self.zoo is not None else PRESET_ZOO[self.preset]
        unknown = [name for name in zoo if name not in ZOO_SAMPLES]
        if unknown and defaults.generate:
            raise JetaeError(
                f"unknown zoo signal {', '.join(map(repr, unknown))}; valid: {', '.join(ZOO_SAMPLES)} (the "
                f"{self.preset} preset generates the zoo from jetae's cards; for a signal of your own use "
                "--preset zoo or full with DATA_DIR/zoo/NAME.h5)"
            )
        bad = [name for name in unknown if not OWN_SIGNAL_NAME.fullmatch(name)]
        if bad:
            raise JetaeError(
                f"zoo signal name {', '.join(map(repr, bad))}: use letters, digits, '_', '-' and '.' "
                "(the name of the file DATA_DIR/zoo/NAME.h5, without .h5)"
            )
        if len(set(zoo)) != len(zoo):
            raise JetaeError(f"zoo signal listed twice in {', '.join(zoo)}")
        resolved = dataclasses.replace(
            self,
            models=models,
            zoo=zoo,
            data_dir=self.data_dir or defaults.data_dir,
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
    config_cls = get_model_spec(name).config_cls
    fields = set(get_model_spec(name).option_names())
    # A model made of copies of one model (ensemble: a `model` name and its `options`): the members get
    # their model's preset and flags. Other models holding member specs (lists or dicts of options)
    # take them as they are given.
    if {"model", "options"} <= fields and isinstance(config_cls().model, str):
        member = config.model_options.get(name, {}).get("model", config_cls().model)
        member_options = {k: v for k, v in model_options(config, member).items() if k != "seed"}
        return merge_options(
            {"seed": config.seed, "model": member, "options": member_options}, config.model_options.get(name, {})
        )
    options: dict[str, Any] = dict(MODEL_OPTIONS[config.preset].get(name, {}))
    options["seed"] = config.seed
    if config.epochs is not None:
        options.update({key: config.epochs for key in EPOCH_OPTIONS if key in fields})
    if config.device is not None and "device" in fields:
        options["device"] = config.device
    return merge_options(options, config.model_options.get(name, {}))


def needs_outliers(name: str) -> bool:
    """True for models whose ``fit`` takes outlier jets (outlier exposure, e.g. oe_vae): ``Detector.fit_options``."""
    return "outliers" in get_model_spec(name).detector_cls.fit_options


def needs_outliers_safe(name: str) -> bool:
    """:func:`needs_outliers`, False for names no longer registered (reading old results)."""
    try:
        return needs_outliers(name)
    except JetaeError:
        return False


def command_words(config: BenchmarkConfig, set_options: Sequence[str] = ()) -> list[str]:
    """The run as a ``jetae benchmark`` command line (from the options, however it was called)."""
    words = ["jetae", "benchmark", "--preset", config.preset]
    if config.models:
        words += ["--models", *config.models]
    if config.zoo is not None:
        words += ["--zoo", *config.zoo]
    for flag in (
        "data_dir",
        "n_train",
        "n_test",
        "n_outliers",
        "epochs",
        "device",
        "workers",
        "threads",
        "results_copy",
    ):
        value = getattr(config, flag)
        if value is not None:
            words += [f"--{flag.replace('_', '-')}", str(value)]
    for item in set_options:
        words += ["--set", item]
    words += ["--seed", str(config.seed), "--n-bootstrap", str(config.n_bootstrap), "--out", config.out_dir]
    return words + (["--overwrite"] if config.overwrite else [])


def command_line(config: BenchmarkConfig, set_options: Sequence[str] = ()) -> str:
    """:func:`command_words` as one shell-quoted string."""
    return shlex.join(command_words(config, set_options))

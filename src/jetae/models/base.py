"""The detector estimator API shared by every model.

A detector follows scikit-learn / PyOD conventions: ``__init__`` only stores the options
(``config``: what is learned, the model's config dataclass; ``trainer_config``: how it is
trained, a :class:`~jetae.train.config.TrainerConfig`, for detectors with a training loop),
``fit`` learns (fitted attributes end in ``_``),
``anomaly_score`` returns one float per jet (higher = more anomalous), and ``save`` /
``load`` use a directory of JSON + safetensors (nothing is ever unpickled).

Inputs are either :class:`~jetae.data.jets.Jets` (turned into the configured
representation), a numpy array of raw constituents ``(n_jets, n_constituents, 4)`` (E, px, py, pz
in GeV, zero rows = padding; read like jets), or an already-built numpy array of inputs
``(n_samples, ...)``, e.g. images from another source (see :func:`~jetae.models.inputs.as_jets`).

scikit-learn: a detector is an estimator (``get_params`` / ``set_params`` over every model and
trainer option, ``sklearn.base.clone``, ``fit(X, y=None)`` with ``y`` ignored, ``decision_function``,
and PyOD-style ``predict``: 1 above ``threshold_``, the ``1 - contamination`` quantile of the
training scores, else 0), so it works in ``GridSearchCV`` / ``cross_val_score`` (docs/models.md).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from jetae import __version__
from jetae.config import config_to_dict, merge_options, resolve_config
from jetae.errors import JetaeError
from jetae.io.atomic import atomic_dir
from jetae.jets import Jets
from jetae.models.inputs import JetsOrArray, as_jets, check_representation, jet_masses, make_inputs
from jetae.models.persistence import (
    CONFIG_FILE,
    HISTORY_FILE,
    MODEL_FORMAT,
    WEIGHTS_FILE,
    check_metadata,
    json_value,
    layout_differences,
    package_version,
    pop_array,
    read_metadata,
)
from jetae.models.registry import get_model_spec
from jetae.models.scaling import SCALER_KINDS, FeatureScaler

log = logging.getLogger(__name__)

#: Largest seed: Lightning and numpy take unsigned 32-bit seeds.
SEED_MAX = 2**32 - 1


@dataclass
class DetectorConfig:
    """Options every detector has."""

    #: Input representation, see :func:`jetae.features.make_representation`.
    representation: dict = field(default_factory=lambda: {"kind": "image"})
    #: Fitted input scaling: ``none``, ``standard`` (per input element) or ``global``.
    scaler: str = "none"
    #: Seed for everything random in ``fit`` (splits, initialisation, noise, MCMC).
    seed: int = 0
    #: Expected fraction of anomalies in the training data: ``predict`` flags jets scoring above the
    #: ``1 - contamination`` quantile of the training scores (``threshold_``, PyOD's convention).
    contamination: float = 0.1

    def __post_init__(self) -> None:
        if self.scaler not in SCALER_KINDS:
            raise JetaeError(f"invalid option: scaler must be one of {', '.join(SCALER_KINDS)}, got {self.scaler!r}")
        if not 0 <= self.seed <= SEED_MAX:
            raise JetaeError(f"invalid option: seed must be an integer from 0 to {SEED_MAX}, got {self.seed!r}")
        if not 0 < self.contamination <= 0.5:
            raise JetaeError(f"invalid option: contamination must be in (0, 0.5], got {self.contamination!r}")
        check_representation(self.representation)


class Detector:
    """Base class of every anomaly detector (see the module docstring)."""

    name: ClassVar[str] = "detector"
    config_cls: ClassVar[type] = DetectorConfig
    #: Scores this detector can compute; the first is the default.
    score_names: ClassVar[tuple[str, ...]] = ("reconstruction",)
    #: Part of ``jetae benchmark``'s default model list (the zoo); off for models built from other models.
    benchmark_by_default: ClassVar[bool] = True
    #: Extra keyword arguments :meth:`fit` takes besides the training data (e.g. ``("outliers",)``).
    fit_options: ClassVar[tuple[str, ...]] = ()
    #: How the detector is trained: a :class:`~jetae.train.config.TrainerConfig` class, or None for
    #: detectors without a training loop of their own (``pca``; ``ensemble``, whose members have one).
    trainer_config_cls: ClassVar[type | None] = None
    #: Trainer options of this model that differ from the trainer config's defaults.
    trainer_defaults: ClassVar[dict[str, Any]] = {}
    #: False after ``fit`` in a DDP worker process (global rank > 0), which must not write files.
    is_global_zero_: bool = True

    # ---------------------------------------------------------------- optional capabilities
    # Declared here so that callers (CLI, evaluation, benchmark) ask every detector the same way
    # instead of probing with getattr; models that have the capability override them.
    def sample_negatives(self, n: int, seed: int | None = None) -> np.ndarray | None:
        """``n`` samples of the model's own distribution, shaped like its inputs (representation
        units), for energy-based models (``nae``); None for detectors that cannot sample."""
        return None

    def sampler_description(self) -> str:
        """One line saying how :meth:`sample_negatives` samples (for figure captions); '' if it cannot."""
        return ""

    # ---------------------------------------------------------------- options
    def __init__(self, config: Any = None, **overrides: Any):
        """``config``: a dict of options (model and trainer options alike), a config dataclass or None;
        ``overrides``: more options. Each option goes to :attr:`config` or :attr:`trainer_config`."""
        self.config, self.trainer_config = self.resolve_options(config, overrides)

    @classmethod
    def option_names(cls) -> tuple[list[str], list[str]]:
        """``(model options, trainer options)``: every key :meth:`__init__` accepts, in field order."""
        trainer = [] if cls.trainer_config_cls is None else config_fields(cls.trainer_config_cls)
        return config_fields(cls.config_cls), trainer

    @classmethod
    def resolve_options(cls, config: Any = None, overrides: dict[str, Any] | None = None) -> tuple[Any, Any]:
        """``(config, trainer_config)`` from options as :meth:`__init__` takes them; a JetaeError for an
        unknown option (listing the valid ones) or an invalid value."""
        if config is None:
            values: dict[str, Any] = {}
        elif dataclasses.is_dataclass(config) and not isinstance(config, type):
            values = config_to_dict(config)
        elif isinstance(config, dict):
            values = dict(config)
        else:
            raise JetaeError(f"config must be a dict or a {cls.config_cls.__name__}, got {type(config).__name__}")
        values = merge_options(values, overrides or {})
        model_keys, trainer_keys = cls.option_names()
        unknown = sorted(set(values) - set(model_keys) - set(trainer_keys))
        if unknown:
            raise JetaeError(
                f"unknown option(s) {', '.join(unknown)} for model {cls.name!r}; "
                f"valid: {', '.join(sorted(model_keys + trainer_keys))}"
            )
        model_config = resolve_config(cls.config_cls, {k: v for k, v in values.items() if k in model_keys})
        if cls.trainer_config_cls is None:
            return model_config, None
        trainer_values = dict(cls.trainer_defaults, **{k: v for k, v in values.items() if k in trainer_keys})
        return model_config, resolve_config(cls.trainer_config_cls, trainer_values)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Every option, model and trainer options in one flat JSON-ready dict (scikit-learn's name):
        ``create_model(self.name, self.get_params())`` makes the same unfitted detector.
        ``deep`` is scikit-learn's argument; a detector has no sub-estimators, so it changes nothing."""
        params = config_to_dict(self.config)
        if self.trainer_config is not None:
            params.update(config_to_dict(self.trainer_config))
        return params

    def set_params(self, **params: Any) -> "Detector":
        """Change options (model or trainer), validated as in ``__init__``; returns ``self``.

        A nested option is given as a dict (``representation={"n_pixels": 20}``, merged into the current
        one) or scikit-learn style with ``__`` (``representation__n_pixels=20``). Fitted state is kept
        (as in scikit-learn) until the next ``fit``.
        """
        if params:
            nested: dict[str, Any] = {}
            for key, value in params.items():
                *parents, name = key.split("__")
                target = nested
                for parent in parents:
                    target = target.setdefault(parent, {})
                target[name] = value
            # __init__ again, so that whatever a detector derives from its options there is derived anew
            self.__init__(merge_options(self.get_params(), nested))  # type: ignore[misc]
        return self

    def __sklearn_clone__(self) -> "Detector":
        """An unfitted detector with the same options (``sklearn.base.clone``)."""
        return type(self)(self.get_params())

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "input_shape_")

    def __sklearn_tags__(self) -> Any:
        """scikit-learn's tags: an unsupervised estimator of 2-d or 3-d arrays (no ``y``). Not tagged as an
        outlier detector: ``predict`` and ``decision_function`` follow PyOD (1 = anomaly, higher = more
        anomalous), not scikit-learn's -1 / +1 and higher = more normal."""
        from sklearn.utils import InputTags, Tags, TargetTags, TransformerTags

        return Tags(
            estimator_type=None,
            target_tags=TargetTags(required=False),
            # transform() gives the scaled model inputs (float32)
            transformer_tags=TransformerTags(preserves_dtype=["float32"]),
            classifier_tags=None,
            regressor_tags=None,
            input_tags=InputTags(two_d_array=True, three_d_array=True),
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    # ---------------------------------------------------------------- fit
    def fit(self, train: JetsOrArray, val: JetsOrArray | None = None, **fit_params: Any) -> "Detector":
        """Learn from background-only training data; returns ``self``.

        ``val``: validation jets or inputs (default: a split of ``train`` for detectors with a training
        loop). A 1-d array in its place is scikit-learn's ``y`` (``fit(X, y)``), which is ignored: the
        detectors are unsupervised (train on background; :class:`~jetae.models.model_selection.BackgroundSplit`
        keeps signal out of cross-validation training folds). Ends by fitting ``threshold_`` (``predict``).
        """
        train = as_jets(self.select_training_jets(train), self.config.representation)
        val = None if val is None or _is_labels(val) else as_jets(val, self.config.representation)
        train_inputs = make_inputs(train, self.config.representation)
        self.scaler_ = FeatureScaler(self.config.scaler).fit(train_inputs)
        self.input_shape_ = tuple(int(s) for s in train_inputs.shape[1:])
        self.history_: list[dict] = []
        train_inputs = self.scaler_.transform(train_inputs)
        val_inputs = None if val is None else self.transform(val)
        log.info("fitting %s on %d samples of shape %s", self.name, len(train_inputs), self.input_shape_)
        self._fit(
            train_inputs,
            val_inputs,
            train_mass=jet_masses(train),
            val_mass=None if val is None else jet_masses(val),
            **fit_params,
        )
        self.fit_threshold(train)
        return self

    def select_training_jets(self, train: JetsOrArray) -> JetsOrArray:
        """The part of ``train`` that :meth:`fit` learns from: all of it, unless a model caps its sample
        (e.g. ``nae``'s ``max_train_jets``). Idempotent; the CLI calls it to record what was used."""
        return train

    def fit_threshold(self, train: JetsOrArray) -> None:
        """``threshold_``: the ``1 - contamination`` quantile of the default score on ``train`` (PyOD's rule)."""
        scores = self.anomaly_score(train)
        self.threshold_ = float(np.quantile(scores, 1.0 - self.config.contamination))

    def _fit(self, train_inputs: np.ndarray, val_inputs: np.ndarray | None, **kwargs: Any) -> None:
        raise NotImplementedError

    # ---------------------------------------------------------------- scoring
    def transform(self, data: JetsOrArray) -> np.ndarray:
        """The scaled model inputs for ``data`` (what the network sees)."""
        self._check_fitted()
        data = as_jets(data, self.config.representation)
        inputs = make_inputs(data, self.config.representation)
        if tuple(inputs.shape[1:]) != self.input_shape_:
            where = data.source if isinstance(data, Jets) else None
            raise JetaeError(
                f"inputs have shape {tuple(inputs.shape[1:])} but the model {self.name!r} was trained on "
                f"{self.input_shape_}",
                where,
            )
        return self.scaler_.transform(inputs)

    def anomaly_score(self, data: JetsOrArray, score: str | None = None) -> np.ndarray:
        """``(n_jets,)`` float64 anomaly scores, higher = more anomalous.

        ``score`` picks one of :attr:`score_names` (default: the first).
        """
        score = self._check_score_name(score)
        return np.asarray(self._score(self.transform(data), score), dtype=np.float64)

    def decision_function(self, data: JetsOrArray, score: str | None = None) -> np.ndarray:
        """PyOD-style alias of :meth:`anomaly_score`."""
        return self.anomaly_score(data, score)

    def predict(self, data: JetsOrArray) -> np.ndarray:
        """``(n_jets,)`` int64: 1 for jets whose default score exceeds ``threshold_`` (anomalies), else 0."""
        self._check_fitted()
        if not hasattr(self, "threshold_"):
            raise JetaeError(f"model {self.name!r} has no fitted threshold_: call fit() first")
        return (self.anomaly_score(data) > self.threshold_).astype(np.int64)

    def _score(self, inputs: np.ndarray, score: str) -> np.ndarray:
        raise NotImplementedError

    def reconstruct(self, data: JetsOrArray) -> tuple[np.ndarray, np.ndarray]:
        """``(inputs, reconstructions)`` in representation units (scaling undone)."""
        inputs = self.transform(data)
        return self.scaler_.inverse_transform(inputs), self.scaler_.inverse_transform(self._reconstruct(inputs))

    def _reconstruct(self, inputs: np.ndarray) -> np.ndarray:
        raise JetaeError(f"model {self.name!r} has no reconstruction")

    def encode(self, data: JetsOrArray) -> np.ndarray:
        """``(n_jets, latent_dim)`` latent code (the mean, for variational models)."""
        return self._encode(self.transform(data))

    def _encode(self, inputs: np.ndarray) -> np.ndarray:
        raise JetaeError(f"model {self.name!r} has no latent space")

    def _check_score_name(self, score: str | None) -> str:
        if score is None:
            return self.score_names[0]
        if score not in self.score_names:
            raise JetaeError(f"model {self.name!r} has no score {score!r}; available: {', '.join(self.score_names)}")
        return score

    def _check_fitted(self) -> None:
        if not hasattr(self, "input_shape_"):
            raise not_fitted_error()(f"model {self.name!r} is not fitted yet: call fit() first")

    # ---------------------------------------------------------------- persistence
    def _state_arrays(self) -> dict[str, np.ndarray]:
        """Fitted arrays (besides the scaler) to store in safetensors."""
        return {}

    def _load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore what :meth:`_state_arrays` stored (input_shape_ is already set)."""

    def metadata(self) -> dict[str, Any]:
        """The fully resolved, JSON-ready description of this model: ``config`` (the model's options) and
        ``trainer`` (its trainer options, None for detectors without a training loop) in their own sections."""
        return {
            "format": MODEL_FORMAT,
            "model": self.name,
            "config": config_to_dict(self.config),
            "trainer": None if self.trainer_config is None else config_to_dict(self.trainer_config),
            "input_shape": list(getattr(self, "input_shape_", ())),
            "score_names": list(self.score_names),
            "seed": self.config.seed,
            "versions": {
                "jetae": __version__,
                "torch": package_version("torch"),
                "lightning": package_version("lightning"),
                "numpy": np.__version__,
                "python": platform.python_version(),
            },
        }

    def save(self, path: str | os.PathLike, overwrite: bool = False, extra: dict | None = None) -> Path:
        """Write the fitted model to directory ``path`` (atomically).

        Contents: ``config.json`` (resolved model and trainer options, versions, seed, ``extra`` provenance),
        ``weights.safetensors`` (network weights and fitted preprocessing), ``history.json``.
        """
        self._check_fitted()
        path = Path(path)
        if path.exists() and not overwrite:
            raise JetaeError("already exists; pass overwrite=True (--overwrite) to replace it", path)
        meta = self.metadata()
        if extra:
            meta["provenance"] = extra
        arrays = self._fitted_arrays()
        # (np.ascontiguousarray would turn 0-d buffers such as num_batches_tracked into shape (1,))
        arrays = {k: np.require(v, requirements="C") for k, v in arrays.items()}
        with atomic_dir(path, overwrite=True) as tmp:
            (tmp / CONFIG_FILE).write_text(json.dumps(meta, indent=2, default=json_value) + "\n")
            save_file(arrays, str(tmp / WEIGHTS_FILE))
            (tmp / HISTORY_FILE).write_text(
                json.dumps(getattr(self, "history_", []), indent=1, default=json_value) + "\n"
            )
        log.info("saved %s model to %s", self.name, path)
        return path

    def _fitted_arrays(self) -> dict[str, np.ndarray]:
        """Every fitted array :meth:`save` writes: the scaler's, the threshold (if fitted) and :meth:`_state_arrays`."""
        arrays = {f"scaler.{k}": v for k, v in self.scaler_.state_arrays().items()}
        if hasattr(self, "threshold_"):
            arrays["threshold"] = np.asarray(self.threshold_, dtype=np.float64)
        arrays.update(self._state_arrays())
        return arrays

    @staticmethod
    def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
        """The ``config.json`` of a saved model, validated."""
        return read_metadata(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Detector":
        """Load a model saved with :meth:`save`; the class is looked up in the registry.

        Only a directory exactly as :meth:`save` writes it is loaded: ``config.json`` with the
        keys jetae writes (``provenance`` optional) and every option in its canonical form and its own
        section (``config`` or ``trainer``), and
        ``weights.safetensors`` with exactly the tensors, shapes and dtypes of that config.
        Anything else (a key or tensor added, removed or reshaped) is refused with a list of the
        differences, so that a tampered or mixed-up model directory cannot go unnoticed.
        """
        path = Path(path)
        meta = cls.read_metadata(path)
        spec = get_model_spec(meta["model"])
        if cls is not Detector and not issubclass(spec.detector_cls, cls):
            raise JetaeError(f"holds a {meta['model']!r} model, not a {cls.name!r}", path)
        for section in ("config", "trainer"):
            if section == "config" or spec.detector_cls.trainer_config_cls is not None:
                if not isinstance(meta.get(section), dict):
                    raise JetaeError(
                        f"not as jetae writes it (tampered?): {section!r} is missing or not a mapping",
                        path / CONFIG_FILE,
                    )
        try:
            # one flat dict: an option in the wrong section is routed to its own here and refused below
            detector = spec.detector_cls({**meta["config"], **(meta.get("trainer") or {})})
        except JetaeError as exc:
            raise JetaeError(f"invalid model config: {exc}", path / CONFIG_FILE) from exc
        check_metadata(meta, detector.metadata(), path)
        weights_path = path / WEIGHTS_FILE
        if not weights_path.exists():
            raise JetaeError(f"model directory has no {WEIGHTS_FILE}", path)
        try:
            arrays = load_file(str(weights_path))
        except (SafetensorError, OSError, ValueError, TypeError) as exc:
            reason = " ".join(str(exc).split())  # one line, whatever the library says
            raise JetaeError(f"damaged weights file (truncated or tampered?): {reason}", weights_path) from exc
        in_file = dict(arrays)
        try:
            detector.input_shape_ = tuple(meta["input_shape"])
            detector.scaler_ = FeatureScaler(detector.config.scaler)
            detector.scaler_.load_state_arrays(
                {
                    key: pop_array(arrays, f"scaler.{key}", detector.input_shape_, np.float32)
                    for key in ("offset", "scale")
                }
            )
            if "threshold" in arrays:
                detector.threshold_ = float(pop_array(arrays, "threshold", (), np.float64))
            detector._load_state_arrays(arrays)
            if arrays:
                raise ValueError(f"unexpected tensor(s) {', '.join(sorted(arrays))}")
            # Safety net for any model: what was loaded must save as exactly the tensors in the file.
            written = detector._fitted_arrays()
            problems = layout_differences(in_file, written)
            if problems:
                raise ValueError("; ".join(problems))
        except (KeyError, RuntimeError, ValueError, TypeError) as exc:
            reason = f"missing tensor {exc}" if isinstance(exc, KeyError) else " ".join(str(exc).split())
            raise JetaeError(f"weights do not match the model config: {reason}", weights_path) from exc
        history_path = path / HISTORY_FILE
        try:
            detector.history_ = json.loads(history_path.read_text()) if history_path.exists() else []
        except json.JSONDecodeError:
            detector.history_ = []
        return detector


def load_model(path: str | os.PathLike) -> Detector:
    """Load any saved jetae model directory."""
    return Detector.load(path)


@functools.cache
def not_fitted_error() -> type[JetaeError]:
    """The error of a detector used before ``fit``: a JetaeError (one line in the CLI) that is also
    scikit-learn's ``NotFittedError``. Made on first use: importing scikit-learn takes about a second."""
    from sklearn.exceptions import NotFittedError

    class DetectorNotFittedError(JetaeError, NotFittedError):
        """A detector used before ``fit``."""

    return DetectorNotFittedError


def _is_labels(values: Any) -> bool:
    """Whether a ``val`` argument is scikit-learn's ``y`` (a 1-d array of labels) rather than validation data."""
    return not isinstance(values, Jets) and np.asarray(values).ndim == 1


def config_fields(config_cls: type) -> list[str]:
    """The option names of a config dataclass, in field order."""
    return [f.name for f in dataclasses.fields(config_cls)]

"""Seed ensembles: one registered model trained with several seeds, scored by the mean of the members' scores.

The seed alone moves the AUC of a neural detector by more than its statistical error (for
``nae`` by up to 0.09, docs/nae.md). An ensemble trains ``members`` copies of ``model`` with
seeds ``seed, seed + 1, ...`` on the same jets and scores a jet by the mean of the members'
scores (a deep ensemble): the spread of a single training run shrinks, at ``members`` times the
training and scoring cost. For energy-based members (``nae``, one temperature T) the mean
energy ranks jets as the product of the members' densities exp(-E_i / T) would.

>>> from jetae.models import create_model
>>> ensemble = create_model("ensemble", model="nae", members=4, options={"epochs": 8})
>>> scores = ensemble.fit(qcd_jets).anomaly_score(test_jets)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from jetae.config import config_to_dict
from jetae.errors import JetaeError
from jetae.models.base import Detector, DetectorConfig
from jetae.models.inputs import JetsOrArray
from jetae.models.registry import create_model, get_model_spec, register

log = logging.getLogger(__name__)


@dataclass
class EnsembleConfig(DetectorConfig):
    """``representation`` and ``scaler`` are the members' (set them in ``options``); the members'
    own ``seed`` is replaced by ``seed + i``."""

    #: Registered model of every member.
    model: str = "conv_ae"
    #: Number of members (training and scoring cost both scale with it).
    members: int = 4
    #: Options of every member, as for the model on its own (``jetae models --options MODEL``).
    options: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.model == "ensemble":
            raise JetaeError("invalid option: an ensemble's model cannot itself be 'ensemble'")
        if self.members < 1:
            raise JetaeError("invalid option: members must be >= 1")
        if "seed" in self.options:
            raise JetaeError(
                "invalid option: options.seed is set by the ensemble (member i trains with seed + i); "
                "set the ensemble's seed instead"
            )
        spec = get_model_spec(self.model)
        try:
            member, _ = spec.detector_cls.resolve_options(self.options)
        except JetaeError as exc:
            raise JetaeError(f"invalid option for the ensemble's {self.model!r} members: {exc.message}") from None
        # the inputs are the members': the ensemble reports (and checks inputs against) their representation
        if self.representation not in (DetectorConfig().representation, member.representation):
            raise JetaeError(
                "invalid option: an ensemble's representation is its members' (set options.representation instead)"
            )
        self.representation = dict(member.representation)
        self.scaler = member.scaler
        super().__post_init__()


@register(
    "ensemble",
    EnsembleConfig,
    "Seed ensemble of any model: mean score of members trained with seeds seed, seed+1, ... (tames the seed spread)",
)
class EnsembleDetector(Detector):
    """Several seeds of one model; ``anomaly_score`` is the mean of the members' scores.

    Fitted state: ``members_`` (the member detectors, member ``i`` trained with seed
    ``seed + i``), ``history_`` (the members' histories, each record tagged ``member``).
    The members share the input scaling: it is fitted on the same training jets.
    """

    benchmark_by_default = False  # it would retrain another zoo model several times

    @property
    def score_names(self) -> tuple[str, ...]:  # type: ignore[override]
        return get_model_spec(self.config.model).detector_cls.score_names

    def sample_negatives(self, n: int, seed: int | None = None) -> np.ndarray | None:
        """The first member's negative samples (the report's figure) for energy-based members, else None."""
        self._check_fitted()
        return self.members_[0].sample_negatives(n, seed)

    def sampler_description(self) -> str:
        """The first member's sampler, or '' when the members cannot sample."""
        self._check_fitted()
        return self.members_[0].sampler_description()

    def member_options(self, index: int) -> dict[str, Any]:
        """The options of member ``index``: ``options`` with the seed ``seed + index``."""
        return dict(self.config.options, seed=self.config.seed + index)

    def select_training_jets(self, train: JetsOrArray) -> JetsOrArray:
        """What the members train on (e.g. ``nae``'s first ``max_train_jets`` jets), cut once here."""
        return create_model(self.config.model, self.member_options(0)).select_training_jets(train)

    def fit(
        self,
        train: JetsOrArray,
        val: JetsOrArray | None = None,
        checkpoint_dir: str | Path | None = None,
        resume: bool = False,
        **fit_params: Any,
    ) -> "EnsembleDetector":
        """Fit every member on the same jets, one after the other. ``checkpoint_dir`` gets one
        sub-directory per member (``member<i>``)."""
        train = self.select_training_jets(train)
        members, history = [], []
        for index in range(self.config.members):
            member = create_model(self.config.model, self.member_options(index))
            log.info(
                "ensemble: member %d of %d (%s, seed %d)",
                index + 1,
                self.config.members,
                self.config.model,
                member.config.seed,
            )
            options = dict(fit_params)
            if checkpoint_dir is not None:
                options.update(checkpoint_dir=Path(checkpoint_dir) / f"member{index}", resume=resume)
            member.fit(train, val, **options)
            members.append(member)
            history.extend(dict(record, member=index) for record in getattr(member, "history_", []))
        self.members_ = members
        self.input_shape_ = members[0].input_shape_
        self.scaler_ = members[0].scaler_
        self.history_ = history
        self.is_global_zero_ = all(member.is_global_zero_ for member in members)
        self.fit_threshold(train)
        return self

    def _member_scores(self, inputs: np.ndarray, score: str) -> np.ndarray:
        return np.stack([np.asarray(member._score(inputs, score), dtype=np.float64) for member in self.members_])

    def _score(self, inputs: np.ndarray, score: str) -> np.ndarray:
        return self._member_scores(inputs, score).mean(axis=0)

    def member_scores(self, data: JetsOrArray, score: str | None = None) -> np.ndarray:
        """``(members, n_jets)`` scores of each member (the ensemble's score is their mean)."""
        return self._member_scores(self.transform(data), self._check_score_name(score))

    # ---------------------------------------------------------------- persistence
    def metadata(self) -> dict[str, Any]:
        """The base metadata plus every member's fully resolved options (``member_configs``: one
        ``{"config": ..., "trainer": ...}`` per member, as in a member's own ``config.json``)."""
        meta = super().metadata()
        detector_cls = get_model_spec(self.config.model).detector_cls
        meta["member_configs"] = []
        for index in range(self.config.members):
            config, trainer = detector_cls.resolve_options(self.member_options(index))
            meta["member_configs"].append(
                {"config": config_to_dict(config), "trainer": None if trainer is None else config_to_dict(trainer)}
            )
        return meta

    def _state_arrays(self) -> dict[str, np.ndarray]:
        return {
            f"member{i}.{key}": value
            for i, member in enumerate(self.members_)
            for key, value in member._state_arrays().items()
        }

    def _load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        members = []
        for index in range(self.config.members):
            prefix = f"member{index}."
            own = {key[len(prefix) :]: arrays.pop(key) for key in list(arrays) if key.startswith(prefix)}
            if not own:
                raise ValueError(f"no weights for ensemble member {index}")
            member = create_model(self.config.model, self.member_options(index))
            member.input_shape_ = self.input_shape_
            member.scaler_ = self.scaler_
            try:
                member._load_state_arrays(own)
            except (KeyError, ValueError) as exc:
                raise ValueError(f"ensemble member {index} ({prefix}*): {exc}") from exc
            if own:
                raise ValueError(f"unexpected tensor(s) {', '.join(prefix + key for key in sorted(own))}")
            members.append(member)
        if arrays:
            raise ValueError(f"unexpected tensor(s) {', '.join(sorted(arrays))} (of no ensemble member)")
        self.members_ = members

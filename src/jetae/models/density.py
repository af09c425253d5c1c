"""Density detectors: score a jet by how improbable it is under the background, not by how badly
it is reconstructed.

Three registered models (issue #18, docs/agnostic.md):

- ``observable_density``: a Gaussian mixture or a normalizing flow (``zuko``'s neural spline
  flow) on the jet mass and the N-subjettiness basis (representation ``observables``); the
  "simple, interpretable" baseline every autoencoder must beat.
- ``latent_density``: an autoencoder of any registered kind, then the same density on its latent
  codes; scores ``latent`` (negative log-density of the code), ``reconstruction`` (the member's
  own score) and ``combined`` (both, as a background-calibrated Fisher combination).
- ``combination``: any list of registered models, each scored as a p-value calibrated on held-out
  background jets, combined by Fisher's method (or the smallest p-value, or Stouffer's z-sum). No
  signal knowledge.

Densities are exact negative log-densities in representation units: the standard scaler's
Jacobian is added back, so a Gaussian toy scores exactly ``-log N(x; mu, Sigma)``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import logsumexp, ndtri

from jetae.errors import JetaeError
from jetae.jets import Jets
from jetae.models.base import Detector, DetectorConfig
from jetae.models.inputs import JetsOrArray
from jetae.models.persistence import pop_array
from jetae.models.registry import create_model, get_model_spec, register
from jetae.models.scaling import FeatureScaler

log = logging.getLogger(__name__)

ESTIMATORS = ("gmm", "flow")


# -------------------------------------------------------------------- density estimators
@dataclass
class DensityOptions:
    """Options of the density estimator (shared by ``observable_density`` and ``latent_density``)."""

    #: ``gmm`` (scikit-learn Gaussian mixture, full covariances) or ``flow`` (zuko neural spline flow).
    estimator: str = "gmm"
    #: Mixture components (gmm; 40 gave the best zoo median of 10/20/40, docs/agnostic.md).
    n_components: int = 40
    #: Spline transforms and hidden width of the flow; its training epochs, batch size, learning rate.
    flow_transforms: int = 4
    flow_hidden: int = 64
    flow_epochs: int = 20
    flow_batch_size: int = 512
    flow_lr: float = 1.0e-3

    def check_density_options(self) -> None:
        if self.estimator not in ESTIMATORS:
            raise JetaeError(
                f"invalid option: estimator must be one of {', '.join(ESTIMATORS)}, got {self.estimator!r}"
            )
        for name in ("n_components", "flow_transforms", "flow_hidden", "flow_epochs", "flow_batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise JetaeError(f"invalid option: {name} must be a positive integer, got {value!r}")
        if not (isinstance(self.flow_lr, (int, float)) and np.isfinite(self.flow_lr) and self.flow_lr > 0):
            raise JetaeError(f"invalid option: flow_lr must be a positive number, got {self.flow_lr!r}")


class GaussianMixtureDensity:
    """Full-covariance Gaussian mixture; ``log_prob`` evaluated in numpy from the stored parameters."""

    def __init__(self, options: DensityOptions, dim: int):
        self.options, self.dim = options, dim

    def fit(self, x: np.ndarray, seed: int) -> None:
        from sklearn.mixture import GaussianMixture

        k = min(self.options.n_components, len(x))
        mixture = GaussianMixture(k, covariance_type="full", reg_covar=1e-4, max_iter=300, random_state=seed).fit(x)
        self.weights_ = mixture.weights_.astype(np.float64)
        self.means_ = mixture.means_.astype(np.float64)
        self.covariances_ = mixture.covariances_.astype(np.float64)
        if k < self.options.n_components:  # pad with weightless components: fixed tensor shapes
            pad = self.options.n_components - k
            self.weights_ = np.r_[self.weights_, np.zeros(pad)]
            self.means_ = np.r_[self.means_, np.zeros((pad, self.dim))]
            self.covariances_ = np.r_[self.covariances_, np.broadcast_to(np.eye(self.dim), (pad, self.dim, self.dim))]

    def log_prob(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        cholesky = np.linalg.cholesky(self.covariances_)  # (k, d, d)
        log_det = 2.0 * np.log(np.diagonal(cholesky, axis1=1, axis2=2)).sum(axis=1)
        centred = x[None, :, :] - self.means_[:, None, :]  # (k, n, d)
        solved = np.linalg.solve(cholesky, centred.transpose(0, 2, 1))  # (k, d, n)
        mahalanobis = (solved**2).sum(axis=1)  # (k, n)
        with np.errstate(divide="ignore"):
            log_weights = np.log(self.weights_)
        per_component = log_weights[:, None] - 0.5 * (mahalanobis + log_det[:, None] + self.dim * np.log(2 * np.pi))
        return logsumexp(per_component, axis=0)

    def state_arrays(self) -> dict[str, np.ndarray]:
        return {"weights": self.weights_, "means": self.means_, "covariances": self.covariances_}

    def load_state_arrays(self, arrays: dict[str, np.ndarray], prefix: str) -> None:
        k, d = self.options.n_components, self.dim
        self.weights_ = pop_array(arrays, f"{prefix}weights", (k,), np.float64)
        self.means_ = pop_array(arrays, f"{prefix}means", (k, d), np.float64)
        self.covariances_ = pop_array(arrays, f"{prefix}covariances", (k, d, d), np.float64)


class FlowDensity:
    """Neural spline flow (``zuko.flows.NSF``) trained by maximum likelihood with a cosine-decayed Adam."""

    def __init__(self, options: DensityOptions, dim: int):
        self.options, self.dim = options, dim
        import torch
        import zuko

        self._torch = torch
        self.flow_ = zuko.flows.NSF(
            dim, transforms=options.flow_transforms, hidden_features=(options.flow_hidden, options.flow_hidden)
        )

    def fit(self, x: np.ndarray, seed: int) -> None:
        torch = self._torch
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        data = torch.from_numpy(np.asarray(x, dtype=np.float32))
        batch = min(self.options.flow_batch_size, len(data))
        steps_per_epoch = max(len(data) // batch, 1)
        optimizer = torch.optim.Adam(self.flow_.parameters(), lr=self.options.flow_lr)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, self.options.flow_epochs * steps_per_epoch)
        self.history_ = []
        for epoch in range(self.options.flow_epochs):
            order = torch.randperm(len(data), generator=generator)
            total = 0.0
            for step in range(steps_per_epoch):
                loss = -self.flow_().log_prob(data[order[step * batch : (step + 1) * batch]]).mean()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                schedule.step()
                total += loss.item()
            self.history_.append({"epoch": epoch + 1, "nll": total / steps_per_epoch})
            log.info("flow epoch %d/%d: nll %.4f", epoch + 1, self.options.flow_epochs, total / steps_per_epoch)

    def log_prob(self, x: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.no_grad():
            values = [
                self.flow_().log_prob(torch.from_numpy(np.asarray(chunk, dtype=np.float32))).double().numpy()
                for chunk in np.array_split(x, max(len(x) // 8192, 1))
            ]
        return np.concatenate(values)

    def state_arrays(self) -> dict[str, np.ndarray]:
        return {key: value.detach().cpu().numpy() for key, value in self.flow_.state_dict().items()}

    def load_state_arrays(self, arrays: dict[str, np.ndarray], prefix: str) -> None:
        torch = self._torch
        state = {}
        for key, value in self.flow_.state_dict().items():
            stored = pop_array(arrays, f"{prefix}{key}", tuple(value.shape), value.detach().cpu().numpy().dtype)
            state[key] = torch.from_numpy(np.array(stored))
        self.flow_.load_state_dict(state)


def make_density(options: DensityOptions, dim: int) -> GaussianMixtureDensity | FlowDensity:
    return GaussianMixtureDensity(options, dim) if options.estimator == "gmm" else FlowDensity(options, dim)


def _standardize(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    offset = x.mean(axis=0)
    std = x.std(axis=0)
    return offset, np.where(std > 1e-8, std, 1.0)


# -------------------------------------------------------------------- background calibration
def p_values(reference: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Upper-tail p-values of ``scores`` against sorted background ``reference`` scores:
    ``(1 + #{reference >= s}) / (1 + n_reference)``, in ``(0, 1]``."""
    above = len(reference) - np.searchsorted(reference, scores, side="left")
    return (1.0 + above) / (1.0 + len(reference))


def combine_p_values(
    p: np.ndarray, method: str, n_reference: int | None = None, z_floor: float | None = None
) -> np.ndarray:
    """Combined anomaly score of ``(n_scores, n_jets)`` p-values, higher = more anomalous.

    ``fisher``: ``-sum log p`` (one very small p-value can carry a jet); ``min_p``: ``-log min p``;
    ``stouffer``: ``sum z / sqrt(n_scores)`` with ``z = Phi^-1(1 - p)``, the one-sided normal
    quantile (consistent moderate evidence in every score adds up). Stouffer needs
    ``n_reference``, the number of background scores behind each p-value: p-values of
    :func:`p_values` lie in ``[1 / (n + 1), 1]``, and are shifted by half a step (mid-p) to the
    symmetric ``[0.5 / (n + 1), 1 - 0.5 / (n + 1)]``, so that a jet below every reference score gets
    a finite ``z``, as far below zero as one above every reference score is above it.
    ``z_floor`` (Stouffer only, e.g. ``-1.645``): each ``z`` is raised to at least this value, so a
    score that finds a jet *more* typical than ``Phi(-z_floor)`` of the background (reconstructed
    unusually well, say) cannot pull the sum down further.
    """
    if z_floor is not None and method != "stouffer":
        raise ValueError(f"z_floor applies to the stouffer method, not {method!r}")
    if method == "fisher":
        return -np.log(p).sum(axis=0)
    if method == "stouffer":
        if n_reference is None:
            raise ValueError("the stouffer method needs n_reference")
        z = ndtri(1.0 - (p - 0.5 / (n_reference + 1.0)))
        if z_floor is not None:
            z = np.maximum(z, z_floor)
        return z.sum(axis=0) / np.sqrt(len(p))
    return -np.log(p.min(axis=0))


# -------------------------------------------------------------------- observable_density
@dataclass
class ObservableDensityConfig(DensityOptions, DetectorConfig):
    representation: dict = field(default_factory=lambda: {"kind": "observables"})
    scaler: str = "standard"

    def __post_init__(self) -> None:
        DetectorConfig.__post_init__(self)
        self.check_density_options()


@register(
    "observable_density",
    ObservableDensityConfig,
    "Gaussian mixture or normalizing flow on jet mass + N-subjettiness; score -log p(x)",
)
class ObservableDensityDetector(Detector):
    """Negative log-density of the background at a jet's inputs (by default mass and N-subjettiness).

    Fitted state: ``density_`` (:class:`GaussianMixtureDensity` or :class:`FlowDensity`) on the
    scaled inputs; the score adds the scaler's log-Jacobian back (exact density in input units).
    """

    score_names = ("density",)

    def _check_flat(self, shape: tuple[int, ...]) -> int:
        if len(shape) != 1:
            raise JetaeError(f"model {self.name!r} needs flat feature vectors, got inputs of shape {shape}")
        return int(shape[0])

    def _fit(self, train_inputs: np.ndarray, val_inputs: np.ndarray | None, **kwargs: Any) -> None:
        dim = self._check_flat(self.input_shape_)
        self.density_ = make_density(self.config, dim)
        self.density_.fit(train_inputs.astype(np.float64), self.config.seed)
        self.history_ = list(getattr(self.density_, "history_", []))

    def _score(self, inputs: np.ndarray, score: str) -> np.ndarray:
        log_jacobian = float(np.log(self.scaler_.scale_.astype(np.float64)).sum())
        return -(self.density_.log_prob(inputs.astype(np.float64)) - log_jacobian)

    def _state_arrays(self) -> dict[str, np.ndarray]:
        return {f"density.{k}": v for k, v in self.density_.state_arrays().items()}

    def _load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.density_ = make_density(self.config, self._check_flat(self.input_shape_))
        self.density_.load_state_arrays(arrays, "density.")


# -------------------------------------------------------------------- latent_density
@dataclass
class LatentDensityConfig(DensityOptions, DetectorConfig):
    """``representation`` and ``scaler`` are the autoencoder's (set them in ``options``)."""

    #: Registered model with a latent space (``jetae models``), trained first.
    model: str = "dense_ae"
    #: Its options, as for the model on its own.
    options: dict = field(default_factory=dict)
    n_components: int = 8

    def __post_init__(self) -> None:
        if self.model in ("latent_density", "combination", "ensemble"):
            raise JetaeError(f"invalid option: latent_density's model cannot be {self.model!r}")
        spec = get_model_spec(self.model)
        if "seed" in self.options:
            raise JetaeError("invalid option: options.seed is set from the latent_density's seed")
        try:
            member, _ = spec.detector_cls.resolve_options(dict(self.options, seed=self.seed))
        except JetaeError as exc:
            raise JetaeError(f"invalid option for latent_density's {self.model!r}: {exc.message}") from None
        self.representation = dict(member.representation)
        self.scaler = member.scaler
        DetectorConfig.__post_init__(self)
        self.check_density_options()


@register(
    "latent_density",
    LatentDensityConfig,
    "Any autoencoder, then a density on its latent codes; scores latent, reconstruction, combined",
)
class LatentDensityDetector(Detector):
    """An autoencoder (``autoencoder_``) and a density (``density_``) on its standardized latent codes.

    ``combined``: Fisher combination of the reconstruction and latent p-values, calibrated on the
    training jets (``reference_``: their sorted scores).
    """

    score_names = ("combined", "latent", "reconstruction")
    benchmark_by_default = False

    def fit(self, train: JetsOrArray, val: JetsOrArray | None = None, **fit_params: Any) -> "LatentDensityDetector":
        autoencoder = create_model(self.config.model, dict(self.config.options, seed=self.config.seed))
        autoencoder.fit(train, val, **fit_params)
        self.autoencoder_ = autoencoder
        self.input_shape_, self.scaler_ = autoencoder.input_shape_, autoencoder.scaler_
        inputs = autoencoder.transform(train)
        codes = np.asarray(autoencoder._encode(inputs), dtype=np.float64)
        self.code_offset_, self.code_scale_ = _standardize(codes)
        self.density_ = make_density(self.config, codes.shape[1])
        self.density_.fit((codes - self.code_offset_) / self.code_scale_, self.config.seed)
        self.reference_ = np.stack([np.sort(self._raw_scores(inputs)[k]) for k in (0, 1)])
        self.history_ = list(getattr(autoencoder, "history_", [])) + list(getattr(self.density_, "history_", []))
        self.is_global_zero_ = autoencoder.is_global_zero_
        return self

    def _raw_scores(self, inputs: np.ndarray) -> np.ndarray:
        """``(2, n)``: reconstruction score, latent negative log-density."""
        codes = np.asarray(self.autoencoder_._encode(inputs), dtype=np.float64)
        latent = -self.density_.log_prob((codes - self.code_offset_) / self.code_scale_)
        reconstruction = np.asarray(self.autoencoder_._score(inputs, self.autoencoder_.score_names[0]), np.float64)
        return np.stack([reconstruction, latent])

    def _score(self, inputs: np.ndarray, score: str) -> np.ndarray:
        raw = self._raw_scores(inputs)
        if score == "reconstruction":
            return raw[0]
        if score == "latent":
            return raw[1]
        p = np.stack([p_values(self.reference_[k], raw[k]) for k in (0, 1)])
        return combine_p_values(p, "fisher")

    def _encode(self, inputs: np.ndarray) -> np.ndarray:
        return self.autoencoder_._encode(inputs)

    def _state_arrays(self) -> dict[str, np.ndarray]:
        arrays = {f"autoencoder.{k}": v for k, v in self.autoencoder_._state_arrays().items()}
        arrays.update({f"density.{k}": v for k, v in self.density_.state_arrays().items()})
        arrays.update(code_offset=self.code_offset_, code_scale=self.code_scale_, reference=self.reference_)
        return arrays

    def _load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        autoencoder = create_model(self.config.model, dict(self.config.options, seed=self.config.seed))
        autoencoder.input_shape_, autoencoder.scaler_ = self.input_shape_, self.scaler_
        own = {k[len("autoencoder.") :]: arrays.pop(k) for k in list(arrays) if k.startswith("autoencoder.")}
        autoencoder._load_state_arrays(own)
        if own:
            raise ValueError(f"unexpected tensor(s) {', '.join('autoencoder.' + k for k in sorted(own))}")
        self.autoencoder_ = autoencoder
        latent_dim = int(arrays["code_offset"].shape[0]) if "code_offset" in arrays else 0
        self.code_offset_ = pop_array(arrays, "code_offset", (latent_dim,), np.float64)
        self.code_scale_ = pop_array(arrays, "code_scale", (latent_dim,), np.float64)
        self.reference_ = pop_array(arrays, "reference", (2, arrays["reference"].shape[1]), np.float64)
        self.density_ = make_density(self.config, latent_dim)
        self.density_.load_state_arrays(arrays, "density.")


# -------------------------------------------------------------------- combination
COMBINATION_METHODS = ("fisher", "min_p", "stouffer")


#: The default floor under Stouffer's rule: a view's 5 % lower tail (docs/agnostic.md).
STOUFFER_Z_FLOOR = -1.645


def _default_members() -> list:
    # configs/agnostic.yaml, the recommended detector (docs/agnostic.md)
    return [{"model": "conv_ae", "options": {"epochs": 10}}, {"model": "observable_density"}]


@dataclass
class CombinationConfig(DetectorConfig):
    """Each member: ``{"model": NAME, "options": {...}, "score": SCORE}`` (options and score optional)."""

    representation: dict = field(default_factory=lambda: {"kind": "observables", "n_max": 1})
    #: The member models (each trained on the same background jets with the combination's seed).
    members: list = field(default_factory=_default_members)
    #: ``fisher`` (-sum log p), ``min_p`` (-log of the smallest p-value) or ``stouffer`` (sum of the
    #: p-values' normal quantiles / sqrt(members)): see :func:`combine_p_values`.
    method: str = "stouffer"
    #: Stouffer only (the other methods ignore it, so that switching the method alone always works): the
    #: lowest normal quantile a member contributes (-1.645: a member that finds a jet more typical than
    #: 95 % of the background counts as if at that 5 % quantile); None: no floor.
    z_floor: float | None = STOUFFER_Z_FLOOR
    #: Fraction of the training jets held out to calibrate the members' p-values.
    calibration_fraction: float = 0.2

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.method not in COMBINATION_METHODS:
            raise JetaeError(f"invalid option: method must be one of {', '.join(COMBINATION_METHODS)}")
        if self.z_floor is not None:
            if isinstance(self.z_floor, bool) or not isinstance(self.z_floor, (int, float)) or not self.z_floor <= 0:
                raise JetaeError(f"invalid option: z_floor must be a number <= 0 or null, got {self.z_floor!r}")
            self.z_floor = float(self.z_floor)
        if not (isinstance(self.calibration_fraction, float) and 0.01 <= self.calibration_fraction <= 0.5):
            raise JetaeError(
                f"invalid option: calibration_fraction must be in [0.01, 0.5], got {self.calibration_fraction!r}"
            )
        if not isinstance(self.members, list) or len(self.members) < 1:
            raise JetaeError("invalid option: members must be a non-empty list of {model, options, score}")
        members = []
        for index, member in enumerate(self.members):
            if isinstance(member, str):
                member = {"model": member}
            if not isinstance(member, dict) or "model" not in member or set(member) - {"model", "options", "score"}:
                raise JetaeError(f"invalid option: member {index} must be a mapping with model, options, score")
            if member["model"] in ("combination", "ensemble"):
                raise JetaeError(f"invalid option: member {index} cannot be a {member['model']!r}")
            spec = get_model_spec(member["model"])
            options = dict(member.get("options") or {})
            if "seed" in options:
                raise JetaeError(f"invalid option: member {index} options.seed is set from the combination's seed")
            try:
                spec.detector_cls.resolve_options(options)
            except JetaeError as exc:
                raise JetaeError(f"invalid option for member {index} ({member['model']}): {exc.message}") from None
            score = member.get("score") or spec.detector_cls.score_names[0]
            if score not in spec.detector_cls.score_names:
                raise JetaeError(f"invalid option: member {index} ({member['model']}) has no score {score!r}")
            members.append({"model": member["model"], "options": options, "score": score})
        self.members = members


@register(
    "combination",
    CombinationConfig,
    "Any models combined without signal knowledge: p-values calibrated on held-out background, Fisher or Stouffer",
)
class CombinationDetector(Detector):
    """Members trained on the same background, each score turned into a background p-value.

    Fitted state: ``members_`` (fitted detectors), ``reference_`` (list of sorted member scores on
    the held-out calibration jets). A jet's score: ``-sum_i log p_i`` (Fisher), ``-log min_i p_i`` or
    Stouffer's ``sum_i z_i / sqrt(n)``, optionally with every ``z_i`` floored at ``z_floor``
    (:func:`combine_p_values`).
    Needs jets (or a ``(n_jets, n_constituents, 4)`` constituent array), since members may use
    different representations.
    """

    score_names = ("combined",)
    benchmark_by_default = False

    @staticmethod
    def _jets(data: JetsOrArray) -> Jets:
        if isinstance(data, Jets):
            return data
        array = np.asarray(data)
        if array.ndim != 3 or array.shape[2] != 4:
            raise JetaeError(f"combination needs jets or a (n_jets, n_constituents, 4) array, got {array.shape}")
        return Jets.from_constituents(array)

    def _member(self, index: int) -> Detector:
        member = self.config.members[index]
        return create_model(member["model"], dict(member["options"], seed=self.config.seed))

    def fit(self, train: JetsOrArray, val: JetsOrArray | None = None, **fit_params: Any) -> "CombinationDetector":
        jets = self._jets(train)
        order = np.random.default_rng(self.config.seed).permutation(len(jets))
        n_calibration = max(int(round(self.config.calibration_fraction * len(jets))), 1)
        if len(jets) - n_calibration < 2:
            raise JetaeError(f"combination needs more training jets than {len(jets)}", jets.source)
        calibration, training = jets[np.sort(order[:n_calibration])], jets[np.sort(order[n_calibration:])]
        self.members_, self.reference_, self.history_ = [], [], []
        for index, spec in enumerate(self.config.members):
            log.info("combination: member %d of %d (%s)", index + 1, len(self.config.members), spec["model"])
            member = self._member(index).fit(training, val)
            self.members_.append(member)
            self.reference_.append(np.sort(member.anomaly_score(calibration, spec["score"])))
            self.history_.extend(dict(record, member=index) for record in getattr(member, "history_", []))
        self.scaler_ = FeatureScaler("none").fit(np.zeros((1, 1), np.float32))
        self.input_shape_ = (1,)
        return self

    def member_p_values(self, data: JetsOrArray) -> np.ndarray:
        """``(n_members, n_jets)`` background p-values of each member's score."""
        self._check_fitted()
        jets = self._jets(data)
        return np.stack(
            [
                p_values(reference, member.anomaly_score(jets, spec["score"]))
                for member, reference, spec in zip(self.members_, self.reference_, self.config.members)
            ]
        )

    def anomaly_score(self, data: JetsOrArray, score: str | None = None) -> np.ndarray:
        self._check_score_name(score)
        n_reference = len(self.reference_[0])  # the same calibration jets for every member
        z_floor = self.config.z_floor if self.config.method == "stouffer" else None
        return combine_p_values(self.member_p_values(data), self.config.method, n_reference, z_floor)

    # A combination has no inputs of its own (its representation is a placeholder), so these say
    # what is missing rather than failing on the placeholder's shape.
    def reconstruct(self, data: JetsOrArray) -> tuple[np.ndarray, np.ndarray]:
        raise JetaeError(f"model {self.name!r} has no reconstruction (its members have their own)")

    def encode(self, data: JetsOrArray) -> np.ndarray:
        raise JetaeError(f"model {self.name!r} has no latent space (its members have their own)")

    def _state_arrays(self) -> dict[str, np.ndarray]:
        arrays: dict[str, np.ndarray] = {}
        for index, member in enumerate(self.members_):
            prefix = f"member{index}."
            arrays[prefix + "input_shape"] = np.asarray(member.input_shape_, dtype=np.int64)
            arrays.update({f"{prefix}scaler.{k}": v for k, v in member.scaler_.state_arrays().items()})
            arrays.update({prefix + k: v for k, v in member._state_arrays().items()})
            arrays[prefix + "reference"] = self.reference_[index].astype(np.float64)
        return arrays

    def _load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.members_, self.reference_ = [], []
        for index in range(len(self.config.members)):
            prefix = f"member{index}."
            own = {key[len(prefix) :]: arrays.pop(key) for key in list(arrays) if key.startswith(prefix)}
            if "input_shape" not in own:
                raise ValueError(f"no tensors for combination member {index}")
            shape = own.pop("input_shape")
            if shape.dtype != np.int64 or shape.ndim != 1:
                raise ValueError(f"tensor {prefix}input_shape is not a 1-d int64 shape")
            member = self._member(index)
            member.input_shape_ = tuple(int(s) for s in shape)
            member.scaler_ = FeatureScaler(member.config.scaler)
            member.scaler_.load_state_arrays(
                {k: pop_array(own, f"scaler.{k}", member.input_shape_, np.float32) for k in ("offset", "scale")}
            )
            reference = own.pop("reference", None)
            if reference is None or reference.ndim != 1 or reference.dtype != np.float64:
                raise ValueError(f"missing or malformed tensor {prefix}reference")
            member._load_state_arrays(own)
            if own:
                raise ValueError(f"unexpected tensor(s) {', '.join(prefix + k for k in sorted(own))}")
            self.members_.append(member)
            self.reference_.append(reference)
        if arrays:
            raise ValueError(f"unexpected tensor(s) {', '.join(sorted(arrays))} (of no combination member)")

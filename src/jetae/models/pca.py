"""PCA baseline: a linear autoencoder solved in closed form (fitted with scikit-learn's ``PCA``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
from sklearn.decomposition import PCA

from jetae.errors import JetaeError
from jetae.models.base import Detector, DetectorConfig
from jetae.models.persistence import pop_array
from jetae.models.registry import register

log = logging.getLogger(__name__)


@dataclass
class PCAConfig(DetectorConfig):
    representation: dict = field(default_factory=lambda: {"kind": "image"})
    scaler: str = "global"
    #: Number of principal components kept (the code size of the linear autoencoder).
    n_components: int = 10

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n_components < 1:
            raise JetaeError("invalid option: n_components must be >= 1")


@register("pca", PCAConfig, "PCA baseline: squared error after projecting onto the top-k principal components")
class PCADetector(Detector):
    """Linear autoencoder: reconstruction from the top-k principal components."""

    def _fit(self, train_inputs: np.ndarray, val_inputs: np.ndarray | None, **kwargs) -> None:
        flat = train_inputs.reshape(len(train_inputs), -1).astype(np.float64)
        k = self.config.n_components
        if k > min(flat.shape):
            raise JetaeError(f"n_components={k} exceeds min(n_samples, n_features) = {min(flat.shape)}")
        # covariance_eigh: eigenvectors of the (n_features x n_features) covariance, exact and cheap for
        # jet-image sizes (n_samples >> n_features); "auto" would pick the approximate randomized solver.
        with np.errstate(invalid="ignore", divide="ignore"):  # constant inputs: variance ratio 0 / 0, handled below
            pca = PCA(n_components=k, svd_solver="covariance_eigh").fit(flat)
        self.mean_ = pca.mean_.astype(np.float32)
        self.components_ = pca.components_.astype(np.float32)
        self.explained_variance_ = pca.explained_variance_.astype(np.float32)
        ratio = pca.explained_variance_ratio_
        fraction = float(ratio.sum()) if np.isfinite(ratio).all() else 1.0  # constant inputs: 0 / 0
        log.info("PCA: %d components explain %.1f%% of the variance", k, 100 * fraction)
        self.history_ = [{"explained_variance_fraction": fraction}]

    def _project(self, inputs: np.ndarray) -> np.ndarray:
        flat = inputs.reshape(len(inputs), -1) - self.mean_
        return flat @ self.components_.T

    def _reconstruct(self, inputs: np.ndarray) -> np.ndarray:
        return (self._project(inputs) @ self.components_ + self.mean_).reshape(inputs.shape).astype(np.float32)

    def _score(self, inputs: np.ndarray, score: str) -> np.ndarray:
        # float64 einsum on C-ordered copies: a jet's score must not depend on the other jets of the batch,
        # nor on the memory layout (scikit-learn's components are Fortran-ordered, loaded ones C-ordered);
        # float32 BLAS products change in the last bit with both
        flat = np.ascontiguousarray(inputs.reshape(len(inputs), -1), dtype=np.float64) - self.mean_
        components = np.ascontiguousarray(self.components_, dtype=np.float64)
        residual = flat - np.einsum("nk,kf->nf", np.einsum("nf,kf->nk", flat, components), components)
        return np.mean(residual**2, axis=1)

    def _encode(self, inputs: np.ndarray) -> np.ndarray:
        return self._project(inputs).astype(np.float32)

    def _state_arrays(self) -> dict[str, np.ndarray]:
        return {"mean": self.mean_, "components": self.components_, "explained_variance": self.explained_variance_}

    def _load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        n_features, k = int(np.prod(self.input_shape_)), self.config.n_components
        self.mean_ = pop_array(arrays, "mean", (n_features,), np.float32)
        self.components_ = pop_array(arrays, "components", (k, n_features), np.float32)
        self.explained_variance_ = pop_array(arrays, "explained_variance", (k,), np.float32)

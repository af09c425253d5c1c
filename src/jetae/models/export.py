"""ONNX export of a fitted detector: one graph from raw constituents to one anomaly score per jet.

The graph (:func:`export_onnx`, ``jetae export RUN --out model.onnx``) takes

``constituents``
    float32 ``(n_jets, n_constituents, 4)``, columns ``(E, px, py, pz)`` in GeV, all-zero rows =
    padding: the reference layout's order, what :func:`jetae.io.read_jets` returns as
    ``Jets.constituents``. Both axes are dynamic.

and returns ``score``, float32 ``(n_jets,)``, higher = more anomalous: the detector's
``anomaly_score`` for the chosen score name. Inside are the three parts ``jetae score`` runs:

1. the representation (:mod:`jetae.models.torch_representation`: image making with the
   centring / rotation / flip / pixelisation of :mod:`jetae.features.images`, or the pT-ordered
   constituent features), in float64 as in numpy;
2. the fitted input scaling (:class:`~jetae.models.scaling.FeatureScaler`);
3. the network and its score (the detector's own ``score_batch``: reconstruction error, ELBO, KL,
   Mahalanobis distance of the code, set distances, ...), or the PCA projection; an ensemble
   averages its members' scores.

With ``inputs="representation"`` the graph starts after step 1 (input ``inputs``, float32
``(n_jets, *input_shape)``, what :func:`jetae.features.make_representation` returns), for
toolchains that compute the representation elsewhere (see docs/export.md).

Every fitted detector whose score is a forward pass is exported: ``pca``, the torch detectors
(all autoencoders, VAEs, NAE, constituent autoencoders) and ensembles of them. onnx and
onnxruntime (the ``onnx`` extra) are imported only here, when needed.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import io
import json
import logging
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from torch import nn

from jetae import __version__
from jetae.errors import JetaeError
from jetae.features import make_representation
from jetae.io.atomic import atomic_path
from jetae.models.base import Detector
from jetae.models.ensemble import EnsembleDetector
from jetae.models.pca import PCADetector
from jetae.models.torch_base import TorchDetector
from jetae.models.torch_representation import representation_module
from jetae.train.device import resolve_precision

log = logging.getLogger(__name__)

#: Where the graph starts: raw constituents, or the representation's (unscaled) model inputs.
INPUT_KINDS = ("constituents", "representation")
#: ONNX opset of the exported graph (ScatterElements with add-reduction needs >= 16).
DEFAULT_OPSET = 17
#: Relative tolerance of :func:`score_agreement` and of the check :func:`export_onnx` runs.
RELATIVE_TOLERANCE = 1e-3


def require_onnx() -> tuple[Any, Any]:
    """``(onnx, onnxruntime)``, or a JetaeError saying how to install them (the ``onnx`` extra)."""
    modules = []
    for name in ("onnx", "onnxruntime"):
        try:
            modules.append(importlib.import_module(name))
        except ImportError:
            raise JetaeError(f"ONNX export needs the Python package {name!r}: pip install 'jetae[onnx]'") from None
    return modules[0], modules[1]


# ==================================================================== the torch module that is exported
class JetScorer(nn.Module):
    """``score(scale(representation(x)))``: ``(n_jets, ...)`` float32 -> ``(n_jets,)`` float32 scores.

    ``representation`` is None when the inputs are already the representation.
    """

    def __init__(self, representation: nn.Module | None, offset: np.ndarray, scale: np.ndarray, score: nn.Module):
        super().__init__()
        self.representation = representation
        self.register_buffer("offset", torch.from_numpy(np.asarray(offset, dtype=np.float32).copy()))
        self.register_buffer("scale", torch.from_numpy(np.asarray(scale, dtype=np.float32).copy()))
        self.score = score

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if self.representation is not None:
            inputs = self.representation(inputs)
        return self.score((inputs - self.offset) / self.scale)


class NetworkScore(nn.Module):
    """A torch detector's ``score_batch(network, inputs, score)`` on a CPU copy of its network."""

    def __init__(self, detector: TorchDetector, score: str):
        super().__init__()
        network = copy.deepcopy(detector.network_).cpu().eval()
        self.network = network.to(memory_format=torch.contiguous_format)
        self.detector = detector  # not a Module: a plain attribute, its tensors become constants
        self.score_name = score

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.detector.score_batch(self.network, inputs, self.score_name).float()


class PCAScore(nn.Module):
    """Mean squared error of the reconstruction from the top-k principal components."""

    def __init__(self, detector: PCADetector):
        super().__init__()
        self.register_buffer("mean", torch.from_numpy(detector.mean_.copy()))
        self.register_buffer("components", torch.from_numpy(detector.components_.copy()))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        flat = inputs.flatten(1)
        reconstruction = ((flat - self.mean) @ self.components.t()) @ self.components + self.mean
        return (flat - reconstruction).square().mean(dim=1)


class MeanScore(nn.Module):
    """The mean of the members' scores (an ensemble)."""

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return torch.stack([member(inputs) for member in self.members], dim=0).mean(dim=0)


def has_onnx_version(detector_cls: type) -> bool:
    """Whether the score of detectors of this class is a forward pass with an ONNX version (an ensemble's:
    if its members' is)."""
    return issubclass(detector_cls, (EnsembleDetector, PCADetector, TorchDetector))


def score_module(detector: Detector, score: str) -> nn.Module:
    """The torch module computing ``detector``'s score ``score`` from scaled inputs; a JetaeError saying why
    for a detector whose score is not a forward pass that can be exported."""
    if isinstance(detector, EnsembleDetector):
        return MeanScore([score_module(member, score) for member in detector.members_])
    if isinstance(detector, PCADetector):
        return PCAScore(detector)
    if isinstance(detector, TorchDetector):
        return NetworkScore(detector, score)
    raise JetaeError(
        f"model {detector.name!r} cannot be exported to ONNX: its score is not a forward pass of a torch "
        "network or of PCA (only those have an ONNX version)"
    )


def scoring_module(detector: Detector, score: str | None = None, inputs: str = "constituents") -> JetScorer:
    """The torch module that :func:`export_onnx` exports (also usable as it is, e.g. ``torch.compile``).

    Parameters
    ----------
    detector:
        A fitted detector.
    score:
        One of ``detector.score_names`` (default: the first, as ``anomaly_score``).
    inputs:
        ``constituents`` (raw ``(n_jets, n_constituents, 4)``, GeV) or ``representation``
        (the unscaled model inputs ``(n_jets, *detector.input_shape_)``).
    """
    detector._check_fitted()
    score = detector._check_score_name(score)
    if inputs not in INPUT_KINDS:
        raise JetaeError(f"inputs must be one of {', '.join(INPUT_KINDS)}, got {inputs!r}")
    scorer = score_module(detector, score)  # first: a detector that has no ONNX version says so
    representation = None
    if inputs == "constituents":
        spec = detector.config.representation
        shape = tuple(make_representation(np.zeros((1, 1, 4), np.float32), spec).shape[1:])
        if shape != tuple(detector.input_shape_):
            raise JetaeError(
                f"model {detector.name!r} cannot be exported from constituents: it was trained on inputs of shape "
                f"{tuple(detector.input_shape_)}, not on its representation {spec} (shape {shape}); export it "
                "from its inputs instead (--from representation)"
            )
        try:
            representation = representation_module(spec)
        except JetaeError as exc:
            raise JetaeError(f"model {detector.name!r} cannot be exported from constituents: {exc}") from None
    trainer = detector.trainer_config
    if trainer is not None and resolve_precision(trainer.precision, "cpu").startswith("bf16"):
        log.warning(
            "model %r scores with bf16 autocast (precision=%s); the ONNX graph computes in float32",
            detector.name,
            trainer.precision,
        )
    module = JetScorer(representation, detector.scaler_.offset_, detector.scaler_.scale_, scorer)
    return module.eval()


# ==================================================================== export
def example_jets(n_jets: int, n_constituents: int, seed: int = 0) -> np.ndarray:
    """``(n_jets, n_constituents, 4)`` float32 massless toy constituents in GeV (pT-ordered, the last
    slots of every other jet padding): inputs to trace and check an export with."""
    rng = np.random.default_rng(seed)
    eta = rng.normal(0.0, 0.3, (n_jets, 1)) + rng.normal(0.0, 0.15, (n_jets, n_constituents))
    phi = rng.uniform(-np.pi, np.pi, (n_jets, 1)) + rng.normal(0.0, 0.15, (n_jets, n_constituents))
    pt = 500.0 * np.sort(rng.dirichlet(np.full(n_constituents, 0.7), n_jets), axis=1)[:, ::-1]
    p4 = np.stack([pt * np.cosh(eta), pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)], axis=-1)
    p4[::2, n_constituents // 2 :] = 0.0
    return p4.astype(np.float32)


def _example_inputs(module: JetScorer, detector: Detector, n_jets: int, seed: int) -> np.ndarray:
    jets = example_jets(n_jets, 24, seed)
    if module.representation is not None:
        return jets
    spec = detector.config.representation
    inputs = make_representation(jets, spec)
    if tuple(inputs.shape[1:]) == tuple(detector.input_shape_):
        return inputs
    return np.random.default_rng(seed).normal(size=(n_jets, *detector.input_shape_)).astype(np.float32)


def _vdot(g: Any, a: Any, b: Any) -> Any:
    """ONNX for ``torch.vdot`` of real vectors (spectral normalisation's sigma = u . W v): sum(a * b)."""
    return g.op("ReduceSum", g.op("Mul", a, b), keepdims_i=0)


def export_onnx(
    detector: Detector,
    path: str | os.PathLike,
    score: str | None = None,
    inputs: str = "constituents",
    opset: int = DEFAULT_OPSET,
    overwrite: bool = False,
) -> Path:
    """Write ``detector`` as an ONNX graph from raw constituents (or its inputs) to the anomaly score.

    The file is written atomically after a check: onnxruntime scores two batches of toy jets
    (of different sizes, so the dynamic axes are exercised) and must agree with the torch module
    to 1e-3 relative; a failed check is a JetaeError naming the model. The graph's
    ``metadata_props`` record the model, score, input layout, representation and jetae version.

    Returns the path written.
    """
    onnx, onnxruntime = require_onnx()
    path = Path(path)
    if path.exists() and not overwrite:
        raise JetaeError("exists; pass overwrite=True (--overwrite) to replace it", path)
    score = detector._check_score_name(score)
    module = scoring_module(detector, score, inputs)
    example = torch.from_numpy(_example_inputs(module, detector, 3, seed=1))
    input_name = "constituents" if inputs == "constituents" else "inputs"
    dynamic = {0: "n_jets", 1: "n_constituents"} if inputs == "constituents" else {0: "n_jets"}
    buffer = io.BytesIO()
    torch.onnx.register_custom_op_symbolic("aten::vdot", _vdot, 13)  # not in the exporter (nae's spectral_norm)
    with warnings.catch_warnings(), torch.no_grad(), _silenced_output():
        # the TorchScript exporter (no onnxscript needed) warns about its deprecation and about traced shapes
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(
                module,
                (example,),
                buffer,
                input_names=[input_name],
                output_names=["score"],
                dynamic_axes={input_name: dynamic, "score": {0: "n_jets"}},
                opset_version=opset,
                dynamo=False,
            )
        except Exception as exc:  # the exporter raises many types; one line naming the model is what users need
            reason = " ".join(str(exc).split())[:300]
            raise JetaeError(f"model {detector.name!r} cannot be exported to ONNX: {reason}") from exc
    model = onnx.load_from_string(buffer.getvalue())
    model.producer_name = "jetae"
    model.producer_version = __version__
    metadata = {
        "jetae_model": detector.name,
        "jetae_score": score,
        "jetae_inputs": inputs,
        "jetae_input_layout": (
            "float32 (n_jets, n_constituents, 4): E, px, py, pz in GeV, all-zero rows = padding"
            if inputs == "constituents"
            else f"float32 (n_jets, {', '.join(map(str, detector.input_shape_))}): the unscaled representation"
        ),
        "jetae_representation": json.dumps(detector.config.representation),
        "jetae_version": __version__,
    }
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    data = model.SerializeToString()
    _check_export(data, module, detector, onnxruntime)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    log.info("exported %s (score %s, from %s) to %s", detector.name, score, inputs, path)
    return path


@contextlib.contextmanager
def _silenced_output() -> Iterator[None]:
    """Standard output and error (file descriptors 1 and 2) discarded: the TorchScript exporter prints the
    whole traced graph from C++ when it fails; the caller turns the exception into one line instead."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        with tempfile.TemporaryFile() as sink:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            try:
                yield
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
    finally:
        for fd in saved:
            os.close(fd)


def _check_export(data: bytes, module: JetScorer, detector: Detector, onnxruntime: Any) -> None:
    """onnxruntime on two batches of other sizes than the traced one must reproduce the torch module.

    A graph that does not run, gives another shape or non-finite scores, or disagrees on the median
    jet by more than 1e-2 relative is refused (a traced shape or a mistranslated operator); a graph that
    agrees on the median but not on every jet to 1e-3 gets a warning: the score is sensitive to float32
    rounding (e.g. a Mahalanobis distance with a nearly singular code covariance).
    """
    session = _session(data, onnxruntime)
    for n_jets, seed in ((7, 2), (2, 3)):
        example = _example_inputs(module, detector, n_jets, seed)
        with torch.no_grad():
            expected = module(torch.from_numpy(example)).numpy()
        try:
            got = session.run(None, {session.get_inputs()[0].name: example})[0]
        except Exception as exc:  # onnxruntime's errors name the node; keep them on one line
            reason = " ".join(str(exc).split())[:300]
            raise JetaeError(f"model {detector.name!r}: the exported ONNX graph does not run: {reason}") from exc
        finite = np.isfinite(expected)
        agreement = score_agreement(expected[finite], got[finite]) if got.shape == expected.shape else None
        if agreement is None or not np.isfinite(got[finite]).all() or agreement["median_relative_difference"] > 1e-2:
            raise JetaeError(
                f"model {detector.name!r}: the exported ONNX graph does not reproduce the model on {n_jets} toy jets"
                + (
                    ""
                    if agreement is None
                    else f" (median relative difference {agreement['median_relative_difference']:.3g})"
                )
            )
        if agreement["fraction_within"] < 1.0:
            log.warning(
                "model %r: onnxruntime and torch differ by up to %.3g relative on toy jets; this score is "
                "sensitive to float32 rounding",
                detector.name,
                agreement["max_relative_difference"],
            )


def _session(model: bytes | str | os.PathLike, onnxruntime: Any, threads: int | None = None) -> Any:
    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    source = model if isinstance(model, bytes) else os.fspath(model)
    options.log_severity_level = 3  # errors reach the caller as exceptions; no duplicate log lines
    return onnxruntime.InferenceSession(source, options, providers=["CPUExecutionProvider"])


# ==================================================================== using an exported file
class OnnxScorer:
    """Scores jets with an exported graph in onnxruntime (CPU).

    >>> scorer = OnnxScorer("model.onnx")
    >>> scores = scorer(jets.constituents)   # (n_jets,) float64
    """

    def __init__(self, path: str | os.PathLike, threads: int | None = None):
        _, onnxruntime = require_onnx()
        self.path = Path(path)
        try:
            self.session = _session(self.path, onnxruntime, threads)
        except Exception as exc:  # a missing or damaged file: onnxruntime's message on one line
            raise JetaeError(f"cannot load the ONNX graph: {' '.join(str(exc).split())[:300]}", self.path) from exc
        self.input_name = self.session.get_inputs()[0].name
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)

    def __call__(self, inputs: np.ndarray, batch_size: int = 4096) -> np.ndarray:
        """``(n_jets,)`` float64 scores of ``inputs`` (float32 ``(n_jets, n_constituents, 4)`` for a graph
        from constituents), in batches of ``batch_size`` jets."""
        inputs = np.ascontiguousarray(inputs, dtype=np.float32)
        outputs = [
            self.session.run(None, {self.input_name: inputs[start : start + batch_size]})[0]
            for start in range(0, len(inputs), batch_size)
        ]
        return np.concatenate(outputs).astype(np.float64) if outputs else np.zeros(0)


def score_agreement(reference: np.ndarray, other: np.ndarray, rtol: float = RELATIVE_TOLERANCE) -> dict[str, float]:
    """How well ``other`` scores reproduce ``reference`` ones (both ``(n_jets,)``).

    Returns ``fraction_within`` (of jets with ``|other - reference| <= rtol * |reference|``, or an
    absolute difference below 1e-12), ``max_relative_difference`` and ``median_relative_difference``
    (relative to ``|reference|``; NaN and inf count as disagreeing).
    """
    reference = np.asarray(reference, dtype=np.float64).ravel()
    other = np.asarray(other, dtype=np.float64).ravel()
    if reference.shape != other.shape:
        raise JetaeError(f"score arrays differ in length: {reference.shape} vs {other.shape}")
    difference = np.abs(other - reference)
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.where(difference <= 1e-12, 0.0, difference / np.abs(reference))
    relative = np.where(np.isfinite(relative), relative, np.inf)
    return {
        "fraction_within": float(np.mean(relative <= rtol)) if len(relative) else 1.0,
        "max_relative_difference": float(relative.max()) if len(relative) else 0.0,
        "median_relative_difference": float(np.median(relative)) if len(relative) else 0.0,
    }


__all__ = [
    "DEFAULT_OPSET",
    "INPUT_KINDS",
    "JetScorer",
    "OnnxScorer",
    "example_jets",
    "export_onnx",
    "has_onnx_version",
    "score_agreement",
    "scoring_module",
]

"""ONNX export (``jetae export``): one graph from raw constituents to the score, checked with onnxruntime
against ``anomaly_score`` on Pythia jets, for every registered model and score."""

from __future__ import annotations

import contextlib
import io
import sys

import numpy as np
import onnx
import pytest
import torch
from sklearn.metrics import roc_auc_score

from jetae.cli.main import main
from jetae.errors import JetaeError
from jetae.features import make_representation
from jetae.generation.generate import generate_jets
from jetae.jets import Jets
from jetae.models import Detector, available_models, create_model
from jetae.models.autoencoders import DenseAE
from jetae.models.export import OnnxScorer, export_onnx, has_onnx_version, score_agreement, scoring_module
from jetae.models.torch_representation import asinh_f64, atan2_f64, representation_module

#: Options of every exportable model: its defaults, trained for one epoch (NAE: one epoch per phase).
ONE_EPOCH = {"epochs": 1}
EXPORTABLE = {
    "pca": {},
    "dense_ae": ONE_EPOCH,
    "sparse_ae": ONE_EPOCH,
    "conv_ae": ONE_EPOCH,
    "denoising_ae": ONE_EPOCH,
    "dropout_ae": ONE_EPOCH,
    "nae": {**ONE_EPOCH, "ae_epochs": 1, "nae_epochs": 1, "x_steps": 2, "z_steps": 2},
    "vae": ONE_EPOCH,
    "oe_vae": ONE_EPOCH,
    "lola_ae": ONE_EPOCH,
    "particle_ae": ONE_EPOCH,
    "seq_ae": ONE_EPOCH,
    "ensemble": {"model": "dense_ae", "members": 2, "options": ONE_EPOCH},
}
#: Registered models whose score is no forward pass that ONNX can hold (none at present), with the reason.
NOT_EXPORTABLE: dict[str, str] = {
    # numpy / scikit-learn scores: FastJet reclustering (N-subjettiness), mixture or flow densities,
    # p-value look-ups (tests/test_density.py checks the error)
    "observable_density": "its score is not a forward pass of a torch network or of PCA",
    "latent_density": "its score is not a forward pass of a torch network or of PCA",
    "combination": "its score is not a forward pass of a torch network or of PCA",
}


@pytest.fixture(scope="module")
def samples() -> dict[str, Jets]:
    """Pythia jets: 250 QCD to train on, 150 QCD + 150 top to score, 60 W as outliers (oe_vae)."""
    test = Jets.concatenate(
        [generate_jets("qcd", 150, seed=22, workers=1), generate_jets("top", 150, seed=23, workers=1)]
    )
    return {
        "train": generate_jets("qcd", 250, seed=21, workers=1),
        "test": test,
        "outliers": generate_jets("w", 60, seed=24, workers=1),
    }


class _Fitted(dict):
    """Exportable models fitted on first use, each once for the module."""

    def __init__(self, samples: dict[str, Jets]):
        super().__init__()
        self.samples = samples

    def __missing__(self, name: str) -> Detector:
        extra = {"outliers": self.samples["outliers"]} if name == "oe_vae" else {}
        self[name] = create_model(name, EXPORTABLE[name]).fit(self.samples["train"], **extra)
        return self[name]


@pytest.fixture(scope="module")
def fitted(samples) -> _Fitted:
    return _Fitted(samples)


def test_every_registered_model_is_exportable_or_says_why():
    specs = {spec.name: spec for spec in available_models()}
    assert set(specs) == set(EXPORTABLE) | set(NOT_EXPORTABLE)
    assert all(has_onnx_version(specs[name].detector_cls) for name in EXPORTABLE)
    assert not any(has_onnx_version(specs[name].detector_cls) for name in NOT_EXPORTABLE)


CASES = [
    (name, score)
    for name in EXPORTABLE
    for score in create_model(name, EXPORTABLE[name] if name != "ensemble" else {"model": "dense_ae"}).score_names
]


@pytest.mark.parametrize(("name", "score"), CASES, ids=[f"{n}-{s}" for n, s in CASES])
def test_onnx_scores_reproduce_jetae(name, score, fitted, samples, tmp_path):
    """The issue's parity criterion: AUC equal to 3 decimals, >= 99% of scores within 1e-3 relative."""
    detector = fitted[name]
    test = samples["test"]
    path = export_onnx(detector, tmp_path / f"{name}.onnx", score=score)
    reference = detector.anomaly_score(test, score=score)
    exported = OnnxScorer(path)(test.constituents, batch_size=128)  # batches of another size than the trace
    agreement = score_agreement(reference, exported)
    assert agreement["fraction_within"] >= 0.99, agreement
    auc_jetae, auc_onnx = roc_auc_score(test.is_signal, reference), roc_auc_score(test.is_signal, exported)
    assert abs(auc_jetae - auc_onnx) < 5e-4, (auc_jetae, auc_onnx)


VARIANTS = {
    "nae-spectral_norm": (
        "nae",
        {**EXPORTABLE["nae"], "spectral_norm": True, "representation": {"kind": "image", "n_pixels": 16}},
    ),
    "particle_ae-sinkhorn": ("particle_ae", {**ONE_EPOCH, "set_loss": "sinkhorn", "sinkhorn_weights": "pt"}),
    "seq_ae-lstm": ("seq_ae", {**ONE_EPOCH, "cell": "lstm", "layers": 2, "teacher_forcing": True}),
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_option_variants_export_too(variant, samples, tmp_path):
    """Options that put other operators into the graph (spectral norm's vdot, Sinkhorn iterations, LSTM)."""
    name, options = VARIANTS[variant]
    detector = create_model(name, options).fit(samples["train"][:100])
    test = samples["test"]
    path = export_onnx(detector, tmp_path / f"{variant}.onnx")
    assert score_agreement(detector.anomaly_score(test), OnnxScorer(path)(test.constituents))["fraction_within"] >= 0.99


def test_graph_takes_any_number_of_constituent_slots(fitted, samples, tmp_path):
    """Constituents cut to 30 slots or zero-padded to 260: the graph scores what jetae scores for those arrays."""
    test = samples["test"][:60]
    for name in ("conv_ae", "seq_ae"):
        path = export_onnx(fitted[name], tmp_path / f"{name}.onnx")
        scorer = OnnxScorer(path)
        for constituents in (test.constituents[:, :30], np.pad(test.constituents, ((0, 0), (0, 60), (0, 0)))):
            reference = fitted[name].anomaly_score(Jets.from_constituents(constituents))
            assert score_agreement(reference, scorer(constituents))["fraction_within"] == 1.0


def test_export_from_the_representation(fitted, samples, tmp_path):
    """--from representation: the graph takes jet images and scores them as jetae does."""
    detector, test = fitted["conv_ae"], samples["test"]
    path = export_onnx(detector, tmp_path / "images.onnx", inputs="representation")
    images = make_representation(test, detector.config.representation)
    scorer = OnnxScorer(path)
    assert scorer.input_name == "inputs" and scorer.metadata["jetae_inputs"] == "representation"
    assert score_agreement(detector.anomaly_score(test), scorer(images))["fraction_within"] == 1.0


REPRESENTATIONS = [
    {"kind": "image"},
    {"kind": "image", "n_pixels": 25, "normalize": False, "pixel_eta": 0.05},
    {"kind": "image", "rotate": False, "flip": False},
    {"kind": "constituents", "n_constituents": 30, "flatten": True},
    {"kind": "constituents", "n_constituents": 20, "features": ["E", "px", "py", "pz"]},
    {"kind": "constituents", "n_constituents": 150, "features": ["log_e", "e_rel", "delta_r", "log_pt"]},
]


@pytest.mark.parametrize("spec", REPRESENTATIONS, ids=lambda spec: "-".join(f"{v}" for v in spec.values()))
def test_torch_representation_equals_numpy(spec, samples):
    """On Pythia jets, unsorted constituents, a jet with one constituent and an empty jet."""
    constituents = samples["test"].constituents[:120].copy()
    rng = np.random.default_rng(0)
    constituents[:20] = constituents[:20, rng.permutation(constituents.shape[1])]  # slots in random order
    constituents[20, 1:] = 0.0
    constituents[21] = 0.0
    expected = make_representation(constituents, spec)
    with torch.no_grad():
        got = representation_module(spec)(torch.from_numpy(constituents)).numpy()
    assert got.dtype == np.float32 and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_float64_trigonometry_matches_numpy():
    rng = np.random.default_rng(1)
    y = np.concatenate([rng.normal(size=1000) * 10.0 ** rng.integers(-6, 4, 1000), [0.0, 0.0, 1.0, -1.0, 0.0]])
    x = np.concatenate([rng.normal(size=1000) * 10.0 ** rng.integers(-6, 4, 1000), [0.0, 2.0, 0.0, 0.0, -3.0]])
    got = atan2_f64(torch.from_numpy(y), torch.from_numpy(x)).numpy()
    expected = np.arctan2(y, x)
    expected[-1] = np.pi  # atan2(+0, -3)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-14)
    values = np.concatenate([rng.normal(size=1000) * 10.0 ** rng.integers(-3, 4, 1000), [0.0]])
    np.testing.assert_allclose(asinh_f64(torch.from_numpy(values)).numpy(), np.arcsinh(values), rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------- errors
class _NumpyDetector(Detector):
    """A detector whose score is plain numpy (not registered): no ONNX version."""

    name = "numpy_toy"

    def _fit(self, train_inputs, val_inputs, **kwargs):
        self.mean_ = train_inputs.mean(axis=0)

    def _score(self, inputs, score):
        return ((inputs - self.mean_) ** 2).reshape(len(inputs), -1).mean(axis=1)


def test_a_model_that_cannot_be_exported_says_why(samples, tmp_path):
    detector = _NumpyDetector({"representation": {"kind": "image", "n_pixels": 8}}).fit(samples["train"][:50])
    with pytest.raises(JetaeError, match="numpy_toy.*cannot be exported to ONNX: its score is not a forward pass"):
        export_onnx(detector, tmp_path / "toy.onnx")
    assert not (tmp_path / "toy.onnx").exists()


class _DigammaAE(DenseAE):
    """A torch detector whose score uses an operator ONNX lacks (digamma)."""

    def score_batch(self, network, inputs, score):
        return torch.digamma(1.0 + super().score_batch(network, inputs, score))


def test_an_operator_onnx_lacks_is_one_error_line(samples, tmp_path, capfd):
    detector = _DigammaAE({"epochs": 1, "hidden": [8], "latent_dim": 2}).fit(samples["train"][:64])
    capfd.readouterr()
    with pytest.raises(JetaeError, match="cannot be exported to ONNX: .*'aten::digamma'.* not supported"):
        export_onnx(detector, tmp_path / "digamma.onnx")
    out, err = capfd.readouterr()
    assert "graph" not in out + err  # the exporter's dump of the traced graph is kept off the terminal
    assert not (tmp_path / "digamma.onnx").exists()


def test_a_model_trained_on_other_inputs_cannot_be_exported_from_constituents(tmp_path):
    detector = create_model("pca", n_components=2).fit(np.random.default_rng(0).normal(size=(50, 6)))
    with pytest.raises(JetaeError, match="trained on inputs of shape \\(6,\\).*--from representation"):
        scoring_module(detector)
    path = export_onnx(detector, tmp_path / "points.onnx", inputs="representation")
    points = np.random.default_rng(1).normal(size=(20, 6)).astype(np.float32)
    assert score_agreement(detector.anomaly_score(points), OnnxScorer(path)(points))["fraction_within"] == 1.0


def test_missing_onnx_package_is_one_clear_error(fitted, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # `import onnx` now raises ImportError
    with pytest.raises(JetaeError, match="needs the Python package 'onnx': pip install 'jetae\\[onnx\\]'"):
        export_onnx(fitted["pca"], tmp_path / "model.onnx")


# ---------------------------------------------------------------- CLI
def _run(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(list(args))
    return code, out.getvalue()


def test_cli_export_and_check(fitted, samples, tmp_path, capsys):
    from jetae.io.toptag import write_jets

    run = fitted["vae"].save(tmp_path / "run")
    jets = write_jets(tmp_path / "mixed.h5", samples["test"])
    out = tmp_path / "vae.onnx"
    code, text = _run("export", str(run), "--out", str(out), "--score", "kl", "--check", str(jets))
    assert code == 0
    assert "exported vae (score kl, from constituents)" in text
    assert "100.00% of scores within 1e-3 relative" in text and "AUC jetae" in text
    model = onnx.load(str(out))
    meta = {entry.key: entry.value for entry in model.metadata_props}
    assert meta["jetae_model"] == "vae" and meta["jetae_score"] == "kl"
    assert model.graph.input[0].name == "constituents"
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["n_jets", "n_constituents", 4]

    def fails(*args: str, match: str) -> None:
        assert main(list(args)) == 2
        err = capsys.readouterr().err
        assert match in err and len(err.strip().splitlines()) == 1, err

    fails("export", str(run), "--out", str(out), match="exists; pass --overwrite")
    fails("export", str(run), "--out", str(tmp_path / "x.onnx"), "--score", "energy", match="has no score 'energy'")
    fails("export", str(run), "--out", str(tmp_path / "x.onnx"), "--opset", "13", match="--opset must be >= 16")
    fails("export", str(run), "--out", str(run / "weights.safetensors"), "--overwrite", match="is an input")
    assert not (tmp_path / "x.onnx").exists()

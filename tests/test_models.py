"""The detector API: registry, fit/score on toys and jets, persistence, determinism, input errors.

Everything runs for real (Lightning on the CPU) on tiny data and tiny networks.
"""

from __future__ import annotations

import json
import pickle
import shutil

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from jetae.cli.main import main
from jetae.errors import JetaeError
from jetae.jets import Jets
from jetae.models import available_models, create_model, load_model
from jetae.models.base import CONFIG_FILE, HISTORY_FILE, WEIGHTS_FILE
from toys import prong_jets as toy_jets

ALL_MODELS = ("pca", "dense_ae", "conv_ae", "sparse_ae", "denoising_ae", "dropout_ae")

# Tiny networks: each fit takes about a second on one CPU core.
SMALL_DENSE = dict(hidden=[32], latent_dim=2, epochs=10, lr=1e-2, batch_size=64, device="cpu", patience=0)
SMALL_CONV = dict(
    stages=[[4], [4]], conv_dense=[16], latent_dim=4, epochs=10, lr=1e-2, batch_size=64, device="cpu", patience=0
)
TOY_OPTIONS = {
    "pca": ({"n_components": 2}, "vectors"),
    "dense_ae": (SMALL_DENSE, "vectors"),
    "sparse_ae": (dict(SMALL_DENSE, latent_dim=32, l1_penalty=1e-2), "vectors"),
    "conv_ae": (SMALL_CONV, "images"),
    "denoising_ae": (dict(SMALL_CONV, noise_level=0.1), "images"),
    "dropout_ae": (SMALL_CONV, "images"),
}
#: Jet images small enough for fast tests, still covering ~1 x 1 in (eta, phi).
SMALL_IMAGE = {"kind": "image", "n_pixels": 16, "pixel_eta": 0.06, "pixel_phi": 0.06}


# ---------------------------------------------------------------- toy data
_PLANE = np.random.default_rng(1234).normal(size=(2, 16))


def plane_points(n: int, seed: int) -> np.ndarray:
    """``(n, 16)`` points near a 2-d plane: the 'background' manifold."""
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, 2)) @ _PLANE + 0.05 * rng.normal(size=(n, 16))).astype(np.float32)


def off_plane_points(n: int, seed: int) -> np.ndarray:
    """``(n, 16)`` isotropic points with the same norms as plane points: off the manifold."""
    rng = np.random.default_rng(seed)
    points = rng.normal(size=(n, 16))
    norms = np.linalg.norm(plane_points(n, seed + 1), axis=1, keepdims=True)
    return (points / np.linalg.norm(points, axis=1, keepdims=True) * norms).astype(np.float32)


def blob_images(n: int, seed: int, prongs: int = 1, size: int = 16) -> np.ndarray:
    """``(n, 1, size, size)`` unit-sum images: one centred Gaussian blob (+ prongs - 1 displaced ones)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] + 0.5
    images = np.zeros((n, size, size))
    for prong in range(prongs):
        shift = rng.uniform(-5, 5, (2, n)) if prong else np.zeros((2, n))
        cx, cy = (size / 2 + shift)[:, :, None, None]
        width = rng.uniform(1.0, 2.5, n)[:, None, None]
        images += np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * width**2))
    images /= images.sum(axis=(1, 2), keepdims=True)
    return images[:, None].astype(np.float32)


def toy_data(kind: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(train, inliers, outliers) for the manifold toys."""
    if kind == "vectors":
        return plane_points(400, 1), plane_points(200, 2), off_plane_points(200, 3)
    return blob_images(400, 1), blob_images(200, 2), blob_images(200, 3, prongs=2)


def auc(background: np.ndarray, signal: np.ndarray) -> float:
    return roc_auc_score(np.r_[np.zeros(len(background)), np.ones(len(signal))], np.r_[background, signal])


@pytest.fixture(scope="module", params=ALL_MODELS)
def fitted(request):
    """(name, detector fitted on its toy, inliers, outliers): one fit per model for the module."""
    name = request.param
    options, kind = TOY_OPTIONS[name]
    train, inliers, outliers = toy_data(kind)
    return name, create_model(name, options).fit(train), inliers, outliers


# ---------------------------------------------------------------- registry
def test_registry_lists_every_model_with_a_description():
    specs = {spec.name: spec for spec in available_models()}
    assert set(ALL_MODELS) <= set(specs)
    for spec in specs.values():
        assert spec.description.strip(), spec.name
        assert spec.detector_cls.name == spec.name


def test_unknown_model_name_lists_the_available_ones():
    with pytest.raises(JetaeError) as error:
        create_model("dense_autoencoder")
    for name in ALL_MODELS:
        assert name in str(error.value)


def test_models_command_lists_models_and_rejects_unknown_ones(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in ALL_MODELS:
        line = next(line for line in out.splitlines() if line.split()[0] == name)
        assert len(line.split()) > 1  # name followed by its description
    assert main(["models", "--options", "conv_ae"]) == 0
    assert "latent_dim = 32" in capsys.readouterr().out
    assert main(["models", "--options", "nonsense"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown model 'nonsense'" in err[0] and "dense_ae" in err[0]


# ---------------------------------------------------------------- fit and score
def test_every_model_scores_off_manifold_points_higher(fitted):
    name, detector, inliers, outliers = fitted
    inlier_scores = detector.anomaly_score(inliers)
    outlier_scores = detector.anomaly_score(outliers)
    assert inlier_scores.shape == (len(inliers),) and inlier_scores.dtype == np.float64
    assert np.isfinite(inlier_scores).all() and np.isfinite(outlier_scores).all()
    assert auc(inlier_scores, outlier_scores) > 0.85, name
    np.testing.assert_array_equal(detector.decision_function(outliers), outlier_scores)


def test_reconstruct_and_encode_give_per_jet_arrays(fitted):
    name, detector, inliers, _ = fitted
    inputs, reconstruction = detector.reconstruct(inliers[:7])
    assert inputs.shape == reconstruction.shape == inliers[:7].shape
    np.testing.assert_allclose(inputs, inliers[:7], rtol=1e-5, atol=1e-6)  # scaling undone
    latent = detector.encode(inliers[:7])
    assert latent.ndim == 2 and len(latent) == 7


@pytest.mark.parametrize(
    "name, options",
    [
        ("pca", {"representation": SMALL_IMAGE, "n_components": 5}),
        ("dense_ae", dict(SMALL_DENSE, latent_dim=4, representation={"n_constituents": 20})),
        ("conv_ae", dict(SMALL_CONV, representation=SMALL_IMAGE)),
        ("sparse_ae", dict(SMALL_DENSE, latent_dim=32, l1_penalty=1e-2, representation={"n_constituents": 20})),
        ("denoising_ae", dict(SMALL_CONV, noise_level=0.1, representation=SMALL_IMAGE)),
        ("dropout_ae", dict(SMALL_CONV, representation=SMALL_IMAGE)),
    ],
)
def test_models_fit_jets_through_their_representation(name, options):
    qcd, qcd_test, top = toy_jets(400, 1, seed=1), toy_jets(200, 1, seed=2), toy_jets(200, 3, seed=3)
    detector = create_model(name, options).fit(qcd)
    background, signal = detector.anomaly_score(qcd_test), detector.anomaly_score(top)
    assert background.shape == (200,) and signal.shape == (200,)
    # Three-prong jets are anomalies for a model of one-prong jets.
    assert auc(background, signal) > 0.8


def test_conv_model_refuses_constituent_inputs():
    detector = create_model("conv_ae", SMALL_CONV, representation={"kind": "constituents"})
    with pytest.raises(JetaeError, match="image"):
        detector.fit(toy_jets(50, seed=1))


def test_input_errors_are_clear():
    detector = create_model("dense_ae", SMALL_DENSE, epochs=1)
    with pytest.raises(JetaeError, match="not fitted"):
        detector.anomaly_score(plane_points(5, 0))
    with pytest.raises(JetaeError, match="n_samples > 0"):
        detector.fit(np.zeros((0, 16), np.float32))
    with pytest.raises(JetaeError, match="no jets"):
        detector.fit(Jets.from_constituents(np.zeros((0, 10, 4), np.float32)))
    bad = plane_points(50, 0)
    bad[3, 2] = np.nan
    with pytest.raises(JetaeError, match="NaN"):
        detector.fit(bad)
    detector.fit(plane_points(100, 0))
    with pytest.raises(JetaeError, match=r"shape \(20,\).*trained on \(16,\)"):
        detector.anomaly_score(np.zeros((4, 20), np.float32))
    with pytest.raises(JetaeError, match="no score 'elbo'"):
        detector.anomaly_score(plane_points(5, 0), score="elbo")


def test_scoring_jets_of_another_representation_names_the_file():
    detector = create_model("dense_ae", SMALL_DENSE, epochs=1, representation={"n_constituents": 10}).fit(
        toy_jets(60, seed=1)
    )
    other = create_model("dense_ae", SMALL_DENSE, representation={"n_constituents": 12})
    detector.config = other.config  # as if the representation were changed after training
    with pytest.raises(JetaeError, match="toy1: inputs have shape"):
        detector.anomaly_score(toy_jets(5, seed=2))


# ---------------------------------------------------------------- options
@pytest.mark.parametrize(
    "options, message",
    [
        ({"lr": -1}, "lr must be > 0"),
        ({"epochs": 0}, "epochs must be >= 1"),
        ({"epochs": 2.5}, "cannot use 2.5 as int"),
        ({"hidden": "wide"}, "cannot use 'wide' as list"),
        ({"learning_rate": 1e-3}, "unknown option.*learning_rate.*valid:.*lr"),
        ({"loss": "huber"}, "loss must be one of mse, mae"),
        ({"scaler": "minmax"}, "scaler must be one of none, standard, global"),
        ({"representation": "image"}, "representation must be a mapping"),
        ({"representation": {"kind": "graph"}}, "unknown representation kind 'graph'"),
        ({"representation": {"n_pixels": 16}}, "unknown option.*n_pixels.*representation 'constituents'"),
        ({"representation": {"n_constituents": -1}}, "n_constituents must be a positive integer"),
    ],
)
def test_bad_options_raise_one_clear_error(options, message):
    with pytest.raises(JetaeError, match=message):
        create_model("dense_ae", options)


def test_representation_kind_switch_drops_the_old_kinds_options():
    detector = create_model("dense_ae", {"representation": {"kind": "image", "n_pixels": 16}})
    assert detector.config.representation == {"kind": "image", "n_pixels": 16}
    detector = create_model("dense_ae", {"representation": {"n_constituents": 10}})
    assert detector.config.representation == {"kind": "constituents", "n_constituents": 10, "flatten": True}


def test_conv_ae_default_is_the_qcd_or_what_layout():
    """2 x conv(10) + pool + conv(10) + conv(5), dense 100, code 32; the decoder mirrors it."""
    network = create_model("conv_ae").build_network((1, 40, 40))
    convs = [(m.in_channels, m.out_channels) for m in network.encoder.conv if isinstance(m, torch.nn.Conv2d)]
    assert convs == [(1, 10), (10, 10), (10, 10), (10, 5)]
    assert sum(isinstance(m, torch.nn.AvgPool2d) for m in network.encoder.conv) == 1
    dense = [(m.in_features, m.out_features) for m in network.encoder.dense if isinstance(m, torch.nn.Linear)]
    assert dense == [(5 * 20 * 20, 100), (100, 32)]
    decoder_dense = [(m.in_features, m.out_features) for m in network.decoder.dense if isinstance(m, torch.nn.Linear)]
    assert decoder_dense == [(b, a) for a, b in reversed(dense)]
    decoder_convs = [(m.in_channels, m.out_channels) for m in network.decoder.conv if isinstance(m, torch.nn.Conv2d)]
    assert decoder_convs == [(b, a) for a, b in reversed(convs)]
    assert isinstance(network.decoder.conv[-1], torch.nn.Conv2d)  # no activation after the output conv
    assert network(torch.zeros(2, 1, 40, 40))["reconstruction"].shape == (2, 1, 40, 40)


# ---------------------------------------------------------------- persistence
def test_save_load_round_trip_gives_identical_scores(fitted, tmp_path):
    name, detector, inliers, outliers = fitted
    path = detector.save(tmp_path / name)
    assert sorted(p.name for p in path.iterdir()) == sorted([CONFIG_FILE, WEIGHTS_FILE, HISTORY_FILE])
    loaded = load_model(path)
    assert type(loaded) is type(detector) and loaded.config == detector.config
    assert loaded.trainer_config == detector.trainer_config
    for data in (inliers, outliers):
        np.testing.assert_array_equal(loaded.anomaly_score(data), detector.anomaly_score(data))
    meta = json.loads((path / CONFIG_FILE).read_text())
    assert meta["model"] == name and meta["seed"] == detector.config.seed
    assert meta["config"]["representation"] == detector.config.representation
    assert set(meta["config"]) == set(vars(detector.config))  # every option, resolved
    if detector.trainer_config is not None:  # the trainer's options in their own section
        assert meta["trainer"] == vars(detector.trainer_config) and not set(meta["trainer"]) & set(meta["config"])
    assert meta["versions"]["jetae"] and meta["versions"]["torch"] == torch.__version__
    assert json.loads((path / HISTORY_FILE).read_text()) == detector.history_
    # safetensors: an 8-byte little-endian header length, then a JSON header.
    raw = (path / WEIGHTS_FILE).read_bytes()
    header = json.loads(raw[8 : 8 + int.from_bytes(raw[:8], "little")])
    assert "scaler.scale" in header
    with pytest.raises(JetaeError, match="already exists"):
        detector.save(path)


def test_loading_never_unpickles(tmp_path, monkeypatch):
    train = plane_points(100, 1)
    detector = create_model("dense_ae", SMALL_DENSE, epochs=2).fit(train)
    detector.save(tmp_path / "model")
    expected = detector.anomaly_score(train)

    def forbidden(*args, **kwargs):
        raise AssertionError("a model load tried to unpickle")

    for target, attribute in ((pickle, "load"), (pickle, "loads"), (pickle, "Unpickler"), (torch, "load")):
        monkeypatch.setattr(target, attribute, forbidden)
    np.testing.assert_array_equal(load_model(tmp_path / "model").anomaly_score(train), expected)


@pytest.fixture(scope="module")
def saved_dense(tmp_path_factory):
    """A small saved dense_ae (hidden 32) and one of another width (hidden 8)."""
    root = tmp_path_factory.mktemp("saved")
    train = plane_points(100, 1)
    create_model("dense_ae", SMALL_DENSE, epochs=1).fit(train).save(root / "model")
    create_model("dense_ae", SMALL_DENSE, epochs=1, hidden=[8]).fit(train).save(root / "narrow")
    create_model("dense_ae", SMALL_DENSE, epochs=1).fit(train[:, :12]).save(root / "fewer_inputs")
    return root


def _truncate_weights(path):
    weights = path / WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])


def _edit_config(**changes):
    def edit(path):
        meta = json.loads((path / CONFIG_FILE).read_text())
        for key, value in changes.items():
            if key in ("config", "trainer"):  # the model's and the trainer's options
                meta[key].update(value)
            else:
                meta[key] = value
        (path / CONFIG_FILE).write_text(json.dumps(meta))

    return edit


DAMAGE = {
    "truncated weights": (_truncate_weights, "damaged weights file"),
    "garbage weights": (lambda p: (p / WEIGHTS_FILE).write_bytes(b"\x80\x04garbage" * 10), "damaged weights file"),
    "garbage config": (lambda p: (p / CONFIG_FILE).write_text("{not json"), "damaged model config"),
    "binary config": (lambda p: (p / CONFIG_FILE).write_bytes(b"\xff\xfe\x00"), "damaged model config"),
    "not a jetae config": (lambda p: (p / CONFIG_FILE).write_text('{"a": 1}'), "not a jetae model config"),
    "missing weights": (lambda p: (p / WEIGHTS_FILE).unlink(), f"no {WEIGHTS_FILE}"),
    "missing config": (lambda p: (p / CONFIG_FILE).unlink(), f"no {CONFIG_FILE}"),
    "weights of another shape": (
        lambda p: shutil.copy(p.parent / "narrow" / WEIGHTS_FILE, p / WEIGHTS_FILE),
        "weights do not match",
    ),
    "scaler of another shape": (
        lambda p: shutil.copy(p.parent / "fewer_inputs" / WEIGHTS_FILE, p / WEIGHTS_FILE),
        "weights do not match",
    ),
    "unknown model": (_edit_config(model="nonsense"), "unknown model 'nonsense'"),
    "invalid option": (_edit_config(trainer={"lr": -1.0}), "invalid model config.*lr must be > 0"),
    "invalid model option": (_edit_config(config={"latent_dim": 0}), "invalid model config.*latent_dim must be >= 1"),
    "option in the wrong section": (_edit_config(config={"lr": 0.01}), r"unexpected option\(s\) lr in 'config'"),
    "model of an older jetae": (_edit_config(format="jetae-model/1"), "older jetae.*retrain"),
    "wrong input shape": (_edit_config(input_shape=[20]), "weights do not match"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_model_directory_gives_a_clear_error(saved_dense, tmp_path, damage):
    path = tmp_path / "model"
    shutil.copytree(saved_dense / "model", path)
    # The narrow / fewer-input models sit next to the copy for the shape damages.
    for other in ("narrow", "fewer_inputs"):
        shutil.copytree(saved_dense / other, tmp_path / other)
    apply, message = DAMAGE[damage]
    apply(path)
    with pytest.raises(JetaeError, match=message):
        load_model(path)


def test_loading_a_missing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(JetaeError, match="not a jetae model directory"):
        load_model(tmp_path / "nothing")


# ---------------------------------------------------------------- determinism
@pytest.mark.parametrize("name", ["dense_ae", "denoising_ae"])
def test_same_seed_same_model_different_seed_different_model(name):
    options, kind = TOY_OPTIONS[name]
    train, inliers, _ = toy_data(kind)
    options = dict(options, epochs=3)
    first = create_model(name, options, seed=7).fit(train)
    second = create_model(name, options, seed=7).fit(train)
    other = create_model(name, options, seed=8).fit(train)
    for key, value in first.network_.state_dict().items():
        assert torch.equal(value, second.network_.state_dict()[key]), key
    np.testing.assert_array_equal(first.anomaly_score(inliers), second.anomaly_score(inliers))
    assert [r["train_loss"] for r in first.history_] == [r["train_loss"] for r in second.history_]
    assert not np.array_equal(first.anomaly_score(inliers), other.anomaly_score(inliers))

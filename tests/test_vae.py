"""The VAE family: network outputs, KL, every score, persistence, outlier exposure, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from jetae.cli.main import main as jetae_main
from jetae.errors import JetaeError
from jetae.evaluation.metrics import auc
from jetae.io.toptag import write_jets
from jetae.jets import Jets
from jetae.models import create_model, load_model
from jetae.models.vae import VAE_SCORES, VariationalAutoencoder, kl_divergence

TINY = {
    "hidden": [32, 16],
    "latent_dim": 4,
    "epochs": 3,
    "batch_size": 128,
    "patience": 0,
    "device": "cpu",
    "progress": False,
}
#: Jet-axis-relative constituents: learnable by a tiny network in a few epochs (raw four-momenta
#: carry the random jet direction, which a toy-sized VAE cannot factor out).
RELATIVE = {
    "kind": "constituents",
    "n_constituents": 16,
    "features": ["delta_eta", "delta_phi", "pt_rel"],
    "flatten": True,
}


def toy_jets(n: int, n_prongs: int, seed: int, n_constituents: int = 24) -> Jets:
    """Toy jets of pT ~ 500 GeV: constituents scattered around ``n_prongs`` sub-jet axes.

    One prong with a per-jet width = QCD-like; two or three well separated prongs =
    W- or top-like. The jet axis has a random eta and phi, as in real samples.
    """
    rng = np.random.default_rng(seed)
    pt = np.sort(rng.exponential(1.0, (n, n_constituents)), axis=1)[:, ::-1]
    pt = 500.0 * pt / pt.sum(axis=1, keepdims=True)
    spread = 0.35 if n_prongs > 1 else 0.0
    prongs = rng.normal(0.0, spread, (n, n_prongs, 2))
    which = rng.integers(0, n_prongs, (n, n_constituents))
    width = rng.uniform(0.02, 0.12, (n, 1, 1))
    offsets = np.take_along_axis(prongs, np.repeat(which[..., None], 2, axis=-1), axis=1)
    offsets = offsets + width * rng.normal(size=(n, n_constituents, 2))
    eta = rng.normal(0.0, 1.0, (n, 1)) + offsets[..., 0]
    phi = rng.uniform(-np.pi, np.pi, (n, 1)) + offsets[..., 1]
    p4 = np.stack([pt * np.cosh(eta), pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)], axis=-1)
    return Jets.from_constituents(p4, is_signal=int(n_prongs > 1), source=f"toy_{n_prongs}prong")


@pytest.fixture(scope="module")
def samples() -> dict[str, Jets]:
    return {
        "qcd": toy_jets(800, 1, 1),
        "qcd_test": toy_jets(300, 1, 2),
        "w": toy_jets(400, 2, 3),
        "top": toy_jets(300, 3, 4),
    }


@pytest.fixture(scope="module")
def trained_vae(samples) -> object:
    return create_model("vae", TINY, seed=0).fit(samples["qcd"])


# ---------------------------------------------------------------- network and KL
def test_network_returns_named_outputs_of_the_right_shapes():
    detector = create_model("vae", TINY)
    network = detector.build_network((80,))
    inputs = torch.randn(7, 80)
    network.train()
    outputs = network(inputs)
    assert set(outputs) >= {"reconstruction", "latent", "mu", "logvar", "z"}
    assert outputs["reconstruction"].shape == (7, 80)
    for key in ("latent", "mu", "logvar", "z"):
        assert outputs[key].shape == (7, 4)
    assert torch.equal(outputs["latent"], outputs["mu"])
    assert not torch.allclose(outputs["z"], outputs["mu"])  # sampled in training mode
    network.eval()
    outputs = network(inputs)
    assert torch.equal(outputs["z"], outputs["mu"])  # the mean code at inference


def test_conv_vae_on_images(samples):
    options = dict(
        TINY,
        architecture="conv",
        stages=[[4], [4]],
        conv_dense=[16],
        epochs=1,
        scaler="global",
        representation={"kind": "image", "n_pixels": 16},
    )  # merged into the default spec
    detector = create_model("vae", options).fit(samples["qcd"][:200])
    network = detector.network_
    assert isinstance(network, VariationalAutoencoder)
    outputs = network(torch.from_numpy(detector.transform(samples["top"][:5])))
    assert outputs["reconstruction"].shape == (5, 1, 16, 16) and outputs["mu"].shape == (5, 4)
    for name in VAE_SCORES:
        assert np.isfinite(detector.anomaly_score(samples["top"][:50], name)).all()


def test_kl_is_non_negative_zero_at_the_prior_and_matches_torch_distributions():
    torch.manual_seed(0)
    mu, logvar = torch.randn(500, 6), 2.0 * torch.randn(500, 6)
    kl = kl_divergence(mu, logvar)
    assert kl.shape == (500,) and (kl >= 0).all()
    assert torch.equal(kl_divergence(torch.zeros(3, 6), torch.zeros(3, 6)), torch.zeros(3))
    posterior = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    prior = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    expected = torch.distributions.kl_divergence(posterior, prior).sum(dim=1)
    torch.testing.assert_close(kl, expected, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- scores
def test_every_score_is_finite_per_jet_and_the_tag_score_is_the_default(trained_vae, samples):
    jets = samples["top"]
    assert trained_vae.score_names[0] == "elbo" and set(trained_vae.score_names) == set(VAE_SCORES)
    scores = {name: trained_vae.anomaly_score(jets, name) for name in VAE_SCORES}
    for name, values in scores.items():
        assert values.shape == (len(jets),) and values.dtype == np.float64, name
        assert np.isfinite(values).all(), name
        assert (values >= 0).all(), name
    np.testing.assert_array_equal(trained_vae.anomaly_score(jets), scores["elbo"])
    beta = trained_vae.config.beta
    np.testing.assert_allclose(scores["elbo"], scores["reconstruction"] + beta * scores["kl"], rtol=1e-5)
    latent = trained_vae.encode(jets)
    assert latent.shape == (len(jets), 4)
    np.testing.assert_allclose(scores["latent_l2"], (latent.astype(np.float64) ** 2).sum(axis=1), rtol=1e-5)


def test_mahalanobis_is_fitted_on_the_training_code(trained_vae, samples):
    code = trained_vae.encode(samples["top"]).astype(np.float64)
    centred = code - trained_vae.latent_mean_
    expected = np.sqrt(np.einsum("ij,jk,ik->i", centred, np.linalg.inv(trained_vae.latent_covariance_), centred))
    np.testing.assert_allclose(trained_vae.anomaly_score(samples["top"], "mahalanobis"), expected, rtol=1e-3)
    # On the jets it was fitted on, the mean squared Mahalanobis distance is the latent dimension.
    squared = trained_vae.anomaly_score(samples["qcd"], "mahalanobis") ** 2
    assert squared.mean() == pytest.approx(4.0 * (len(squared) - 1) / len(squared), rel=1e-3)


def test_save_load_round_trip_gives_identical_scores(trained_vae, samples, tmp_path):
    trained_vae.save(tmp_path / "run")
    loaded = load_model(tmp_path / "run")
    assert type(loaded) is type(trained_vae) and loaded.score_names == trained_vae.score_names
    np.testing.assert_array_equal(loaded.latent_mean_, trained_vae.latent_mean_)
    np.testing.assert_array_equal(loaded.latent_covariance_, trained_vae.latent_covariance_)
    for name in VAE_SCORES:
        np.testing.assert_array_equal(
            loaded.anomaly_score(samples["top"], name), trained_vae.anomaly_score(samples["top"], name), err_msg=name
        )
    meta = json.loads((tmp_path / "run" / "config.json").read_text())
    assert meta["score_names"][0] == "elbo" and meta["config"]["beta"] == trained_vae.config.beta


def test_damaged_mahalanobis_state_is_a_clear_error(trained_vae, tmp_path):
    from safetensors.numpy import load_file, save_file

    trained_vae.save(tmp_path / "run")
    weights = tmp_path / "run" / "weights.safetensors"
    arrays = load_file(str(weights))
    del arrays["latent.covariance"]
    save_file(arrays, str(weights))
    with pytest.raises(JetaeError, match="weights do not match"):
        load_model(tmp_path / "run")


def test_training_is_deterministic_for_a_seed(samples):
    jets = samples["qcd"][:300]
    options = dict(TINY, epochs=2)
    first = create_model("oe_vae", options, seed=3).fit(jets, outliers=samples["w"][:100])
    second = create_model("oe_vae", options, seed=3).fit(jets, outliers=samples["w"][:100])
    other = create_model("oe_vae", options, seed=4).fit(jets, outliers=samples["w"][:100])
    np.testing.assert_array_equal(first.anomaly_score(samples["top"]), second.anomaly_score(samples["top"]))
    assert not np.allclose(first.anomaly_score(samples["top"]), other.anomaly_score(samples["top"]))


def test_beta_warm_up_is_linear_and_validation_uses_the_full_beta(samples):
    detector = create_model("vae", TINY, beta=0.3, beta_warmup_epochs=2).fit(samples["qcd"][:200])
    betas = [record["beta"] for record in detector.history_]
    np.testing.assert_allclose(betas, [0.1, 0.2, 0.3])
    last = detector.history_[-1]
    assert last["val_loss"] == pytest.approx(last["val_reconstruction"] + 0.3 * last["val_kl"], rel=1e-4)


# ---------------------------------------------------------------- outlier exposure
def test_outlier_exposure_pushes_outlier_scores_above_the_background(samples):
    options = dict(TINY, epochs=8, tag_score="kl", representation=RELATIVE)
    plain = create_model("vae", options, seed=0).fit(samples["qcd"])
    exposed = create_model("oe_vae", options, seed=0, oe_lambda=2.0, oe_margin=2.0).fit(
        samples["qcd"], outliers=samples["w"][:200]
    )
    # Held-out background vs held-out outliers of the exposed kind.
    auc_plain = auc(plain.anomaly_score(samples["qcd_test"]), plain.anomaly_score(samples["w"][200:]))
    auc_exposed = auc(exposed.anomaly_score(samples["qcd_test"]), exposed.anomaly_score(samples["w"][200:]))
    assert auc_exposed > 0.85 and auc_exposed > auc_plain + 0.03
    history = exposed.history_
    assert history[-1]["train_oe_margin_loss"] < history[0]["train_oe_margin_loss"]
    assert history[-1]["val_oe_outlier_score"] > history[-1]["val_oe_background_score"]
    assert not hasattr(exposed, "_outliers") or exposed._outliers is None  # not kept on the model


def test_cli_trains_oe_vae_with_outliers_and_scores(samples, tmp_path, capsys):
    write_jets(tmp_path / "qcd.h5", samples["qcd"][:300])
    write_jets(tmp_path / "w.h5", samples["w"][:100])
    write_jets(tmp_path / "top.h5", samples["top"][:100])
    run = tmp_path / "run"
    sets = ["--set", "hidden=[16]", "--set", "latent_dim=3", "--set", "progress=false"]
    assert (
        jetae_main(
            [
                "train",
                "oe_vae",
                "--train",
                str(tmp_path / "qcd.h5"),
                "--outliers",
                str(tmp_path / "w.h5"),
                "--out",
                str(run),
                "--epochs",
                "1",
                *sets,
            ]
        )
        == 0
    )
    meta = json.loads((run / "config.json").read_text())
    assert meta["model"] == "oe_vae" and meta["provenance"]["n_outliers"] == 100
    assert (
        jetae_main(
            [
                "score",
                str(run),
                str(tmp_path / "top.h5"),
                "--out",
                str(tmp_path / "s.h5"),
                "--score",
                "kl",
                "--score",
                "mahalanobis",
            ]
        )
        == 0
    )
    # A model that does not train on outliers: one clear line, exit 2, no run directory.
    capsys.readouterr()
    assert (
        jetae_main(
            [
                "train",
                "dense_ae",
                "--train",
                str(tmp_path / "qcd.h5"),
                "--outliers",
                str(tmp_path / "w.h5"),
                "--out",
                str(tmp_path / "ae"),
                "--epochs",
                "1",
            ]
        )
        == 2
    )
    assert "does not train on outliers" in capsys.readouterr().err
    assert not (tmp_path / "ae").exists()
    # oe_vae without --outliers.
    assert (
        jetae_main(
            [
                "train",
                "oe_vae",
                "--train",
                str(tmp_path / "qcd.h5"),
                "--out",
                str(tmp_path / "oe"),
                "--epochs",
                "1",
                *sets,
            ]
        )
        == 2
    )
    assert "--outliers" in capsys.readouterr().err
    assert not (tmp_path / "oe").exists()


# ---------------------------------------------------------------- bad input
def test_outliers_with_a_different_representation_shape_are_rejected():
    rng = np.random.default_rng(0)
    detector = create_model("oe_vae", TINY)
    with pytest.raises(JetaeError, match=r"outlier jets give inputs of shape \(60,\).*\(80,\)"):
        detector.fit(rng.normal(size=(100, 80)), outliers=rng.normal(size=(50, 60)))


def test_oe_vae_without_outliers_is_rejected(samples):
    with pytest.raises(JetaeError, match="oe_vae needs outlier jets"):
        create_model("oe_vae", TINY).fit(samples["qcd"][:100])


def test_plain_vae_does_not_take_outliers(samples):
    with pytest.raises(JetaeError, match="does not take fit options outliers"):
        create_model("vae", TINY).fit(samples["qcd"][:100], outliers=samples["w"][:10])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"beta": -0.1}, "beta must be >= 0"),
        ({"beta": float("nan")}, "option beta: cannot use nan as float"),
        ({"disco_lambda": -1.0}, "disco_lambda must be >= 0"),
        ({"beta_warmup_epochs": -1}, "beta_warmup_epochs"),
        ({"tag_score": "energy"}, "tag_score must be one of"),
        ({"tag_score": "mahalanobis", "disco_lambda": 1.0}, "DisCo needs a tag_score"),
    ],
)
def test_bad_vae_options(options, message):
    with pytest.raises(JetaeError, match=message):
        create_model("vae", options)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"oe_lambda": -1}, "oe_lambda"),
        ({"oe_margin": -1}, "oe_margin"),
        ({"tag_score": "mahalanobis"}, "oe_vae needs a tag_score"),
    ],
)
def test_bad_oe_vae_options(options, message):
    with pytest.raises(JetaeError, match=message):
        create_model("oe_vae", options)


def test_latent_score_from_a_model_without_a_latent_distribution(samples):
    ae = create_model("dense_ae", hidden=[16], latent_dim=3, epochs=1, progress=False).fit(samples["qcd"][:100])
    with pytest.raises(JetaeError, match=r"model 'dense_ae' has no score 'kl'; available: reconstruction"):
        ae.anomaly_score(samples["top"], score="kl")


def test_unknown_score_of_a_vae_lists_the_available_ones(trained_vae, samples):
    with pytest.raises(JetaeError, match="available: elbo, reconstruction, kl, latent_l2, mahalanobis"):
        trained_vae.anomaly_score(samples["top"], score="energy")

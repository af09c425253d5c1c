"""Density detectors (observable_density, latent_density, combination) and the physics features
they use (N-subjettiness, fixed-mass rescaling): exact densities on a Gaussian toy, physics sanity
on Pythia jets, save/load without pickle."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import multivariate_normal, norm

from jetae.errors import JetaeError
from jetae.features import make_representation
from jetae.features.kinematics import jet_four_momentum, jet_mass
from jetae.features.rescale import rescale_and_boost
from jetae.features.substructure import nsubjettiness, observable_names
from jetae.generation.generate import generate_jets
from jetae.models import create_model
from jetae.models.base import load_model
from jetae.models.density import combine_p_values, p_values
from toys import prong_jets

MEAN = np.array([1.0, -3.0])
COVARIANCE = np.array([[2.0, 0.6], [0.6, 0.5]])


@pytest.fixture(scope="module")
def gaussian():
    rng = np.random.default_rng(0)
    return rng.multivariate_normal(MEAN, COVARIANCE, 20000), rng.multivariate_normal(MEAN, COVARIANCE, 500)


@pytest.fixture(scope="module")
def pythia_jets():
    return generate_jets("qcd", 60, seed=21, workers=1), generate_jets("top", 60, seed=22, workers=1)


def test_gmm_score_is_the_exact_negative_log_density(gaussian):
    train, test = gaussian
    detector = create_model("observable_density", n_components=1).fit(train)
    # the fitted Gaussian, mapped back from the standardized space to input units
    scale, offset = detector.scaler_.scale_.astype(np.float64), detector.scaler_.offset_.astype(np.float64)
    mean = detector.density_.means_[0] * scale + offset
    covariance = detector.density_.covariances_[0] * np.outer(scale, scale)
    expected = -multivariate_normal(mean, covariance).logpdf(test)
    np.testing.assert_allclose(detector.anomaly_score(test), expected, rtol=1e-5)  # float32 inputs
    # and close to the truth (20k samples)
    truth = -multivariate_normal(MEAN, COVARIANCE).logpdf(test)
    assert np.median(np.abs(detector.anomaly_score(test) - truth)) < 0.02


def test_flow_learns_the_gaussian_density(gaussian):
    train, test = gaussian
    detector = create_model("observable_density", estimator="flow", flow_epochs=4, flow_hidden=32).fit(train)
    truth = -multivariate_normal(MEAN, COVARIANCE).logpdf(test)
    assert np.median(np.abs(detector.anomaly_score(test) - truth)) < 0.1


def test_p_values_are_upper_tail_fractions():
    reference = np.sort(np.arange(1.0, 100.0))  # 99 background scores
    p = p_values(reference, np.array([0.0, 50.0, 99.0, 1000.0]))
    np.testing.assert_allclose(p, [1.0, 51 / 100, 2 / 100, 1 / 100])


def test_nsubjettiness_physics(pythia_jets):
    qcd, top = pythia_jets
    taus = {name: nsubjettiness(jets.constituents, n_max=4)[..., 0] for name, jets in (("qcd", qcd), ("top", top))}
    for value in taus.values():
        assert (np.diff(value, axis=1) <= 1e-9).all()  # more (WTA) axes never fit worse
        assert ((value >= 0) & (value <= 1)).all()
    tau32 = {name: np.median(value[:, 2] / value[:, 1]) for name, value in taus.items()}
    assert tau32["top"] < tau32["qcd"] - 0.1  # three prongs


def test_observables_representation(pythia_jets):
    qcd, _ = pythia_jets
    features = make_representation(qcd, {"kind": "observables"})
    assert features.shape == (len(qcd), 6) and features.dtype == np.float32
    np.testing.assert_allclose(np.expm1(features[:, 0]), jet_mass(qcd.constituents), rtol=1e-4)
    assert len(observable_names()) == 16
    with pytest.raises(JetaeError, match="n_max"):
        make_representation(qcd, {"kind": "observables", "n_max": 0})


def test_rescale_and_boost_fixes_mass_and_energy(pythia_jets):
    _, top = pythia_jets
    boosted = rescale_and_boost(top.constituents, mass=100.0, energy=400.0)
    jets = jet_four_momentum(boosted)
    np.testing.assert_allclose(jets[:, 0], 400.0, rtol=1e-6)
    np.testing.assert_allclose(jet_mass(boosted), 100.0, rtol=1e-5)
    before, after = jet_four_momentum(top.constituents), jets
    cosine = np.einsum("jk,jk->j", before[:, 1:], after[:, 1:])
    cosine /= np.linalg.norm(before[:, 1:], axis=1) * np.linalg.norm(after[:, 1:], axis=1)
    np.testing.assert_allclose(cosine, 1.0, atol=1e-9)  # the jet axis does not move
    assert ((boosted == 0).all(-1) == (top.constituents == 0).all(-1)).all()  # padding stays padding
    images = make_representation(top, {"kind": "image", "fixed_mass": 100.0, "fixed_energy": 400.0, "smooth": 1.0})
    np.testing.assert_allclose(images.sum(axis=(1, 2, 3)), 1.0, rtol=1e-5)
    with pytest.raises(JetaeError, match="fixed_mass"):
        make_representation(top, {"kind": "image", "fixed_mass": 100.0})


@pytest.mark.parametrize(
    "name, options",
    [
        ("observable_density", {"n_components": 3}),
        ("observable_density", {"estimator": "flow", "flow_epochs": 2, "flow_hidden": 16}),
        ("latent_density", {"n_components": 2, "options": {"epochs": 1}}),
        ("combination", {"members": [{"model": "pca", "options": {"n_components": 3}}, "observable_density"]}),
        # the recommended configuration's members (configs/agnostic.yaml), a network among them
        ("combination", {"members": [{"model": "conv_ae", "options": {"epochs": 2}}, "observable_density"]}),
    ],
)
def test_density_models_train_score_save_load(tmp_path, name, options):
    train, test = prong_jets(200, 1, seed=1), prong_jets(40, 3, seed=2)
    detector = create_model(name, options).fit(train)
    scores = detector.anomaly_score(test)
    assert scores.shape == (40,) and np.isfinite(scores).all()
    detector.save(tmp_path / "run")
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [
        "config.json",
        "history.json",
        "weights.safetensors",
    ]
    json.loads((tmp_path / "run" / "config.json").read_text())
    np.testing.assert_array_equal(load_model(tmp_path / "run").anomaly_score(test), scores)


def test_combination_ranks_like_its_members_agree(pythia_jets):
    qcd, top = pythia_jets
    detector = create_model(
        "combination", members=["observable_density"], method="fisher", calibration_fraction=0.5
    ).fit(qcd)
    p = detector.member_p_values(top)
    np.testing.assert_allclose(detector.anomaly_score(top), -np.log(p[0]))
    assert ((p > 0) & (p <= 1)).all()


def test_stouffer_adds_consistent_evidence_where_fisher_follows_one_small_p_value():
    # jet 0: one score far out, the other typical; jet 1: both moderately unusual
    p = np.array([[0.001, 0.05], [0.9, 0.05]])
    fisher, stouffer = combine_p_values(p, "fisher"), combine_p_values(p, "stouffer", n_reference=10**9)
    assert fisher[0] > fisher[1] and stouffer[1] > stouffer[0]
    np.testing.assert_allclose(stouffer, norm.isf(p).sum(axis=0) / np.sqrt(2), rtol=1e-6)
    # a jet below every reference score in one member and above every one in the other scores 0
    reference = np.arange(1.0, 100.0)
    extremes = np.stack([p_values(reference, np.array([0.0])), p_values(reference, np.array([1e3]))])
    np.testing.assert_allclose(combine_p_values(extremes, "stouffer", n_reference=99), [0.0], atol=1e-12)
    with pytest.raises(ValueError, match="n_reference"):
        combine_p_values(p, "stouffer")


def test_stouffer_floor_caps_how_typical_a_member_can_call_a_jet():
    # jet 0: far out in member 0, reconstructed better than ~all background in member 1;
    # jet 1: far out in member 0, typical in member 1
    p = np.array([[1e-4, 1e-4], [1.0 - 1e-6, 0.5]])
    plain = combine_p_values(p, "stouffer", n_reference=10**9)
    floored = combine_p_values(p, "stouffer", n_reference=10**9, z_floor=-1.645)
    np.testing.assert_allclose(floored, np.maximum(norm.isf(p), -1.645).sum(axis=0) / np.sqrt(2), rtol=1e-6)
    assert plain[0] < 0 < floored[0] < floored[1]  # the floor keeps jet 0's evidence from member 0
    np.testing.assert_allclose(floored[1], plain[1])  # quantiles above the floor are untouched
    with pytest.raises(ValueError, match="z_floor applies to the stouffer method"):
        combine_p_values(p, "fisher", z_floor=-1.0)


def test_stouffer_combination_scores_its_members_p_values(pythia_jets, tmp_path):
    qcd, top = pythia_jets
    detector = create_model(
        "combination", members=["pca", "observable_density"], method="stouffer", calibration_fraction=0.5, z_floor=-1
    ).fit(qcd)
    p = detector.member_p_values(top)
    n = len(detector.reference_[0])
    expected = np.maximum(norm.isf(p - 0.5 / (n + 1)), -1.0).sum(axis=0) / np.sqrt(2)
    np.testing.assert_allclose(detector.anomaly_score(top), expected, rtol=1e-9)
    assert np.isfinite(detector.anomaly_score(qcd)).all()
    assert detector.get_params()["z_floor"] == -1.0
    detector.save(tmp_path / "run")  # the floor is part of the saved config
    np.testing.assert_array_equal(load_model(tmp_path / "run").anomaly_score(top), detector.anomaly_score(top))
    # the report's reconstruction and latent plots are skipped with this reason, not a shape error
    with pytest.raises(JetaeError, match="has no reconstruction"):
        detector.reconstruct(top)
    with pytest.raises(JetaeError, match="has no latent space"):
        detector.encode(top)


def test_bad_options_are_one_line_errors():
    with pytest.raises(JetaeError, match="estimator"):
        create_model("observable_density", estimator="kde")
    with pytest.raises(JetaeError, match="member 0"):
        create_model("combination", members=[{"model": "pca", "options": {"bogus": 1}}])
    with pytest.raises(JetaeError, match="unknown model|no model|available"):
        create_model("combination", members=["not_a_model"])
    with pytest.raises(JetaeError, match="fisher, min_p, stouffer"):
        create_model("combination", method="tippett")
    for bad in (1.0, float("nan"), "low", True):
        with pytest.raises(JetaeError, match="z_floor"):
            create_model("combination", method="stouffer", z_floor=bad)
    with pytest.raises(JetaeError, match="latent_density"):
        create_model("latent_density", model="combination")


def test_z_floor_is_stouffers_alone(pythia_jets):
    """The default floor (-1.645) belongs to Stouffer's rule; Fisher's and min-p ignore it, so switching
    the method alone works, also through scikit-learn's ``set_params`` on a configured detector."""
    qcd = pythia_jets[0]
    floored = create_model("combination", members=["pca"], calibration_fraction=0.5).fit(qcd)
    assert (floored.config.method, floored.config.z_floor) == ("stouffer", -1.645)
    p = floored.member_p_values(qcd)
    for method in ("fisher", "min_p"):
        floored.set_params(method=method)  # fitted state kept: the same members, another rule
        assert floored.config.z_floor == -1.645
        np.testing.assert_allclose(floored.anomaly_score(qcd), combine_p_values(p, method, len(floored.reference_[0])))
    assert create_model("combination", z_floor=None).config.z_floor is None
    assert create_model("combination", z_floor=-2).config.z_floor == -2.0


def test_agnostic_config_names_its_model_and_resolves():
    import argparse
    from pathlib import Path

    from jetae.cli.train import model_options

    configs = Path(__file__).resolve().parents[1] / "configs"
    members, options = {}, {}
    for name in ("agnostic.yaml", "agnostic_fast.yaml"):
        args = argparse.Namespace(model="combination", config=str(configs / name), set=[], epochs=None, seed=None)
        options[name] = model_options(args)
        assert "model" not in options[name]
        config = create_model("combination", options[name]).config
        members[name] = config.members
        # the rule both files' figures were measured with
        assert (config.method, config.z_floor) == ("stouffer", -1.645)
    # the recommended image view is conv_ae at the 10 epochs its figures were measured with
    assert [(m["model"], m["options"]) for m in members["agnostic.yaml"]] == [
        ("conv_ae", {"epochs": 10}),
        ("observable_density", {}),
    ]
    assert [m["model"] for m in members["agnostic_fast.yaml"]] == ["pca", "observable_density"]
    # the class defaults are the recommended detector, so `jetae train combination` alone trains it
    recommended = create_model("combination", options["agnostic.yaml"])
    assert create_model("combination").get_params() == recommended.get_params()
    config = configs / "agnostic.yaml"
    with pytest.raises(JetaeError, match="config for model 'combination', not 'pca'"):
        model_options(argparse.Namespace(model="pca", config=str(config), set=[], epochs=None, seed=None))


def test_density_models_and_numpy_only_image_options_refuse_onnx_export(tmp_path):
    pytest.importorskip("onnx")
    from jetae.models.export import export_onnx

    train = prong_jets(100, 1, seed=1)
    for name, options in (
        ("observable_density", {"n_components": 2}),
        ("pca", {"n_components": 3, "representation": {"kind": "image", "smooth": 1.0}}),
    ):
        detector = create_model(name, options).fit(train)
        with pytest.raises(JetaeError, match="no torch version|cannot be exported"):
            export_onnx(detector, tmp_path / f"{name}.onnx")
        assert not (tmp_path / f"{name}.onnx").exists()

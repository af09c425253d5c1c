"""The autoencoder as a tool (issue #20): pretraining, AE features, sampling, morphing.

What the issue asks the tests to show: the pretrained tagger really starts from the encoder's
weights; the feature matrix has the documented columns; sampled jets have the trained
representation's shape and obey its normalisation; the morph endpoints decode to the endpoints'
reconstructions. Each command also runs once end to end on tiny samples.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch

from jetae.cli.main import main
from jetae.errors import JetaeError
from jetae.experiments.studies.autoencoder import decode, project
from jetae.experiments.studies.features import (
    OBSERVABLE_COLUMNS,
    ae_feature_columns,
    ae_features,
    feature_matrix,
    observable_features,
)
from jetae.experiments.studies.morph import attribute_morph, attribute_vector, morph_pairs
from jetae.experiments.studies.pretrain import TaggerBudget, build_tagger, train_tagger
from jetae.experiments.studies.sample import sample_jets
from jetae.features.kinematics import jet_mass
from jetae.features.substructure import nsubjettiness
from jetae.io.representation_file import read_representation_file, write_representation_file
from jetae.io.toptag import write_jets
from jetae.models import create_model
from toys import prong_jets

toy_jets = partial(prong_jets, n_constituents=30, pt=600.0, random_axis=False)

#: 16x16 images wide enough for the toy prongs; a tiny network so that every fit takes a second.
IMAGE = {"kind": "image", "n_pixels": 16, "pixel_eta": 0.08, "pixel_phi": 0.08}
TINY = {"hidden": [32], "latent_dim": 4, "epochs": 3, "batch_size": 64, "lr": 3e-3, "device": "cpu", "progress": False}


@pytest.fixture(scope="module")
def jets():
    return {
        "qcd_train": toy_jets(400, 1, 1),
        "top_train": toy_jets(300, 3, 2),
        "qcd_test": toy_jets(150, 1, 3),
        "top_test": toy_jets(150, 3, 4),
    }


@pytest.fixture(scope="module")
def files(jets, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ae_tool_jets")
    paths = {}
    for name, sample in jets.items():
        paths[name] = root / f"{name}.h5"
        write_jets(paths[name], sample, n_constituents=30)
    return paths


@pytest.fixture(scope="module")
def dense(jets, tmp_path_factory):
    """A dense AE on unit-sum images, fitted on the QCD training jets, and its run directory."""
    detector = create_model("dense_ae", {**TINY, "representation": IMAGE, "scaler": "global"}).fit(jets["qcd_train"])
    run = tmp_path_factory.mktemp("ae_tool_runs") / "dense"
    detector.save(run)
    return detector, run


@pytest.fixture(scope="module")
def vae(jets):
    """A VAE on its default representation: 20 constituents x (delta_eta, delta_phi, pt_rel)."""
    return create_model("vae", {**TINY, "hidden": [32]}).fit(jets["qcd_train"])


def inputs(files) -> list[str]:
    return [
        "--background",
        str(files["qcd_train"]),
        "--signal",
        str(files["top_train"]),
        "--test-background",
        str(files["qcd_test"]),
        "--test-signal",
        str(files["top_test"]),
    ]


# --------------------------------------------------------------------------- pretrain
def test_pretrained_tagger_starts_from_the_encoders_weights(dense, jets):
    detector, _ = dense
    encoder = detector.network_.encoder.state_dict()
    pretrained = build_tagger(detector, pretrained=True, seed=3)
    scratch = build_tagger(detector, pretrained=False, seed=3)
    for key, value in encoder.items():
        assert torch.equal(pretrained.encoder.state_dict()[key], value), key
        assert scratch.encoder.state_dict()[key].shape == value.shape
    weights = [key for key in encoder if key.endswith("weight")]
    assert weights and all(not torch.equal(scratch.encoder.state_dict()[k], encoder[k]) for k in weights)
    # both arms of a seed start with the same head
    for key, value in pretrained.head.state_dict().items():
        assert torch.equal(scratch.head.state_dict()[key], value)

    # fine-tuning moves a copy: the autoencoder keeps its weights; a frozen encoder does not move at all
    labelled = np.concatenate([detector.transform(jets["qcd_train"][:60]), detector.transform(jets["top_train"][:60])])
    labels = np.r_[np.zeros(60), np.ones(60)]
    budget = TaggerBudget(steps=5, batch_size=32)
    before = {k: v.clone() for k, v in encoder.items()}
    train_tagger(pretrained, labelled, labels, budget, seed=3, device="cpu")
    frozen = build_tagger(detector, pretrained=True, seed=3, freeze=True)
    head_before = {k: v.clone() for k, v in frozen.head.state_dict().items()}
    train_tagger(frozen, labelled, labels, budget, seed=3, device="cpu")
    assert all(torch.equal(detector.network_.encoder.state_dict()[k], v) for k, v in before.items())
    assert any(not torch.equal(pretrained.encoder.state_dict()[k], before[k]) for k in weights)
    assert all(torch.equal(frozen.encoder.state_dict()[k], before[k]) for k in before)
    assert any(not torch.equal(frozen.head.state_dict()[k], v) for k, v in head_before.items())


def test_pretrain_cli_writes_the_issue_layout(files, tmp_path, capsys):
    out = tmp_path / "pretrain"
    options = ["--set", "hidden=[32]", "--set", "latent_dim=4", "--set", f"representation={json.dumps(IMAGE)}"]
    code = main(
        ["study", "pretrain", *inputs(files), "--labels", "20,60", "--seeds", "2", "--epochs", "2", "--steps", "4"]
        + [*options, "--set", "device=cpu", "--out", str(out)]
    )
    assert code == 0, capsys.readouterr().err
    results = json.loads((out / "results.json").read_text())
    for key in ("n_labels", "pretrained_auc", "pretrained_auc_sd", "scratch_auc", "scratch_auc_sd"):
        assert len(results[key]) == 2, key
    assert results["n_labels"] == [20, 60]
    assert all(0.0 <= a <= 1.0 for a in results["pretrained_auc"] + results["scratch_auc"])
    assert len(results["per_seed"]["pretrained"][0]) == 2 and len(results["verdict"]) == 2
    assert {"pretrain.png", "pretrain.pdf", "report.html", "config.json"} <= {p.name for p in out.iterdir()}
    assert json.loads((out / "config.json").read_text())["parameters"]["n_labels"] == [20, 60]
    assert "jetae study pretrain" in (out / "report.html").read_text()


def test_pretrain_refuses_more_labels_than_jets_before_training(files, tmp_path, capsys):
    code = main(["study", "pretrain", *inputs(files), "--labels", "700", "--out", str(tmp_path / "x")])
    assert code == 2
    assert "700 labels need 350 background and 350 signal" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


# --------------------------------------------------------------------------- features
def test_feature_matrix_has_the_documented_columns(dense, jets):
    detector, _ = dense
    sample = jets["top_test"][:40]
    observables, names = observable_features(sample)
    assert names == list(OBSERVABLE_COLUMNS) == ["mass", "pt", "multiplicity", "tau1", "tau2", "tau3", "tau21", "tau32"]
    assert observables.shape == (40, 8) and np.isfinite(observables).all()
    np.testing.assert_allclose(observables[:, names.index("mass")], jet_mass(sample.constituents), rtol=1e-6)
    np.testing.assert_array_equal(observables[:, names.index("multiplicity")], 30)
    tau = observables[:, 3:6]
    np.testing.assert_allclose(observables[:, 6], tau[:, 1] / tau[:, 0])
    np.testing.assert_allclose(observables[:, 7], tau[:, 2] / tau[:, 1])

    codes, code_names = ae_features(detector, sample)
    assert code_names == ae_feature_columns(4) == ["z0", "z1", "z2", "z3", "reconstruction_error"]
    np.testing.assert_allclose(codes[:, :4], detector.encode(sample), rtol=1e-6)
    np.testing.assert_allclose(codes[:, 4], detector.anomaly_score(sample, "reconstruction"), rtol=1e-6)
    both, both_names = feature_matrix("both", sample, detector)
    assert both_names == names + code_names
    np.testing.assert_allclose(both, np.column_stack([observables, codes]))
    with pytest.raises(JetaeError, match="unknown feature set"):
        feature_matrix("pixels", sample, detector)


def test_nsubjettiness_with_fastjet_axes():
    # three massless particles; tau_N = 0 once every particle is its own axis
    pt = np.array([300.0, 200.0, 100.0])
    eta, phi = np.array([0.0, 0.3, -0.2]), np.array([0.0, 0.1, 0.4])
    p4 = np.stack([pt * np.cosh(eta), pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)], axis=-1)
    padded = np.zeros((2, 5, 4))
    padded[0, :3] = p4
    taus = nsubjettiness(padded, n_max=4)[..., 0]
    assert taus.shape == (2, 4)
    np.testing.assert_array_equal(taus[1], 0.0)  # an empty jet
    assert taus[0, 0] > taus[0, 1] > 0.0 and taus[0, 2] == taus[0, 3] == 0.0
    # tau1: the winner-take-all axis is the hardest particle's direction; distances in
    # rapidity-azimuth (= eta for massless particles), normalised by sum pT * R0
    expected = (pt * np.hypot(eta - eta[0], phi - phi[0])).sum() / (pt.sum() * 0.8)
    assert taus[0, 0] == pytest.approx(expected, rel=1e-9)


def test_features_cli(dense, files, tmp_path, capsys):
    _, run = dense
    out = tmp_path / "features"
    code = main(["study", "features", str(run), *inputs(files), "--n-bootstrap", "5", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    results = json.loads((out / "results.json").read_text())
    assert set(results["auc"]) == {"observables", "ae_features", "both", "unsupervised_ae_features"}
    for kind in ("observables", "ae_features", "both"):
        assert set(results["importances"][kind]) == set(results["columns"][kind])
        assert sum(results["importances"][kind].values()) == pytest.approx(1.0)
    assert results["columns"]["both"] == list(OBSERVABLE_COLUMNS) + ae_feature_columns(4)
    assert "features.png" in {p.name for p in out.iterdir()} and (out / "report.html").exists()


# --------------------------------------------------------------------------- sample
def test_sampled_jets_have_the_representation_shape_and_obey_its_normalisation(dense, files, tmp_path, capsys):
    detector, run = dense
    out = tmp_path / "generated.h5"
    code = main(["sample", str(run), "--n", "80", "--out", str(out), "--train", str(files["qcd_train"])])
    assert code == 0, capsys.readouterr().err
    generated = read_representation_file(out)
    assert generated.inputs.shape == (80, *detector.input_shape_) == (80, 1, 16, 16)
    assert generated.representation == IMAGE == detector.config.representation
    assert (generated.inputs >= 0).all()
    np.testing.assert_allclose(generated.inputs.reshape(80, -1).sum(axis=1), 1.0, rtol=1e-5)
    assert generated.metadata["sampler"] == "gaussian_mixture" and generated.arrays["latent"].shape == (80, 4)
    # the rows are the decoded codes, made valid: decoding the stored codes again gives them back
    np.testing.assert_allclose(
        project(decode(detector, generated.arrays["latent"]), IMAGE), generated.inputs, rtol=1e-5, atol=1e-7
    )
    report = json.loads((tmp_path / "generated_report" / "results.json").read_text())
    assert 0.0 <= report["classifier_auc"] <= 1.0 and report["n_compare"] == 80
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    assert "80 (representation file" in capsys.readouterr().out
    # scored directly by the model that made them
    assert detector.anomaly_score(generated.inputs).shape == (80,)


def test_vae_samples_its_prior_and_keeps_constituent_rows_valid(vae):
    generated = sample_jets(vae, 50, seed=1)
    assert generated.metadata["sampler"] == "vae_prior"
    assert generated.rows.shape == (50, *vae.input_shape_) == (50, 60)
    table = generated.rows.reshape(50, 20, 3)  # delta_eta, delta_phi, pt_rel
    pt_rel = table[..., 2]
    assert (pt_rel >= 0).all() and (np.diff(pt_rel, axis=1) <= 0).all()
    padding = pt_rel == 0
    assert (table[padding] == 0).all()
    again = sample_jets(vae, 50, seed=1)
    np.testing.assert_array_equal(again.rows, generated.rows)


def test_representation_file_round_trip_and_refusals(tmp_path):
    rows = np.random.default_rng(0).random((7, 1, 4, 4)).astype(np.float32)
    path = write_representation_file(tmp_path / "r.h5", rows, {"kind": "image", "n_pixels": 4}, {"who": "test"})
    back = read_representation_file(path)
    np.testing.assert_array_equal(back.inputs, rows)
    assert back.representation == {"kind": "image", "n_pixels": 4} and back.metadata == {"who": "test"}
    assert len(read_representation_file(path, n_max=3)) == 3
    with pytest.raises(JetaeError, match="exists"):
        write_representation_file(path, rows, {"kind": "image"})
    jets_file = tmp_path / "jets.h5"
    write_jets(jets_file, toy_jets(5, 1, 0), n_constituents=30)
    with pytest.raises(JetaeError, match="not a jetae representation file"):
        read_representation_file(jets_file)


# --------------------------------------------------------------------------- morph
@pytest.mark.parametrize("model", ["dense", "vae"])
def test_morph_endpoints_decode_to_the_endpoints_reconstructions(model, dense, vae, jets):
    detector = dense[0] if model == "dense" else vae
    a, b = jets["qcd_test"][:5], jets["top_test"][:5]
    line = morph_pairs(detector, a, b, steps=4)
    assert line.shape == (5, 4, *detector.input_shape_)
    np.testing.assert_allclose(line[:, 0], detector.reconstruct(a)[1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(line[:, -1], detector.reconstruct(b)[1], rtol=1e-5, atol=1e-6)
    assert not np.allclose(line[:, 1], line[:, 0])
    vector = attribute_vector(detector, jets["qcd_test"], jets["top_test"])
    morphed = attribute_morph(detector, a, vector, np.array([0.0, 1.0]))
    np.testing.assert_allclose(morphed[0], detector.reconstruct(a)[1], rtol=1e-5, atol=1e-6)
    shifted = detector.encode(a) + vector
    np.testing.assert_allclose(morphed[1], decode(detector, shifted), rtol=1e-5, atol=1e-6)


def test_morph_cli(dense, files, tmp_path, capsys):
    _, run = dense
    out = tmp_path / "morph"
    code = main(
        ["study", "morph", str(run), "--from", str(files["qcd_test"]), "--to", str(files["top_test"])]
        + ["--steps", "5", "--pairs", "3", "--out", str(out)]
    )
    assert code == 0, capsys.readouterr().err
    results = json.loads((out / "results.json").read_text())
    assert results["attribute"]["alpha"] == [0.0, 0.25, 0.5, 0.75, 1.0]
    for walk in ("attribute", "interpolation"):
        for name in ("mass", "pt", "multiplicity", "tau21", "tau32"):
            block = results[walk]["observables"][name]
            assert len(block["mean"]) == 5 and len(block["shift_per_step"]) == 4
    config = json.loads((out / "config.json").read_text())
    assert config["command"].startswith(f"jetae study morph {run} ")
    assert {"interpolation.png", "attribute_images.png", "attribute_observables.pdf", "report.html"} <= {
        p.name for p in out.iterdir()
    }


def test_sample_of_a_plain_autoencoder_needs_jets_for_its_density(dense, files, tmp_path, capsys):
    _, run = dense
    out = tmp_path / "g.h5"
    code = main(["sample", str(run), "--n", "10", "--out", str(out), "--reference", str(files["qcd_test"])])
    assert code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "has no prior" in err and "--train" in err
    assert not out.exists() and not (tmp_path / "g_report").exists()


def test_a_model_without_encoder_is_refused_before_any_work(jets, files, tmp_path, capsys):
    pca_run = tmp_path / "pca"
    create_model("pca", {"representation": IMAGE, "n_components": 3}).fit(jets["qcd_train"]).save(pca_run)
    for argv in (
        ["study", "features", str(pca_run), *inputs(files), "--out", str(tmp_path / "f")],
        ["study", "morph", str(pca_run), "--from", str(files["qcd_test"]), "--to", str(files["top_test"])]
        + ["--out", str(tmp_path / "m")],
        ["study", "pretrain", *inputs(files), "--model", "pca", "--out", str(tmp_path / "p")],
        ["sample", str(pca_run), "--n", "5", "--train", str(files["qcd_train"]), "--out", str(tmp_path / "s.h5")],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err and "is not an autoencoder with an encoder" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pca"]

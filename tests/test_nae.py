"""The normalized autoencoder: sampler, likelihood loss, divergence, determinism, persistence.

Everything runs on tiny 8x8 inputs (scikit-learn's bundled digits) and tiny networks so the
file stays fast on a shared CPU.
"""

from __future__ import annotations

import copy
import dataclasses
import logging

import numpy as np
import pytest
import torch

from jetae.errors import JetaeError
from jetae.experiments.studies.digits import digits_holdout_study, holdout_split, load_digit_images
from jetae.jets import Jets
from jetae.models import create_model, load_model
from jetae.models.nae import ReplayBuffer, WeightAverage, langevin

TINY = {
    "stages": [[4], [4]],
    "conv_dense": [16],
    "latent_dim": 4,
    "batch_size": 32,
    "lr": 3e-3,
    "ae_epochs": 15,
    "epochs": 1,
    "nae_lr": 1e-3,
    "nae_lr_schedule": "constant",  # the tests below compare epochs at one learning rate
    "x_steps": 4,
    "z_steps": 4,
    "x_step_size": 1.0,
    "z_step_size": 0.5,
    "val_fraction": 0.25,
    "device": "cpu",
    "progress": False,
    "scaler": "none",
    "output_activation": "sigmoid",
}


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    images, labels = load_digit_images()
    return images[labels != 1][:256]


@pytest.fixture(scope="module")
def fitted(digits):
    return create_model("nae", TINY, seed=3).fit(digits)


def _weights(detector) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in detector.network_.state_dict().items()}


# ---------------------------------------------------------------- sampler
def test_langevin_descends_a_quadratic_energy_and_respects_bounds():
    centre = torch.full((1, 5), 0.3)
    start = torch.rand((64, 5), generator=torch.Generator().manual_seed(0)) * 4 - 2

    def energy(x):
        return (x - centre).square().sum(dim=1)

    end = langevin(
        start,
        energy,
        n_steps=50,
        step_size=0.05,
        noise=0.01,
        bounds=(0.0, 1.0),
        generator=torch.Generator().manual_seed(1),
    )
    assert energy(end).mean() < 0.01 * energy(start).mean()
    assert end.min() >= 0.0 and end.max() <= 1.0
    assert not start.requires_grad and torch.equal(start, start.detach())  # start untouched


def test_langevin_gradient_clip_limits_each_step():
    start = torch.zeros((3, 4))
    end = langevin(start, lambda x: 1e6 * x.sum(dim=1), n_steps=1, step_size=1.0, noise=0.0, grad_clip=0.5)
    assert torch.allclose(end.norm(dim=1), torch.full((3,), 0.5))


def test_langevin_projection_keeps_latents_on_the_sphere():
    start = torch.nn.functional.normalize(torch.randn(16, 3), dim=1)
    end = langevin(
        start,
        lambda z: z[:, 0],
        n_steps=20,
        step_size=0.1,
        noise=0.05,
        project=lambda z: torch.nn.functional.normalize(z, dim=1),
    )
    assert torch.allclose(end.norm(dim=1), torch.ones(16), atol=1e-5)
    assert end[:, 0].mean() < start[:, 0].mean()  # walked downhill towards z0 = -1


def test_langevin_leaves_network_gradients_alone(fitted):
    network = fitted.network_
    network.zero_grad(set_to_none=True)
    start = torch.rand((8, 1, 8, 8))
    langevin(start, lambda x: fitted.energy(network, x), n_steps=2, step_size=1.0, noise=0.0)
    assert all(p.grad is None for p in network.parameters())


def test_sampler_chains_lower_the_energy_of_their_samples(fitted):
    network = fitted.network_
    # Latent chain: the decoded chain ends have lower energy than the decoded random starts.
    negatives = fitted.sample(network, 64, torch.device("cpu"), torch.Generator().manual_seed(0))
    assert negatives.latent_start_energy is not None
    assert negatives.start_energy.mean() < negatives.latent_start_energy.mean()
    # Input chain: started from uniform noise, it walks down the energy.
    noise_init = copy.copy(fitted)
    noise_init.config = dataclasses.replace(fitted.config, init="uniform", x_steps=20)
    negatives = noise_init.sample(network, 64, torch.device("cpu"), torch.Generator().manual_seed(0))
    with torch.no_grad():
        end_energy = fitted.energy(network, negatives.inputs)
    assert negatives.latent is None
    assert end_energy.mean() < 0.8 * negatives.start_energy.mean()


# ---------------------------------------------------------------- loss
def test_likelihood_step_pushes_negative_energies_up(digits):
    detector = create_model("nae", TINY, ae_epochs=5, nae_epochs=0, gamma=0.0, weight_l2=0.0, seed=0).fit(digits)
    network = detector.network_.train()
    detector._phase = "nae"
    positives = torch.from_numpy(digits[:64])
    parts = detector.training_loss(network, {"inputs": positives}, stage="train")
    negatives = detector._last_negatives
    assert set(parts) >= {"loss", "score", "pos_energy", "neg_energy"}
    assert parts["score"].shape == (64,)

    def energies():
        with torch.no_grad():
            return float(detector.energy(network, positives).mean()), float(detector.energy(network, negatives).mean())

    pos_before, neg_before = energies()
    assert parts["loss"].item() == pytest.approx(pos_before - neg_before, rel=1e-4, abs=1e-6)
    optimizer = torch.optim.SGD(network.parameters(), lr=0.5)
    for _ in range(5):  # same negatives: plain gradient descent on E_pos - E_neg
        optimizer.zero_grad()
        loss = detector.energy(network, positives).mean() - detector.energy(network, negatives).mean()
        loss.backward()
        optimizer.step()
    pos_after, neg_after = energies()
    assert neg_after > neg_before
    assert neg_after - pos_after > neg_before - pos_before


def test_fit_records_both_phases_and_mcmc_diagnostics(fitted):
    phases = [record["phase"] for record in fitted.history_]
    assert phases[:1] == ["ae"] and phases[-1] == "nae"
    assert [record["epoch"] for record in fitted.history_] == list(range(len(fitted.history_)))
    last = fitted.history_[-1]
    for key in (
        "train_pos_energy",
        "train_neg_energy",
        "train_neg_start_energy",
        "mcmc_seconds",
        "mcmc_steps_per_second",
        "val_pos_energy",
    ):
        assert np.isfinite(last[key]), key
    assert last["mcmc_seconds"] > 0 and last["mcmc_steps_per_second"] > 0


def test_noise_initialisation_with_replay_buffer_trains(digits):
    detector = create_model(
        "nae", TINY, init="uniform", buffer_size=100, replay_fraction=0.5, ae_epochs=1, epochs=2
    ).fit(digits)
    assert detector.history_[-1]["buffer_fill"] == 100.0
    assert np.isfinite(detector.anomaly_score(digits[:10])).all()


def test_cosine_schedule_decays_the_nae_learning_rate_per_epoch(digits):
    detector = create_model(
        "nae", TINY, ae_epochs=1, epochs=3, x_steps=2, z_steps=2, nae_lr_schedule="cosine", nae_lr_final_factor=0.1
    ).fit(digits)
    rates = [record["nae_lr"] for record in detector.history_ if record["phase"] == "nae"]
    assert rates == pytest.approx([1e-3, 0.55e-3, 1e-4])  # nae_lr, halfway, nae_lr * final factor
    constant = create_model("nae", TINY, ae_epochs=1, epochs=2, x_steps=2, z_steps=2).fit(digits)
    assert [r["nae_lr"] for r in constant.history_ if r["phase"] == "nae"] == [1e-3, 1e-3]


def test_weight_averaging_keeps_the_mean_of_the_last_epochs(digits):
    # Averaging does not change the training trajectory (same seed), only which weights are kept.
    options = dict(TINY, ae_epochs=1, x_steps=2, z_steps=2)
    after_two = _weights(create_model("nae", options, epochs=2, seed=5).fit(digits[:128]))
    after_three = _weights(create_model("nae", options, epochs=3, seed=5).fit(digits[:128]))
    averaged = _weights(create_model("nae", options, epochs=3, average_epochs=2, seed=5).fit(digits[:128]))
    # a 2-epoch NAE phase ends where a 3-epoch one is after its second epoch (constant learning rate)
    for key, value in averaged.items():
        torch.testing.assert_close(value, (after_two[key] + after_three[key]) / 2)
    assert not all(torch.equal(averaged[k], after_three[k]) for k in after_three)


def test_weight_average_survives_a_checkpoint(tmp_path):
    # A resumed NAE phase continues its running mean: the state goes into Lightning's
    # checkpoint, which jetae reads back with weights_only=True (no unpickling of objects).
    network = torch.nn.Linear(2, 1)
    average = WeightAverage(network)
    for weight in ([1.0, 2.0], [3.0, 6.0]):
        with torch.no_grad():
            network.weight.copy_(torch.tensor([weight]))
        average.add(network)
    torch.save({"weight_average": average.state()}, tmp_path / "state.pt")
    restored = WeightAverage(torch.nn.Linear(2, 1))
    restored.load_state(torch.load(tmp_path / "state.pt", weights_only=True)["weight_average"])
    mean = restored.mean()
    assert restored.count == 2 and mean["weight"].dtype == torch.float32
    torch.testing.assert_close(mean["weight"], torch.tensor([[2.0, 4.0]]))
    torch.testing.assert_close(mean["bias"], network.bias.detach())  # never changed: its mean is itself


def test_nae_trains_on_at_most_max_train_jets_and_says_so(digits, caplog):
    # The tuned setting's sample size is the default cap: a bigger file trains on its first jets.
    options = dict(TINY, ae_epochs=2, epochs=1)
    with caplog.at_level(logging.WARNING, logger="jetae.models.nae.model"):
        capped = create_model("nae", options, max_train_jets=100, seed=3).fit(digits)
    assert "training on the first 100 of 256 jets" in caplog.text and "max_train_jets=0" in caplog.text
    first = create_model("nae", options, max_train_jets=0, seed=3).fit(digits[:100])
    assert all(torch.equal(a, b) for a, b in zip(_weights(capped).values(), _weights(first).values()))
    assert create_model("nae").config.max_train_jets == 10_000


def test_interrupted_nae_fit_resumes_to_the_same_weights_schedule_and_average(digits, tmp_path):
    # The NAE phase's learning-rate schedule, weight average, MCMC generator and replay buffer live in
    # the checkpoint: a fit stopped after 2 of 3 NAE epochs and resumed ends exactly where an
    # uninterrupted one does.
    options = dict(
        TINY,
        ae_epochs=1,
        epochs=3,
        x_steps=2,
        z_steps=2,
        nae_lr_schedule="cosine",
        nae_lr_final_factor=0.1,
        average_epochs=2,
        buffer_size=64,
        seed=4,
    )
    uninterrupted = create_model("nae", options).fit(digits[:128])
    create_model("nae", options).fit(digits[:128], checkpoint_dir=tmp_path, max_epochs=2)
    assert (tmp_path / "ae" / "history.json").exists() and (tmp_path / "nae" / "last.ckpt").exists()
    resumed = create_model("nae", options).fit(digits[:128], checkpoint_dir=tmp_path, resume=True)
    timing = ("seconds", "mcmc_seconds", "mcmc_steps_per_second", "mcmc_sample_steps_per_second")
    assert [{k: v for k, v in r.items() if k not in timing} for r in resumed.history_] == [
        {k: v for k, v in r.items() if k not in timing} for r in uninterrupted.history_
    ]
    assert [r["nae_lr"] for r in resumed.history_ if r["phase"] == "nae"] == pytest.approx([1e-3, 0.55e-3, 1e-4])
    a, b = _weights(uninterrupted), _weights(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_replay_buffer_is_a_ring():
    buffer = ReplayBuffer(5)
    buffer.push(torch.arange(3.0)[:, None])
    buffer.push(torch.arange(3.0, 7.0)[:, None])
    assert len(buffer) == 5
    assert sorted(buffer.data[:, 0].tolist()) == [2.0, 3.0, 4.0, 5.0, 6.0]
    assert buffer.sample(10, torch.Generator().manual_seed(0)).shape == (10, 1)


# ---------------------------------------------------------------- robustness
def test_mcmc_divergence_stops_training_with_a_clear_error(digits):
    detector = create_model("nae", TINY, ae_epochs=1, x_bounds="none", x_step_size=1e30)
    with pytest.raises(JetaeError, match="MCMC diverged"):
        detector.fit(digits)
    assert detector.history_ and detector.history_[0]["phase"] == "ae"  # the good AE epoch is kept


def test_same_seed_gives_identical_weights_and_chains(digits):
    options = dict(TINY, ae_epochs=2, buffer_size=64)
    first = create_model("nae", options, seed=7).fit(digits)
    second = create_model("nae", options, seed=7).fit(digits)
    other = create_model("nae", options, seed=8).fit(digits)
    a, b, c = _weights(first), _weights(second), _weights(other)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)
    assert np.array_equal(first.sample_negatives(8, seed=1), second.sample_negatives(8, seed=1))
    assert not np.array_equal(first.sample_negatives(8, seed=1), first.sample_negatives(8, seed=2))


def test_bad_options_are_rejected():
    for bad in (
        {"init": "magic"},
        {"x_steps": -1},
        {"replay_fraction": 2.0},
        {"x_bounds": "sky"},
        {"temperature": 0.0},
        {"nae_lr_schedule": "step"},
        {"nae_lr_final_factor": 0.0},
    ):
        with pytest.raises(JetaeError, match="invalid option"):
            create_model("nae", **bad)


# ---------------------------------------------------------------- outputs and persistence
def test_sample_negatives_shape_range_and_finiteness(fitted, digits):
    samples = fitted.sample_negatives(10)
    assert samples.shape == (10, 1, 8, 8)
    assert samples.dtype == np.float32 and np.isfinite(samples).all()
    # Clipped to the training range (pixels in [0, 1]).
    assert samples.min() >= digits.min() - 1e-6 and samples.max() <= digits.max() + 1e-6
    with pytest.raises(JetaeError):
        fitted.sample_negatives(0)
    assert fitted.sampler_description() == "init=on_manifold, z_steps=4, x_steps=4"  # for the figure caption


def test_save_load_round_trip(fitted, digits, tmp_path):
    path = fitted.save(tmp_path / "nae_run")
    loaded = load_model(path)
    assert loaded.name == "nae" and loaded.config == fitted.config
    np.testing.assert_array_equal(loaded.anomaly_score(digits[:20]), fitted.anomaly_score(digits[:20]))
    np.testing.assert_array_equal(loaded.input_bounds_, fitted.input_bounds_)
    np.testing.assert_array_equal(loaded.sample_negatives(4, seed=5), fitted.sample_negatives(4, seed=5))
    assert [r["phase"] for r in loaded.history_] == [r["phase"] for r in fitted.history_]


def test_score_is_the_energy_and_latents_lie_on_the_sphere(fitted, digits):
    scores = fitted.anomaly_score(digits[:16])
    with torch.no_grad():
        energy = fitted.energy(fitted.network_, torch.from_numpy(digits[:16])).numpy()
    np.testing.assert_allclose(scores, energy, rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(fitted.encode(digits[:16]), axis=1), 1.0, rtol=1e-5)


def test_trains_on_jets_through_the_image_representation():
    rng = np.random.default_rng(0)
    n_jets, n_const = 48, 12
    pt = rng.exponential(50.0, (n_jets, n_const)) + 1.0
    eta, phi = rng.normal(0.0, 0.2, (2, n_jets, n_const))
    constituents = np.stack([pt * np.cosh(eta), pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)], axis=-1)
    jets = Jets.from_constituents(constituents.astype(np.float32))
    detector = create_model(
        "nae",
        TINY,
        representation={"kind": "image", "n_pixels": 16},
        scaler="global",
        output_activation="softplus",
        ae_epochs=1,
    ).fit(jets)
    assert detector.anomaly_score(jets).shape == (n_jets,)
    samples = detector.sample_negatives(3)
    assert samples.shape == (3, 1, 16, 16) and samples.min() >= 0.0


# ---------------------------------------------------------------- digits study
def test_digits_holdout_split_is_disjoint_and_complete():
    _, labels = load_digit_images()
    train, test, anomalies = holdout_split(labels, 4, 0.25, seed=0)
    assert not set(train) & set(test) and (labels[anomalies] == 4).all()
    assert (labels[train] != 4).all() and len(train) + len(test) + len(anomalies) == len(labels)


def test_digits_holdout_study_reports_auc_per_digit():
    result = digits_holdout_study(
        models=("conv_ae",),
        digits=(0, 1),
        progress=False,
        model_options={"conv_ae": {"epochs": 1, "stages": [[4], [4]], "conv_dense": [16]}},
    )
    assert set(result["auc"]["conv_ae"]) == {"0", "1"}
    assert all(0.0 <= value <= 1.0 for value in result["auc"]["conv_ae"].values())
    assert result["worst_digit"]["conv_ae"] in (0, 1)
    with pytest.raises(JetaeError):
        digits_holdout_study(models=("conv_ae",), digits=(12,))


# ---------------------------------------------------------------- report figures
def _toy_jets(n_jets: int, spread: float, seed: int, is_signal: int = 0) -> Jets:
    rng = np.random.default_rng(seed)
    pt = rng.exponential(50.0, (n_jets, 12)) + 1.0
    eta, phi = rng.normal(0.0, spread, (2, n_jets, 12))
    constituents = np.stack([pt * np.cosh(eta), pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)], axis=-1)
    return Jets.from_constituents(constituents.astype(np.float32), is_signal=is_signal)


def test_report_of_a_fitted_nae_shows_negative_samples_and_training_diagnostics(tmp_path):
    from jetae.evaluation.evaluate import evaluate_model

    background, signal = _toy_jets(48, 0.1, 0), _toy_jets(32, 0.3, 1, is_signal=1)
    detector = create_model(
        "nae",
        TINY,
        representation={"kind": "image", "n_pixels": 16},
        scaler="global",
        output_activation="softplus",
        ae_epochs=1,
        epochs=1,
    ).fit(background)
    out = tmp_path / "report"
    evaluate_model(detector, background, {"wide": signal}, out, n_bootstrap=2, n_latent=20)
    for stem in ("negatives", "nae_diagnostics"):
        for suffix in ("png", "pdf"):
            assert (out / "plots" / f"{stem}.{suffix}").stat().st_size > 0, (stem, suffix)
    html = (out / "report.html").read_text()
    assert "Negative samples (MCMC) next to real background jets" in html
    assert "NAE training diagnostics" in html
    # Detectors that cannot sample (and have no NAE history) get neither figure.
    from jetae.evaluation.evaluate import ModelResult, _energy_model_figures

    pca = create_model("pca", representation={"kind": "image", "n_pixels": 16}, n_components=2).fit(background)
    added, notes = [], []
    _energy_model_figures(
        ModelResult("pca", pca, None, {}, ["reconstruction"], {}, {}),
        background,
        lambda *args: added.append(args),
        notes,
        6,
        0,
    )
    assert added == [] and notes == []


def test_divergence_in_the_first_nae_epoch_falls_back_to_the_pretrained_autoencoder(digits):
    pretrained = create_model("nae", TINY, ae_epochs=1, nae_epochs=0).fit(digits)
    detector = create_model("nae", TINY, ae_epochs=1, x_bounds="none", x_step_size=1e30)
    with pytest.raises(JetaeError, match="restored the weights at the end of the AE phase"):
        detector.fit(digits)
    a, b = _weights(pretrained), _weights(detector)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert np.isfinite(detector.anomaly_score(digits[:8])).all()


def test_nae_ensemble_cuts_its_training_jets_once(digits, caplog):
    options = dict(TINY, ae_epochs=1, epochs=1, max_train_jets=100)
    with caplog.at_level(logging.WARNING, logger="jetae.models.nae.model"):
        ensemble = create_model("ensemble", model="nae", members=2, options=options).fit(digits)
    assert caplog.text.count("training on the first 100 of 256 jets") == 1
    single = create_model("nae", options, seed=ensemble.members_[1].config.seed).fit(digits[:100])
    assert all(torch.equal(a, b) for a, b in zip(_weights(ensemble.members_[1]).values(), _weights(single).values()))

"""DisCo: the differentiable distance correlation and mass decorrelation in training."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from jetae.evaluation.metrics import distance_correlation as numpy_distance_correlation
from jetae.features.kinematics import jet_mass
from jetae.jets import Jets
from jetae.models import create_model
from jetae.train.disco import distance_correlation

dcor = pytest.importorskip("dcor")


@pytest.mark.parametrize("n", [2, 17, 300])
@pytest.mark.parametrize("relation", ["independent", "noisy_quadratic", "heavy_tailed"])
def test_matches_dcor_distance_correlation_sqr(n, relation):
    rng = np.random.default_rng(n)
    x = rng.normal(size=n)
    y = {
        "independent": rng.normal(size=n),
        "noisy_quadratic": x**2 + 0.3 * rng.normal(size=n),
        "heavy_tailed": rng.standard_cauchy(size=n) + x,
    }[relation]
    expected = dcor.distance_correlation_sqr(x, y)
    # float64 inputs are computed in float64: dcor's value to rounding
    value = distance_correlation(torch.tensor(x), torch.tensor(y))
    assert value.dtype == torch.float64
    assert value.item() == pytest.approx(expected, rel=1e-10, abs=1e-13)
    # float32 (what training passes); integer inputs are cast to the floating type
    value = distance_correlation(torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32))
    assert value.dtype == torch.float32 and value.item() == pytest.approx(expected, rel=1e-4, abs=1e-6)
    ranks = torch.tensor(np.argsort(np.argsort(x)))
    assert distance_correlation(ranks, torch.tensor(y)).item() == pytest.approx(
        dcor.distance_correlation_sqr(np.argsort(np.argsort(x)).astype(float), y), rel=1e-10, abs=1e-13
    )
    # The evaluation metric uses the same definition.
    assert numpy_distance_correlation(x, y, max_samples=None) == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_near_zero_for_independent_and_one_for_linear_relations():
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.normal(size=2000))
    independent = torch.tensor(rng.exponential(size=2000))
    assert distance_correlation(x, independent).item() < 0.005
    for slope, offset in [(3.0, 1.0), (-0.5, 100.0)]:
        assert distance_correlation(x, slope * x + offset).item() == pytest.approx(1.0, abs=1e-5)
    # Dependence that Pearson's correlation misses (zero covariance, y = x^2) is seen.
    assert distance_correlation(x, x**2).item() > 0.1


def test_gradient_matches_finite_differences():
    rng = np.random.default_rng(1)
    x = torch.tensor(rng.normal(size=40), dtype=torch.float32, requires_grad=True)
    y = torch.tensor(rng.normal(size=40) + 0.8 * x.detach().numpy() ** 2, dtype=torch.float32)
    value = distance_correlation(x, y)
    (gradient,) = torch.autograd.grad(value, x)
    assert torch.isfinite(gradient).all() and gradient.abs().sum() > 0
    step = 1e-2
    for index in (0, 7, 23):
        shift = torch.zeros_like(x)
        shift[index] = step
        numeric = (distance_correlation(x.detach() + shift, y) - distance_correlation(x.detach() - shift, y)) / (
            2 * step
        )
        assert gradient[index].item() == pytest.approx(numeric.item(), rel=0.05, abs=2e-4)


def test_constant_input_gives_finite_values_and_gradients():
    x = torch.ones(10, requires_grad=True)
    value = distance_correlation(x, torch.arange(10.0))
    value.backward()
    assert value.item() == 0.0 and torch.isfinite(x.grad).all()


def mass_correlated_jets(n: int, seed: int) -> Jets:
    """One-prong toy jets of pT ~ 500 GeV whose width, hence mass, varies from jet to jet.

    Broad (heavy) jets are harder to reconstruct, so an undecorrelated anomaly score
    grows with the jet mass: the sculpting DisCo has to remove.
    """
    rng = np.random.default_rng(seed)
    n_constituents = 16
    pt = np.sort(rng.exponential(1.0, (n, n_constituents)), axis=1)[:, ::-1]
    pt = 500.0 * pt / pt.sum(axis=1, keepdims=True)
    width = rng.uniform(0.01, 0.25, (n, 1))
    eta = width * rng.normal(size=(n, n_constituents))
    phi = width * rng.normal(size=(n, n_constituents))
    p4 = np.stack([pt * np.cosh(eta), pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)], axis=-1)
    return Jets.from_constituents(p4)


def test_disco_training_lowers_the_score_mass_correlation():
    train, test = mass_correlated_jets(1000, 0), mass_correlated_jets(500, 1)
    # DisCo acts on the tagging score returned by the VAE's training loss: here the KL score.
    options = {
        "hidden": [32],
        "latent_dim": 2,
        "epochs": 6,
        "batch_size": 250,
        "patience": 0,
        "device": "cpu",
        "progress": False,
        "tag_score": "kl",
        "representation": {
            "kind": "constituents",
            "n_constituents": 16,
            "features": ["delta_eta", "delta_phi", "pt_rel"],
            "flatten": True,
        },
    }
    mass = jet_mass(test.constituents)
    correlation = {}
    for disco_lambda in (0.0, 20.0):
        detector = create_model("vae", options, disco_lambda=disco_lambda, seed=0).fit(train)
        correlation[disco_lambda] = numpy_distance_correlation(detector.anomaly_score(test), mass, max_samples=None)
        if disco_lambda > 0:
            assert "train_disco" in detector.history_[-1]
    assert correlation[0.0] > 0.1  # the toy does sculpt without DisCo
    assert correlation[20.0] < 0.3 * correlation[0.0]


def test_disco_needs_jet_masses():
    detector = create_model("vae", hidden=[8], latent_dim=2, epochs=1, disco_lambda=1.0, progress=False)
    with pytest.raises(Exception, match="disco_lambda > 0 needs jets with masses"):
        detector.fit(np.random.default_rng(0).normal(size=(64, 80)).astype(np.float32))

"""Figures of merit of jetae.evaluation.metrics against hand-computed cases and reference implementations."""

from __future__ import annotations

import math

import dcor
import numpy as np
import pytest
import torch
from scipy.spatial.distance import jensenshannon
from sklearn.metrics import roc_auc_score
from sklearn.metrics import roc_curve as sklearn_roc_curve

from jetae.evaluation import metrics as m
from jetae.train.disco import distance_correlation as torch_distance_correlation


# --------------------------------------------------------------------------- ROC and AUC
def test_roc_curve_hand_computed():
    eps_s, eps_b, thresholds = m.roc_curve([0.1, 0.4], [0.35, 0.8])
    np.testing.assert_array_equal(thresholds, [np.inf, 0.8, 0.4, 0.35, 0.1])
    np.testing.assert_array_equal(eps_s, [0.0, 0.5, 0.5, 1.0, 1.0])
    np.testing.assert_array_equal(eps_b, [0.0, 0.0, 0.5, 0.5, 1.0])
    assert m.auc([0.1, 0.4], [0.35, 0.8]) == 0.75


def test_ties_count_one_half():
    assert m.auc([0.5], [0.5]) == 0.5
    # pairs: s=2 vs (1, 2, 2) -> 1 + 1/2 + 1/2, s=3 vs all -> 3; total 5 of 6
    assert m.auc([1.0, 2.0, 2.0], [2.0, 3.0]) == pytest.approx(5 / 6)
    eps_s, eps_b, _ = m.roc_curve([1.0, 2.0], [2.0, 3.0])
    # the tie at 2 passes one signal and one background jet together: a diagonal segment
    np.testing.assert_array_equal(eps_s, [0.0, 0.5, 1.0, 1.0])
    np.testing.assert_array_equal(eps_b, [0.0, 0.0, 0.5, 1.0])


def test_auc_extremes_and_symmetry():
    assert m.auc([0.0, 1.0, 2.0], [3.0, 4.0]) == 1.0
    assert m.auc([3.0, 4.0], [0.0, 1.0, 2.0]) == 0.0
    rng = np.random.default_rng(3)
    b, s = rng.normal(size=300), rng.normal(0.5, size=200)
    assert m.auc(b, s) + m.auc(s, b) == pytest.approx(1.0)


def test_auc_and_roc_match_sklearn_with_ties():
    rng = np.random.default_rng(1)
    background = rng.normal(size=1500).round(1)  # rounding creates many ties
    signal = rng.normal(0.8, size=900).round(1)
    labels = np.r_[np.zeros(background.size), np.ones(signal.size)]
    scores = np.r_[background, signal]
    assert m.auc(background, signal) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    fpr, tpr, _ = sklearn_roc_curve(labels, scores, drop_intermediate=False)
    eps_s, eps_b, _ = m.roc_curve(background, signal)
    np.testing.assert_allclose(eps_b, fpr)
    np.testing.assert_allclose(eps_s, tpr)
    # the AUC is the trapezoid area under the curve
    assert np.trapezoid(eps_s, eps_b) == pytest.approx(m.auc(background, signal), abs=1e-12)


# --------------------------------------------------------------------------- rejection and efficiencies
def test_rejection_interpolates_along_diagonal_segment():
    background, signal = [1.0, 2.0], [2.0, 3.0]  # ROC: (0,0) (.5,0) (1,.5) (1,1)
    assert m.background_efficiency_at(background, signal, 0.75) == pytest.approx(0.25)
    assert m.rejection_at(background, signal, 0.75) == pytest.approx(4.0)
    assert m.signal_efficiency_at(background, signal, 0.25) == pytest.approx(0.75)


def test_rejection_infinite_where_no_background_passes():
    background = np.r_[np.arange(9.0), 15.5]
    signal = np.arange(10.0, 20.0)
    # the top three signal jets (>= 17) beat every background jet
    assert m.r30(background, signal) == math.inf
    # at eps_S = 0.5 (cut at 15) the background jet at 15.5 passes: eps_B = 1/10
    assert m.r50(background, signal) == pytest.approx(10.0)
    # the ROC is vertical at eps_S = 0.4 (cut at 16 vs 15.5): the best point (eps_B = 0) is taken
    assert m.rejection_at(background, signal, 0.4) == math.inf
    assert m.rejection_at(background, signal, 0.45) == pytest.approx(10.0)


def test_signal_efficiency_takes_best_point_on_vertical_segments():
    background, signal = [1.0, 2.0], [2.0, 3.0]
    assert m.signal_efficiency_at(background, signal, 0.0) == 0.5  # 3 passes, no background
    assert m.signal_efficiency_at(background, signal, 0.5) == 1.0
    assert m.signal_efficiency_at(background, signal, 1.0) == 1.0


def test_rejection_of_random_scores_is_one_over_eps_s():
    rng = np.random.default_rng(0)
    scores = rng.uniform(size=200_000)
    assert m.r30(scores[:100_000], scores[100_000:]) == pytest.approx(1 / 0.3, rel=0.03)
    assert m.signal_efficiency_at(scores[:100_000], scores[100_000:], 1e-2) == pytest.approx(1e-2, rel=0.15)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="NaN"):
        m.auc([0.1, np.nan], [0.2])
    with pytest.raises(ValueError, match="no scores"):
        m.auc([], [0.2])
    with pytest.raises(ValueError, match="inf"):  # scikit-learn's ROC needs finite scores
        m.roc_curve([0.1, np.inf], [0.2])
    with pytest.raises(ValueError, match="eps_s"):
        m.rejection_at([0.1], [0.2], 1.5)


# --------------------------------------------------------------------------- bootstrap and summary
def test_bootstrap_is_deterministic_and_matches_sample_to_sample_spread():
    rng = np.random.default_rng(5)
    background, signal = rng.normal(size=500), rng.normal(1.0, size=500)
    value, std = m.bootstrap(m.auc, background, signal, n=200, seed=1)
    assert value == m.auc(background, signal)
    assert m.bootstrap(m.auc, background, signal, n=200, seed=1) == (value, std)
    assert m.bootstrap(m.auc, background, signal, n=200, seed=2)[1] != std
    # the true spread: AUCs of 300 independent samples of the same size
    spread = np.std([m.auc(rng.normal(size=500), rng.normal(1.0, size=500)) for _ in range(300)])
    assert std == pytest.approx(spread, rel=0.25)


def test_bootstrap_skips_infinite_replicas():
    # perfect separation: every replica has R30 = inf, so there is no finite spread
    value, std = m.bootstrap(m.r30, [0.0, 1.0, 2.0], [5.0, 6.0], n=20)
    assert value == math.inf and math.isnan(std)


def test_summarize_keys_and_consistency():
    rng = np.random.default_rng(2)
    # 10 000 background jets resolve every figure, eps_S at eps_B = 1e-3 included
    background, signal = rng.normal(size=10_000), rng.normal(1.5, size=1000)
    summary = m.summarize(background, signal, n_bootstrap=30)
    assert set(summary) == {"auc", "auc_err", "r30", "r50", "eps_s_at_1e-2", "eps_s_at_1e-3", "n", "n_background"}
    assert summary["auc"] == m.auc(background, signal)
    assert summary["r30"] == m.r30(background, signal) > summary["r50"] > 1.0  # rejection falls as eps_S rises
    assert summary["eps_s_at_1e-2"] > summary["eps_s_at_1e-3"]
    assert summary["n"] == 1000 and summary["n_background"] == 10_000
    assert 0 < summary["auc_err"] < 0.05


# --------------------------------------------------------------------------- mass sculpting
def test_jsd_hand_computed_and_bounds():
    # M = (3/4, 1/4): KL(p|M) = log2(4/3), KL(q|M) = (log2(2/3) + 1) / 2
    expected = 0.5 * math.log2(4 / 3) + 0.25 * (math.log2(2 / 3) + 1.0)
    assert m.jensen_shannon_divergence([1, 0], [1, 1]) == pytest.approx(expected)
    assert m.jensen_shannon_divergence([3, 1, 0, 2], [3, 1, 0, 2]) == 0.0
    assert m.jensen_shannon_divergence([1, 0], [0, 5]) == pytest.approx(1.0)
    p, q = np.array([5.0, 2, 0, 1]), np.array([1.0, 1, 4, 2])
    assert m.jensen_shannon_divergence(p, q) == pytest.approx(jensenshannon(p, q, base=2) ** 2)


def test_select_top_fraction_is_exact_with_ties():
    scores = np.array([1.0, 3.0, 3.0, 3.0, 2.0, 0.0])
    kept = m.select_top_fraction(scores, 0.5)
    assert kept.sum() == 3 and set(scores[kept]) == {3.0}
    assert m.select_top_fraction(scores, 1e-6).sum() == 1  # at least one jet survives


def test_mass_sculpting_small_for_independent_score_large_for_mass():
    rng = np.random.default_rng(7)
    mass = rng.gamma(3.0, 20.0, size=20_000)
    independent = rng.normal(size=mass.size)
    assert m.mass_sculpting_jsd(mass, independent, 1.0) == 0.0  # no cut, no change
    assert m.mass_sculpting_jsd(mass, independent, 0.5) < 0.005
    sculpting = m.mass_sculpting_jsd(mass, mass + rng.normal(0, 5, mass.size), 0.1)
    assert sculpting > 0.3
    block = m.mass_sculpting(mass, independent)
    assert set(block) == {"jsd_eff50", "jsd_eff10", "inv_jsd_eff50", "inv_jsd_eff10", "dcorr"}
    assert block["inv_jsd_eff10"] == pytest.approx(1 / block["jsd_eff10"])
    assert block["jsd_eff10"] > block["jsd_eff50"]  # a tighter cut on noise still shows more statistical noise
    assert m.mass_sculpting(mass, mass)["dcorr"] == pytest.approx(1.0)


# --------------------------------------------------------------------------- distance correlation
@pytest.mark.parametrize("relation", ["independent", "quadratic", "linear"])
def test_distance_correlation_matches_torch_and_dcor(relation):
    rng = np.random.default_rng(11)
    x = rng.normal(size=600)
    y = {"independent": rng.normal(size=600), "quadratic": x**2 + 0.3 * rng.normal(size=600), "linear": 2.0 * x - 1.0}[
        relation
    ]
    ours = m.distance_correlation(x, y)
    theirs = torch_distance_correlation(torch.tensor(x), torch.tensor(y)).item()
    assert ours == pytest.approx(theirs, abs=1e-5)  # the same function (the numpy metric wraps the torch one)
    assert ours == pytest.approx(dcor.distance_correlation_sqr(x, y), rel=1e-9, abs=1e-12)
    if relation == "linear":
        assert ours == pytest.approx(1.0)
    if relation == "independent":
        assert ours < 0.02


def test_distance_correlation_subsamples_reproducibly():
    rng = np.random.default_rng(4)
    x = rng.normal(size=3000)
    y = np.abs(x) + 0.5 * rng.normal(size=3000)
    full = m.distance_correlation(x, y, max_samples=None)
    sub = m.distance_correlation(x, y, max_samples=1000, seed=3)
    assert sub == m.distance_correlation(x, y, max_samples=1000, seed=3)
    pick = np.random.default_rng(3).choice(3000, size=1000, replace=False)
    assert sub == pytest.approx(dcor.distance_correlation_sqr(x[pick], y[pick]), rel=1e-9)
    assert sub == pytest.approx(full, abs=0.05)
    assert m.distance_correlation(x, np.ones_like(x)) == 0.0

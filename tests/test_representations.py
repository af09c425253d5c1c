"""Jet images, constituent features and the representation dispatch, on hand-built jets."""

from __future__ import annotations

import numpy as np
import pytest

from jetae import JetaeError, Jets
from jetae.features import (
    ConstituentConfig,
    ImageConfig,
    constituent_features,
    flatten,
    jet_images,
    make_representation,
    representation_options,
)
from jetae.features.constituents import FEATURES, RELATIVE_FEATURES
from jetae.features.images import preprocess_coordinates


def massless(pt, eta, phi):
    """(..., 4) float64 (E, px, py, pz) of massless particles from (pT, eta, phi)."""
    pt, eta, phi = np.broadcast_arrays(*map(np.asarray, (pt, eta, phi)))
    return np.stack([pt * np.cosh(eta), pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)], axis=-1)


def random_jets(n_jets=20, n_max=40, seed=0, phi0=0.0, eta0=0.0):
    """Random pT-ordered jets, float64, with per-jet multiplicity and zero padding.

    Returns (constituents, pt, eta, phi) with the per-constituent (pT, eta, phi).
    """
    rng = np.random.default_rng(seed)
    pt = -np.sort(-(rng.exponential(20.0, (n_jets, n_max)) + 1.0), axis=1)
    eta = eta0 + rng.normal(0.0, 0.15, (n_jets, n_max))
    phi = phi0 + rng.normal(0.0, 0.15, (n_jets, n_max))
    multiplicity = rng.integers(5, n_max, n_jets)
    real = np.arange(n_max)[None, :] < multiplicity[:, None]
    constituents = np.where(real[..., None], massless(pt, eta, phi), 0.0)
    return constituents, pt, eta, phi, real


# ---------------------------------------------------------------- images


def test_image_shape_dtype_and_unit_sum():
    constituents, *_ = random_jets()
    images = jet_images(constituents)
    assert images.shape == (20, 40, 40) and images.dtype == np.float32
    np.testing.assert_allclose(images.sum(axis=(1, 2)), 1.0, rtol=1e-5)
    assert np.all(images >= 0.0)


def test_unnormalised_image_holds_the_in_image_pt_in_gev():
    constituents, pt, *_ = random_jets(n_jets=3)
    images = jet_images(constituents, normalize=False, n_pixels=200)  # 200 pixels: everything inside
    real_pt = np.where(np.any(constituents != 0, axis=-1), pt, 0.0).sum(axis=1)
    np.testing.assert_allclose(images.sum(axis=(1, 2)), real_pt, rtol=1e-5)


def test_single_constituent_lands_in_the_centre_pixel():
    for eta, phi in [(0.0, 0.0), (1.7, -2.5), (-0.4, np.pi - 1e-4)]:
        image = jet_images(massless([[123.0]], [[eta]], [[phi]]), normalize=False)[0]
        assert image[20, 20] == pytest.approx(123.0, rel=1e-6)
        assert np.count_nonzero(image) == 1
    odd = jet_images(massless([[5.0]], [[0.3]], [[0.2]]), n_pixels=33)[0]
    assert odd[16, 16] == pytest.approx(1.0)


def test_two_constituents_end_up_vertical_with_the_harder_one_up():
    # Separated mostly in eta before preprocessing: the rotation must turn them vertical.
    jet = massless([[100.0, 50.0]], [[0.3, 0.5]], [[1.0, 1.02]])
    image = jet_images(jet, normalize=False)[0]
    rows, columns = np.nonzero(image)
    assert len(rows) == 2
    assert np.all(columns == 20)  # both on the vertical axis through the centre
    # Centroid shift puts the 100 GeV one 1/3 of the distance from the origin, at y > 0.
    hard_row = rows[np.argmax(image[rows, columns])]
    soft_row = rows[np.argmin(image[rows, columns])]
    distance = np.hypot(0.2, 0.02)
    assert hard_row == 20 + round(distance / 3 / 0.035)
    assert soft_row == 20 - round(2 * distance / 3 / 0.035)


def test_rotation_off_keeps_the_original_orientation():
    jet = massless([[100.0, 50.0]], [[0.3, 0.5]], [[1.0, 1.0]])  # separated in eta only
    rows, columns = np.nonzero(jet_images(jet, rotate=False, flip=False)[0])
    assert np.all(rows == 20) and len(set(columns)) == 2


@pytest.mark.parametrize("shift", [0.7, np.pi, -2.9])
def test_image_is_invariant_under_phi_rotation_across_the_seam(shift):
    # Jets centred at phi = 3.0 straddle the -pi/pi boundary once shifted.
    constituents, pt, eta, phi, real = random_jets(phi0=3.0)
    shifted = np.where(real[..., None], massless(pt, eta, phi + shift), 0.0)
    wrapped = np.where(real, np.arctan2(constituents[..., 2], constituents[..., 1]), 0.0)
    assert np.any((wrapped.max(axis=1) > 3.0) & (wrapped.min(axis=1) < -3.0))  # straddles the seam
    np.testing.assert_allclose(jet_images(shifted), jet_images(constituents), atol=1e-6)


def test_image_is_invariant_under_eta_reflection_and_boost():
    constituents, pt, eta, phi, real = random_jets(eta0=0.5)
    reflected = np.where(real[..., None], massless(pt, -eta, phi), 0.0)
    boosted = np.where(real[..., None], massless(pt, eta + 1.2, phi), 0.0)
    reference = jet_images(constituents)
    np.testing.assert_allclose(jet_images(reflected), reference, atol=1e-6)
    np.testing.assert_allclose(jet_images(boosted), reference, atol=1e-6)


def test_flip_puts_most_pt_at_negative_x_and_positive_y():
    constituents, *_ = random_jets(n_jets=50)
    for flip in (True, False):
        jet_index, x, y, pt = preprocess_coordinates(constituents, flip=flip)
        left = np.bincount(jet_index, pt * (x < 0), minlength=50)
        right = np.bincount(jet_index, pt * (x > 0), minlength=50)
        above = np.bincount(jet_index, pt * (y > 0), minlength=50)
        below = np.bincount(jet_index, pt * (y < 0), minlength=50)
        if flip:
            assert np.all(left >= right) and np.all(above >= below)
        else:  # the preference comes from the flip, not by chance
            assert np.any(left < right) and np.any(above < below)


def test_image_axes_rows_are_y_columns_are_x():
    # The preferred quadrant x < 0, y > 0 is rows above and columns left of the centre.
    constituents, *_ = random_jets(n_jets=50)
    total = jet_images(constituents).sum(axis=0)
    quadrants = {
        "x<0,y>0": total[21:, :20].sum(),
        "x>0,y>0": total[21:, 21:].sum(),
        "x<0,y<0": total[:20, :20].sum(),
        "x>0,y<0": total[:20, 21:].sum(),
    }
    assert max(quadrants, key=quadrants.get) == "x<0,y>0"
    assert min(quadrants, key=quadrants.get) == "x>0,y<0"


def test_padding_rows_and_their_position_do_not_matter():
    constituents, *_ = random_jets(n_jets=5, n_max=10)
    wider = np.concatenate([constituents, np.zeros((5, 30, 4))], axis=1)
    np.testing.assert_array_equal(jet_images(wider), jet_images(constituents))
    # pT order is not required: the hardest constituent is found, not assumed in slot 0.
    shuffled = constituents[:, np.random.default_rng(1).permutation(10)]
    np.testing.assert_allclose(jet_images(shuffled), jet_images(constituents), atol=1e-6)


def test_images_do_not_depend_on_batch_composition():
    constituents, *_ = random_jets(n_jets=30)
    np.testing.assert_array_equal(jet_images(constituents)[7:9], jet_images(constituents[7:9]))


def test_constituents_outside_the_image_are_dropped_and_normalisation_uses_what_is_inside():
    jet = massless([[100.0, 100.0, 1.0]], [[0.0, 0.0, 0.0]], [[0.0, 0.01, 0.9]])
    image = jet_images(jet, normalize=False)[0]
    assert image.sum() == pytest.approx(200.0, rel=1e-6)  # the 1 GeV one at 0.9 rad is outside
    assert jet_images(jet)[0].sum() == pytest.approx(1.0)


def test_pixel_size_and_extent_are_configurable():
    jet = massless([[100.0, 50.0]], [[0.0, 0.0]], [[0.0, 0.3]])
    coarse = jet_images(jet, n_pixels=10, extent=(1.0, 1.0), normalize=False)[0]
    same = jet_images(jet, n_pixels=10, pixel_eta=0.1, pixel_phi=0.1, normalize=False)[0]
    np.testing.assert_array_equal(coarse, same)
    assert np.count_nonzero(coarse) == 2
    assert ImageConfig().extent == pytest.approx((1.16, 1.40))


def test_image_of_empty_jet_is_zero_not_nan():
    constituents, *_ = random_jets(n_jets=2)
    constituents[1] = 0.0
    images = jet_images(constituents)
    assert np.all(np.isfinite(images)) and images[1].sum() == 0.0 and images[0].sum() == pytest.approx(1.0)


def test_image_rejects_bad_options_and_shapes():
    with pytest.raises(JetaeError, match="n_pixels"):
        jet_images(np.zeros((1, 3, 4)), n_pixels=0)
    with pytest.raises(JetaeError, match="pixel_eta"):
        jet_images(np.zeros((1, 3, 4)), pixel_eta=-0.1)
    with pytest.raises(JetaeError, match="shape"):
        jet_images(np.zeros((3, 4)))


def test_images_of_float32_jets_match_float64():
    constituents, *_ = random_jets()
    np.testing.assert_allclose(jet_images(constituents.astype(np.float32)), jet_images(constituents), atol=2e-3)


# ---------------------------------------------------------------- constituents


def test_constituent_features_known_values():
    # A pair of equal pT at phi = pi -+ 0.1 (across the seam): the jet axis is at phi = pi
    # and, summing the momenta, at eta = arcsinh(sum pz / sum pT).
    jet = massless([[200.0, 200.0]], [[0.4, 0.6]], [[np.pi - 0.1, -np.pi + 0.1]])
    features, mask = constituent_features(jet, n_constituents=4)
    assert features.shape == (1, 4, len(RELATIVE_FEATURES)) and features.dtype == np.float32
    named = {name: features[0, :2, i] for i, name in enumerate(RELATIVE_FEATURES)}
    jet_eta = np.arcsinh(200.0 * (np.sinh(0.4) + np.sinh(0.6)) / (2 * 200.0 * np.cos(0.1)))
    np.testing.assert_allclose(named["delta_eta"], [0.4 - jet_eta, 0.6 - jet_eta], rtol=1e-5)
    np.testing.assert_allclose(named["delta_phi"], [-0.1, 0.1], rtol=1e-5)
    np.testing.assert_allclose(named["log_pt"], np.log(200.0), rtol=1e-6)
    np.testing.assert_allclose(named["delta_r"], np.hypot(named["delta_eta"], named["delta_phi"]), rtol=1e-5)
    jet_pt = 2 * 200.0 * np.cos(0.1)
    np.testing.assert_allclose(named["pt_rel"], 200.0 / jet_pt, rtol=1e-5)
    energies = 200.0 * np.cosh([0.4, 0.6])
    np.testing.assert_allclose(sorted(named["e_rel"]), sorted(energies / energies.sum()), rtol=1e-5)
    np.testing.assert_allclose(sorted(named["log_e"]), sorted(np.log(energies)), rtol=1e-6)
    np.testing.assert_array_equal(mask, [[True, True, False, False]])
    assert not features[0, 2:].any()


def test_constituents_are_pt_ordered_masked_and_zero_padded():
    constituents, pt, eta, phi, real = random_jets(n_jets=10, n_max=30)
    shuffled = constituents[:, np.random.default_rng(2).permutation(30)]
    features, mask = constituent_features(shuffled, n_constituents=40, features=("log_pt", "E"))
    np.testing.assert_array_equal(mask.sum(axis=1), real.sum(axis=1))
    np.testing.assert_array_equal(mask[:, :30], real)  # real ones first, in pT order
    log_pt = np.where(mask, features[..., 0], -1e9)
    assert np.all(np.diff(log_pt, axis=1)[mask[:, 1:]] <= 0.0)
    assert not features[~mask].any()
    np.testing.assert_allclose(np.exp(features[..., 0])[mask], pt[real], rtol=1e-5)


def test_raw_four_momenta_option_keeps_the_leading_constituents():
    constituents, *_ = random_jets(n_jets=4, n_max=30)
    features, mask = constituent_features(constituents, n_constituents=20, features=("E", "px", "py", "pz"))
    expected = np.where(mask[..., None], constituents[:, :20], 0.0)
    np.testing.assert_allclose(features, expected, rtol=1e-6)
    assert flatten(features).shape == (4, 80)
    np.testing.assert_array_equal(flatten(features)[:, 4:8], features[:, 1, :])


def test_constituent_features_are_rotation_invariant_across_the_seam():
    constituents, pt, eta, phi, real = random_jets(phi0=3.0)
    shifted = np.where(real[..., None], massless(pt, eta, phi + 2.5), 0.0)
    a, _ = constituent_features(constituents)
    b, _ = constituent_features(shifted)
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_constituent_config_rejects_unknown_features():
    with pytest.raises(JetaeError, match="unknown constituent feature.*valid: delta_eta"):
        ConstituentConfig(features=("delta_eta", "rapidity"))
    with pytest.raises(JetaeError, match="n_constituents"):
        ConstituentConfig(n_constituents=0)
    assert set(ConstituentConfig().features) <= set(FEATURES)


# ---------------------------------------------------------------- dispatch


def test_make_representation_image_has_channel_axis_and_accepts_jets():
    constituents, *_ = random_jets(n_jets=6)
    jets = Jets.from_constituents(constituents.astype(np.float32))
    images = make_representation(jets, {"kind": "image", "n_pixels": 24})
    assert images.shape == (6, 1, 24, 24) and images.dtype == np.float32
    np.testing.assert_array_equal(images[:, 0], jet_images(jets.constituents, n_pixels=24))


def test_make_representation_constituents_flat_and_not():
    constituents, *_ = random_jets(n_jets=6)
    spec = {"kind": "constituents", "n_constituents": 20, "features": ["E", "px", "py", "pz"]}
    nested = make_representation(constituents, spec)
    flat = make_representation(constituents, {**spec, "flatten": True})
    assert nested.shape == (6, 20, 4) and flat.shape == (6, 80)
    np.testing.assert_array_equal(flat, nested.reshape(6, -1))
    default = make_representation(constituents, {"kind": "constituents"})
    assert default.shape == (6, ConstituentConfig().n_constituents, len(ConstituentConfig().features))


def test_make_representation_errors_list_the_valid_choices():
    constituents, *_ = random_jets(n_jets=2)
    with pytest.raises(JetaeError, match="unknown representation kind 'graph'; valid: image, constituents"):
        make_representation(constituents, {"kind": "graph"})
    with pytest.raises(JetaeError, match="unknown representation kind None"):
        make_representation(constituents, {"n_pixels": 40})
    with pytest.raises(JetaeError, match="unknown option.*n_pixel\\b.*valid: n_pixels, pixel_eta"):
        make_representation(constituents, {"kind": "image", "n_pixel": 40})
    with pytest.raises(JetaeError, match="unknown option.*flatten"):
        make_representation(constituents, {"kind": "image", "flatten": True})
    with pytest.raises(JetaeError, match="flatten"):
        make_representation(constituents, {"kind": "constituents", "flatten": "yes"})
    with pytest.raises(JetaeError, match="normalize"):
        make_representation(constituents, {"kind": "image", "normalize": "no"})
    assert "flatten" in representation_options("constituents")

"""Detectors as scikit-learn estimators: parameters, clone, threshold / predict, model selection on labelled
Pythia jets, and scikit-learn's own estimator checks (those that apply)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.utils.estimator_checks import parametrize_with_checks

from jetae.errors import JetaeError
from jetae.generation.generate import generate_jets
from jetae.jets import Jets
from jetae.models import available_models, create_model, load_model
from jetae.models.model_selection import BackgroundSplit

SMALL_IMAGES = {"representation": {"kind": "image", "n_pixels": 16}}
ONE_EPOCH_DENSE = {"epochs": 1, "hidden": [32], "latent_dim": 4, "batch_size": 64}


@pytest.fixture(scope="module")
def jets() -> Jets:
    """240 QCD (label 0) and 120 top (label 1) Pythia jets."""
    return Jets.concatenate(
        [generate_jets("qcd", 240, seed=31, workers=1), generate_jets("top", 120, seed=32, workers=1)]
    )


@pytest.fixture(scope="module")
def background(jets) -> Jets:
    return jets[jets.is_signal == 0]


# ---------------------------------------------------------------- parameters and clone
@pytest.mark.parametrize("spec", available_models(), ids=lambda spec: spec.name)
def test_get_params_covers_every_option_and_clone_works(spec):
    detector = spec.detector_cls()
    params = detector.get_params()
    model_options, trainer_options = spec.detector_cls.option_names()
    assert list(params) == model_options + trainer_options
    assert "contamination" in params and params["contamination"] == 0.1
    assert detector.get_params(deep=False) == params
    copy = clone(detector)
    assert type(copy) is type(detector) and copy is not detector and copy.get_params() == params
    assert create_model(spec.name, params).get_params() == params


def test_set_params_validates_and_rederives():
    detector = create_model("pca", SMALL_IMAGES)
    assert detector.set_params(n_components=3, representation__n_pixels=20) is detector
    assert detector.config.n_components == 3 and detector.config.representation == {"kind": "image", "n_pixels": 20}
    detector.set_params(representation={"normalize": False})  # a dict merges into the current one
    assert detector.config.representation == {"kind": "image", "n_pixels": 20, "normalize": False}
    before = detector.get_params()
    for bad in ({"n_components": 0}, {"contamination": 0.7}, {"representation__n_pixels": -1}, {"epochs": 3}):
        with pytest.raises(JetaeError):
            detector.set_params(**bad)
        assert detector.get_params() == before
    dense = create_model("dense_ae").set_params(epochs=2, lr=3e-4, hidden=[8])
    assert dense.trainer_config.epochs == 2 and dense.trainer_config.lr == 3e-4 and dense.config.hidden == [8]
    vae = create_model("vae").set_params(tag_score="kl")  # what __init__ derives from the options follows them
    assert vae.score_names[0] == "kl"


def test_contamination_is_validated():
    for bad in (0, 0.0, -0.1, 0.51, 1.0):
        with pytest.raises(JetaeError, match="contamination must be in \\(0, 0.5\\]"):
            create_model("pca", contamination=bad)
    assert create_model("pca", contamination=0.5).config.contamination == 0.5


# ---------------------------------------------------------------- threshold and predict
def test_threshold_and_predict(background, jets, tmp_path):
    unfitted = create_model("pca", SMALL_IMAGES)
    for method in (unfitted.predict, unfitted.decision_function):
        with pytest.raises(NotFittedError):
            method(jets)
    with pytest.raises(JetaeError, match="not fitted yet"):
        unfitted.predict(jets)

    detector = create_model("pca", SMALL_IMAGES, contamination=0.2).fit(background)
    train_scores = detector.anomaly_score(background)
    assert detector.threshold_ == pytest.approx(np.quantile(train_scores, 0.8))
    flags = detector.predict(background)
    assert flags.dtype == np.int64 and set(np.unique(flags)) == {0, 1}
    assert abs(flags.mean() - 0.2) <= 1.0 / len(background)
    np.testing.assert_array_equal(detector.predict(jets), (detector.decision_function(jets) > detector.threshold_))
    top = jets[jets.is_signal == 1]
    assert detector.predict(top).mean() > 0.4  # top jets are anomalous for a QCD-trained PCA
    stricter = create_model("pca", SMALL_IMAGES, contamination=0.05).fit(background)
    assert stricter.threshold_ > detector.threshold_

    loaded = load_model(detector.save(tmp_path / "pca"))
    assert loaded.threshold_ == detector.threshold_
    np.testing.assert_array_equal(loaded.predict(jets), detector.predict(jets))
    ensemble = create_model("ensemble", model="pca", members=2, options=SMALL_IMAGES).fit(background)
    assert ensemble.threshold_ == pytest.approx(np.quantile(ensemble.anomaly_score(background), 0.9))


def test_constituent_arrays_work_like_jets_and_y_is_ignored(background, jets):
    """scikit-learn passes arrays (it cannot index Jets) and fit(X, y): both must give what Jets give."""
    from_jets = create_model("dense_ae", ONE_EPOCH_DENSE).fit(background)
    from_arrays = create_model("dense_ae", ONE_EPOCH_DENSE).fit(background.constituents, background.is_signal)
    expected = from_jets.anomaly_score(jets)
    np.testing.assert_allclose(from_arrays.anomaly_score(jets.constituents), expected, rtol=1e-6)
    np.testing.assert_allclose(from_jets.anomaly_score(jets.constituents), expected, rtol=1e-6)
    assert from_arrays.threshold_ == pytest.approx(from_jets.threshold_, rel=1e-6)
    with pytest.raises(JetaeError, match="NaN or inf"):
        from_jets.anomaly_score(np.full((2, 5, 4), np.nan, np.float32))


# ---------------------------------------------------------------- model selection
def test_background_split_keeps_signal_out_of_training():
    y = np.array([0] * 30 + [1] * 12)
    tested = []
    for train, test in BackgroundSplit(3).split(np.zeros((42, 5, 4)), y):
        assert len(train) > 0 and (y[train] == 0).all()
        assert 0 < y[test].sum() < len(test)
        tested.extend(test)
    assert sorted(tested) == list(range(42))
    with pytest.raises(JetaeError, match="needs the labels"):
        next(BackgroundSplit(3).split(np.zeros((42, 5, 4)), None))


def test_grid_search_and_cross_validation_on_labelled_jets(jets):
    X, y = jets.constituents, jets.is_signal
    search = GridSearchCV(
        create_model("pca", SMALL_IMAGES), {"n_components": [1, 8]}, scoring="roc_auc", cv=BackgroundSplit(3)
    ).fit(X, y)
    assert set(search.best_params_) == {"n_components"}
    assert (search.cv_results_["mean_test_score"] > 0.6).all()  # top jets rank above QCD in every fold
    assert search.best_estimator_.config.n_components == search.best_params_["n_components"]
    assert hasattr(search.best_estimator_, "threshold_")
    scores = cross_val_score(create_model("dense_ae", ONE_EPOCH_DENSE), X, y, scoring="roc_auc", cv=BackgroundSplit(3))
    assert scores.shape == (3,) and (scores > 0.5).all()
    # a plain splitter also works (training folds then hold signal: y is ignored, not used to drop it)
    plain = cross_val_score(
        create_model("pca", SMALL_IMAGES, n_components=4),
        X,
        y,
        scoring="roc_auc",
        cv=KFold(3, shuffle=True, random_state=0),
    )
    assert plain.shape == (3,)


# ---------------------------------------------------------------- scikit-learn's estimator checks
JETAE_ERROR = "bad input raises jetae's JetaeError (one readable line in the CLI), which is not a ValueError"
#: The checks that do not apply to jetae's detectors, and why (docs/models.md lists them too).
NOT_APPLICABLE = {
    "check_no_attributes_set_in_init": "the options live in two validated dataclasses, config and trainer_config",
    "check_fit_score_takes_y": "fit's second argument is val (validation jets); a positional y lands there and, "
    "being 1-d labels, is ignored",
    "check_do_not_raise_errors_in_init_or_set_params": "options are validated when a detector is made, by design",
    "check_set_params": "get_params returns copies and set_params stores the resolved options: equal, not identical",
    "check_n_features_in": "inputs are jets or arrays of any rank, not feature tables: no n_features_in_",
    "check_n_features_in_after_fitting": "inputs are jets or arrays of any rank, not feature tables: no n_features_in_",
    "check_complex_data": JETAE_ERROR,
    "check_estimators_empty_data_messages": JETAE_ERROR,
    "check_estimators_nan_inf": JETAE_ERROR,
    "check_fit1d": JETAE_ERROR,
    "check_fit2d_predict1d": JETAE_ERROR,
    "check_fit2d_1sample": JETAE_ERROR + " (PCA of one sample)",
    "check_estimator_sparse_tag": "sparse matrices are not supported (jets are dense arrays)",
    "check_estimator_sparse_array": "sparse matrices are not supported (jets are dense arrays)",
    "check_estimator_sparse_matrix": "sparse matrices are not supported (jets are dense arrays)",
    "check_transformer_data_not_an_array": "transform gives the scaled model inputs; there is no fit_transform",
    "check_transformer_general": "transform gives the scaled model inputs; there is no fit_transform",
    "check_transformer_preserve_dtypes": "transform gives the scaled model inputs; there is no fit_transform",
}


@parametrize_with_checks(
    [create_model("pca", n_components=1)], expected_failed_checks=lambda estimator: NOT_APPLICABLE, xfail_strict=True
)
def test_sklearn_estimator_checks(estimator, check):
    """The checks that apply pass; the others are expected to fail (strict: a check that starts to pass fails)."""
    check(estimator)

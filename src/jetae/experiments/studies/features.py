"""Autoencoder features for boosted decision trees: does the AE's code add to the standard observables?

Gradient-boosted trees (LightGBM) are trained with labels on three feature sets of the same jets:

``observables``
    :data:`OBSERVABLE_COLUMNS`: jet mass and pT (GeV), constituent multiplicity, N-subjettiness
    ``tau1 .. tau3`` with exclusive-kT axes (FastJet; :func:`jetae.features.substructure.nsubjettiness`,
    beta = 1, R0 = 0.8) and the ratios ``tau21``, ``tau32``.
``ae_features``
    the autoencoder's latent code ``z0 .. z{K-1}`` (the posterior mean for a VAE) and its
    ``reconstruction_error`` (:func:`ae_feature_columns`).
``both``
    the two concatenated (observables first).

and, unsupervised, an isolation forest (scikit-learn) fitted on the AE features of background
training jets only, scored by ``-score_samples`` (higher = more anomalous). Every AUC is measured
on the test files, with a bootstrap error.

LightGBM rather than XGBoost: both are maintained, widely used gradient-boosting libraries; LightGBM
installs as one wheel without a GPU build, grows histogram-based trees by default (fast on a CPU) and
reports split-gain importances, and it is the project's optional extra ``gbdt``
(``pip install 'jetae[gbdt]'``), imported only when this study runs. XGBoost was not compared.

The autoencoder must not be trained on the jets the trees learn from (its error is smaller on
jets it has seen, which the trees would learn as "background"): when the background training file
is the run's own training file, the rows the run trained on are skipped.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from jetae.errors import JetaeError
from jetae.evaluation import report as html
from jetae.evaluation.metrics import auc, bootstrap
from jetae.evaluation.plots import COLOURS, new_figure, plot_style
from jetae.evaluation.samples import read_sample, sample_source
from jetae.experiments.studies.autoencoder import latent_dim, load_autoencoder
from jetae.experiments.studies.common import notes_html, study_config, study_report_html, write_study
from jetae.features.kinematics import jet_kinematics
from jetae.features.substructure import nsubjettiness, ratio
from jetae.io.toptag import count_jets
from jetae.jets import Jets
from jetae.models import Detector

if TYPE_CHECKING:
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

#: Columns of :func:`observable_features`, in order.
OBSERVABLE_COLUMNS = ("mass", "pt", "multiplicity", "tau1", "tau2", "tau3", "tau21", "tau32")
#: The supervised feature sets, in order.
FEATURE_SETS = ("observables", "ae_features", "both")
#: LightGBM options of the study (``gbdt_options`` overrides them).
GBDT_DEFAULTS: dict[str, Any] = {
    "n_estimators": 1000,
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_data_in_leaf": 20,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "feature_fraction": 0.8,
    "deterministic": True,
    "force_row_wise": True,
    "verbose": -1,
}
#: Early stopping: rounds without improvement of the validation log-loss (10 % of the training jets).
EARLY_STOPPING_ROUNDS = 50
GBDT_VALIDATION_FRACTION = 0.1
ISOLATION_FOREST_TREES = 300


def lightgbm():
    """The ``lightgbm`` module, or a JetaeError saying how to install it."""
    try:
        import lightgbm as lgb
    except ImportError:
        raise JetaeError(
            "the feature study needs LightGBM, an optional dependency: pip install 'jetae[gbdt]' (or lightgbm)"
        ) from None
    return lgb


def observable_features(jets: Jets, radius: float = 0.8) -> tuple[np.ndarray, list[str]]:
    """``(n_jets, 8)`` float64 standard observables, columns :data:`OBSERVABLE_COLUMNS`.

    ``mass``, ``pt`` in GeV (summed constituents), ``multiplicity`` (real constituents),
    ``tau1 .. tau3`` N-subjettiness (exclusive-kT axes, beta = 1, ``R0 = radius``),
    ``tau21 = tau2 / tau1``, ``tau32 = tau3 / tau2`` (0 where the denominator is 0).
    """
    kinematics = jet_kinematics(jets.constituents)
    taus = nsubjettiness(jets.constituents, n_max=3, radius=radius)[..., 0]  # beta = 1
    columns = [
        kinematics["mass"],
        kinematics["pt"],
        kinematics["multiplicity"],
        taus[:, 0],
        taus[:, 1],
        taus[:, 2],
        ratio(taus[:, 1], taus[:, 0]),
        ratio(taus[:, 2], taus[:, 1]),
    ]
    return np.stack(columns, axis=1).astype(np.float64), list(OBSERVABLE_COLUMNS)


def ae_feature_columns(n_latent: int) -> list[str]:
    """``["z0", ..., "z{K-1}", "reconstruction_error"]``: the columns of :func:`ae_features`."""
    return [f"z{k}" for k in range(n_latent)] + ["reconstruction_error"]


def ae_features(detector: Detector, jets: Jets) -> tuple[np.ndarray, list[str]]:
    """``(n_jets, K + 1)`` float64: the latent code (posterior mean for a VAE) and the reconstruction
    error (the model's ``reconstruction`` score, else its default score); columns :func:`ae_feature_columns`."""
    codes = detector.encode(jets).astype(np.float64)
    score = "reconstruction" if "reconstruction" in detector.score_names else None
    error = detector.anomaly_score(jets, score)
    return np.column_stack([codes, error]), ae_feature_columns(codes.shape[1])


def feature_matrix(kind: str, jets: Jets, detector: Detector | None = None) -> tuple[np.ndarray, list[str]]:
    """The feature set ``kind`` (one of :data:`FEATURE_SETS`) of ``jets``: ``(matrix, column names)``."""
    if kind not in FEATURE_SETS:
        raise JetaeError(f"unknown feature set {kind!r}; choose one of {', '.join(FEATURE_SETS)}")
    if kind == "observables":
        return observable_features(jets)
    if detector is None:
        raise JetaeError(f"feature set {kind!r} needs an autoencoder")
    if kind == "ae_features":
        return ae_features(detector, jets)
    observables, names = observable_features(jets)
    codes, code_names = ae_features(detector, jets)
    return np.column_stack([observables, codes]), names + code_names


def _skip_rows_seen(path: Any, metadata: Mapping[str, Any]) -> int:
    """Rows of ``path`` the run trained on (0 unless ``path`` is the run's training file)."""
    provenance = metadata.get("provenance") or {}
    train_file = provenance.get("train_file")
    if not isinstance(path, (str, os.PathLike)) or not train_file:
        return 0
    try:
        same = Path(path).resolve() == Path(train_file).resolve()
    except OSError:
        return 0
    if not same:
        return 0
    n_seen = provenance.get("n_train") or count_jets(path)
    log.info("background training file is the run's training file: skipping its first %d jets", n_seen)
    return int(n_seen)


def train_booster(
    features: np.ndarray,
    labels: np.ndarray,
    options: Mapping[str, Any],
    seed: int,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
):
    """A LightGBM booster (binary log-loss) on ``features`` ``(n, d)`` and ``labels`` (0/1).

    ``options``: LightGBM parameters; ``n_estimators`` is the number of boosting rounds. With
    ``validation`` = ``(features, labels)`` training stops after :data:`EARLY_STOPPING_ROUNDS`
    rounds without improvement and the booster predicts with its best iteration.
    """
    lgb = lightgbm()
    params = {"objective": "binary", "seed": seed, **dict(options)}
    rounds = int(params.pop("n_estimators", 100))
    train_set = lgb.Dataset(features, labels)
    kwargs: dict[str, Any] = {}
    if validation is not None:
        kwargs["valid_sets"] = [lgb.Dataset(validation[0], validation[1], reference=train_set)]
        kwargs["callbacks"] = [lgb.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False)]
    return lgb.train(params, train_set, num_boost_round=rounds, **kwargs)


def predict(booster, features: np.ndarray) -> np.ndarray:
    """``(n,)`` signal probabilities of a booster (at its best iteration when early-stopped)."""
    best = booster.best_iteration if booster.best_iteration > 0 else None
    return np.asarray(booster.predict(features, num_iteration=best), dtype=np.float64)


def fit_gbdt(features: np.ndarray, labels: np.ndarray, seed: int, options: Mapping[str, Any] | None = None):
    """A LightGBM booster on ``features`` ``(n, d)``, ``labels`` (0/1), early-stopped on a seeded 10 %
    validation split of them (:data:`GBDT_DEFAULTS` overridden by ``options``)."""
    order = np.random.default_rng(seed).permutation(len(features))
    n_val = max(1, int(round(GBDT_VALIDATION_FRACTION * len(features))))
    val, fit = order[:n_val], order[n_val:]
    params = {**GBDT_DEFAULTS, **dict(options or {})}
    return train_booster(features[fit], labels[fit], params, seed, (features[val], labels[val]))


def importances(booster, columns: Sequence[str]) -> dict[str, float]:
    """Split-gain importance per column, normalised to sum 1, largest first."""
    gain = np.asarray(booster.feature_importance(importance_type="gain"), dtype=np.float64)
    total = gain.sum()
    shares = gain / total if total > 0 else gain
    return {columns[i]: float(shares[i]) for i in np.argsort(-shares, kind="stable")}


def features_study(
    run: str | os.PathLike | Detector,
    background_train: str | os.PathLike | Jets,
    signal_train: str | os.PathLike | Jets,
    background_test: str | os.PathLike | Jets,
    signal_test: str | os.PathLike | Jets,
    n_train: int | None = None,
    n_test: int | None = None,
    seed: int = 0,
    gbdt_options: Mapping[str, Any] | None = None,
    n_bootstrap: int = 100,
) -> dict[str, Any]:
    """Train LightGBM on each feature set and an isolation forest on the AE features; AUCs on the test set.

    Parameters
    ----------
    run:
        A trained autoencoder (run directory or detector), normally trained on background only.
    background_train, signal_train:
        Labelled training jets of the trees (at most ``n_train`` of each file). When
        ``background_train`` is the run's training file, the rows the run trained on are skipped.
        The isolation forest is fitted on the background ones only.
    background_test, signal_test:
        Test jets (at most ``n_test`` of each).
    seed:
        Seed of the trees, their validation split and the isolation forest.
    gbdt_options:
        LightGBM options over :data:`GBDT_DEFAULTS`.
    n_bootstrap:
        Bootstrap replicas of the AUC errors.

    Returns
    -------
    JSON-ready dict: ``auc`` = ``{"observables", "ae_features", "both", "unsupervised_ae_features"}``,
    ``auc_err`` (bootstrap sd, same keys), ``importances`` = ``{feature set: {column: gain share}}``,
    ``columns`` per feature set, ``reference_auc`` (``ae_anomaly_score``: the run's own score),
    ``n_trees`` (after early stopping), sample sizes, inputs, options and seconds.
    """
    detector, run_dir, metadata = load_autoencoder(run)
    lightgbm()  # fail now, not after the features are computed
    from sklearn.ensemble import IsolationForest

    start = _skip_rows_seen(background_train, metadata)
    if start and isinstance(background_train, (str, os.PathLike)) and count_jets(background_train) <= start:
        raise JetaeError(
            f"the run trained on all {start} jets of this file; give background training jets it has not seen",
            background_train,
        )
    background_pool = read_sample(background_train, "background training", n_train, start=start)
    signal_pool = read_sample(signal_train, "signal training", n_train)
    background = read_sample(background_test, "background test", n_test)
    signal = read_sample(signal_test, "signal test", n_test)

    began = time.perf_counter()
    matrices: dict[str, dict[str, np.ndarray]] = {}
    columns: dict[str, list[str]] = {}
    samples = {"train_bg": background_pool, "train_sig": signal_pool, "test_bg": background, "test_sig": signal}
    for role, jets in samples.items():
        observables, columns["observables"] = observable_features(jets)
        codes, columns["ae_features"] = ae_features(detector, jets)
        matrices[role] = {
            "observables": observables,
            "ae_features": codes,
            "both": np.column_stack([observables, codes]),
        }
    columns["both"] = columns["observables"] + columns["ae_features"]
    seconds_features = time.perf_counter() - began

    began = time.perf_counter()
    y_train = np.r_[np.zeros(len(background_pool)), np.ones(len(signal_pool))]
    aucs: dict[str, float] = {}
    errors: dict[str, float] = {}
    shares: dict[str, dict[str, float]] = {}
    n_trees: dict[str, int] = {}
    for kind in FEATURE_SETS:
        x_train = np.concatenate([matrices["train_bg"][kind], matrices["train_sig"][kind]])
        booster = fit_gbdt(x_train, y_train, seed, gbdt_options)
        bg_scores = predict(booster, matrices["test_bg"][kind])
        sig_scores = predict(booster, matrices["test_sig"][kind])
        aucs[kind], errors[kind] = bootstrap(auc, bg_scores, sig_scores, n=n_bootstrap, seed=seed)
        shares[kind] = importances(booster, columns[kind])
        n_trees[kind] = int(booster.best_iteration or booster.current_iteration())
        log.info("%s: AUC %.4f +- %.4f (%d trees)", kind, aucs[kind], errors[kind], n_trees[kind])
    forest = IsolationForest(n_estimators=ISOLATION_FOREST_TREES, random_state=seed)
    forest.fit(matrices["train_bg"]["ae_features"])
    bg_scores = -forest.score_samples(matrices["test_bg"]["ae_features"])
    sig_scores = -forest.score_samples(matrices["test_sig"]["ae_features"])
    unsupervised = "unsupervised_ae_features"
    aucs[unsupervised], errors[unsupervised] = bootstrap(auc, bg_scores, sig_scores, n=n_bootstrap, seed=seed)
    log.info("%s: AUC %.4f +- %.4f", unsupervised, aucs[unsupervised], errors[unsupervised])
    error_column = len(columns["ae_features"]) - 1
    reference = bootstrap(
        auc,
        matrices["test_bg"]["ae_features"][:, error_column],
        matrices["test_sig"]["ae_features"][:, error_column],
        n=n_bootstrap,
        seed=seed,
    )
    return {
        "study": "features",
        "auc": aucs,
        "auc_err": errors,
        "importances": shares,
        "columns": columns,
        "reference_auc": {"ae_anomaly_score": reference[0]},
        "reference_auc_err": {"ae_anomaly_score": reference[1]},
        "n_trees": n_trees,
        "model": detector.name,
        "run_dir": run_dir,
        "run_config": {k: metadata.get(k) for k in ("config", "trainer", "input_shape", "provenance")},
        "latent_dim": latent_dim(detector),
        "n_train_background": len(background_pool),
        "n_train_signal": len(signal_pool),
        "background_train_start": start,
        "n_test_background": len(background),
        "n_test_signal": len(signal),
        "seed": seed,
        "gbdt": {**GBDT_DEFAULTS, **dict(gbdt_options or {})},
        "early_stopping_rounds": EARLY_STOPPING_ROUNDS,
        "isolation_forest_trees": ISOLATION_FOREST_TREES,
        "inputs": {
            "run": run_dir,
            "background_train": sample_source(background_train),
            "signal_train": sample_source(signal_train),
            "background_test": sample_source(background_test),
            "signal_test": sample_source(signal_test),
        },
        "seconds": {"features": seconds_features, "classifiers": time.perf_counter() - began},
    }


LABELS = {
    "observables": "observables (GBDT)",
    "ae_features": "AE code + error (GBDT)",
    "both": "both (GBDT)",
    "unsupervised_ae_features": "AE code + error,\nisolation forest (no labels)",
}


def plot_features(results: Mapping[str, Any], n_importances: int = 12) -> "Figure":
    """Left: test AUC per feature set (bootstrap errors); right: the gain importances of ``both``."""
    with plot_style():
        figure, axes = new_figure(1, 2, size=(15.0, 6.0))
        ax = axes[0, 0]
        names = list(results["auc"])
        y = np.arange(len(names))[::-1]
        ax.barh(
            y,
            [results["auc"][k] for k in names],
            xerr=[results["auc_err"][k] for k in names],
            color=[COLOURS[1 + i % (len(COLOURS) - 1)] for i in range(len(names))],
            capsize=3,
        )
        reference = results["reference_auc"]["ae_anomaly_score"]
        ax.axvline(reference, ls=":", color=COLOURS[0], lw=2, label=f"AE anomaly score alone ({reference:.3f})")
        ax.set_yticks(y, [LABELS.get(k, k) for k in names], fontsize="x-small")
        ax.set_xlim(0.5, 1.0)
        ax.set_xlabel("Test AUC")
        ax.legend(loc="lower right", fontsize="xx-small")
        ax = axes[0, 1]
        shares = list(results["importances"]["both"].items())[:n_importances]
        y = np.arange(len(shares))[::-1]
        observables = set(results["columns"]["observables"])
        ax.barh(y, [v for _, v in shares], color=[COLOURS[1] if k in observables else COLOURS[2] for k, _ in shares])
        ax.set_yticks(y, [k for k, _ in shares], fontsize="x-small")
        ax.set_xlabel("Gain share (GBDT on both)")
        ax.set_title("orange: observables, red: AE features", fontsize="x-small")
    return figure


def summary_lines(results: Mapping[str, Any]) -> list[str]:
    lines = [f"{'features':<26} {'AUC':>17}"]
    for kind, value in results["auc"].items():
        lines.append(f"{kind:<26} {value:>9.4f} ± {results['auc_err'][kind]:.4f}")
    lines.append(f"{'(AE anomaly score alone)':<26} {results['reference_auc']['ae_anomaly_score']:>9.4f}")
    top = list(results["importances"]["both"].items())[:5]
    lines.append("largest gain shares (both): " + ", ".join(f"{k} {v:.2f}" for k, v in top))
    return lines


def _report(results: Mapping[str, Any], config: Mapping[str, Any]):
    def build(directory: Path) -> str:
        rows = [
            [html.esc(LABELS.get(k, k).replace("\n", " ")), html.fmt_pm(v, results["auc_err"][k])]
            for k, v in results["auc"].items()
        ]
        rows.append(
            [
                html.esc("AE anomaly score alone (reconstruction error)"),
                html.fmt_pm(
                    results["reference_auc"]["ae_anomaly_score"], results["reference_auc_err"]["ae_anomaly_score"]
                ),
            ]
        )
        sections = [("Test AUC", html.table(("features", "AUC ± bootstrap sd"), rows))]
        for kind in FEATURE_SETS:
            importance_rows = [[html.esc(k), html.fmt(v, 3)] for k, v in results["importances"][kind].items()]
            sections.append(
                (
                    f"Feature importances: {kind}",
                    f'<p class="note">LightGBM split gain, normalised to sum 1; {results["n_trees"][kind]} trees '
                    "after early stopping.</p>" + html.table(("feature", "gain share"), importance_rows),
                )
            )
        notes = [
            f"Autoencoder {results['model']} from {results['run_dir']} (latent dimension {results['latent_dim']}).",
            f"Training: {results['n_train_background']} background jets (from row {results['background_train_start']}) "
            f"and {results['n_train_signal']} signal jets; test: {results['n_test_background']} background and "
            f"{results['n_test_signal']} signal jets.",
            "Observables: jet mass and pT in GeV, multiplicity, N-subjettiness tau1-tau3 with exclusive-kT axes "
            "(FastJet, beta = 1, R0 = 0.8), tau21, tau32.",
            f"Unsupervised: isolation forest ({results['isolation_forest_trees']} trees) on the AE features of the "
            "background training jets only; score = -score_samples.",
        ]
        sections.insert(1, ("Set-up", notes_html(notes)))
        figures = [("Test AUC per feature set; gain importances of the combined set", directory / "features.png")]
        return study_report_html(
            "jetae study features",
            f"{results['model']} features for boosted decision trees",
            sections,
            figures,
            config,
            results,
        )

    return build


def write_features(
    out: str | os.PathLike, results: Mapping[str, Any], command: str | None = None, overwrite: bool = False
) -> None:
    """``out/results.json``, ``config.json``, ``features.png|pdf`` and ``report.html``."""
    keys = ("model", "run_dir", "seed", "gbdt", "early_stopping_rounds", "isolation_forest_trees", "inputs")
    parameters = {k: results[k] for k in keys}
    parameters.update(
        {k: results[k] for k in ("n_train_background", "n_train_signal", "background_train_start", "n_test_background")}
    )
    parameters["n_test_signal"] = results["n_test_signal"]
    config = study_config("features", parameters, {results["model"]: results["run_config"]}, command)
    write_study(
        out, results, config, {"features": plot_features(results)}, overwrite=overwrite, report=_report(results, config)
    )

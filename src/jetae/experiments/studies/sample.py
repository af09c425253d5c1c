"""Jets from the decoder: the autoencoder as a trainable Monte Carlo (``jetae sample``).

Latent codes are drawn from

* the prior ``N(0, 1)`` for a variational autoencoder (``vae``, ``oe_vae``): what it was trained
  to decode;
* a Gaussian mixture (``n_components`` full-covariance components, scikit-learn's EM) fitted at
  sampling time to the latent codes of the ``train`` jets for a plain autoencoder, whose code
  space has no prior. The run directory is not changed: the mixture's parameters are written
  into the output file instead (``/latent_density/weights``, ``means``, ``covariances``), so
  the sample can be traced, and the same ``train`` jets and seed draw the same jets again.

The decoder's outputs are made valid rows of the model's representation
(:func:`jetae.experiments.studies.autoencoder.project`: no negative pixels, pixels below 1e-3 of
the image's sum emptied, unit sum for normalised images) and written as a representation file
(:mod:`jetae.io.representation_file`, readable by :func:`~jetae.io.representation_file.read_representation_file`
and ``jetae info``), with the codes they came from (``/latent``).

The report compares generated with real jets (the ``reference`` jets): the average image, the
pixel-intensity spectrum, jet mass, pT, multiplicity and N-subjettiness ratios measured on the
rows (real, generated and the AE's reconstructions of the real jets alike), and one quality figure:
the cross-validated AUC of a classifier (LightGBM on the rows) separating generated from real rows;
0.5 would be a perfect generator. The same classifier on the AE's reconstructions of real jets vs
the real jets shows how much of that comes from the decoder's blur rather than from the sampling.
"""

from __future__ import annotations

import datetime
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from jetae import __version__
from jetae.errors import JetaeError
from jetae.evaluation import report as html
from jetae.evaluation.metrics import auc
from jetae.evaluation.plots import COLOURS, new_figure, plot_style, show_log_image
from jetae.evaluation.samples import read_sample, sample_source
from jetae.experiments.studies.autoencoder import (
    MIN_FRACTION,
    OBSERVABLES,
    decode,
    has_observables,
    image_view,
    is_variational,
    latent_dim,
    load_autoencoder,
    project,
    pt_scale_for,
    representation_observables,
    representation_summary,
)
from jetae.experiments.studies.common import (
    CONFIG_FILE,
    REPORT_FILE,
    RESULTS_FILE,
    check_out_dir,
    notes_html,
    study_config,
    study_report_html,
)
from jetae.io.atomic import atomic_dir, check_not_input, check_writable
from jetae.io.representation_file import write_representation_file
from jetae.jets import Jets
from jetae.models import Detector

if TYPE_CHECKING:
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

DEFAULT_COMPONENTS = 10
#: Real and generated rows each that the classifier and the plots compare (at most).
DEFAULT_N_COMPARE = 3000
#: Cross-validation folds of the generated-vs-real classifier.
N_FOLDS = 3
#: LightGBM options of the generated-vs-real classifier (on up to n_pixels^2 features).
CLASSIFIER_OPTIONS: dict[str, Any] = {
    "n_estimators": 200,
    "learning_rate": 0.1,
    "num_leaves": 15,
    "feature_fraction": 0.5,
    "max_bin": 63,
    "deterministic": True,
    "force_row_wise": True,
    "verbose": -1,
}


@dataclass
class LatentDensity:
    """Where the codes come from: ``prior`` (N(0, 1) in ``dim`` dimensions) or ``gmm`` (a mixture).

    ``weights`` ``(C,)``, ``means`` ``(C, K)``, ``covariances`` ``(C, K, K)``; the prior is the
    mixture of one standard normal.
    """

    kind: str
    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    n_fit: int = 0

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        """``(n, K)`` float32 codes drawn with a seeded numpy generator."""
        rng = np.random.default_rng(seed)
        component = rng.choice(len(self.weights), size=n, p=self.weights / self.weights.sum())
        factors = np.linalg.cholesky(self.covariances)
        normal = rng.standard_normal((n, self.means.shape[1]))
        codes = self.means[component] + np.einsum("nij,nj->ni", factors[component], normal)
        return codes.astype(np.float32)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"weights": self.weights, "means": self.means, "covariances": self.covariances}


def fit_latent_density(
    detector: Detector, jets: Jets | None = None, n_components: int = DEFAULT_COMPONENTS, seed: int = 0
) -> LatentDensity:
    """The prior of a VAE, or a Gaussian mixture fitted to the codes of ``jets`` for a plain AE."""
    dim = latent_dim(detector)
    if is_variational(detector):
        return LatentDensity("prior", np.ones(1), np.zeros((1, dim)), np.eye(dim)[None])
    if jets is None:
        raise JetaeError(
            f"model {detector.name!r} has no prior: give the jets to fit a density to its latent codes (--train)"
        )
    if n_components < 1:
        raise JetaeError(f"n_components must be >= 1, got {n_components}")
    from sklearn.mixture import GaussianMixture

    codes = detector.encode(jets).astype(np.float64)
    if len(codes) < 2 * n_components:
        raise JetaeError(f"{len(codes)} jets are too few to fit {n_components} mixture components", jets.source)
    # a ridge relative to the codes' spread keeps every covariance positive definite
    ridge = 1e-4 * float(codes.var(axis=0).mean())
    mixture = GaussianMixture(n_components, covariance_type="full", reg_covar=ridge, random_state=seed, n_init=1)
    mixture.fit(codes)
    if not mixture.converged_:
        log.warning("the Gaussian mixture did not converge in %d EM steps", mixture.max_iter)
    return LatentDensity("gmm", mixture.weights_, mixture.means_, mixture.covariances_, len(codes))


@dataclass
class GeneratedJets:
    """Jets drawn from the decoder: ``rows`` ``(n, *input_shape)`` in representation units (valid rows),
    ``codes`` ``(n, K)`` they were decoded from, the density, the representation and provenance."""

    rows: np.ndarray
    codes: np.ndarray
    density: LatentDensity
    representation: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)


def generate(
    detector: Detector, n: int, density: LatentDensity, seed: int = 0, min_fraction: float = MIN_FRACTION
) -> GeneratedJets:
    """``n`` jets: codes from ``density``, decoded, made valid rows of the model's representation."""
    if n < 1:
        raise JetaeError(f"number of jets must be >= 1, got {n}")
    codes = density.sample(n, seed)
    representation = dict(detector.config.representation)
    rows = project(decode(detector, codes), representation, min_fraction)
    return GeneratedJets(rows, codes, density, representation)


def sample_jets(
    run: str | os.PathLike | Detector,
    n: int,
    train: str | os.PathLike | Jets | None = None,
    n_fit: int | None = None,
    n_components: int = DEFAULT_COMPONENTS,
    seed: int = 0,
    min_fraction: float = MIN_FRACTION,
) -> GeneratedJets:
    """Draw ``n`` jets from a trained autoencoder (see the module docstring).

    ``train``: jets whose latent codes the mixture is fitted to (plain AEs; at most ``n_fit`` of
    them); ignored for a VAE. ``seed`` seeds the mixture fit and the draw.
    """
    detector, run_dir, _ = load_autoencoder(run)
    fit_jets = None
    if train is not None and not is_variational(detector):
        fit_jets = read_sample(train, "latent density", n_fit)
    density = fit_latent_density(detector, fit_jets, n_components, seed)
    began = time.perf_counter()
    generated = generate(detector, n, density, seed, min_fraction)
    generated.metadata = {
        "model": detector.name,
        "run_dir": run_dir,
        "sampler": "vae_prior" if density.kind == "prior" else "gaussian_mixture",
        "n_components": len(density.weights),
        "density_fit_jets": sample_source(train) if fit_jets is not None else None,
        "n_density_fit": density.n_fit,
        "seed": seed,
        "min_fraction": min_fraction,
        "n_jets": n,
        "representation": representation_summary(generated.representation),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "jetae": __version__,
        "seconds": time.perf_counter() - began,
    }
    log.info("drew %d jets from %s (%s)", n, run_dir or detector.name, generated.metadata["sampler"])
    return generated


# --------------------------------------------------------------------------- comparison
def classifier_auc(real: np.ndarray, generated: np.ndarray, seed: int = 0, folds: int = N_FOLDS) -> dict[str, float]:
    """Cross-validated AUC of LightGBM separating ``generated`` from ``real`` rows (flattened).

    Returns ``{"auc": AUC of the out-of-fold predictions, "auc_fold_sd": sd of the per-fold AUCs}``;
    0.5 = indistinguishable, 1 = always told apart. AUC < 0.5 is reported as measured.
    """
    from sklearn.model_selection import StratifiedKFold

    from jetae.experiments.studies.features import predict, train_booster

    x = np.concatenate([real.reshape(len(real), -1), generated.reshape(len(generated), -1)]).astype(np.float32)
    y = np.r_[np.zeros(len(real)), np.ones(len(generated))]
    predictions = np.zeros(len(y))
    per_fold = []
    for k, (fit, test) in enumerate(StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, y)):
        booster = train_booster(x[fit], y[fit], CLASSIFIER_OPTIONS, seed + k)
        predictions[test] = predict(booster, x[test])
        per_fold.append(auc(predictions[test][y[test] == 0], predictions[test][y[test] == 1]))
    return {
        "auc": auc(predictions[y == 0], predictions[y == 1]),
        "auc_fold_sd": float(np.std(per_fold, ddof=1)) if len(per_fold) > 1 else math.nan,
    }


def compare_to_real(
    run: str | os.PathLike | Detector,
    generated: GeneratedJets,
    reference: str | os.PathLike | Jets,
    n_compare: int = DEFAULT_N_COMPARE,
    seed: int = 0,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The generated jets against ``reference`` (real) jets: ``(results, arrays for the plots)``.

    ``results``: ``classifier_auc`` (+ ``classifier_auc_fold_sd``) on the rows,
    ``classifier_auc_observables`` on the observables, ``reconstructed_vs_real_auc`` (the same
    classifier on the AE's reconstructions of the reference jets), ``observables``
    (``{name: {"real", "generated", "reconstructed"}: {"mean", "sd", "median"}}``), sizes.
    """
    detector, _, _ = load_autoencoder(run)
    real_jets = read_sample(reference, "reference", n_compare)
    real, reconstructed = detector.reconstruct(real_jets)
    representation = generated.representation
    reconstructed = project(reconstructed, representation, generated.metadata.get("min_fraction", MIN_FRACTION))
    fake = generated.rows[: len(real)]
    m = min(len(real), len(fake))
    real, reconstructed, fake = real[:m], reconstructed[:m], fake[:m]
    results: dict[str, Any] = {"n_compare": m}
    quality = classifier_auc(real, fake, seed)
    results["classifier_auc"], results["classifier_auc_fold_sd"] = quality["auc"], quality["auc_fold_sd"]
    results["reconstructed_vs_real_auc"] = classifier_auc(real, reconstructed, seed)["auc"]
    arrays: dict[str, np.ndarray] = {"real": real, "generated": fake, "reconstructed": reconstructed}
    if has_observables(representation):
        scale = pt_scale_for(representation, real_jets)
        results["pt_scale"] = scale
        observables = {
            name: representation_observables(rows, representation, scale)
            for name, rows in (("real", real), ("generated", fake), ("reconstructed", reconstructed))
        }
        table = {kind: np.column_stack([values[name] for name in OBSERVABLES]) for kind, values in observables.items()}
        results["classifier_auc_observables"] = classifier_auc(table["real"], table["generated"], seed)["auc"]
        results["observables"] = {
            name: {
                kind: {
                    "mean": float(np.mean(observables[kind][name])),
                    "sd": float(np.std(observables[kind][name])),
                    "median": float(np.median(observables[kind][name])),
                }
                for kind in observables
            }
            for name in OBSERVABLES
        }
        for kind in observables:
            for name in OBSERVABLES:
                arrays[f"{kind}.{name}"] = observables[kind][name]
    else:
        results["classifier_auc_observables"] = None
        results["observables"] = None
    log.info(
        "generated vs real: classifier AUC %.4f (reconstructions vs real: %.4f)",
        results["classifier_auc"],
        results["reconstructed_vs_real_auc"],
    )
    return results, arrays


# --------------------------------------------------------------------------- plots
def plot_average(arrays: Mapping[str, np.ndarray]) -> "Figure":
    """Average image of real, generated and reconstructed jets (log colour), or the mean and standard
    deviation of each input element for non-image representations."""
    from matplotlib.colors import LogNorm

    kinds = ("real", "generated", "reconstructed")
    with plot_style():
        images = {kind: image_view(arrays[kind]) for kind in kinds}
        if all(image is not None for image in images.values()):
            figure, axes = new_figure(1, 3, size=(16.0, 5.2))
            means = {kind: images[kind].mean(axis=0) for kind in kinds}
            positive = np.concatenate([m[m > 0] for m in means.values()])
            norm = LogNorm(vmin=max(float(positive.min()), 1e-6), vmax=float(positive.max())) if positive.size else None
            for ax, kind in zip(axes[0], kinds):
                shown = ax.imshow(np.where(means[kind] > 0, means[kind], np.nan), origin="lower", norm=norm)
                ax.set_title(f"{kind} (mean of {len(images[kind])})", fontsize="small")
                ax.set_xlabel("x (eta) pixel")
            axes[0, 0].set_ylabel("y (phi) pixel")
            figure.colorbar(shown, ax=axes[0, -1], label="mean intensity")
            return figure
        # other representations: mean and spread of every input element (a collapsed code shows as sd ~ 0)
        figure, axes = new_figure(2, 1, size=(8.0, 8.0), sharex=True)
        for i, kind in enumerate(kinds):
            flat = np.asarray(arrays[kind]).reshape(len(arrays[kind]), -1)
            axes[0, 0].plot(flat.mean(axis=0), color=COLOURS[i], lw=1.5, label=kind)
            axes[1, 0].plot(flat.std(axis=0), color=COLOURS[i], lw=1.5, label=kind)
        axes[1, 0].set_xlabel("input element")
        axes[0, 0].set_ylabel("mean")
        axes[1, 0].set_ylabel("standard deviation")
        axes[0, 0].legend(fontsize="x-small")
    return figure


def plot_spectrum(arrays: Mapping[str, np.ndarray]) -> "Figure":
    """Distribution of the non-zero row elements (pixel intensities) of real, generated, reconstructed jets."""
    with plot_style():
        figure, axes = new_figure()
        ax = axes[0, 0]
        values = {k: np.asarray(arrays[k]).ravel() for k in ("real", "generated", "reconstructed")}
        values = {k: v[v > 0] for k, v in values.items()}
        everything = np.concatenate(list(values.values()))
        if everything.size:
            bins = np.geomspace(max(float(everything.min()), 1e-6), float(everything.max()) * 1.01, 60)
            for i, (kind, v) in enumerate(values.items()):
                weights = np.full(len(v), 1.0 / max(len(arrays[kind]), 1))
                ax.hist(v, bins=bins, weights=weights, histtype="step", lw=2, color=COLOURS[i], label=kind)
            ax.set_xscale("log")
            ax.set_yscale("log")
        ax.set_xlabel("non-zero pixel intensity (element value)")
        ax.set_ylabel("pixels per jet")
        ax.legend(fontsize="x-small")
    return figure


def plot_observables(arrays: Mapping[str, np.ndarray]) -> "Figure":
    """Histograms of mass, pT, multiplicity, tau21, tau32 measured on real, generated, reconstructed rows."""
    names = list(OBSERVABLES)
    labels = {
        "mass": "jet mass [GeV]",
        "pt": "jet $p_T$ [GeV]",
        "multiplicity": "non-empty pixels / constituents",
        "tau21": r"$\tau_{21}$",
        "tau32": r"$\tau_{32}$",
    }
    with plot_style():
        figure, axes = new_figure(2, 3, size=(16.0, 9.0))
        for ax, name in zip(axes.ravel(), names):
            data = {k: arrays[f"{k}.{name}"] for k in ("real", "generated", "reconstructed")}
            everything = np.concatenate(list(data.values()))
            lo, hi = np.quantile(everything, [0.005, 0.995])
            bins = np.linspace(lo, hi if hi > lo else lo + 1.0, 40)
            for i, (kind, v) in enumerate(data.items()):
                ax.hist(v, bins=bins, density=True, histtype="step", lw=2, color=COLOURS[i], label=kind)
            ax.set_xlabel(labels[name], fontsize="small")
        axes[0, 0].legend(fontsize="xx-small")
        axes.ravel()[-1].set_axis_off()
    return figure


def plot_examples(arrays: Mapping[str, np.ndarray], n: int = 6) -> "Figure | None":
    """``n`` real and ``n`` generated images side by side (images only; None otherwise)."""
    real, fake = image_view(arrays["real"]), image_view(arrays["generated"])
    if real is None or fake is None:
        return None
    n = min(n, len(real), len(fake))
    with plot_style():
        figure, axes = new_figure(2, n, size=(2.6 * n, 5.6))
        for row, (kind, images) in enumerate((("real", real), ("generated", fake))):
            for col in range(n):
                ax = axes[row, col]
                show_log_image(ax, images[col])
                if col == 0:
                    ax.set_ylabel(kind, fontsize="small")
    return figure


# --------------------------------------------------------------------------- writing
def default_report_dir(out: str | os.PathLike) -> Path:
    """``FILE.h5`` -> ``FILE_report`` next to it."""
    out = Path(out)
    return out.with_name(out.stem + "_report")


def check_outputs(
    out: str | os.PathLike, report_dir: str | os.PathLike, overwrite: bool, inputs: list[str | os.PathLike]
) -> tuple[Path, Path]:
    """Before any work: the output file and report directory can be written and replace no input."""
    out, report_dir = Path(out), Path(report_dir)
    check_writable(out, "file")
    check_not_input(out, inputs, "file")
    if out.exists() and not overwrite:
        raise JetaeError("exists; pass --overwrite to replace it", out)
    check_writable(report_dir, "dir")
    check_out_dir(report_dir, overwrite, inputs)
    if report_dir.resolve() == out.resolve():
        raise JetaeError("the report directory and the output file are the same path", out)
    return out, report_dir


def write_sample(
    out: str | os.PathLike,
    generated: GeneratedJets,
    results: Mapping[str, Any],
    arrays: Mapping[str, np.ndarray],
    report_dir: str | os.PathLike | None = None,
    command: str | None = None,
    overwrite: bool = False,
) -> tuple[Path, Path]:
    """Write the representation file ``out`` and its report directory (``results.json``, ``config.json``,
    plots, ``report.html``); the report is written first and removed again if the file fails."""
    import json

    from jetae.evaluation.jsonify import json_ready
    from jetae.evaluation.plots import save_figure

    out = Path(out)
    report_dir = Path(report_dir) if report_dir is not None else default_report_dir(out)
    metadata = dict(generated.metadata, command=command)
    parameters = {k: metadata.get(k) for k in ("model", "run_dir", "sampler", "n_components", "seed", "n_jets")}
    parameters.update(
        {
            "density_fit_jets": metadata.get("density_fit_jets"),
            "min_fraction": metadata.get("min_fraction"),
            "reference": results.get("reference"),
            "n_compare": results.get("n_compare"),
            "classifier": CLASSIFIER_OPTIONS,
            "folds": N_FOLDS,
            "out": os.fspath(out),
        }
    )
    config = study_config("sample", parameters, {metadata.get("model"): results.get("run_config")}, command)
    figures = {"average": plot_average(arrays), "spectrum": plot_spectrum(arrays)}
    if "real.mass" in arrays:
        figures["observables"] = plot_observables(arrays)
    examples = plot_examples(arrays)
    if examples is not None:
        figures["examples"] = examples
    captions = {
        "average": "Average jet: real, generated, AE reconstructions of the real jets",
        "spectrum": "Pixel-intensity spectrum (non-zero elements)",
        "observables": "Observables measured on the rows (mass, pT from the image / constituents)",
        "examples": "Real (top) and generated (bottom) jets",
    }
    with atomic_dir(report_dir, overwrite=overwrite) as tmp:
        (tmp / RESULTS_FILE).write_text(json.dumps(json_ready(results), indent=2) + "\n")
        (tmp / CONFIG_FILE).write_text(json.dumps(json_ready(config), indent=2) + "\n")
        for stem, figure in figures.items():
            save_figure(figure, tmp, stem)
        page = _report_html(results, config, [(captions[s], tmp / f"{s}.png") for s in figures])
        (tmp / REPORT_FILE).write_text(page, encoding="utf-8")
        write_representation_file(
            out,
            generated.rows,
            generated.representation,
            metadata,
            arrays={
                "latent": generated.codes,
                **{f"latent_density/{k}": v for k, v in generated.density.arrays().items()},
            },
            overwrite=overwrite,
        )
    log.info("wrote %s and %s", out, report_dir)
    return out, report_dir


def _report_html(results: Mapping[str, Any], config: Mapping[str, Any], figures: list[tuple[str, Path]]) -> str:
    rows = [
        [
            html.esc("generated vs real (rows)"),
            html.fmt_pm(results["classifier_auc"], results["classifier_auc_fold_sd"]),
        ],
        [html.esc("generated vs real (observables)"), html.fmt(results.get("classifier_auc_observables"))],
        [html.esc("AE reconstructions vs real (rows)"), html.fmt(results["reconstructed_vs_real_auc"])],
    ]
    quality = (
        '<p class="note">Cross-validated AUC of LightGBM telling the two apart ('
        f"{N_FOLDS} folds, {results['n_compare']} jets each; ± = sd over folds). 0.5 = indistinguishable, "
        "1 = always told apart.</p>" + html.table(("classifier", "AUC"), rows)
    )
    sections = [("Quality: can a classifier tell generated from real?", quality)]
    if results.get("observables"):
        header = ("observable", "real mean ± sd", "generated mean ± sd", "reconstructed mean ± sd")
        obs_rows = []
        for name, block in results["observables"].items():
            unit = OBSERVABLES[name]
            obs_rows.append(
                [html.esc(f"{name} [{unit}]" if unit else name)]
                + [html.fmt_pm(block[k]["mean"], block[k]["sd"]) for k in ("real", "generated", "reconstructed")]
            )
        sections.append(("Observables", html.table(header, obs_rows)))
    notes = [
        f"Model {results['model']} from {results['run_dir']}; sampler: {results['sampler']}"
        + (f" with {results['n_components']} components" if results["sampler"] == "gaussian_mixture" else ""),
        f"{results['n_jets']} jets written to {results['out']}; reference (real) jets: {results['reference']}.",
        "Generated rows are made valid for the representation: negative pixels and pixels below "
        f"{results['min_fraction']:g} of the image sum set to 0, images normalised where the representation is.",
    ]
    if results.get("pt_scale"):
        notes.append(
            f"Mass and pT of unit-sum rows are scaled by the reference jets' mean pT, {results['pt_scale']:.1f} GeV."
        )
    sections.append(("Set-up", notes_html(notes)))
    return study_report_html(
        "jetae sample", f"{results['model']}: jets from the decoder", sections, figures, config, results
    )


def sample(
    run: str | os.PathLike,
    n: int,
    out: str | os.PathLike,
    train: str | os.PathLike | Jets | None = None,
    reference: str | os.PathLike | Jets | None = None,
    report_dir: str | os.PathLike | None = None,
    n_fit: int | None = None,
    n_components: int = DEFAULT_COMPONENTS,
    n_compare: int = DEFAULT_N_COMPARE,
    seed: int = 0,
    min_fraction: float = MIN_FRACTION,
    command: str | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """``jetae sample``: draw ``n`` jets, compare them with real ones, write ``out`` and the report.

    ``reference``: real jets of the comparison (default: ``train``); one of them must be given.
    Returns the results (as written to ``REPORT_DIR/results.json``).
    """
    if reference is None and train is None:
        raise JetaeError("give real jets to compare with: --train (also the density's jets) or --reference")
    reference = reference if reference is not None else train
    report_dir = Path(report_dir) if report_dir is not None else default_report_dir(out)
    inputs = [p for p in (run, train, reference) if isinstance(p, (str, os.PathLike))]
    check_outputs(out, report_dir, overwrite, inputs)
    detector, run_dir, metadata = load_autoencoder(run)
    generated = sample_jets(detector, n, train, n_fit, n_components, seed, min_fraction)
    generated.metadata["run_dir"] = run_dir
    results, arrays = compare_to_real(detector, generated, reference, n_compare, seed)
    results = {
        "study": "sample",
        "classifier_auc": results.pop("classifier_auc"),
        **generated.metadata,
        "out": os.fspath(out),
        "report_dir": os.fspath(report_dir),
        "reference": sample_source(reference),
        **results,
        "run_config": {k: metadata.get(k) for k in ("config", "trainer", "input_shape", "provenance")},
    }
    write_sample(out, generated, results, arrays, report_dir, command, overwrite)
    return results


def summary_lines(results: Mapping[str, Any]) -> list[str]:
    lines = [
        f"{results['n_jets']} jets from {results['model']} ({results['sampler']}) -> {results['out']}",
        f"classifier AUC generated vs real: {results['classifier_auc']:.4f} (0.5 = perfect; "
        f"AE reconstructions vs real: {results['reconstructed_vs_real_auc']:.4f})",
    ]
    if results.get("observables"):
        for name, block in results["observables"].items():
            lines.append(
                f"  {name:<13} real {block['real']['mean']:9.3f}  generated {block['generated']['mean']:9.3f}  "
                f"reconstructed {block['reconstructed']['mean']:9.3f}"
            )
    return lines

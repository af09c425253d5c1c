"""Evaluate trained detectors on background and signal jets: metrics, plots, HTML report.

>>> from jetae.evaluation.evaluate import evaluate_model
>>> metrics = evaluate_model("runs/conv_ae", "data/qcd_test.h5", {"top": "data/top_test.h5"}, "reports/conv_ae")

Report directory layout (one model)::

    REPORT_DIR/metrics.json      headline numbers (layout below)
    REPORT_DIR/provenance.json   input files, their generation records, this evaluation
    REPORT_DIR/report.html       self-contained page: tables, plots, model config, provenance
    REPORT_DIR/plots/*.png|pdf   roc, scores_<score>, mass_<score>, reconstruction, latent;
                                models that can sample (``Detector.sample_negatives``) also
                                negatives; nae_diagnostics when the training history has the
                                positive / negative energies (see :mod:`.figures`)

``metrics.json``::

    {"model": name, "run_dir": path or null, "score": first score name,
     "background": path, "signals": {"<stem>": {"auc", "auc_err", "r30", "r50",
     "eps_s_at_1e-2", "eps_s_at_1e-3", "n", "n_background"}},
     "mass_sculpting": {"jsd_eff50", "jsd_eff10", "inv_jsd_eff50", "inv_jsd_eff10", "dcorr"},
     "scores": {"<score>": {"signals": ..., "mass_sculpting": ...}}}   # only with several scores

The top-level blocks belong to the first score. A figure the samples do not resolve is
``null`` and followed by ``"<figure>_reason"`` (e.g. ``"r30": null, "r30_reason": "no
background jet passes at eps_S = 0.3; R30 > 300"``); the rules are those of
:mod:`jetae.evaluation.metrics` (``MIN_JETS_PER_CLASS``, ``MIN_PASSING_JETS``,
``MIN_JETS_SCULPTING``). Tables show such a figure as "n/a". Below
``MIN_BACKGROUND_JETS_ALL_FIGURES`` background or ``MIN_SIGNAL_JETS_ALL_FIGURES`` signal
jets some figure is never resolved, and the evaluation logs a warning.

Several models: ``REPORT_DIR/<label>/`` holds each model's report in the layout above
(label = run directory name, made unique), and ``REPORT_DIR`` itself holds
``metrics.json`` = ``{"background": path, "signals": [stems], "models": {label: that
model's metrics}}``, ``provenance.json``, ``report.html`` (comparison tables, overlaid
ROC, AUC vs 1/JSD per signal, links to the model pages), ``plots/roc.png|pdf`` and
``plots/tradeoff_<signal>.png|pdf``.

Everything is written into a temporary directory renamed onto ``REPORT_DIR`` at the
end, so an error never leaves a half-written report.

This module orchestrates; the pieces are: :mod:`.samples` (reading and checking the jets),
:mod:`.direction` (scoring and summarising), :mod:`.model_metrics` (one model's metrics),
:mod:`.figures` (which plots), :mod:`.provenance`, :mod:`.report` (HTML), :mod:`.tradeoff`
and :mod:`.terminal`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from jetae.errors import JetaeError
from jetae.evaluation import plots, report
from jetae.evaluation.direction import resolve_scores
from jetae.evaluation.figures import N_NEGATIVES, energy_model_figures, file_stem, model_figures
from jetae.evaluation.jsonify import json_ready, write_json
from jetae.evaluation.model_metrics import ModelResult, compute_metrics
from jetae.evaluation.provenance import evaluation_provenance
from jetae.evaluation.samples import SampleLike, check_labels, load_inputs, unique_names, warn_small_samples
from jetae.evaluation.terminal import summary_lines
from jetae.evaluation.tradeoff import tradeoff_series
from jetae.io.atomic import atomic_dir, check_not_input, check_writable
from jetae.io.provenance import sidecar_for
from jetae.jets import Jets
from jetae.models import Detector, load_model

log = logging.getLogger(__name__)

#: Names that lived in this module before it was split (issue #17); other code still imports
#: them from here. ``_energy_model_figures`` is the old private name (tests/test_nae.py,
#: tests/test_ensemble.py).
__all__ = [
    "METRICS_FILE",
    "PROVENANCE_FILE",
    "REPORT_FILE",
    "PLOTS_DIR",
    "N_NEGATIVES",
    "ModelResult",
    "check_labels",
    "compute_metrics",
    "evaluate_model",
    "evaluate_models",
    "json_ready",
    "load_detector",
    "summary_lines",
    "tradeoff_series",
]
_energy_model_figures = energy_model_figures

METRICS_FILE = "metrics.json"
PROVENANCE_FILE = "provenance.json"
REPORT_FILE = "report.html"
PLOTS_DIR = "plots"

PathLike = str | os.PathLike


def load_detector(model: "str | os.PathLike | Detector") -> tuple["Detector", str | None, dict]:
    """``(detector, run_dir or None, metadata incl. training provenance)`` of a run directory or a detector."""
    if isinstance(model, Detector):
        return model, None, model.metadata()
    run_dir = Path(model)
    detector = load_model(run_dir)
    metadata = detector.metadata()
    training = Detector.read_metadata(run_dir).get("provenance")
    if training:
        metadata["provenance"] = training
    return detector, os.fspath(run_dir), metadata


def check_out_dir(out_dir: PathLike, overwrite: bool, inputs: Sequence[PathLike] = ()) -> Path:
    """Before any work: the report directory can be written, would replace none of ``inputs``
    (run directories, data files; not even with ``overwrite``) and exists only with ``overwrite``."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise JetaeError("exists and is not a directory", out_dir)
    check_writable(out_dir, "dir")
    check_not_input(out_dir, inputs, "dir")
    if out_dir.exists() and not overwrite:
        raise JetaeError("report directory already exists; pass --overwrite (overwrite=True) to replace it", out_dir)
    return out_dir


def input_paths(models: Sequence[Any], background: Any, signals: Any) -> list[PathLike]:
    """The files and run directories an evaluation reads (in-memory detectors and jets have none)."""
    samples = [background]
    if isinstance(signals, Mapping):
        samples += list(signals.values())
    elif isinstance(signals, (Jets, str, os.PathLike)):
        samples.append(signals)
    else:
        samples += list(signals)
    paths = [model for model in models if not isinstance(model, Detector)]
    paths += [sample for sample in samples if isinstance(sample, (str, os.PathLike))]
    for sample in samples:
        if isinstance(sample, (str, os.PathLike)):
            paths.append(sidecar_for(sample))
    return paths


def write_model_report(
    result: ModelResult,
    background: Jets,
    signals: Mapping[str, Jets],
    directory: Path,
    provenance: dict,
    n_examples: int,
    n_latent: int,
    seed: int,
    n_negatives: int = N_NEGATIVES,
) -> dict:
    """Write one model's report (metrics.json, provenance.json, report.html, plots/) into ``directory``;
    returns its metrics as written."""
    directory.mkdir(parents=True, exist_ok=True)
    figures, notes = model_figures(
        result, background, signals, directory / PLOTS_DIR, n_examples, n_latent, seed, n_negatives
    )
    for note in notes:
        log.info("%s: %s", result.label, note)
    write_json(directory / METRICS_FILE, result.metrics)
    write_json(directory / PROVENANCE_FILE, provenance)
    html = report.model_report_html(
        result.metrics,
        figures,
        json_ready(result.metadata),
        provenance,
        title=f"jetae evaluation: {result.label}",
        notes=notes,
    )
    (directory / REPORT_FILE).write_text(html, encoding="utf-8")
    return json_ready(result.metrics)


def evaluate_model(
    model: Any,
    background: SampleLike,
    signals: Mapping[str, SampleLike] | Sequence[SampleLike] | SampleLike,
    out_dir: PathLike,
    scores: Sequence[str] | None = None,
    provenance: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    n_max: int | None = None,
    n_bootstrap: int = 100,
    seed: int = 0,
    n_examples: int = 3,
    n_latent: int = 2000,
    n_negatives: int = N_NEGATIVES,
    on_unphysical: str = "error",
) -> dict[str, Any]:
    """Evaluate one detector and write its report to ``out_dir`` (see the module docstring).

    Parameters
    ----------
    model:
        A run directory written by ``jetae train`` or a fitted detector.
    background:
        Background jets (:class:`Jets` or a reference-layout file).
    signals:
        ``{name: Jets or file}``, or a list of files / Jets (named by file stem).
    out_dir:
        Report directory; must not exist unless ``overwrite``.
    scores:
        Score names to evaluate (default: the model's first); the first one fills the
        top-level blocks of ``metrics.json``.
    provenance:
        Extra provenance: ``"background"`` / ``"signals"`` entries replace the file
        records derived from the inputs, anything else (e.g. ``{"command": ...}``) is
        recorded under ``"evaluation"``.
    n_max:
        Use at most this many jets of each sample.
    n_bootstrap, seed:
        Bootstrap replicas for the AUC error, and the seed of everything random
        (bootstrap, dCor subsample, latent-plot subsample).
    n_examples, n_latent:
        Jets per class in the reconstruction plot / latent-space plot.
    n_negatives:
        Detectors that can draw negative samples (``sample_negatives(n, seed)``, e.g.
        ``nae``): samples (and real background jets) in the negatives plot; 0 = no plot.
    on_unphysical:
        For files: ``"error"`` refuses unphysical constituents, ``"drop"`` drops their jets
        (see :func:`jetae.data.toptag.read_jets`).

    Returns
    -------
    The metrics dict exactly as written to ``metrics.json``.

    Raises
    ------
    JetaeError
        Not a model directory, unreadable or empty data files, a background file of
        only signal-labelled jets, an unknown score, inputs the model cannot take,
        an existing ``out_dir`` without ``overwrite``. Nothing is written then.
    """
    return evaluate_models(
        [model],
        background,
        signals,
        out_dir,
        scores=scores,
        provenance=provenance,
        overwrite=overwrite,
        n_max=n_max,
        n_bootstrap=n_bootstrap,
        seed=seed,
        n_examples=n_examples,
        n_latent=n_latent,
        n_negatives=n_negatives,
        on_unphysical=on_unphysical,
    )


def evaluate_models(
    models: Sequence[Any] | Mapping[str, Any],
    background: SampleLike,
    signals: Mapping[str, SampleLike] | Sequence[SampleLike] | SampleLike,
    out_dir: PathLike,
    scores: Sequence[str] | None = None,
    provenance: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    n_max: int | None = None,
    n_bootstrap: int = 100,
    seed: int = 0,
    n_examples: int = 3,
    n_latent: int = 2000,
    n_negatives: int = N_NEGATIVES,
    on_unphysical: str = "error",
) -> dict[str, Any]:
    """Evaluate several detectors on the same samples (see :func:`evaluate_model`).

    With one model this is :func:`evaluate_model`; with several, the report directory
    holds one sub-report per model plus a comparison page (module docstring), and the
    returned dict is the top-level ``metrics.json``. ``models`` may be a mapping
    ``{label: run directory or detector}`` to choose the labels (default: the run
    directory name, or the model name of an in-memory detector). The comparison page
    also plots AUC against 1/JSD per signal (:func:`tradeoff_series`): a DisCo lambda
    scan shows there as one curve per model.
    """
    if not models:
        raise JetaeError("no model given")
    given_labels = list(models) if isinstance(models, Mapping) else None
    models = list(models.values()) if isinstance(models, Mapping) else list(models)
    out_dir = check_out_dir(out_dir, overwrite, input_paths(models, background, signals))
    loaded = [load_detector(model) for model in models]  # fail fast on a bad run directory
    for detector, run_dir, _ in loaded:
        resolve_scores(detector, scores, run_dir)
    background_jets, signal_jets, background_path, signal_paths = load_inputs(background, signals, n_max, on_unphysical)
    warn_small_samples(background_jets, signal_jets)
    # Sub-report directories must not collide with the files of the comparison page.
    default_labels = [Path(run_dir).resolve().name if run_dir else detector.name for detector, run_dir, _ in loaded]
    labels = unique_names(
        [file_stem(str(label)) for label in (given_labels or default_labels)],
        reserved=(PLOTS_DIR, METRICS_FILE, PROVENANCE_FILE, REPORT_FILE),
    )
    results = []
    for label, (detector, run_dir, metadata) in zip(labels, loaded):
        log.info(
            "evaluating %s (%s) on %d background jets and %s",
            label,
            detector.name,
            len(background_jets),
            ", ".join(f"{len(j)} {n}" for n, j in signal_jets.items()),
        )
        results.append(
            compute_metrics(
                detector,
                background_jets,
                signal_jets,
                scores,
                run_dir,
                n_bootstrap,
                seed,
                label=label,
                metadata=metadata,
            )
        )
    record = evaluation_provenance(
        background_jets, signal_jets, background_path, signal_paths, provenance, n_bootstrap, seed
    )
    try:
        with atomic_dir(out_dir, overwrite=overwrite) as tmp:
            if len(results) == 1:
                return write_model_report(
                    results[0], background_jets, signal_jets, tmp, record, n_examples, n_latent, seed, n_negatives
                )
            per_model = {}
            for result in results:
                per_model[result.label] = write_model_report(
                    result,
                    background_jets,
                    signal_jets,
                    tmp / result.label,
                    record,
                    n_examples,
                    n_latent,
                    seed,
                    n_negatives,
                )
            combined = {f"{r.label}: {curve}": values for r in results for curve, values in r.roc.items()}
            roc_png = plots.save_figure(plots.plot_roc(combined, title="all models"), tmp / PLOTS_DIR, "roc")["png"]
            tradeoff_pngs = []
            for signal in signal_jets:
                figure = plots.plot_tradeoff(tradeoff_series(results, signal), signal)
                png = plots.save_figure(figure, tmp / PLOTS_DIR, f"tradeoff_{file_stem(signal)}")["png"]
                tradeoff_pngs.append(
                    (
                        f"AUC ({signal}) vs 1/JSD of the background mass at 50% background "
                        "efficiency; points of one model ordered by DisCo lambda",
                        png,
                    )
                )
            summary = {"background": background_jets.source, "signals": list(signal_jets), "models": per_model}
            write_json(tmp / METRICS_FILE, summary)
            write_json(tmp / PROVENANCE_FILE, record)
            html = report.comparison_report_html(
                {r.label: r.metrics for r in results},
                roc_png,
                {r.label: f"{r.label}/{REPORT_FILE}" for r in results},
                record,
                extra_figures=tradeoff_pngs,
            )
            (tmp / REPORT_FILE).write_text(html, encoding="utf-8")
            return json_ready(summary)
    except FileExistsError as exc:  # created by someone else while we were working
        raise JetaeError("report directory appeared while evaluating; pass --overwrite to replace it", out_dir) from exc

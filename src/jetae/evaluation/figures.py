"""Which figures a model's report gets, made and saved (PNG + PDF) with their captions.

Every model: ROC, score distributions and background mass after cuts (per score),
reconstructions and latent space (when the model has them). Models that can sample their
own distribution (``Detector.sample_negatives`` returns samples, e.g. ``nae``): negative
samples next to real jets. Any model whose training history holds positive and negative
energies per epoch: the training-energy diagnostics. A figure that cannot be made becomes a
note under the tables, never an error.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping

import numpy as np

from jetae.errors import JetaeError
from jetae.evaluation import model_plots, plots
from jetae.evaluation.model_metrics import ModelResult
from jetae.jets import Jets
from jetae.models.base import make_inputs

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Negative samples (and real jets) shown for detectors that can sample (e.g. ``nae``).
N_NEGATIVES = 6

#: ``add(figure, stem, caption)``: save a figure as ``<stem>.png|pdf`` and list it with its caption.
AddFigure = Callable[["Figure", str, str], None]


def file_stem(name: str) -> str:
    """``name`` made safe as a file name (anything but letters, digits, ``_.-`` becomes ``_``)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "x"


def model_figures(
    result: ModelResult,
    background: Jets,
    signals: Mapping[str, Jets],
    plot_dir: Path,
    n_examples: int,
    n_latent: int,
    seed: int,
    n_negatives: int = N_NEGATIVES,
) -> tuple[list[tuple[str, Path]], list[str]]:
    """Make and save the plots of one model into ``plot_dir``; returns ``(captions and PNGs, notes)``."""
    figures: list[tuple[str, Path]] = []
    notes: list[str] = []

    def add(figure: "Figure", stem: str, caption: str) -> None:
        figures.append((caption, plots.save_figure(figure, plot_dir, stem)["png"]))

    add(
        plots.plot_roc(result.roc, title=f"{result.label} ({result.detector.name})"),
        "roc",
        "ROC: background rejection 1/εB vs signal efficiency εS; dashed: random guess",
    )
    samples = {"background": background, **signals}
    for score in result.score_names:
        key = f"score_{score}"
        stem = file_stem(score)
        add(
            plots.plot_score_distributions({name: table[key] for name, table in result.tables.items()}, score),
            f"scores_{stem}",
            f"Anomaly score ({score}) per class, normalised",
        )
        add(
            plots.plot_mass_sculpting(
                result.tables["background"]["mass"], result.tables["background"][key], score_name=score
            ),
            f"mass_{stem}",
            f"Background jet mass after cuts on {score} keeping 100%, 50%, 10%, 1% of the background",
        )
    try:
        examples = {name: result.detector.reconstruct(jets[:n_examples]) for name, jets in samples.items()}
    except JetaeError as exc:
        notes.append(f"no reconstruction plot: {exc}")
    else:
        add(
            model_plots.plot_reconstructions(examples, result.detector.config.representation),
            "reconstruction",
            f"Input vs reconstruction for the first {n_examples} jets of each class (representation units)",
        )
    rng = np.random.default_rng(seed)
    try:
        codes = {}
        for name, jets in samples.items():
            pick = np.sort(rng.permutation(len(jets))[:n_latent])
            codes[name] = result.detector.encode(jets[pick])
    except JetaeError as exc:
        notes.append(f"no latent-space plot: {exc}")
    else:
        add(
            model_plots.plot_latent(codes),
            "latent",
            f"Latent code (up to {n_latent} random jets per class), first two principal components",
        )
    energy_model_figures(result, background, add, notes, n_negatives, seed)
    return figures, notes


def energy_model_figures(
    result: ModelResult, background: Jets, add: AddFigure, notes: list[str], n_negatives: int, seed: int
) -> None:
    """Negative samples next to real jets, and the training-energy diagnostics, where the model has them.

    The negatives figure asks the detector (``sample_negatives(n, seed)``: None when it
    cannot sample; ``sampler_description()`` for the caption). The diagnostics figure is
    keyed on the training history alone: epochs with positive and negative energies (an
    ensemble's members follow one another there; the first member's are shown). Failures
    become notes, never errors: the report is still written.
    """
    detector = result.detector
    if n_negatives > 0:
        try:
            negatives = detector.sample_negatives(n_negatives, seed=seed)
            real = None if negatives is None else make_inputs(background[:n_negatives], detector.config.representation)
        except JetaeError as exc:
            negatives = None
            notes.append(f"no negative-sample plot: {exc}")
        if negatives is not None:
            negatives = np.asarray(negatives)
            if not np.isfinite(negatives).all():
                notes.append("negative samples contain NaN or inf (the sampler diverged); not plotted")
            else:
                how = detector.sampler_description()
                add(
                    model_plots.plot_negative_samples(real, negatives),
                    "negatives",
                    f"Negative samples (MCMC) next to real background jets: top row the first {len(real)} "
                    f"background jets, bottom row {len(negatives)} samples of the model's sampler"
                    f"{' (' + how + ')' if how else ''}, seed {seed}; one logarithmic colour scale for all panels; "
                    "last column: mean image (representation units)",
                )
    history = detector.history_
    members = {record.get("member") for record in history} - {None}
    if members:  # an ensemble: its members' histories one after the other; show the first member's
        history = [record for record in history if record.get("member") == min(members)]
    if model_plots.has_nae_diagnostics(history):
        add(
            model_plots.plot_nae_diagnostics(history),
            "nae_diagnostics",
            f"{'First ensemble member: ' if members else ''}"
            "NAE training diagnostics from the saved history: mean energy (reconstruction error, scaled units) of "
            "the training jets (positive), of the MCMC negative samples and of the chain starts, per epoch; "
            "grey: AE pretraining epochs; right: MCMC and epoch wall time",
        )

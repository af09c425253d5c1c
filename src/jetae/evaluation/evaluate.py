"""Evaluate trained detectors on background and signal jets: metrics, plots, HTML report.

>>> from jetae.evaluation.evaluate import evaluate_model
>>> metrics = evaluate_model("runs/conv_ae", "data/qcd_test.h5", {"top": "data/top_test.h5"}, "reports/conv_ae")

Report directory layout (one model)::

    REPORT_DIR/metrics.json      headline numbers (layout below)
    REPORT_DIR/provenance.json   input files, their generation records, this evaluation
    REPORT_DIR/report.html       self-contained page: tables, plots, model config, provenance
    REPORT_DIR/plots/*.png|pdf   roc, scores_<score>, mass_<score>, reconstruction, latent;
                                energy-based models (``sample_negatives``) also negatives and
                                nae_diagnostics (when the history has the NAE energies)

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
"""

from __future__ import annotations

import datetime
import json
import logging
import math
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from jetae._atomic import atomic_dir, check_not_input, check_writable
from jetae.data.jets import Jets
from jetae.errors import JetaeError
from jetae.evaluation import metrics as m
from jetae.evaluation import plots, report

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"
PROVENANCE_FILE = "provenance.json"
REPORT_FILE = "report.html"
PLOTS_DIR = "plots"

#: Jets scored per call, so memory stays bounded for large files (a 40x40 image is 6.4 kB).
SCORE_CHUNK = 20_000

#: Negative samples (and real jets) shown for detectors that can sample (e.g. ``nae``).
N_NEGATIVES = 6

PathLike = str | os.PathLike
SampleLike = Jets | PathLike


# --------------------------------------------------------------------------- inputs
def sidecar_path(data_path: PathLike) -> Path:
    """The generation record next to a data file: ``FILE.h5`` -> ``FILE.h5.json``."""
    return Path(os.fspath(data_path) + ".json")


def read_sidecar(data_path: PathLike) -> tuple[dict | None, str | None]:
    """``(record, None)``, ``(None, None)`` if there is no sidecar, or ``(None, why)`` if unreadable."""
    path = sidecar_path(data_path)
    if not path.is_file():
        return None, None
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        log.warning("%s: ignoring unreadable generation record: %s", path, exc)
        return None, f"{path}: {exc}"
    if not isinstance(record, dict):
        return None, f"{path}: expected a JSON object"
    return record, None


def file_provenance(jets: Jets, path: PathLike | None = None) -> dict[str, Any]:
    """Where a sample came from: path, jet counts, label counts and the generation sidecar."""
    from jetae.data.toptag import count_jets

    path = path if path is not None else jets.source
    info: dict[str, Any] = {
        "path": None if path is None else os.fspath(Path(path).resolve()),
        "n_jets_used": len(jets),
        "n_jets_in_file": None,
        "n_labelled_signal": int(np.count_nonzero(jets.is_signal == 1)),
        "sidecar": None,
        "generation": None,
    }
    if path is not None and Path(path).is_file():
        try:
            info["n_jets_in_file"] = count_jets(path)
        except JetaeError:
            pass  # the jets came from elsewhere; the count is informational only
        record, error = read_sidecar(path)
        if record is not None or error is not None:
            info["sidecar"] = os.fspath(sidecar_path(path))
        info["generation"] = record
        if error:
            info["sidecar_error"] = error
    return info


def load_sample(sample: SampleLike, n_max: int | None = None, on_unphysical: str = "error") -> Jets:
    """Jets as given, or read from a reference-layout file (at most ``n_max``; see :func:`read_jets`)."""
    from jetae.data.toptag import read_jets

    if isinstance(sample, Jets):
        if len(sample) == 0:
            raise JetaeError("contains no jets", sample.source)
        return sample if n_max is None else sample[:n_max]
    if n_max is not None and n_max < 1:
        raise JetaeError(f"--n-max must be >= 1, got {n_max}")
    return read_jets(sample, n_max=n_max, on_unphysical=on_unphysical)


def signal_name(path_or_jets: SampleLike) -> str:
    """A signal's report name: the file stem (``top_test.h5`` -> ``top_test``)."""
    source = path_or_jets.source if isinstance(path_or_jets, Jets) else path_or_jets
    return Path(os.fspath(source)).stem if source else "signal"


def unique_names(names: Sequence[str], reserved: Sequence[str] = ()) -> list[str]:
    """Make names unique (and different from ``reserved``) by appending ``_2``, ``_3``, ..."""
    used = set(reserved)
    result = []
    for name in names:
        candidate, k = name, 2
        while candidate in used:
            candidate, k = f"{name}_{k}", k + 1
        used.add(candidate)
        result.append(candidate)
    return result


def check_labels(background: Jets, signals: Mapping[str, Jets]) -> None:
    """Catch swapped files using the ``is_signal_new`` labels.

    Rule: a background sample whose jets are *all* labelled signal is an error (a signal
    file given as background). Any other disagreement between a file's role and its
    labels (some signal-labelled background jets, a signal sample labelled background,
    a signal file that is the background file) only warns: every jet counts as the role
    of the file it was given in.
    """
    n_signal_labelled = int(np.count_nonzero(background.is_signal == 1))
    if n_signal_labelled == len(background):
        raise JetaeError(
            f"all {len(background)} jets of the background sample are labelled signal (is_signal_new = 1): "
            "is this a signal file given as --background?", background.source)
    if n_signal_labelled:
        log.warning("%s: %d of %d background jets are labelled signal; they are counted as background",
                    background.source or "background", n_signal_labelled, len(background))
    for name, jets in signals.items():
        where = jets.source or f"signal {name!r}"
        n_background_labelled = int(np.count_nonzero(jets.is_signal != 1))
        if n_background_labelled == len(jets):
            log.warning("%s: all %d jets of signal %r are labelled background (is_signal_new = 0); they are "
                        "evaluated as signal (a background file given as --signal?)", where, len(jets), name)
        elif n_background_labelled:
            log.warning("%s: %d of %d jets of signal %r are labelled background; they are counted as signal",
                        where, n_background_labelled, len(jets), name)
        if jets.source and background.source and Path(jets.source).resolve() == Path(background.source).resolve():
            log.warning("%s: signal %r is the background file itself (expect AUC = 0.5)", where, name)


def _load_detector(model: Any) -> tuple[Any, str | None, dict]:
    """``(detector, run_dir or None, metadata incl. training provenance)``."""
    from jetae.models import Detector, load_model

    if isinstance(model, Detector):
        return model, None, model.metadata()
    run_dir = Path(model)
    detector = load_model(run_dir)
    metadata = detector.metadata()
    training = Detector.read_metadata(run_dir).get("provenance")
    if training:
        metadata["provenance"] = training
    return detector, os.fspath(run_dir), metadata


def _resolve_scores(detector: Any, scores: Sequence[str] | None, where: str | None) -> list[str]:
    if not scores:
        return [detector.score_names[0]]
    unknown = [s for s in scores if s not in detector.score_names]
    if unknown:
        raise JetaeError(f"model {detector.name!r} has no score {', '.join(map(repr, unknown))}; available: "
                         f"{', '.join(detector.score_names)}", where)
    return list(dict.fromkeys(scores))


# --------------------------------------------------------------------------- scoring
def score_sample(detector: Any, jets: Jets, score_names: Sequence[str], role: str,
                 run_dir: str | None = None) -> dict[str, np.ndarray]:
    """Score table (see :func:`jetae.scoring.score_table`) of ``jets``, in chunks, with a progress bar.

    Problems scoring the jets (e.g. their representation has another shape than the
    model's inputs) become a JetaeError naming the file, the role and the model.
    """
    from tqdm.auto import tqdm

    from jetae.scoring import check_finite_scores, score_table

    chunks = []
    starts = range(0, len(jets), SCORE_CHUNK)
    for start in tqdm(starts, desc=f"scoring {role}", unit="chunk", disable=None if len(starts) > 1 else True,
                      leave=False):
        try:
            chunks.append(score_table(detector, jets[start:start + SCORE_CHUNK], list(score_names)))
        except JetaeError as exc:
            model = f"model {detector.name!r}" + (f" ({run_dir})" if run_dir else "")
            raise JetaeError(f"cannot score the {role} jets with {model}: {exc.message}",
                             exc.path or jets.source) from exc
    table = {key: np.concatenate([c[key] for c in chunks]) for key in chunks[0]}
    check_finite_scores(table, detector.name, jets.source, role)
    return table


@dataclass
class ModelResult:
    """Everything computed for one model, before anything is written."""

    label: str
    detector: Any
    run_dir: str | None
    metadata: dict
    score_names: list[str]
    #: ``{class label: score table}``; the first class is the background.
    tables: dict[str, dict[str, np.ndarray]]
    #: Single-model metrics with raw floats (inf/NaN kept).
    metrics: dict[str, Any]
    #: ``{curve label: (eps_s, eps_b)}`` for every score x signal.
    roc: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)


def compute_metrics(
    detector: Any,
    background: Jets,
    signals: Mapping[str, Jets],
    scores: Sequence[str] | None = None,
    run_dir: str | None = None,
    n_bootstrap: int = 100,
    seed: int = 0,
    label: str | None = None,
    metadata: dict | None = None,
) -> ModelResult:
    """Score all samples and compute the metrics of one model (nothing is written)."""
    names = _resolve_scores(detector, scores, run_dir)
    tables = {"background": score_sample(detector, background, names, "background", run_dir)}
    for name, jets in signals.items():
        tables[name] = score_sample(detector, jets, names, f"signal {name!r}", run_dir)
    background_table = tables["background"]
    blocks: dict[str, dict] = {}
    roc: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for score in names:
        key = f"score_{score}"
        signal_block = {}
        for name in signals:
            signal_block[name] = m.summarize(background_table[key], tables[name][key], n_bootstrap=n_bootstrap,
                                             seed=seed)
            eps_s, eps_b, _ = m.roc_curve(background_table[key], tables[name][key])
            curve_label = name if len(names) == 1 else f"{score}: {name}"
            roc[f"{curve_label} (AUC {m.not_resolvable_text(signal_block[name]['auc'], '.3f')})"] = (eps_s, eps_b)
        blocks[score] = {"signals": signal_block,
                         "mass_sculpting": m.mass_sculpting(background_table["mass"], background_table[key], seed=seed)}
    first = blocks[names[0]]
    metrics: dict[str, Any] = {
        "model": detector.name,
        "run_dir": run_dir,
        "score": names[0],
        "background": background.source,
        "signals": first["signals"],
        "mass_sculpting": first["mass_sculpting"],
    }
    if len(names) > 1:
        metrics["scores"] = blocks
    return ModelResult(label=label or (Path(run_dir).name if run_dir else detector.name), detector=detector,
                       run_dir=run_dir, metadata=metadata if metadata is not None else detector.metadata(),
                       score_names=names, tables=tables, metrics=metrics, roc=roc)


# --------------------------------------------------------------------------- writing
def json_ready(value: Any) -> Any:
    """Recursively convert to JSON types; non-finite floats become None (JSON null)."""
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_ready(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, str):
        return value
    return str(value)


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(json_ready(data), indent=2) + "\n")


def _file_stem(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "x"


def _example_indices(n: int, k: int) -> np.ndarray:
    return np.arange(min(n, k))


def _model_figures(result: ModelResult, background: Jets, signals: Mapping[str, Jets], plot_dir: Path,
                   n_examples: int, n_latent: int, seed: int,
                   n_negatives: int = N_NEGATIVES) -> tuple[list[tuple[str, Path]], list[str]]:
    """Make and save the plots of one model; returns ``(captions and PNGs, notes)``."""
    figures: list[tuple[str, Path]] = []
    notes: list[str] = []

    def add(figure, stem: str, caption: str) -> None:
        figures.append((caption, plots.save_figure(figure, plot_dir, stem)["png"]))

    add(plots.plot_roc(result.roc, title=f"{result.label} ({result.detector.name})"), "roc",
        "ROC: background rejection 1/εB vs signal efficiency εS; dashed: random guess")
    samples = {"background": background, **signals}
    for score in result.score_names:
        key = f"score_{score}"
        stem = _file_stem(score)
        add(plots.plot_score_distributions({name: table[key] for name, table in result.tables.items()}, score),
            f"scores_{stem}", f"Anomaly score ({score}) per class, normalised")
        add(plots.plot_mass_sculpting(result.tables["background"]["mass"], result.tables["background"][key],
                                      score_name=score),
            f"mass_{stem}", f"Background jet mass after cuts on {score} keeping 100%, 50%, 10%, 1% of the background")
    try:
        examples = {name: result.detector.reconstruct(jets[_example_indices(len(jets), n_examples)])
                    for name, jets in samples.items()}
    except JetaeError as exc:
        notes.append(f"no reconstruction plot: {exc}")
    else:
        add(plots.plot_reconstructions(examples, result.detector.config.representation), "reconstruction",
            f"Input vs reconstruction for the first {n_examples} jets of each class (representation units)")
    rng = np.random.default_rng(seed)
    try:
        codes = {}
        for name, jets in samples.items():
            pick = np.sort(rng.permutation(len(jets))[:n_latent])
            codes[name] = result.detector.encode(jets[pick])
    except JetaeError as exc:
        notes.append(f"no latent-space plot: {exc}")
    else:
        add(plots.plot_latent(codes), "latent",
            f"Latent code (up to {n_latent} random jets per class), first two principal components")
    _energy_model_figures(result, background, add, notes, n_negatives, seed)
    return figures, notes


def _energy_model_figures(result: ModelResult, background: Jets, add: Any, notes: list[str], n_negatives: int,
                          seed: int) -> None:
    """Negative samples next to real jets, and the NAE training diagnostics (energy-based models only).

    Detectors with a ``sample_negatives(n, seed)`` method get the negatives figure; any
    detector whose history holds the positive / negative energies of an NAE phase gets the
    diagnostics figure. Failures become notes, never errors: the report is still written.
    """
    from jetae.models.base import make_inputs

    detector = result.detector
    sampler = getattr(detector, "sample_negatives", None)
    if callable(sampler) and n_negatives > 0:
        try:
            negatives = np.asarray(sampler(n_negatives, seed=seed))
            real = make_inputs(background[_example_indices(len(background), n_negatives)],
                               detector.config.representation)
        except JetaeError as exc:
            notes.append(f"no negative-sample plot: {exc}")
        else:
            if not np.isfinite(negatives).all():
                notes.append("negative samples contain NaN or inf (the sampler diverged); not plotted")
            else:
                config = detector.config
                chains = ", ".join(f"{key}={getattr(config, key)}" for key in ("init", "z_steps", "x_steps")
                                   if hasattr(config, key))
                add(plots.plot_negative_samples(real, negatives), "negatives",
                    f"Negative samples (MCMC) next to real background jets: top row the first {len(real)} "
                    f"background jets, bottom row {len(negatives)} samples of the model's Langevin sampler"
                    f"{' (' + chains + ')' if chains else ''}, seed {seed}; one logarithmic colour scale for "
                    "all panels; last column: mean image (representation units)")
    history = getattr(detector, "history_", None) or []
    members = {record.get("member") for record in history} - {None}
    if members:  # an ensemble: its members' histories one after the other; show the first member's
        history = [record for record in history if record.get("member") == min(members)]
    if plots.has_nae_diagnostics(history):
        add(plots.plot_nae_diagnostics(history), "nae_diagnostics",
            f"{'First ensemble member: ' if members else ''}"
            "NAE training diagnostics from the saved history: mean energy (reconstruction error, scaled units) of "
            "the training jets (positive), of the MCMC negative samples and of the chain starts, per epoch; "
            "grey: AE pretraining epochs; right: MCMC and epoch wall time")


def _write_model_report(result: ModelResult, background: Jets, signals: Mapping[str, Jets], directory: Path,
                        provenance: dict, n_examples: int, n_latent: int, seed: int,
                        n_negatives: int = N_NEGATIVES) -> dict:
    directory.mkdir(parents=True, exist_ok=True)
    figures, notes = _model_figures(result, background, signals, directory / PLOTS_DIR, n_examples, n_latent, seed,
                                    n_negatives)
    for note in notes:
        log.info("%s: %s", result.label, note)
    _write_json(directory / METRICS_FILE, result.metrics)
    _write_json(directory / PROVENANCE_FILE, provenance)
    html = report.model_report_html(result.metrics, figures, json_ready(result.metadata), provenance,
                                    title=f"jetae evaluation: {result.label}", notes=notes)
    (directory / REPORT_FILE).write_text(html, encoding="utf-8")
    return json_ready(result.metrics)


def _provenance(background: Jets, signals: Mapping[str, Jets], background_path: PathLike | None,
                signal_paths: Mapping[str, PathLike | None], extra: Mapping[str, Any] | None,
                n_bootstrap: int, seed: int) -> dict:
    from jetae import __version__

    extra = dict(extra or {})
    provenance: dict[str, Any] = {
        "background": file_provenance(background, background_path),
        "signals": {name: file_provenance(jets, signal_paths.get(name)) for name, jets in signals.items()},
        "evaluation": {"created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                       "jetae": __version__, "n_bootstrap": n_bootstrap, "seed": seed},
    }
    for key in ("background", "signals"):
        if key in extra:
            provenance[key] = extra.pop(key)
    provenance["evaluation"].update(extra.pop("evaluation", {}))
    provenance["evaluation"].update(extra)
    return json_ready(provenance)


def _prepare_inputs(background: SampleLike, signals: Mapping[str, SampleLike] | Sequence[SampleLike],
                    n_max: int | None, on_unphysical: str = "error",
                    ) -> tuple[Jets, dict[str, Jets], PathLike | None, dict[str, PathLike | None]]:
    if isinstance(signals, (Jets, str, os.PathLike)):
        signals = [signals]
    if not isinstance(signals, Mapping):
        # "background" names the background class in tables and plots
        signals = dict(zip(unique_names([signal_name(s) for s in signals], reserved=("background",)), signals))
    if not signals:
        raise JetaeError("no signal sample given (--signal FILE.h5)")
    if "background" in signals:
        raise JetaeError("a signal may not be called 'background'; choose another name")
    background_path = None if isinstance(background, Jets) else background
    background_jets = load_sample(background, n_max, on_unphysical)
    signal_jets = {name: load_sample(sample, n_max, on_unphysical) for name, sample in signals.items()}
    signal_paths = {name: None if isinstance(s, Jets) else s for name, s in signals.items()}
    check_labels(background_jets, signal_jets)
    return background_jets, signal_jets, background_path, signal_paths


def warn_small_samples(background: Jets, signals: Mapping[str, Jets]) -> list[str]:
    """Log (and return) a warning for each sample too small to resolve every figure.

    Thresholds: :data:`jetae.evaluation.metrics.MIN_BACKGROUND_JETS_ALL_FIGURES` background
    jets (eps_S at eps_B = 1e-3 needs 10 000) and ``MIN_SIGNAL_JETS_ALL_FIGURES`` signal
    jets (R30 needs 34). The evaluation goes on; what is not resolved is ``null`` with a
    reason in metrics.json and "n/a" in the tables.
    """
    warnings = []
    if len(background) < m.MIN_BACKGROUND_JETS_ALL_FIGURES:
        warnings.append(f"{background.source or 'background'}: {len(background)} background jets, fewer than "
                        f"{m.MIN_BACKGROUND_JETS_ALL_FIGURES} (>= {m.MIN_BACKGROUND_JETS_ALL_FIGURES} resolve every "
                        "figure; eps_S at eps_B = 1e-3 needs that many)")
    for name, jets in signals.items():
        if len(jets) < m.MIN_SIGNAL_JETS_ALL_FIGURES:
            warnings.append(f"{jets.source or name}: signal {name!r} has {len(jets)} jets, fewer than "
                            f"{m.MIN_SIGNAL_JETS_ALL_FIGURES} (>= {m.MIN_SIGNAL_JETS_ALL_FIGURES} resolve every "
                            f"figure; R30 needs that many, the AUC {m.MIN_JETS_PER_CLASS})")
    for warning in warnings:
        log.warning("%s; figures these jets cannot resolve are null in metrics.json (with a reason) and n/a in "
                    "the report", warning)
    return warnings


def _check_out_dir(out_dir: PathLike, overwrite: bool, inputs: Sequence[PathLike] = ()) -> Path:
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


def _input_paths(models: Sequence[Any], background: Any, signals: Any) -> list[PathLike]:
    """The files and run directories an evaluation reads (in-memory detectors and jets have none)."""
    from jetae.models import Detector

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
            paths.append(sidecar_path(sample))
    return paths


# --------------------------------------------------------------------------- public API
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
    return evaluate_models([model], background, signals, out_dir, scores=scores, provenance=provenance,
                           overwrite=overwrite, n_max=n_max, n_bootstrap=n_bootstrap, seed=seed,
                           n_examples=n_examples, n_latent=n_latent, n_negatives=n_negatives,
                           on_unphysical=on_unphysical)


def tradeoff_series(results: Sequence[ModelResult], signal: str) -> dict[str, list[tuple[float | None, float, str]]]:
    """Points of the sensitivity-vs-sculpting plot for one signal: ``{curve: [(1/JSD50, AUC, label)]}``.

    One curve per model configuration that differs only in ``disco_lambda`` (and score,
    when several are evaluated), named after the model (plus its first run label when one
    model appears with several configurations). Its runs are ordered by lambda (runs
    without one keep their order) and labelled ``λ=...``, else by their run label.
    ``1/JSD = None`` means infinite (JSD = 0). Runs whose AUC or JSD the samples do not
    resolve (``null`` in metrics.json) are left out.
    """
    grouped: dict[tuple[str, str, str], list[tuple[float, int, tuple[float | None, float, str]]]] = {}
    first_label: dict[tuple[str, str, str], str] = {}
    for order, result in enumerate(results):
        config = dict(result.metadata.get("config") or {})
        lam = config.pop("disco_lambda", None)
        lam = float(lam) if isinstance(lam, (int, float)) else None
        fingerprint = json.dumps(json_ready(config), sort_keys=True)
        for score, block in report.score_blocks(result.metrics).items():
            if signal not in block["signals"]:
                continue
            auc = block["signals"][signal].get("auc")
            if auc is None or block["mass_sculpting"].get("jsd_eff50") is None:
                continue  # not resolved by these samples: no point to draw
            key = (result.detector.name, score if len(result.score_names) > 1 else "", fingerprint)
            first_label.setdefault(key, result.label)
            inv_jsd = block["mass_sculpting"].get("inv_jsd_eff50")
            inv_jsd = None if inv_jsd is None or not math.isfinite(inv_jsd) else float(inv_jsd)
            point = (inv_jsd, float(auc), result.label if lam is None else f"λ={lam:g}")
            grouped.setdefault(key, []).append((math.inf if lam is None else lam, order, point))
    n_configs = Counter(name for name, _ in {(name, fingerprint) for name, _, fingerprint in grouped})
    series = {}
    for key, entries in grouped.items():
        name, score, _ = key
        curve = name + (f" [{first_label[key]}]" if n_configs[name] > 1 else "") + (f" ({score})" if score else "")
        series[curve] = [point for _, _, point in sorted(entries, key=lambda e: (e[0], e[1]))]
    return series


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
    out_dir = _check_out_dir(out_dir, overwrite, _input_paths(models, background, signals))
    loaded = [_load_detector(model) for model in models]  # fail fast on a bad run directory
    for detector, run_dir, _ in loaded:
        _resolve_scores(detector, scores, run_dir)
    background_jets, signal_jets, background_path, signal_paths = _prepare_inputs(
        background, signals, n_max, on_unphysical)
    warn_small_samples(background_jets, signal_jets)
    # Sub-report directories must not collide with the files of the comparison page.
    default_labels = [Path(run_dir).resolve().name if run_dir else detector.name for detector, run_dir, _ in loaded]
    labels = unique_names([_file_stem(str(label)) for label in (given_labels or default_labels)],
                          reserved=(PLOTS_DIR, METRICS_FILE, PROVENANCE_FILE, REPORT_FILE))
    results = []
    for label, (detector, run_dir, metadata) in zip(labels, loaded):
        log.info("evaluating %s (%s) on %d background jets and %s", label, detector.name, len(background_jets),
                 ", ".join(f"{len(j)} {n}" for n, j in signal_jets.items()))
        results.append(compute_metrics(detector, background_jets, signal_jets, scores, run_dir, n_bootstrap, seed,
                                       label=label, metadata=metadata))
    record = _provenance(background_jets, signal_jets, background_path, signal_paths, provenance, n_bootstrap, seed)
    try:
        with atomic_dir(out_dir, overwrite=overwrite) as tmp:
            if len(results) == 1:
                return _write_model_report(results[0], background_jets, signal_jets, tmp, record, n_examples,
                                           n_latent, seed, n_negatives)
            per_model = {}
            for result in results:
                per_model[result.label] = _write_model_report(result, background_jets, signal_jets,
                                                              tmp / result.label, record, n_examples, n_latent, seed,
                                                              n_negatives)
            combined = {f"{r.label}: {curve}": values for r in results for curve, values in r.roc.items()}
            roc_png = plots.save_figure(plots.plot_roc(combined, title="all models"), tmp / PLOTS_DIR, "roc")["png"]
            tradeoff_pngs = []
            for signal in signal_jets:
                figure = plots.plot_tradeoff(tradeoff_series(results, signal), signal)
                png = plots.save_figure(figure, tmp / PLOTS_DIR, f"tradeoff_{_file_stem(signal)}")["png"]
                tradeoff_pngs.append((f"AUC ({signal}) vs 1/JSD of the background mass at 50% background "
                                      "efficiency; points of one model ordered by DisCo lambda", png))
            summary = {"background": background_jets.source, "signals": list(signal_jets), "models": per_model}
            _write_json(tmp / METRICS_FILE, summary)
            _write_json(tmp / PROVENANCE_FILE, record)
            html = report.comparison_report_html({r.label: r.metrics for r in results}, roc_png,
                                                 {r.label: f"{r.label}/{REPORT_FILE}" for r in results}, record,
                                                 extra_figures=tradeoff_pngs)
            (tmp / REPORT_FILE).write_text(html, encoding="utf-8")
            return json_ready(summary)
    except FileExistsError as exc:  # created by someone else while we were working
        raise JetaeError("report directory appeared while evaluating; pass --overwrite to replace it",
                         out_dir) from exc


def summary_lines(metrics: Mapping[str, Any]) -> list[str]:
    """One line per model x score x signal (header first) for the terminal."""
    models = metrics["models"] if "models" in metrics else {metrics.get("model", "model"): metrics}
    header = f"{'model':<20} {'score':<16} {'signal':<20} {'AUC':>15} {'R30':>9} {'R50':>9} {'eps_S@1e-2':>10} " \
             f"{'1/JSD50':>9} {'n':>8}"
    lines = [header]

    num = m.not_resolvable_text
    unresolved = False
    for label, model_metrics in models.items():
        for score, block in report.score_blocks(model_metrics).items():
            inv_jsd = block["mass_sculpting"].get("inv_jsd_eff50")
            for signal, s in block["signals"].items():
                err = s.get("auc_err")
                auc_text = num(s.get("auc"), ".4f") + (f"±{err:.4f}" if err is not None else "")
                cells = [num(s.get("r30"), "9.2f"), num(s.get("r50"), "9.2f"), num(s.get("eps_s_at_1e-2"), ".4f"),
                         num(inv_jsd, "9.1f")]
                unresolved |= m.NOT_AVAILABLE in cells or s.get("auc") is None
                lines.append(f"{label[:20]:<20} {score[:16]:<16} {signal[:20]:<20} {auc_text:>15} "
                             f"{cells[0]:>9} {cells[1]:>9} {cells[2]:>10} {cells[3]:>9} {s.get('n'):>8}")
    if unresolved:
        lines.append(f"{m.NOT_AVAILABLE}: not resolvable with these samples; metrics.json gives the reason "
                     f"(<figure>{m.REASON_SUFFIX})")
    return lines

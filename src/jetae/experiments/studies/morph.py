"""Latent morphing: walk through an autoencoder's code space and measure what the decoded jets do.

Two walks, from jets A (``from``, e.g. QCD) towards jets B (``to``, e.g. top):

``interpolation``
    for ``n_pairs`` pairs (a_i, b_i) the codes ``z(t) = (1 - t) z(a_i) + t z(b_i)`` at ``steps``
    values of ``t`` in [0, 1], decoded: ``t = 0`` decodes to the reconstruction of a_i, ``t = 1``
    to that of b_i, and the midpoint ``t = 0.5`` is the "average" of two jets in code space;
``attribute``
    the attribute vector ``v = mean z(B) - mean z(A)`` (an "add prongs" direction when B are top
    jets) added to every A code in steps, ``z(alpha) = z(a) + alpha v`` for ``alpha`` from 0 to
    ``max_alpha``; at ``alpha = 1`` the mean code of the morphed A jets is the mean code of B.

The decoded rows are made valid for the representation
(:func:`jetae.experiments.studies.autoencoder.project`) and measured like jets
(:func:`~jetae.experiments.studies.autoencoder.representation_observables`): mass and pT (GeV),
multiplicity, N-subjettiness ratios ``tau21`` and ``tau32`` with exclusive-kT axes on the pixels
(or constituents). ``results.json`` holds their mean and sd at every step and the shift from each
step to the next, with the same observables of the real and reconstructed A and B jets as the
scale, so that the morph is a number, not only a picture.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from jetae.errors import JetaeError
from jetae.evaluation import report as html
from jetae.evaluation.plots import COLOURS, new_figure, plot_style, show_log_image
from jetae.evaluation.samples import read_sample, sample_source
from jetae.experiments.studies.autoencoder import (
    MIN_FRACTION,
    OBSERVABLES,
    decode,
    has_observables,
    image_view,
    latent_dim,
    load_autoencoder,
    project,
    pt_scale_for,
    representation_observables,
)
from jetae.experiments.studies.common import notes_html, study_config, study_report_html, write_study
from jetae.jets import Jets
from jetae.models import Detector

if TYPE_CHECKING:
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

DEFAULT_N_JETS = 2000
DEFAULT_PAIRS = 6
DEFAULT_STEPS = 9


def interpolate_codes(codes_a: np.ndarray, codes_b: np.ndarray, steps: int) -> np.ndarray:
    """``(n_pairs, steps, K)``: ``(1 - t) a + t b`` for ``t = linspace(0, 1, steps)`` (endpoints exact)."""
    if steps < 2:
        raise JetaeError(f"steps must be >= 2, got {steps}")
    t = np.linspace(0.0, 1.0, steps)[None, :, None]
    a, b = np.asarray(codes_a, np.float64)[:, None, :], np.asarray(codes_b, np.float64)[:, None, :]
    codes = (1.0 - t) * a + t * b
    codes[:, 0], codes[:, -1] = a[:, 0], b[:, 0]
    return codes.astype(np.float32)


def morph_pairs(detector: Detector, jets_a: Jets, jets_b: Jets, steps: int = DEFAULT_STEPS) -> np.ndarray:
    """Decoded rows along the straight line between the codes of ``jets_a[i]`` and ``jets_b[i]``.

    Returns ``(n_pairs, steps, *input_shape)`` raw decoder outputs in representation units (as
    :meth:`Detector.reconstruct` gives them, before :func:`project`); ``n_pairs = min(len(a), len(b))``.
    """
    n = min(len(jets_a), len(jets_b))
    codes = interpolate_codes(detector.encode(jets_a[:n]), detector.encode(jets_b[:n]), steps)
    decoded = decode(detector, codes.reshape(n * steps, -1))
    return decoded.reshape(n, steps, *decoded.shape[1:])


def attribute_vector(detector: Detector, jets_a: Jets, jets_b: Jets) -> np.ndarray:
    """``(K,)`` mean code of ``jets_b`` minus mean code of ``jets_a``."""
    return (detector.encode(jets_b).mean(axis=0) - detector.encode(jets_a).mean(axis=0)).astype(np.float32)


def attribute_morph(detector: Detector, jets: Jets, vector: np.ndarray, alphas: np.ndarray) -> np.ndarray:
    """``(len(alphas), n_jets, *input_shape)`` raw decoded rows of ``z(jet) + alpha * vector``."""
    codes = detector.encode(jets)
    alphas = np.asarray(alphas, dtype=np.float32)
    shifted = codes[None, :, :] + alphas[:, None, None] * np.asarray(vector, np.float32)[None, None, :]
    decoded = decode(detector, shifted.reshape(-1, codes.shape[1]))
    return decoded.reshape(len(alphas), len(jets), *decoded.shape[1:])


def _statistics(observables: list[dict[str, np.ndarray]]) -> dict[str, dict[str, list[float]]]:
    """Per observable: ``mean`` and ``sd`` at every step and ``shift_per_step`` (mean[k+1] - mean[k])."""
    out = {}
    for name in OBSERVABLES:
        means = [float(np.mean(step[name])) for step in observables]
        out[name] = {
            "mean": means,
            "sd": [float(np.std(step[name])) for step in observables],
            "shift_per_step": [float(b - a) for a, b in zip(means[:-1], means[1:])],
        }
    return out


def _means(observables: Mapping[str, np.ndarray]) -> dict[str, float]:
    return {name: float(np.mean(observables[name])) for name in OBSERVABLES}


def morph_study(
    run: str | os.PathLike | Detector,
    from_jets: str | os.PathLike | Jets,
    to_jets: str | os.PathLike | Jets,
    n_jets: int = DEFAULT_N_JETS,
    n_pairs: int = DEFAULT_PAIRS,
    steps: int = DEFAULT_STEPS,
    max_alpha: float = 1.0,
    seed: int = 0,
    min_fraction: float = MIN_FRACTION,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Interpolate between pairs and add the attribute vector in steps; measure the decoded jets.

    Parameters
    ----------
    run:
        A trained autoencoder (run directory or detector) on images, or on constituents with
        ``delta_eta``, ``delta_phi``, ``pt_rel``.
    from_jets, to_jets:
        Jets A and B (files or :class:`Jets`); at most ``n_jets`` of each are read.
    n_pairs:
        Pairs interpolated (drawn from the A and B jets with ``seed``).
    steps:
        Points of each walk, endpoints included (``t`` or ``alpha`` = ``linspace(0, end, steps)``).
    max_alpha:
        Last multiple of the attribute vector added.

    Returns
    -------
    ``(results, images)``: the JSON-ready results (``interpolation`` = ``{"t", "observables":
    {name: {"mean", "sd", "shift_per_step"}}}`` over the pairs, ``attribute`` = ``{"alpha",
    "observables", "vector_norm", "vector"}`` over the A jets, ``reference`` = mean observables of
    ``from_real``, ``to_real``, ``from_reconstructed``, ``to_reconstructed``, sizes, inputs), and
    projected decoded rows for the plots (``interpolation`` ``(n_pairs, steps, ...)``,
    ``attribute_mean`` ``(steps, ...)``, ``attribute_examples`` ``(steps, n_examples, ...)``).
    """
    detector, run_dir, metadata = load_autoencoder(run)
    representation = dict(detector.config.representation)
    if not has_observables(representation):
        raise JetaeError(
            f"model {detector.name!r} uses representation {representation}; the morph measures observables on "
            "images, or constituents with delta_eta, delta_phi and pt_rel",
            run_dir,
        )
    if steps < 2 or n_pairs < 1 or n_jets < 1:
        raise JetaeError(f"need steps >= 2, n_pairs >= 1 and n_jets >= 1, got {steps}, {n_pairs}, {n_jets}")
    if not np.isfinite(max_alpha) or max_alpha <= 0:
        raise JetaeError(f"max_alpha must be a positive number, got {max_alpha}")
    jets_a = read_sample(from_jets, "from", n_jets)
    jets_b = read_sample(to_jets, "to", n_jets)
    scale = pt_scale_for(representation, Jets.concatenate([jets_a, jets_b]))

    def measure(rows: np.ndarray) -> dict[str, np.ndarray]:
        return representation_observables(project(rows, representation, min_fraction), representation, scale)

    rng = np.random.default_rng(seed)
    n_pairs = min(n_pairs, len(jets_a), len(jets_b))
    pick_a = np.sort(rng.choice(len(jets_a), n_pairs, replace=False))
    pick_b = np.sort(rng.choice(len(jets_b), n_pairs, replace=False))
    line = morph_pairs(detector, jets_a[pick_a], jets_b[pick_b], steps)
    t = np.linspace(0.0, 1.0, steps)
    interpolation = _statistics([measure(line[:, k]) for k in range(steps)])

    vector = attribute_vector(detector, jets_a, jets_b)
    alphas = np.linspace(0.0, max_alpha, steps)
    morphed = attribute_morph(detector, jets_a, vector, alphas)
    attribute = _statistics([measure(morphed[k]) for k in range(steps)])
    log.info(
        "attribute morph: mass %s GeV, tau32 %s",
        " -> ".join(f"{m:.1f}" for m in attribute["mass"]["mean"]),
        " -> ".join(f"{m:.3f}" for m in attribute["tau32"]["mean"]),
    )

    real_a, reco_a = detector.reconstruct(jets_a)
    real_b, reco_b = detector.reconstruct(jets_b)
    reference = {
        "from_real": _means(representation_observables(real_a, representation, scale)),
        "to_real": _means(representation_observables(real_b, representation, scale)),
        "from_reconstructed": _means(measure(reco_a)),
        "to_reconstructed": _means(measure(reco_b)),
    }
    results = {
        "study": "morph",
        "interpolation": {"t": t.tolist(), "observables": interpolation, "n_pairs": n_pairs},
        "attribute": {
            "alpha": alphas.tolist(),
            "observables": attribute,
            "vector_norm": float(np.linalg.norm(vector)),
            "vector": vector.tolist(),
            "n_jets": len(jets_a),
        },
        "reference": reference,
        "units": dict(OBSERVABLES),
        "pt_scale": scale,
        "model": detector.name,
        "run_dir": run_dir,
        "run_config": {k: metadata.get(k) for k in ("config", "trainer", "input_shape", "provenance")},
        "latent_dim": latent_dim(detector),
        "n_from": len(jets_a),
        "n_to": len(jets_b),
        "steps": steps,
        "max_alpha": max_alpha,
        "seed": seed,
        "min_fraction": min_fraction,
        "inputs": {"run": run_dir, "from": sample_source(from_jets), "to": sample_source(to_jets)},
    }
    n_examples = min(4, len(jets_a))
    images = {
        "interpolation": project(line.reshape(-1, *line.shape[2:]), representation, min_fraction).reshape(line.shape),
        "attribute_mean": np.stack(
            [project(morphed[k], representation, min_fraction).mean(axis=0) for k in range(steps)]
        ),
        "attribute_examples": np.stack(
            [project(morphed[k, :n_examples], representation, min_fraction) for k in range(steps)]
        ),
    }
    return results, images


# --------------------------------------------------------------------------- plots
def plot_image_grid(rows: np.ndarray, row_labels: list[str], column_labels: list[str]) -> "Figure | None":
    """A grid of images ``(n_rows, n_columns, ...)`` (log colour per image); None for non-images."""
    n_rows, n_columns = rows.shape[:2]
    images = image_view(rows.reshape(n_rows * n_columns, *rows.shape[2:]))
    if images is None:
        return None
    images = images.reshape(n_rows, n_columns, *images.shape[1:])
    with plot_style():
        figure, axes = new_figure(n_rows, n_columns, size=(1.9 * n_columns + 0.8, 1.9 * n_rows + 0.6))
        for i in range(n_rows):
            for j in range(n_columns):
                ax = axes[i, j]
                show_log_image(ax, images[i, j])
                if j == 0:
                    ax.set_ylabel(row_labels[i], fontsize="x-small")
                if i == 0:
                    ax.set_title(column_labels[j], fontsize="x-small")
    return figure


def plot_observable_walk(
    x: list[float],
    block: Mapping[str, Mapping[str, list[float]]],
    reference: Mapping[str, Mapping[str, float]],
    xlabel: str,
) -> "Figure":
    """Mean (band: sd) of each observable along a walk, with the real / reconstructed A and B means."""
    labels = {
        "mass": "jet mass [GeV]",
        "pt": "jet $p_T$ [GeV]",
        "multiplicity": "non-empty pixels",
        "tau21": r"$\tau_{21}$",
        "tau32": r"$\tau_{32}$",
    }
    styles = {
        "from_real": (COLOURS[0], "-"),
        "to_real": (COLOURS[1], "-"),
        "from_reconstructed": (COLOURS[0], ":"),
        "to_reconstructed": (COLOURS[1], ":"),
    }
    x = np.asarray(x)
    with plot_style():
        figure, axes = new_figure(2, 3, size=(16.0, 9.0))
        for ax, name in zip(axes.ravel(), OBSERVABLES):
            mean, sd = np.asarray(block[name]["mean"]), np.asarray(block[name]["sd"])
            ax.fill_between(x, mean - sd, mean + sd, color=COLOURS[2], alpha=0.2, lw=0)
            ax.plot(x, mean, marker="o", color=COLOURS[2], lw=2, label="decoded (mean ± sd)")
            for key, (colour, style) in styles.items():
                ax.axhline(reference[key][name], color=colour, ls=style, lw=1.5, label=key.replace("_", " "))
            ax.set_xlabel(xlabel, fontsize="small")
            ax.set_ylabel(labels[name], fontsize="small")
        axes[0, 0].legend(fontsize="xx-small")
        axes.ravel()[-1].set_axis_off()
    return figure


def summary_lines(results: Mapping[str, Any]) -> list[str]:
    lines = [f"attribute morph (alpha = {', '.join(f'{a:g}' for a in results['attribute']['alpha'])}):"]
    for name in OBSERVABLES:
        means = results["attribute"]["observables"][name]["mean"]
        reference = results["reference"]
        lines.append(
            f"  {name:<13} {' '.join(f'{m:8.3f}' for m in means)}   "
            f"(A real {reference['from_real'][name]:.3f}, B real {reference['to_real'][name]:.3f})"
        )
    lines.append(f"interpolation of {results['interpolation']['n_pairs']} pairs (mean over pairs):")
    for name in ("mass", "tau32"):
        means = results["interpolation"]["observables"][name]["mean"]
        lines.append(f"  {name:<13} {' '.join(f'{m:8.3f}' for m in means)}")
    return lines


def _report(results: Mapping[str, Any], config: Mapping[str, Any], stems: list[str]):
    captions = {
        "interpolation": "Decoded jets along the line between the codes of pairs (rows: pairs; t = 0 ... 1)",
        "attribute_images": "Attribute vector added in steps: mean decoded image (top row) and example jets",
        "attribute_observables": "Observables of the decoded jets vs alpha (attribute vector)",
        "interpolation_observables": "Observables of the decoded jets vs t (interpolation, over the pairs)",
    }

    def build(directory: Path) -> str:
        sections = []
        for walk, variable in (("attribute", "alpha"), ("interpolation", "t")):
            block = results[walk]
            header = (variable, *(f"{n} [{u}]" if u else n for n, u in OBSERVABLES.items()))
            rows = [
                [html.fmt(value, 3)]
                + [
                    html.fmt_pm(block["observables"][name]["mean"][k], block["observables"][name]["sd"][k])
                    for name in OBSERVABLES
                ]
                for k, value in enumerate(block[variable])
            ]
            shift = [html.esc("shift per step (mean)")] + [
                html.fmt(float(np.mean(block["observables"][name]["shift_per_step"])), 3) for name in OBSERVABLES
            ]
            sections.append((f"{walk.capitalize()}: decoded observables per step", html.table(header, [*rows, shift])))
        ref_rows = [
            [html.esc(key.replace("_", " "))] + [html.fmt(values[name], 4) for name in OBSERVABLES]
            for key, values in results["reference"].items()
        ]
        sections.append(("Reference: the A and B jets", html.table(("jets", *OBSERVABLES), ref_rows)))
        notes = [
            f"Model {results['model']} from {results['run_dir']} (latent dimension {results['latent_dim']}); "
            f"A = {results['inputs']['from']} ({results['n_from']} jets), B = {results['inputs']['to']} "
            f"({results['n_to']} jets).",
            f"Attribute vector = mean code of B - mean code of A, |v| = {results['attribute']['vector_norm']:.3g}, "
            f"added to every A code with alpha from 0 to {results['max_alpha']:g}.",
            f"Interpolation: {results['interpolation']['n_pairs']} random (A, B) pairs, seed {results['seed']}.",
            "Decoded rows are made valid (negative and < "
            f"{results['min_fraction']:g} pixels emptied, normalised); mass and pT of unit-sum rows use the mean "
            f"pT of the A and B jets, {results['pt_scale']:.1f} GeV. N-subjettiness: exclusive-kT axes on the pixels.",
        ]
        sections.insert(0, ("Set-up", notes_html(notes)))
        figures = [(captions[s], directory / f"{s}.png") for s in stems]
        return study_report_html(
            "jetae study morph",
            f"{results['model']}: walks through the latent space",
            sections,
            figures,
            config,
            results,
        )

    return build


def write_morph(
    out: str | os.PathLike,
    results: Mapping[str, Any],
    images: Mapping[str, np.ndarray],
    command: str | None = None,
    overwrite: bool = False,
) -> None:
    """``out/results.json``, ``config.json``, plots (PNG and PDF) and ``report.html``."""
    keys = ("model", "run_dir", "n_from", "n_to", "steps", "max_alpha", "seed", "min_fraction", "inputs")
    parameters = {k: results[k] for k in keys}
    parameters["n_pairs"] = results["interpolation"]["n_pairs"]
    config = study_config("morph", parameters, {results["model"]: results["run_config"]}, command)
    figures = {}
    t_labels = [f"t = {t:.2f}" for t in results["interpolation"]["t"]]
    grid = plot_image_grid(
        images["interpolation"], [f"pair {i}" for i in range(len(images["interpolation"]))], t_labels
    )
    if grid is not None:
        figures["interpolation"] = grid
    alpha_labels = [f"α = {a:.2f}" for a in results["attribute"]["alpha"]]
    attribute_rows = np.concatenate([images["attribute_mean"][None], np.moveaxis(images["attribute_examples"], 1, 0)])
    grid = plot_image_grid(
        attribute_rows, ["mean"] + [f"jet {i}" for i in range(len(attribute_rows) - 1)], alpha_labels
    )
    if grid is not None:
        figures["attribute_images"] = grid
    figures["attribute_observables"] = plot_observable_walk(
        results["attribute"]["alpha"],
        results["attribute"]["observables"],
        results["reference"],
        r"$\alpha$ (attribute vector)",
    )
    figures["interpolation_observables"] = plot_observable_walk(
        results["interpolation"]["t"],
        results["interpolation"]["observables"],
        results["reference"],
        "t (interpolation)",
    )
    write_study(out, results, config, figures, overwrite=overwrite, report=_report(results, config, list(figures)))

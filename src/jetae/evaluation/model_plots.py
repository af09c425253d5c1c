"""Pictures of what a model does: reconstructions, latent space, negative samples, training energies.

Like :mod:`jetae.evaluation.plots` (whose style, colours and figure helpers they share):
plain numpy arrays in, a pyplot-free matplotlib :class:`~matplotlib.figure.Figure` out.
Nothing here reads a model: the evaluation passes the arrays (``detector.reconstruct``,
``detector.encode``, ``detector.sample_negatives``) and the training history records.
"""

from __future__ import annotations

import logging
from typing import Mapping, Sequence

import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from sklearn.decomposition import PCA

from jetae.evaluation.plots import COLOURS, new_figure, plot_style
from jetae.features.constituents import RELATIVE_FEATURES

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- reconstruction
def _constituent_view(inputs: np.ndarray, representation: Mapping) -> tuple[np.ndarray, list[str]] | None:
    """``(n, n_constituents, n_features)`` and feature names for constituent inputs, else None."""
    if representation.get("kind") != "constituents":
        return None
    features = representation.get("features")
    if features is None:
        features = RELATIVE_FEATURES
    features = [features] if isinstance(features, str) else list(features)
    n = inputs.shape[0]
    per_jet = int(np.prod(inputs.shape[1:]))
    if not features or per_jet % len(features):
        return None
    return inputs.reshape(n, per_jet // len(features), len(features)), features


def plot_reconstructions(
    examples: Mapping[str, tuple[np.ndarray, np.ndarray]],
    representation: Mapping | None = None,
) -> Figure:
    """Model inputs next to their reconstructions for a few jets of each class.

    Parameters
    ----------
    examples:
        ``{class label: (inputs, reconstructions)}`` in representation units, as from
        ``detector.reconstruct(jets[:k])``.
    representation:
        The model's representation spec. Images ``(k, 1, n_pix, n_pix)`` are shown
        side by side (log colour scale); constituent arrays as one panel per feature
        (input bars, reconstruction markers vs constituent index); anything else as
        the flattened vector.
    """
    representation = dict(representation or {})
    first_inputs = next(iter(examples.values()))[0]
    is_image = first_inputs.ndim == 4 or (first_inputs.ndim == 3 and representation.get("kind") == "image")
    with plot_style():
        if is_image:
            return _plot_image_reconstructions(examples)
        view = _constituent_view(first_inputs, representation)
        if view is not None:
            return _plot_constituent_reconstructions(examples, representation)
        return _plot_vector_reconstructions(examples)


def _plot_image_reconstructions(examples: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> Figure:
    n_jets = max(len(inputs) for inputs, _ in examples.values())
    figure, axes = new_figure(len(examples), 2 * n_jets, size=(2.6 * 2 * n_jets, 2.9 * len(examples)))
    for row, (label, (inputs, reconstructions)) in enumerate(examples.items()):
        for j in range(n_jets):
            if j < len(inputs):
                # One colour scale per jet (from its input), so input and reconstruction compare directly.
                positive = np.asarray(inputs[j], dtype=np.float64)
                positive = positive[positive > 0]
                vmax = float(positive.max()) if positive.size else 1.0
                norm = LogNorm(vmin=max(vmax * 1e-4, 1e-12), vmax=vmax)
            for k, (image_set, kind) in enumerate(((inputs, "input"), (reconstructions, "reco"))):
                ax = axes[row, 2 * j + k]
                ax.set_xticks([])
                ax.set_yticks([])
                if j >= len(image_set):
                    ax.set_visible(False)
                    continue
                image = np.asarray(image_set[j], dtype=np.float64).reshape(image_set[j].shape[-2:])
                ax.imshow(np.where(image > 0, image, np.nan), origin="lower", cmap="viridis", norm=norm)
                ax.set_facecolor("white")
                ax.set_title(f"{label} #{j + 1} {kind}", fontsize=10)
    return figure


def _plot_constituent_reconstructions(
    examples: Mapping[str, tuple[np.ndarray, np.ndarray]], representation: Mapping
) -> Figure:
    # One panel per (feature, class), the example jets overlaid: few axes keep rendering fast.
    views = {}
    for label, (inputs, reconstructions) in examples.items():
        view_in, features = _constituent_view(np.asarray(inputs), representation)
        view_out, _ = _constituent_view(np.asarray(reconstructions), representation)
        views[label] = (view_in, view_out)
    n_features, n_classes = len(features), len(views)
    figure, axes = new_figure(n_features, n_classes, size=(4.2 * n_classes + 0.6, 1.7 * n_features + 0.8), sharex=True)
    for c, (label, (view_in, view_out)) in enumerate(views.items()):
        index = np.arange(view_in.shape[1])
        for f in range(n_features):
            ax = axes[f, c]
            for j in range(len(view_in)):
                colour = COLOURS[(j + 1) % len(COLOURS)]
                ax.step(
                    index,
                    view_in[j, :, f],
                    where="mid",
                    color=colour,
                    lw=1.3,
                    label=f"jet {j + 1} input" if f == 0 else None,
                )
                ax.plot(
                    index,
                    view_out[j, :, f],
                    "o--",
                    color=colour,
                    ms=2.5,
                    lw=0.8,
                    label=f"jet {j + 1} reconstruction" if f == 0 else None,
                )
            ax.tick_params(labelsize=8, which="both")
            ax.minorticks_off()
            if c == 0:
                ax.set_ylabel(features[f], fontsize=10)
            if f == 0:
                ax.set_title(label, fontsize=11)
        axes[-1, c].set_xlabel("constituent (pT order)", fontsize=10)
    axes[0, -1].legend(fontsize=6, loc="upper right", ncols=2)
    return figure


def _plot_vector_reconstructions(examples: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> Figure:
    rows = []
    for label, (inputs, reconstructions) in examples.items():
        flat_in = np.asarray(inputs).reshape(len(inputs), -1)
        flat_out = np.asarray(reconstructions).reshape(len(reconstructions), -1)
        rows.extend((f"{label} #{j + 1}", flat_in[j], flat_out[j]) for j in range(len(flat_in)))
    figure, axes = new_figure(len(rows), 1, size=(10.0, 1.9 * len(rows)))
    for r, (label, values_in, values_out) in enumerate(rows):
        ax = axes[r, 0]
        index = np.arange(values_in.size)
        ax.step(index, values_in, where="mid", color=COLOURS[0], lw=1.2, label="input")
        ax.plot(index, values_out, color=COLOURS[2], lw=0.9, label="reconstruction")
        ax.set_ylabel(label, fontsize=9)
        ax.tick_params(labelsize=8)
    axes[-1, 0].set_xlabel("input element", fontsize=10)
    axes[0, 0].legend(fontsize=8, loc="upper right")
    return figure


# --------------------------------------------------------------------------- latent space
def principal_components_2d(codes: np.ndarray) -> np.ndarray:
    """Project ``(n, d)`` codes onto their two leading principal components: ``(n, 2)``.

    ``sklearn.decomposition.PCA`` (exact SVD), whose sign convention (the largest entry of
    each component positive) keeps the picture reproducible. With ``d = 1`` (or a single
    code) the missing columns are zero.
    """
    codes = np.asarray(codes, dtype=np.float64).reshape(len(codes), -1)
    projected = np.zeros((len(codes), 2))
    n_components = min(2, codes.shape[1], len(codes) - 1)
    if n_components < 1:  # one code: nothing to project, it sits at the origin
        return projected
    projected[:, :n_components] = PCA(n_components=n_components, svd_solver="full").fit_transform(codes)
    return projected


def plot_latent(codes: Mapping[str, np.ndarray]) -> Figure:
    """Latent codes per class projected to 2D by PCA (fitted on all classes together).

    ``codes`` maps class label to ``(n, latent_dim)``; the first entry is the background.
    """
    labels = list(codes)
    sizes = [len(codes[label]) for label in labels]
    projected = principal_components_2d(
        np.concatenate([np.asarray(codes[label]).reshape(n, -1) for label, n in zip(labels, sizes)])
    )
    latent_dim = int(np.asarray(codes[labels[0]]).reshape(sizes[0], -1).shape[1])
    with plot_style():
        figure, axes = new_figure()
        ax = axes[0, 0]
        start = 0
        for i, (label, n) in enumerate(zip(labels, sizes)):
            points = projected[start : start + n]
            start += n
            ax.scatter(
                points[:, 0],
                points[:, 1],
                s=6,
                alpha=0.5,
                color=COLOURS[i % len(COLOURS)],
                label=f"{label} ({n})",
                rasterized=True,
            )
        ax.set_xlabel("latent PC 1")
        ax.set_ylabel("latent PC 2" if latent_dim > 1 else "(1-d latent space)")
        ax.set_title(f"Latent space ({latent_dim}-d), PCA projection", fontsize="small")
        ax.legend(loc="upper right", fontsize="x-small", markerscale=3)
    return figure


# --------------------------------------------------------------------------- energy-based models
def _as_images(samples: np.ndarray) -> np.ndarray | None:
    """``(n, H, W)`` float64 images from ``(n, 1, H, W)`` / ``(n, H, W)`` arrays, else None."""
    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim == 4 and samples.shape[1] == 1:
        return samples[:, 0]
    if samples.ndim == 3 and samples.shape[1] == samples.shape[2]:
        return samples
    return None


def plot_negative_samples(
    real: np.ndarray,
    negatives: np.ndarray,
    real_label: str = "real background jets",
    negative_label: str = "negative samples (MCMC)",
) -> Figure:
    """Negative samples of an energy-based model next to real jets.

    Parameters
    ----------
    real, negatives:
        ``(k, 1, n_pix, n_pix)`` (or ``(k, n_pix, n_pix)``) images in representation units,
        e.g. real test jets and ``detector.sample_negatives(k)``. Other shapes (constituent
        vectors) are drawn as the per-element mean with its 16-84% band of each set.

    Notes
    -----
    Images: one row per set, one column per example plus a last column with the mean image
    of the set; one logarithmic colour scale for every panel (from the largest pixel down
    four decades), so intensities compare directly. Empty pixels are white.
    """
    real_images, negative_images = _as_images(real), _as_images(negatives)
    with plot_style():
        if real_images is None or negative_images is None:
            return _plot_negative_vectors(np.asarray(real), np.asarray(negatives), real_label, negative_label)
        rows = ((real_label, real_images), (negative_label, negative_images))
        n_columns = max(len(real_images), len(negative_images)) + 1
        figure, axes = new_figure(2, n_columns, size=(2.2 * n_columns + 1.2, 5.2))
        positive = np.concatenate([real_images[real_images > 0], negative_images[negative_images > 0]])
        vmax = float(positive.max()) if positive.size else 1.0
        norm = LogNorm(vmin=max(vmax * 1e-4, 1e-12), vmax=vmax)
        mappable = None
        for row, (label, images) in enumerate(rows):
            for column in range(n_columns):
                ax = axes[row, column]
                ax.set_xticks([])
                ax.set_yticks([])
                if column == n_columns - 1:  # the last column holds the mean image of the set
                    title, image = f"mean of {len(images)}", images.mean(axis=0)
                elif column < len(images):
                    title, image = f"#{column + 1}", images[column]
                else:
                    ax.set_visible(False)
                    continue
                mappable = ax.imshow(np.where(image > 0, image, np.nan), origin="lower", cmap="viridis", norm=norm)
                ax.set_facecolor("white")
                ax.set_title(title, fontsize=10)
            axes[row, 0].set_ylabel(label, fontsize=10)
        if mappable is not None:
            figure.colorbar(mappable, ax=axes[:, -1].tolist(), shrink=0.85, label="pixel intensity")
    return figure


def _plot_negative_vectors(real: np.ndarray, negatives: np.ndarray, real_label: str, negative_label: str) -> Figure:
    figure, axes = new_figure(1, 1, size=(10.0, 4.0))
    ax = axes[0, 0]
    for i, (label, values) in enumerate(((real_label, real), (negative_label, negatives))):
        flat = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
        index = np.arange(flat.shape[1])
        low, high = np.quantile(flat, [0.16, 0.84], axis=0)
        ax.fill_between(index, low, high, step="mid", color=COLOURS[i], alpha=0.25)
        ax.step(index, flat.mean(axis=0), where="mid", color=COLOURS[i], lw=1.5, label=f"{label} ({len(flat)})")
    ax.set_xlabel("input element", fontsize=10)
    ax.set_ylabel("value (mean, 16-84% band)", fontsize=10)
    ax.legend(fontsize=8, loc="upper right")
    return figure


#: History keys drawn by :func:`plot_nae_diagnostics` (label, line style).
NAE_ENERGY_KEYS = {
    "train_pos_energy": ("positive (training jets)", "-"),
    "val_pos_energy": ("positive (validation jets)", ":"),
    "train_neg_energy": ("negative (end of the MCMC chains)", "-"),
    "train_neg_start_energy": ("negative chain start (decoded latent chain)", "--"),
}


def has_nae_diagnostics(history: Sequence[Mapping]) -> bool:
    """Whether a training history has the positive and negative energies of an NAE phase."""
    return any("train_pos_energy" in r and "train_neg_energy" in r for r in history or ())


def plot_nae_diagnostics(history: Sequence[Mapping]) -> Figure:
    """Energies per epoch of an energy-based (NAE) training run, from its saved history.

    ``history`` is the per-epoch list of ``detector.history_`` / ``history.json``: keys
    ``epoch``, optionally ``phase`` (``ae`` / ``nae``), ``train_pos_energy``,
    ``train_neg_energy``, ``train_neg_start_energy``, ``val_pos_energy`` (mean
    reconstruction error per input element, scaled units) and ``mcmc_seconds``. Left: the
    energies (log scale; the AE pretraining epochs shaded grey). Right: the MCMC wall time
    per epoch, when recorded. Positive energy well below negative energy means the sampler
    still finds (and the loss pushes up) regions the model wrongly likes less than the data.
    """
    records = [dict(r) for r in history or ()]
    epochs = np.array([float(r.get("epoch", i)) for i, r in enumerate(records)])
    with_mcmc = any("mcmc_seconds" in r for r in records)
    with plot_style():
        figure, axes = new_figure(1, 2 if with_mcmc else 1, size=(13.0 if with_mcmc else 8.0, 5.0))
        ax = axes[0, 0]
        ae_epochs = [e for e, r in zip(epochs, records) if r.get("phase") == "ae"]
        if ae_epochs:
            for a in axes[0]:
                a.axvspan(
                    min(ae_epochs) - 0.5,
                    max(ae_epochs) + 0.5,
                    color="#dddddd",
                    alpha=0.6,
                    lw=0,
                    label="AE pretraining" if a is ax else None,
                )
        all_positive = True
        for key, (label, style) in NAE_ENERGY_KEYS.items():
            values = np.array([float(r[key]) if r.get(key) is not None else np.nan for r in records])
            if not np.isfinite(values).any():
                continue
            all_positive &= bool(np.all(values[np.isfinite(values)] > 0))
            colour = COLOURS[0] if key.endswith("pos_energy") else COLOURS[2 if key == "train_neg_energy" else 1]
            ax.plot(epochs, values, style, marker="o", ms=4, lw=1.8, color=colour, label=label)
        if all_positive:
            ax.set_yscale("log")
        for a in axes[0]:
            a.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel("mean energy E(x) (scaled units)")
        ax.set_title("NAE energies per epoch", fontsize="small")
        ax.legend(fontsize="x-small", loc="best")
        if with_mcmc:
            ax = axes[0, 1]
            values = np.array(
                [float(r["mcmc_seconds"]) if r.get("mcmc_seconds") is not None else np.nan for r in records]
            )
            ax.plot(epochs, values, marker="o", ms=4, lw=1.8, color=COLOURS[3], label="MCMC wall time")
            seconds = np.array([float(r["seconds"]) if r.get("seconds") is not None else np.nan for r in records])
            if np.isfinite(seconds).any():
                ax.plot(epochs, seconds, marker="s", ms=4, lw=1.2, ls="--", color="grey", label="epoch wall time")
            ax.set_xlabel("epoch")
            ax.set_ylabel("seconds")
            ax.set_title("Sampling cost per epoch", fontsize="small")
            ax.legend(fontsize="x-small", loc="best")
    return figure

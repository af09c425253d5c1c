"""Unsupervised pretraining: does an autoencoder trained without labels help a tagger that has few?

The study trains an autoencoder on every training jet (background and signal pooled, labels
never looked at), then, for each number ``n`` of labelled jets and each seed, a supervised tagger
= the autoencoder's encoder + a small dense head (BCE loss) on ``n`` labelled jets
(``n // 2`` background + the rest signal, drawn from the same pool), twice:

* ``pretrained``: the encoder starts from the autoencoder's weights (and is fine-tuned);
* ``scratch``: the same network from random weights;
* ``frozen`` (a reference, not part of the comparison): the autoencoder's encoder kept fixed,
  only the head trained (a probe of what the unsupervised code alone carries).

Both arms get the same budget: the same optimiser (Adam, ``lr``), batch size and number of
optimiser steps, 20 % of the labelled jets held out to pick the best epoch (lowest validation
loss), and the same head initialisation per seed. The AUC is measured on the test files.
Per seed the labelled subsets are nested (the 300 jets contain the 100), and both arms see the
same subset, so their difference is paired; a difference is called significant when a paired
t-test over the seeds gives p < 0.05 (two-sided).

The autoencoder is trained once (with ``seed``); the seeds vary the labelled subset, the head
(and scratch encoder) initialisation and the batch order, so the spread does not include the
autoencoder's own seed dependence.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import os
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from jetae.errors import JetaeError
from jetae.evaluation import report as html
from jetae.evaluation.metrics import auc
from jetae.evaluation.plots import COLOURS, new_figure, plot_style
from jetae.evaluation.samples import read_sample, sample_source
from jetae.experiments.options import check_models, model_options_for, resolved_configs
from jetae.experiments.studies.common import notes_html, study_config, study_report_html, write_study
from jetae.jets import Jets
from jetae.models import Detector, create_model
from jetae.models.nets import mlp
from jetae.train.config import TrainerConfig
from jetae.train.data import split_validation
from jetae.train.engine import fit_network
from jetae.train.inference import run_batched
from jetae.train.protocol import Trainable

if TYPE_CHECKING:
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

DEFAULT_LABELS = (100, 300, 1000, 3000, 10000)
DEFAULT_MODEL = "dense_ae"
#: The pretraining autoencoder's options unless ``--set`` says otherwise: 40x40 unit-sum images.
DEFAULT_MODEL_OPTIONS = {"dense_ae": {"representation": {"kind": "image"}, "scaler": "global"}}
#: The taggers trained for every label count and seed (``frozen``: pretrained encoder kept fixed).
ARMS = ("pretrained", "scratch", "frozen")
#: Two-sided p-value of the paired t-test over seeds below which a difference is called real.
SIGNIFICANCE = 0.05


@dataclass
class TaggerBudget:
    """The training budget of every tagger (the same for pretrained and scratch).

    ``steps`` optimiser steps of ``batch_size`` jets (epochs = steps / batches per epoch, rounded
    up), Adam with ``lr``; ``val_fraction`` of the labelled jets held out to keep the best epoch;
    the head is ``encoder output -> head_hidden -> 1`` (ReLU).
    """

    steps: int = 500
    batch_size: int = 128
    lr: float = 1e-3
    val_fraction: float = 0.2
    head_hidden: int = 32

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1 or self.head_hidden < 1:
            raise JetaeError("tagger steps, batch_size and head_hidden must be >= 1")
        if not (self.lr > 0 and 0 <= self.val_fraction < 1):
            raise JetaeError("tagger lr must be > 0 and val_fraction in [0, 1)")

    def epochs(self, n_fit: int) -> int:
        """Epochs that give at least ``steps`` optimiser steps on ``n_fit`` jets."""
        return max(1, math.ceil(self.steps / math.ceil(n_fit / self.batch_size)))


class Tagger(nn.Module):
    """An encoder and a dense head; ``forward`` returns ``{"logit": (n,)}`` (signal = positive)."""

    def __init__(self, encoder: nn.Module, feature_dim: int, hidden: int = 32):
        super().__init__()
        self.encoder = encoder
        self.head = mlp([feature_dim, hidden, 1], "relu")

    def forward(self, inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"logit": self.head(self.encoder(inputs)).squeeze(1)}


class BinaryCrossEntropy(Trainable):
    """The engine's loss for a :class:`Tagger`: BCE of the logit against ``label`` (1 = signal)."""

    def training_step(
        self, network: nn.Module, batch: dict[str, torch.Tensor], stage: str, module: Any
    ) -> dict[str, torch.Tensor]:
        logit = network(batch["inputs"])["logit"].float()
        return {"loss": nn.functional.binary_cross_entropy_with_logits(logit, batch["label"].float())}


def _output_dim(encoder: nn.Module, input_shape: Sequence[int]) -> int:
    was_training = encoder.training
    encoder.eval()
    with torch.no_grad():
        dim = int(encoder(torch.zeros(2, *input_shape)).shape[1])
    encoder.train(was_training)
    return dim


def build_tagger(
    autoencoder: Detector, pretrained: bool, seed: int = 0, head_hidden: int = 32, freeze: bool = False
) -> Tagger:
    """The supervised tagger on ``autoencoder``'s inputs: its encoder (a copy of the trained weights
    if ``pretrained``, else the same architecture freshly initialised) + a dense head.

    The head's initial weights depend only on ``seed``, so both arms of a seed start with the same
    head; the scratch encoder is initialised from ``seed`` too (another stream). ``freeze`` (with
    ``pretrained``): the encoder's weights are not trained, only the head's.
    """
    network = autoencoder.network_
    torch.manual_seed(seed)
    if pretrained:
        encoder = copy.deepcopy(network.encoder)
    else:
        torch.manual_seed(seed + 1_000_003)
        encoder = autoencoder.build_network(autoencoder.input_shape_).encoder
    encoder.train()
    if freeze:
        if not pretrained:
            raise JetaeError("only a pretrained encoder can be frozen")
        encoder.requires_grad_(False)
    feature_dim = _output_dim(encoder, autoencoder.input_shape_)
    torch.manual_seed(seed)
    return Tagger(encoder, feature_dim, head_hidden)


def train_tagger(
    tagger: Tagger,
    inputs: np.ndarray,
    labels: np.ndarray,
    budget: TaggerBudget,
    seed: int = 0,
    device: str = "auto",
) -> list[dict[str, float]]:
    """Fit ``tagger`` in place on scaled ``inputs`` ``(n, ...)`` and ``labels`` ``(n,)`` (0/1) under
    ``budget`` with jetae's training engine; returns the history. The best epoch by validation
    loss is kept (training loss when too few jets for a validation split)."""
    fit_index, val_index = split_validation(len(inputs), budget.val_fraction, seed)
    train = {"inputs": inputs[fit_index], "label": labels[fit_index].astype(np.float32)}
    val = {"inputs": inputs[val_index], "label": labels[val_index].astype(np.float32)} if len(val_index) else None
    config = TrainerConfig(
        epochs=budget.epochs(len(fit_index)),
        batch_size=budget.batch_size,
        lr=budget.lr,
        val_fraction=0.0,
        patience=0,
        device=device,
        progress=False,
    )
    with _quiet_engine():
        result = fit_network(BinaryCrossEntropy(), tagger, train, val, config, seed=seed, name="tagger")
    tagger.eval()
    return result.history


@contextlib.contextmanager
def _quiet_engine() -> Iterator[None]:
    """The engine's per-epoch INFO lines off for a tagger fit (hundreds per study), unless debugging."""
    loggers = [logging.getLogger(name) for name in ("jetae.train.module", "jetae.train.engine")]
    levels = [logger.level for logger in loggers]
    if not log.isEnabledFor(logging.DEBUG):
        for logger in loggers:
            logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def tagger_logits(tagger: Tagger, inputs: np.ndarray, device: str = "auto") -> np.ndarray:
    """``(n,)`` float64 logits (higher = more signal-like) of scaled inputs."""
    return run_batched(tagger, inputs, lambda network, batch: network(batch)["logit"], 4096, device).astype(np.float64)


def labelled_indices(n_background: int, n_signal: int, n_labels: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of ``n_labels // 2`` background and ``n_labels - n_labels // 2`` signal jets of the
    pools: prefixes of seeded permutations, so for one seed a larger count contains a smaller one."""
    n_bg, n_sig = n_labels // 2, n_labels - n_labels // 2
    if n_bg > n_background or n_sig > n_signal:
        raise JetaeError(
            f"{n_labels} labels need {n_bg} background and {n_sig} signal training jets; the pools hold "
            f"{n_background} and {n_signal}: give fewer --labels or larger training files"
        )
    rng_bg, rng_sig = (np.random.default_rng([seed, k]) for k in (0, 1))
    return rng_bg.permutation(n_background)[:n_bg], rng_sig.permutation(n_signal)[:n_sig]


def check_labels(labels: Sequence[int]) -> list[int]:
    """Label counts as sorted distinct ints >= 2 (one jet of each class at least)."""
    try:
        values = sorted({int(n) for n in labels})
    except (TypeError, ValueError):
        raise JetaeError(f"label counts must be integers, got {list(labels)!r}") from None
    if not values:
        raise JetaeError("no label count given")
    if values[0] < 2:
        raise JetaeError(f"label counts must be >= 2 (one jet per class), got {values[0]}")
    return values


def pretrain_study(
    background_train: str | os.PathLike | Jets,
    signal_train: str | os.PathLike | Jets,
    background_test: str | os.PathLike | Jets,
    signal_test: str | os.PathLike | Jets,
    labels: Sequence[int] = DEFAULT_LABELS,
    n_seeds: int = 3,
    model: str = DEFAULT_MODEL,
    model_options: Mapping[str, Any] | None = None,
    n_train: int | None = None,
    n_test: int | None = None,
    seed: int = 0,
    budget: TaggerBudget | None = None,
) -> dict[str, Any]:
    """Pretrain ``model`` on the pooled training jets, then train pretrained and scratch taggers.

    Parameters
    ----------
    background_train, signal_train:
        Training pools (files or :class:`Jets`): the autoencoder sees all their jets without
        labels; the labelled subsets are drawn from them.
    background_test, signal_test:
        Test samples of the AUC.
    labels:
        Numbers of labelled jets (half background, half signal).
    n_seeds:
        Seeds ``seed .. seed + n_seeds - 1`` of the labelled subsets and taggers.
    model, model_options:
        The autoencoder (default ``dense_ae`` on 40x40 unit-sum images, global scaling) and
        option overrides (merged over those defaults).
    n_train, n_test:
        At most the first ``n_train`` jets of each training file / ``n_test`` of each test file.
    seed:
        Seed of the autoencoder and the first tagger seed.
    budget:
        The taggers' training budget (:class:`TaggerBudget`).

    Returns
    -------
    JSON-ready dict: ``n_labels``, ``pretrained_auc``, ``pretrained_auc_sd``, ``scratch_auc``,
    ``scratch_auc_sd`` (mean and sample standard deviation over seeds, one entry per label count),
    ``frozen_auc``, ``frozen_auc_sd`` (the frozen-encoder reference),
    ``per_seed`` (``{"pretrained": [[auc per seed] per count], "scratch": ..., "frozen": ...}``), ``difference``,
    ``difference_err`` and ``p_value`` (pretrained - scratch, paired over seeds: mean, standard error,
    two-sided t-test), ``verdict``
    (per count: ``helps``, ``hurts`` or ``no significant difference``), ``conclusion`` (one
    sentence), ``ae_auc`` (the autoencoder's own anomaly score on the test set), the inputs,
    sizes, budget, options and seconds.
    """
    check_models([model])
    labels = check_labels(labels)
    if n_seeds < 1:
        raise JetaeError(f"n_seeds must be >= 1, got {n_seeds}")
    budget = budget or TaggerBudget()
    options = model_options_for([model], {model: dict(model_options or {})}, DEFAULT_MODEL_OPTIONS, seed=seed)
    background_pool = read_sample(background_train, "background training", n_train)
    signal_pool = read_sample(signal_train, "signal training", n_train)
    for n in labels:  # fail before any training
        labelled_indices(len(background_pool), len(signal_pool), n, seed)
    background = read_sample(background_test, "background test", n_test)
    signal = read_sample(signal_test, "signal test", n_test)

    began = time.perf_counter()
    pool = Jets.concatenate([background_pool, signal_pool]).shuffled(seed)
    log.info("pretraining %s on %d unlabelled jets", model, len(pool))
    autoencoder = create_model(model, options[model]).fit(pool)
    seconds_pretrain = time.perf_counter() - began
    device = autoencoder.trainer_config.device
    ae_auc = auc(autoencoder.anomaly_score(background), autoencoder.anomaly_score(signal))
    x_background, x_signal = autoencoder.transform(background_pool), autoencoder.transform(signal_pool)
    x_test = np.concatenate([autoencoder.transform(background), autoencoder.transform(signal)])
    is_signal_test = np.r_[np.zeros(len(background), bool), np.ones(len(signal), bool)]

    seeds = [seed + k for k in range(n_seeds)]
    per_seed: dict[str, list[list[float]]] = {arm: [] for arm in ARMS}
    began = time.perf_counter()
    for step, n in enumerate(labels, 1):
        row: dict[str, list[float]] = {arm: [] for arm in ARMS}
        for s in seeds:
            bg_index, sig_index = labelled_indices(len(background_pool), len(signal_pool), n, s)
            inputs = np.concatenate([x_background[bg_index], x_signal[sig_index]])
            targets = np.r_[np.zeros(len(bg_index)), np.ones(len(sig_index))]
            for arm in ARMS:
                tagger = build_tagger(autoencoder, arm != "scratch", s, budget.head_hidden, freeze=arm == "frozen")
                train_tagger(tagger, inputs, targets, budget, seed=s, device=device)
                logits = tagger_logits(tagger, x_test, device)
                row[arm].append(auc(logits[~is_signal_test], logits[is_signal_test]))
        for arm in row:
            per_seed[arm].append(row[arm])
        log.info(
            "[%d/%d] %d labels: AUC per seed %s",
            step,
            len(labels),
            n,
            "; ".join(f"{arm} " + " ".join(f"{a:.4f}" for a in row[arm]) for arm in ARMS),
        )
    results: dict[str, Any] = {
        "study": "pretrain",
        "n_labels": labels,
        **_summary(per_seed),
        "seeds": seeds,
        "per_seed": per_seed,
        "ae_auc": ae_auc,
        "model": model,
        "n_pretrain": len(pool),
        "n_pretrain_background": len(background_pool),
        "n_pretrain_signal": len(signal_pool),
        "n_test_background": len(background),
        "n_test_signal": len(signal),
        "input_shape": list(autoencoder.input_shape_),
        "seed": seed,
        "budget": asdict(budget),
        "inputs": {
            "background_train": sample_source(background_train),
            "signal_train": sample_source(signal_train),
            "background_test": sample_source(background_test),
            "signal_test": sample_source(signal_test),
        },
        "options": options,
        "seconds": {"pretrain": seconds_pretrain, "taggers": time.perf_counter() - began},
    }
    results["verdict"], results["conclusion"] = verdicts(results)
    return results


def _summary(per_seed: Mapping[str, list[list[float]]]) -> dict[str, list[float]]:
    """Means, standard deviations (ddof 1; 0 with one seed) and the paired difference per count."""
    out: dict[str, list[float]] = {}
    for arm in ARMS:
        values = [np.asarray(row, dtype=np.float64) for row in per_seed[arm]]
        out[f"{arm}_auc"] = [float(v.mean()) for v in values]
        out[f"{arm}_auc_sd"] = [float(v.std(ddof=1)) if len(v) > 1 else 0.0 for v in values]
    differences = [np.asarray(p) - np.asarray(s) for p, s in zip(per_seed["pretrained"], per_seed["scratch"])]
    out["difference"] = [float(d.mean()) for d in differences]
    out["difference_err"] = [float(d.std(ddof=1) / math.sqrt(len(d))) if len(d) > 1 else math.nan for d in differences]
    out["p_value"] = [_paired_p_value(d) for d in differences]
    return out


def _paired_p_value(differences: np.ndarray) -> float:
    """Two-sided p-value of the paired t-test that the mean difference is 0 (NaN with one seed;
    0 or 1 when every seed gives the same difference)."""
    from scipy import stats

    if len(differences) < 2:
        return math.nan
    if np.allclose(differences, differences[0]):
        return 1.0 if differences[0] == 0 else 0.0
    return float(stats.ttest_1samp(differences, 0.0).pvalue)


def verdicts(results: Mapping[str, Any]) -> tuple[list[str], str]:
    """Per label count ``helps`` / ``hurts`` / ``no significant difference`` (paired t-test over the
    seeds, p < :data:`SIGNIFICANCE`), and a one-sentence conclusion."""
    verdict = []
    for difference, p_value in zip(results["difference"], results["p_value"]):
        if not math.isfinite(p_value):
            verdict.append("one seed: no significance")
        elif p_value < SIGNIFICANCE and difference > 0:
            verdict.append("helps")
        elif p_value < SIGNIFICANCE and difference < 0:
            verdict.append("hurts")
        else:
            verdict.append("no significant difference")
    counts = results["n_labels"]
    helps = [str(n) for n, v in zip(counts, verdict) if v == "helps"]
    hurts = [str(n) for n, v in zip(counts, verdict) if v == "hurts"]
    parts = []
    if helps:
        parts.append(f"pretraining helps at {', '.join(helps)} labels")
    if hurts:
        parts.append(f"hurts at {', '.join(hurts)} labels")
    rest = [str(n) for n, v in zip(counts, verdict) if v not in ("helps", "hurts")]
    if rest:
        parts.append(f"makes no significant difference at {', '.join(rest)} labels")
    sentence = "; ".join(parts)
    conclusion = (
        sentence[0].upper() + sentence[1:] + f" ({len(results['seeds'])} seeds; paired t-test, p < {SIGNIFICANCE:g})."
    )
    return verdict, conclusion


def plot_pretrain(results: Mapping[str, Any]) -> "Figure":
    """Learning curve: test AUC vs number of labelled jets, pretrained and scratch (mean +- sd over seeds),
    and below it the paired difference pretrained - scratch (+- its standard error)."""
    with plot_style():
        figure, axes = new_figure(2, 1, size=(8.0, 8.0), sharex=True, gridspec_kw={"height_ratios": [2.2, 1.0]})
        ax, diff = axes[0, 0], axes[1, 0]
        n = np.asarray(results["n_labels"], dtype=float)
        arms = (("pretrained", "pretrained encoder, fine-tuned"), ("scratch", "random init"))
        if "frozen_auc" in results:
            arms += (("frozen", "pretrained encoder, frozen"),)
        lowest = results["ae_auc"]
        for i, (arm, label) in enumerate(arms):
            mean, sd = np.asarray(results[f"{arm}_auc"]), np.asarray(results[f"{arm}_auc_sd"])
            lowest = min(lowest, float((mean - sd).min()))
            ax.errorbar(
                n * (1.0 + 0.03 * (i - 1)),
                mean,
                yerr=sd,
                marker="os^"[i],
                lw=2 if i < 2 else 1.5,
                ls="-" if i < 2 else "--",
                capsize=3,
                color=COLOURS[1 + i],
                label=label,
            )
        ax.axhline(results["ae_auc"], ls=":", color=COLOURS[0], lw=2, label="AE anomaly score (no labels)")
        ax.set_ylim(max(0.5, lowest - 0.02), 1.0)
        ax.set_ylabel("Test AUC")
        ax.set_title(
            f"Tagger = {results['model']} encoder + head, {len(results['seeds'])} seeds (mean $\\pm$ sd)",
            fontsize="small",
        )
        ax.legend(loc="lower right", fontsize="x-small")
        error = np.nan_to_num(np.asarray(results["difference_err"], dtype=float))
        diff.errorbar(n, results["difference"], yerr=error, marker="o", lw=2, capsize=3, color=COLOURS[1])
        diff.axhline(0.0, ls="--", color="grey", lw=1.5)
        diff.set_xscale("log")
        diff.set_xlabel("Labelled training jets")
        diff.set_ylabel("pretrained $-$ scratch", fontsize="small")
    return figure


def summary_lines(results: Mapping[str, Any]) -> list[str]:
    """A terminal table: one line per label count, then the conclusion."""
    lines = [f"{'labels':>7} {'pretrained AUC':>17} {'scratch AUC':>17} {'difference':>17} {'frozen AUC':>17}  verdict"]
    for i, n in enumerate(results["n_labels"]):
        lines.append(
            f"{n:>7d} {results['pretrained_auc'][i]:>9.4f} ± {results['pretrained_auc_sd'][i]:.4f} "
            f"{results['scratch_auc'][i]:>9.4f} ± {results['scratch_auc_sd'][i]:.4f} "
            f"{results['difference'][i]:>+9.4f} ± {results['difference_err'][i]:.4f} "
            f"{results['frozen_auc'][i]:>9.4f} ± {results['frozen_auc_sd'][i]:.4f}  {results['verdict'][i]}"
        )
    lines.append(f"AE anomaly score (no labels): AUC {results['ae_auc']:.4f}")
    lines.append(results["conclusion"])
    return lines


def _report(results: Mapping[str, Any], config: Mapping[str, Any]):
    def build(directory) -> str:
        rows = [
            [
                html.fmt(n),
                html.fmt_pm(results["pretrained_auc"][i], results["pretrained_auc_sd"][i]),
                html.fmt_pm(results["scratch_auc"][i], results["scratch_auc_sd"][i]),
                html.fmt_pm(results["difference"][i], results["difference_err"][i]),
                html.fmt(results["p_value"][i], 2),
                html.esc(results["verdict"][i]),
                html.fmt_pm(results["frozen_auc"][i], results["frozen_auc_sd"][i]),
            ]
            for i, n in enumerate(results["n_labels"])
        ]
        header = ("labelled jets", "pretrained AUC ± sd", "scratch AUC ± sd", "difference ± s.e.", "p", "verdict")
        table = html.table((*header, "frozen encoder AUC ± sd"), rows, 0)
        budget = results["budget"]
        notes = [
            f"Autoencoder {results['model']} pretrained once (seed {results['seed']}) on "
            f"{results['n_pretrain']} unlabelled jets ({results['n_pretrain_background']} background + "
            f"{results['n_pretrain_signal']} signal); its own anomaly score reaches AUC {results['ae_auc']:.4f}.",
            f"Taggers: encoder + head ({budget['head_hidden']} hidden units), BCE, Adam lr {budget['lr']:g}, "
            f"{budget['steps']} steps of {budget['batch_size']} jets, best epoch on {budget['val_fraction']:.0%} "
            "of the labelled jets; the same budget and head initialisation for every arm. Frozen: the "
            "pretrained encoder is not trained, only the head (a reference, not part of the verdict).",
            f"Test: {results['n_test_background']} background and {results['n_test_signal']} signal jets. "
            f"sd = standard deviation over seeds {results['seeds']}; s.e. = standard error of the paired "
            "difference; p = two-sided paired t-test over the seeds.",
        ]
        sections = [
            ("Result", f"<p><b>{html.esc(results['conclusion'])}</b></p>" + table),
            ("Set-up", notes_html(notes)),
        ]
        figures = [("Test AUC vs labelled jets (learning curve)", directory / "pretrain.png")]
        return study_report_html(
            "jetae study pretrain",
            f"{results['model']} encoder, pretrained vs random initialisation",
            sections,
            figures,
            config,
            results,
        )

    return build


def write_pretrain(
    out: str | os.PathLike, results: Mapping[str, Any], command: str | None = None, overwrite: bool = False
) -> None:
    """``out/results.json``, ``config.json``, ``pretrain.png|pdf`` (learning curve) and ``report.html``."""
    parameters = {k: results[k] for k in ("n_labels", "seeds", "model", "n_pretrain", "seed", "budget", "inputs")} | {
        "n_test_background": results["n_test_background"],
        "n_test_signal": results["n_test_signal"],
    }
    config = study_config("pretrain", parameters, resolved_configs(results["options"]), command)
    write_study(
        out, results, config, {"pretrain": plot_pretrain(results)}, overwrite=overwrite, report=_report(results, config)
    )

"""One tagging direction: train on one class, score background against signals, summarise.

``jetae evaluate``, ``jetae benchmark`` (forward: trained on QCD, tagging top and W;
reverse: trained on top, tagging QCD), the contamination and reverse studies and the bench
scripts all do this with :func:`tag_direction`, so their numbers are computed the same way:
:func:`~jetae.evaluation.metrics.summarize` per signal and
:func:`~jetae.evaluation.metrics.mass_sculpting` of the background, on scores computed in
chunks and checked to be finite.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np
from tqdm.auto import tqdm

from jetae.errors import JetaeError
from jetae.evaluation import metrics
from jetae.evaluation.score_table import check_finite_scores
from jetae.features.kinematics import jet_mass
from jetae.jets import Jets

if TYPE_CHECKING:
    from jetae.models import Detector

log = logging.getLogger(__name__)

#: Class label of the background in :attr:`DirectionResult.scores` (signals may not use it).
BACKGROUND = "background"

#: Jets scored per call, so memory stays bounded for large files (a 40x40 image is 6.4 kB).
SCORE_CHUNK = 20_000

#: ``score_fn(data, score name) -> (n,) scores``: how to score instead of ``detector.anomaly_score``.
ScoreFn = Callable[[Any, str], np.ndarray]


def resolve_scores(detector: "Detector", scores: Sequence[str] | None, where: str | None = None) -> list[str]:
    """The score names to compute: ``scores`` (unique, in order) or the detector's first score.

    Raises a JetaeError naming ``where`` (e.g. the run directory) for a score the model lacks.
    """
    if not scores:
        return [detector.score_names[0]]
    unknown = [s for s in scores if s not in detector.score_names]
    if unknown:
        raise JetaeError(
            f"model {detector.name!r} has no score {', '.join(map(repr, unknown))}; available: "
            f"{', '.join(detector.score_names)}",
            where,
        )
    return list(dict.fromkeys(scores))


def score_jets(
    detector: "Detector",
    data: Jets | np.ndarray,
    score: str,
    role: str,
    run_dir: str | None = None,
    score_fn: ScoreFn | None = None,
) -> np.ndarray:
    """``(n,)`` anomaly scores ``score`` of ``data`` (jets or model inputs), in chunks of :data:`SCORE_CHUNK`.

    A progress bar shows when there are several chunks. A problem scoring the jets (e.g.
    their representation has another shape than the model's inputs) becomes a JetaeError
    naming the ``role`` (``"background"``, ``"signal 'top'"``), the model and the file; so
    do NaN or infinite scores (a diverged model).
    """
    score_fn = score_fn or (lambda chunk, name: detector.anomaly_score(chunk, score=name))
    source = data.source if isinstance(data, Jets) else None
    chunks = []
    starts = range(0, len(data), SCORE_CHUNK)
    for start in tqdm(
        starts, desc=f"scoring {role}", unit="chunk", disable=None if len(starts) > 1 else True, leave=False
    ):
        try:
            chunks.append(np.asarray(score_fn(data[start : start + SCORE_CHUNK], score)))
        except JetaeError as exc:
            model = f"model {detector.name!r}" + (f" ({run_dir})" if run_dir else "")
            raise JetaeError(f"cannot score the {role} jets with {model}: {exc.message}", exc.path or source) from exc
    values = np.concatenate(chunks)
    check_finite_scores({f"score_{score}": values}, detector.name, source, role)
    return values


@dataclass
class DirectionResult:
    """What :func:`tag_direction` computed (arrays and raw floats; nothing is written)."""

    detector: "Detector"
    score_names: list[str]
    #: ``{class: {score name: (n,) scores}}``: :data:`BACKGROUND` first, then the signals in order.
    scores: dict[str, dict[str, np.ndarray]]
    #: ``{score name: {"signals": {signal: summarize() block}, "mass_sculpting": block}}``
    #: (``mass_sculpting`` only when computed).
    blocks: dict[str, dict[str, Any]]
    #: ``(n_background,)`` background jet masses in GeV (None without sculpting).
    background_mass: np.ndarray | None = None
    #: Training jets and fit wall time in seconds (None: the detector came fitted).
    n_train: int | None = None
    train_seconds: float | None = None
    #: Jets scored (background + signals, once per score) and the scoring wall time in seconds.
    n_scored: int = 0
    inference_seconds: float = 0.0

    @property
    def signals(self) -> dict[str, Any]:
        """The :func:`~jetae.evaluation.metrics.summarize` block of each signal, for the first score."""
        return self.blocks[self.score_names[0]]["signals"]

    @property
    def mass_sculpting(self) -> dict[str, Any] | None:
        """The background's mass-sculpting block for the first score (None if not computed)."""
        return self.blocks[self.score_names[0]].get("mass_sculpting")

    @property
    def inference_jets_per_s(self) -> float:
        """Scoring throughput in jets per second (inf if too fast to time)."""
        return self.n_scored / self.inference_seconds if self.inference_seconds > 0 else float("inf")

    @property
    def epochs_run(self) -> int | None:
        """Epochs in the detector's training history (None for a model without epochs, e.g. pca)."""
        return len([r for r in self.detector.history_ if isinstance(r, dict) and "epoch" in r]) or None


def tag_direction(
    detector: "Detector",
    background: Jets | np.ndarray,
    signals: Mapping[str, Jets | np.ndarray],
    *,
    train: Jets | np.ndarray | None = None,
    fit_params: Mapping[str, Any] | None = None,
    scores: Sequence[str] | None = None,
    sculpting: bool = True,
    background_mass: np.ndarray | None = None,
    n_bootstrap: int = 100,
    seed: int = 0,
    score_fn: ScoreFn | None = None,
    run_dir: str | None = None,
) -> DirectionResult:
    """Train ``detector`` on ``train`` (if given), score ``background`` and each signal, summarise.

    Parameters
    ----------
    detector:
        A detector (``jetae.models.create_model(...)``); fitted here when ``train`` is given,
        else it must be fitted already.
    background:
        The known class of this direction (jets or model inputs): e.g. QCD test jets.
    signals:
        ``{name: jets or inputs}``: the anomalies to tag (``"background"`` is reserved).
    train, fit_params:
        Training jets and extra ``fit`` arguments (e.g. ``{"outliers": jets}`` for outlier
        exposure, see ``Detector.fit_options``).
    scores:
        Score names (default: the detector's first); each gets its own block.
    sculpting:
        Also compute the background mass sculpting (needs jets, or ``background_mass``).
    background_mass:
        ``(n_background,)`` jet masses in GeV (default: from the background jets).
    n_bootstrap, seed:
        Bootstrap replicas of the AUC error; seed of the bootstrap and the dCor subsample.
    score_fn:
        ``score_fn(data, score name) -> (n,) scores`` instead of ``detector.anomaly_score``
        (e.g. the weights of an earlier epoch).
    run_dir:
        Where the detector came from, named in error messages.

    Returns
    -------
    :class:`DirectionResult`. Units: masses in GeV, times in seconds, JSD in bits.

    Raises
    ------
    JetaeError
        A score the model lacks, inputs it cannot take, non-finite scores, a signal named
        "background"; whatever ``fit`` raises propagates.
    """
    if BACKGROUND in signals:
        raise JetaeError(f"a signal may not be called {BACKGROUND!r}; choose another name")
    n_train = train_seconds = None
    if train is not None:
        tick = time.perf_counter()
        detector.fit(train, **dict(fit_params or {}))
        train_seconds = time.perf_counter() - tick
        n_train = len(train)
    names = resolve_scores(detector, scores, run_dir)
    samples = {BACKGROUND: background, **signals}
    roles = {name: BACKGROUND if name == BACKGROUND else f"signal {name!r}" for name in samples}
    tick = time.perf_counter()
    table = {
        name: {score: score_jets(detector, data, score, roles[name], run_dir, score_fn) for score in names}
        for name, data in samples.items()
    }
    inference_seconds = time.perf_counter() - tick
    if sculpting and background_mass is None:
        if not isinstance(background, Jets):
            raise JetaeError("mass sculpting needs background jets (or their masses), got an array of inputs")
        background_mass = jet_mass(background.constituents)
    blocks: dict[str, dict[str, Any]] = {}
    for score in names:
        known = table[BACKGROUND][score]
        blocks[score] = {
            "signals": {
                name: metrics.summarize(known, table[name][score], n_bootstrap=n_bootstrap, seed=seed)
                for name in signals
            }
        }
        if sculpting:
            blocks[score]["mass_sculpting"] = metrics.mass_sculpting(background_mass, known, seed=seed)
    return DirectionResult(
        detector=detector,
        score_names=names,
        scores=table,
        blocks=blocks,
        background_mass=background_mass if sculpting else None,
        n_train=n_train,
        train_seconds=train_seconds,
        n_scored=len(names) * sum(len(d) for d in samples.values()),
        inference_seconds=inference_seconds,
    )

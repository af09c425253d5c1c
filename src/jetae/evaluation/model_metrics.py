"""The metrics of one fitted model on background and signal jets (the ``metrics.json`` of a report).

:func:`compute_metrics` scores and summarises through :func:`~jetae.evaluation.direction.tag_direction`
and keeps what the report needs besides the numbers (scores per class, ROC curves).
Nothing is written here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from jetae.evaluation import metrics
from jetae.evaluation.direction import BACKGROUND, tag_direction
from jetae.jets import Jets

if TYPE_CHECKING:
    from jetae.models import Detector


@dataclass
class ModelResult:
    """Everything computed for one model, before anything is written."""

    label: str
    detector: "Detector"
    run_dir: str | None
    metadata: dict
    score_names: list[str]
    #: ``{class label: {"score_<name>": (n,) scores}}``; the first class is the background,
    #: whose table also holds ``"mass"`` (GeV).
    tables: dict[str, dict[str, np.ndarray]]
    #: Single-model metrics with raw floats (inf/NaN kept).
    metrics: dict[str, Any]
    #: ``{curve label: (eps_s, eps_b)}`` for every score x signal.
    roc: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)


def compute_metrics(
    detector: "Detector",
    background: Jets,
    signals: Mapping[str, Jets],
    scores: Sequence[str] | None = None,
    run_dir: str | None = None,
    n_bootstrap: int = 100,
    seed: int = 0,
    label: str | None = None,
    metadata: dict | None = None,
) -> ModelResult:
    """Score all samples and compute the metrics of one fitted model (nothing is written).

    ``metrics`` holds ``{"model", "run_dir", "score", "background", "signals",
    "mass_sculpting"}`` for the first score, plus ``"scores": {score: {"signals",
    "mass_sculpting"}}`` when several are evaluated (see :mod:`jetae.evaluation.evaluate`).
    """
    direction = tag_direction(
        detector,
        background,
        signals,
        scores=scores,
        sculpting=True,
        n_bootstrap=n_bootstrap,
        seed=seed,
        run_dir=run_dir,
    )
    names = direction.score_names
    tables = {
        name: {f"score_{score}": values for score, values in by_score.items()}
        for name, by_score in direction.scores.items()
    }
    tables[BACKGROUND]["mass"] = direction.background_mass
    roc: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for score in names:
        for name in signals:
            eps_s, eps_b, _ = metrics.roc_curve(direction.scores[BACKGROUND][score], direction.scores[name][score])
            curve_label = name if len(names) == 1 else f"{score}: {name}"
            auc = direction.blocks[score]["signals"][name]["auc"]
            roc[f"{curve_label} (AUC {metrics.not_resolvable_text(auc, '.3f')})"] = (eps_s, eps_b)
    result: dict[str, Any] = {
        "model": detector.name,
        "run_dir": run_dir,
        "score": names[0],
        "background": background.source,
        "signals": direction.signals,
        "mass_sculpting": direction.mass_sculpting,
    }
    if len(names) > 1:
        result["scores"] = direction.blocks
    return ModelResult(
        label=label or (Path(run_dir).name if run_dir else detector.name),
        detector=detector,
        run_dir=run_dir,
        metadata=metadata if metadata is not None else detector.metadata(),
        score_names=names,
        tables=tables,
        metrics=result,
        roc=roc,
    )

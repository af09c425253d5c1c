"""Per-jet score tables: anomaly scores next to jet mass, pT and label.

A score table is a dict of equal-length 1-d arrays (``(n_jets,)`` each), written to HDF5 by
:func:`jetae.io.scores.write_scores`, so that sculpting studies run downstream without the model.
"""

from __future__ import annotations

import os

import numpy as np

from jetae.errors import JetaeError
from jetae.features.kinematics import jet_kinematics
from jetae.jets import Jets

__all__ = ["check_finite_scores", "score_table"]


def score_table(detector, jets: Jets, scores: list[str] | None = None) -> dict[str, np.ndarray]:
    """``{"score": (n,), "score_<name>": ..., "mass", "pt", "eta", "multiplicity", "is_signal"}``.

    ``score`` is the detector's default score (or the first of ``scores``); every requested
    score is also stored under ``score_<name>``. Masses and pT in GeV.
    """
    names = list(scores) if scores else [detector.score_names[0]]
    table: dict[str, np.ndarray] = {}
    for name in names:
        table[f"score_{name}"] = detector.anomaly_score(jets, score=name)
    table["score"] = table[f"score_{names[0]}"]
    kinematics = jet_kinematics(jets.constituents)
    for key in ("mass", "pt", "eta", "multiplicity"):
        table[key] = kinematics[key]
    table["is_signal"] = jets.is_signal
    return table


def check_finite_scores(
    table: dict[str, np.ndarray], model: str, where: str | os.PathLike | None = None, role: str = ""
) -> None:
    """Refuse a score table with NaN or infinite scores (a diverged or corrupted model).

    ``model`` names the detector, ``where`` the scored file and ``role`` the jets (e.g.
    ``"background"``) in the message; every ``score_<name>`` column is checked.

    Raises
    ------
    JetaeError
        How many of the jets got a non-finite score, and which score.
    """
    for key, values in table.items():
        if not key.startswith("score_"):
            continue
        bad = int(np.count_nonzero(~np.isfinite(values)))
        if bad:
            jets = f"{role} jets" if role else "jets"
            raise JetaeError(
                f"model {model!r} gave non-finite (NaN or inf) {key[len('score_') :]!r} scores for "
                f"{bad} of {len(values)} {jets}; the model is broken (diverged training or corrupted "
                "weights?)",
                where,
            )

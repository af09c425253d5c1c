"""Checks every jet sample passes before jetae uses it.

One function, :func:`find_problems`, lists what is wrong with a chunk of jets; the
readers raise on the first problem (or drop unphysical jets when asked) and
``jetae check`` collects them over a whole file. Both therefore apply the same rules:

- **non-finite**: NaN or inf in a momentum, label or split column;
- **empty**: a jet whose 200 slots are all padding (all-zero rows);
- **unphysical**: a non-padding constituent with negative energy, or with E < |p| beyond
  float32 rounding (:data:`REL_TOLERANCE`, :data:`ABS_TOLERANCE_GEV`);
- **labels**: ``is_signal_new`` or ``ttv`` that is not an integer (casting 0.5 or NaN to
  int64 would silently invent a label).

Padding between constituents (an all-zero slot before a real one) and constituents not
ordered by pT are legal in the reference layout; :func:`padding_report` counts them for
``jetae check`` only.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

import numpy as np

from jetae.errors import JetaeError
from jetae.features.kinematics import padding_mask

log = logging.getLogger(__name__)

#: E may fall short of |p| by this fraction (float32 rounding of massless constituents
#: written as four separate float32 numbers costs ~1e-7; 1e-5 leaves a wide margin).
REL_TOLERANCE = 1e-5
#: ... plus this many GeV, for soft constituents where the relative margin is tiny.
ABS_TOLERANCE_GEV = 1e-4
#: How many example rows an error message names.
N_EXAMPLES = 5
#: What a reader's ``on_unphysical`` may be: refuse the file, or drop the jets concerned (counted in a warning).
UNPHYSICAL_POLICIES = ("error", "drop")


@dataclass
class Problem:
    """One kind of defect found in a chunk of jets.

    Attributes
    ----------
    kind:
        ``"non-finite"``, ``"empty"``, ``"unphysical"`` or ``"labels"``.
    jets:
        ``(n_jets,)`` bool, True for the jets concerned.
    message:
        What is wrong, with counts and the first example rows (file row numbers).
    n_constituents:
        For ``"unphysical"``: the number of bad constituents.
    """

    kind: str
    jets: np.ndarray
    message: str
    n_constituents: int = 0
    rows: list[int] = field(default_factory=list)


def unphysical_constituents(constituents: np.ndarray) -> np.ndarray:
    """``(n_jets, n_constituents)`` bool: True for real constituents with E < 0 or E < |p|.

    ``constituents`` is ``(n_jets, n_constituents, 4)`` ``(E, px, py, pz)`` in GeV with
    all-zero rows as padding (never flagged). E may fall short of |p| by float32 rounding
    (:data:`REL_TOLERANCE` relative plus :data:`ABS_TOLERANCE_GEV`).
    """
    constituents = np.asarray(constituents)
    energy = constituents[..., 0].astype(np.float64)
    momentum = np.sqrt(np.einsum("...k,...k->...", constituents[..., 1:], constituents[..., 1:], dtype=np.float64))
    short = energy < momentum * (1.0 - REL_TOLERANCE) - ABS_TOLERANCE_GEV
    return padding_mask(constituents) & ((energy < 0.0) | short)


def _rows(mask: np.ndarray, offset: int) -> list[int]:
    return (np.flatnonzero(mask)[:N_EXAMPLES] + offset).tolist()


def find_problems(
    constituents: np.ndarray,
    labels: dict[str, np.ndarray] | None = None,
    offset: int = 0,
) -> list[Problem]:
    """Every defect of a chunk of jets, in the order the readers report them.

    Parameters
    ----------
    constituents:
        ``(n_jets, n_constituents, 4)`` ``(E, px, py, pz)`` in GeV, zero rows = padding.
    labels:
        Integer-valued columns read as float64 (``{"is_signal_new": (n_jets,), "ttv": ...}``).
    offset:
        File row of the chunk's first jet, for the example rows in messages.
    """
    problems: list[Problem] = []
    finite = np.isfinite(constituents).all(axis=(1, 2))
    if not finite.all():
        bad = ~finite
        rows = _rows(bad, offset)
        problems.append(
            Problem("non-finite", bad, f"NaN or inf momenta in {int(bad.sum())} jet(s), e.g. rows {rows}", rows=rows)
        )
    real = padding_mask(constituents)
    empty = ~real.any(axis=1)
    if empty.any():
        rows = _rows(empty, offset)
        problems.append(
            Problem("empty", empty, f"{int(empty.sum())} jet(s) have no constituents, e.g. rows {rows}", rows=rows)
        )
    with np.errstate(invalid="ignore"):
        unphysical = unphysical_constituents(np.where(finite[:, None, None], constituents, 0.0))
    bad_jets = unphysical.any(axis=1)
    if bad_jets.any():
        n_bad = int(unphysical.sum())
        rows = _rows(bad_jets, offset)
        problems.append(
            Problem(
                "unphysical",
                bad_jets,
                f"{n_bad} unphysical constituent(s) (negative energy or E < |p|) in {int(bad_jets.sum())} jet(s), "
                f"e.g. rows {rows}",
                n_constituents=n_bad,
                rows=rows,
            )
        )
    for name, values in (labels or {}).items():
        values = np.asarray(values, dtype=np.float64)
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(values) | (values != np.round(values))
        if bad.any():
            rows = _rows(bad, offset)
            problems.append(
                Problem(
                    "labels",
                    bad,
                    f"non-integer or NaN '{name}' in {int(bad.sum())} jet(s), e.g. rows {rows}",
                    rows=rows,
                )
            )
    return problems


def padding_report(constituents: np.ndarray) -> dict[str, int]:
    """Legal but notable structure, for ``jetae check``.

    Returns ``{"interior_padding": jets with an all-zero slot before a real one,
    "not_pt_ordered": jets whose real constituents are not in decreasing pT,
    "constituents": real constituents in total, "max_multiplicity": the largest count}``.
    """
    real = padding_mask(constituents)
    count = real.sum(axis=1)
    # A jet is packed when its real slots are exactly the first `count` slots.
    packed = (real == (np.arange(real.shape[1]) < count[:, None])).all(axis=1)
    transverse = np.hypot(constituents[..., 1], constituents[..., 2])
    transverse = np.where(real, transverse, -1.0)  # below any real pT
    ordered = (np.diff(transverse, axis=1) <= 1e-6 * np.abs(transverse[:, :-1]) + 1e-6) | ~real[:, 1:]
    return {
        "interior_padding": int((~packed).sum()),
        "not_pt_ordered": int((~ordered.all(axis=1)).sum()),
        "constituents": int(count.sum()),
        "max_multiplicity": int(count.max()) if len(count) else 0,
    }


def check_policy(on_unphysical: str) -> None:
    """Refuse an ``on_unphysical`` value that is not one of :data:`UNPHYSICAL_POLICIES`."""
    if on_unphysical not in UNPHYSICAL_POLICIES:
        raise JetaeError(f"on_unphysical must be one of {', '.join(UNPHYSICAL_POLICIES)}, got {on_unphysical!r}")


def resolve_problems(
    problems: list[Problem], path: str | os.PathLike, on_unphysical: str = "error"
) -> np.ndarray | None:
    """What a reader does with the problems of one chunk: raise, or drop unphysical jets.

    Every problem raises a :class:`JetaeError` naming ``path``, except unphysical constituents
    with ``on_unphysical="drop"``: then the jets holding them are dropped (logged with counts).
    Returns the ``(n_jets,)`` bool mask of jets to keep, or None to keep them all.
    """
    keep = None
    for problem in problems:
        if problem.kind == "unphysical" and on_unphysical == "drop":
            log.warning(
                "%s: dropped %d jet(s) with %d unphysical constituent(s), e.g. rows %s",
                path,
                int(problem.jets.sum()),
                problem.n_constituents,
                problem.rows,
            )
            keep = ~problem.jets
            continue
        hint = (
            " (pass on_unphysical='drop' / --drop-unphysical to drop those jets)"
            if problem.kind == "unphysical"
            else ""
        )
        raise JetaeError(problem.message + hint, path)
    return keep

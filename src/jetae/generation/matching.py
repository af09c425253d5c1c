"""Truth matching of generated jets: which hard particle (top, W, the card's particle) a jet came from.

In the default ``decay`` mode a signal jet must lie within ``Delta R < R`` of the last copy
of the matched particle and have all of that particle's coloured decay partons within ``R``
of its axis (``Delta R`` in pseudorapidity and azimuth). In ``axis`` mode (for signals that
are not a resonance decay, such as a dark quark's shower) the last copy's direction alone
must be within ``R``; decay products are not looked at. The partons are found by walking
Pythia's event record (:class:`jetae.generation.pythia.EventBatch`), following copies and
intermediate resonances; the kinematics are those of :mod:`jetae.features.kinematics`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jetae.features.kinematics import delta_r_eta_phi, eta, phi
from jetae.generation.pythia import EventBatch


def _daughters(batch: EventBatch, start: int, i: int) -> list[int]:
    """Event-local daughter indices of entry ``i`` (Pythia's daughter1/daughter2 convention)."""
    d1 = batch.daughter1.item(start + i)
    d2 = batch.daughter2.item(start + i)
    if d1 <= 0:
        return []
    if d2 == 0 or d2 == d1:
        return [d1]
    if d2 > d1:
        return list(range(d1, d2 + 1))
    return [d1, d2]


def _last_copy(batch: EventBatch, start: int, i: int) -> int:
    """Follow ``i`` down through its copies (recoils, radiation) to the copy that decays.

    Like Pythia's ``Particle::iBotCopyId``: step to the daughter with the same id while
    there is exactly one such daughter.
    """
    pid = batch.pid
    own = pid.item(start + i)
    for _ in range(1000):  # a guard, not a limit ever reached in practice
        same = [d for d in _daughters(batch, start, i) if pid.item(start + d) == own]
        if len(same) != 1:
            return i
        i = same[0]
    return i


def _is_quark(abs_id: int) -> bool:
    return 1 <= abs_id <= 5


def decay_partons(batch: EventBatch, start: int, i: int) -> list[int]:
    """Event-local indices of the coloured decay products of the (last copy) entry ``i``.

    Quarks (d..b) and gluons from the decay are kept; tops and other unstable resonances
    (W, Z, H, ...) are followed down through their own decays; leptons, photons and
    neutrinos are ignored. Momenta are those at the decay, before any showering.
    """
    found: list[int] = []
    todo = [i]
    for _ in range(100):  # a guard against malformed records
        if not todo:
            break
        mother = _last_copy(batch, start, todo.pop())
        for d in _daughters(batch, start, mother):
            abs_id = abs(batch.pid.item(start + d))
            if _is_quark(abs_id) or abs_id == 21:
                found.append(d)
            elif 11 <= abs_id <= 18 or abs_id == 22:
                continue  # leptons, neutrinos, photons
            elif _daughters(batch, start, _last_copy(batch, start, d)):
                todo.append(d)  # top, W, Z, H or a BSM particle that decays further
    return found


@dataclass
class TruthPartons:
    """Matching candidates of some events: the last copies of the matched particle and
    their coloured decay partons (flat, global entry indices into the batch)."""

    event: np.ndarray  # (m,) batch-local event of each parton, non-decreasing
    entry: np.ndarray  # (m,) entry of the parton (last copy before decay)
    daughter_owner: np.ndarray  # (k,) parton index of each decay parton, non-decreasing
    daughter_entry: np.ndarray  # (k,) entry of each decay parton


def truth_partons(batch: EventBatch, events: np.ndarray, match_id: int, mode: str = "decay") -> TruthPartons:
    """Every last copy of a particle with ``abs(id) == match_id`` in ``events`` (sorted) that
    has coloured decay products, with those products (``mode="decay"``); with ``mode="axis"``
    every last copy, without decay products."""
    if mode not in ("decay", "axis"):
        raise ValueError(f"unknown match mode {mode!r}")
    event_of, entry_of, owner, daughters = [], [], [], []
    for event in events.tolist():
        start, stop = int(batch.offsets[event]), int(batch.offsets[event + 1])
        ids = batch.pid[start:stop]
        found = np.flatnonzero(np.abs(ids) == match_id)
        # walk each chain of copies once, from its first copy (mother of another id)
        first = found[ids[batch.mother1[start + found]] != ids[found]]
        for i in first.tolist():
            last = _last_copy(batch, start, i)
            partons = decay_partons(batch, start, last) if mode == "decay" else []
            if partons or mode == "axis":
                owner.extend([len(entry_of)] * len(partons))
                daughters.extend(start + d for d in partons)
                event_of.append(event)
                entry_of.append(start + last)
    as_int = lambda values: np.asarray(values, dtype=np.int64)  # noqa: E731
    return TruthPartons(as_int(event_of), as_int(entry_of), as_int(owner), as_int(daughters))


def count_decays(batch: EventBatch, match_id: int) -> tuple[int, int]:
    """``(particles, with coloured products)``: last copies of ``abs(id) == match_id`` in the whole
    batch, and how many of them decay to quarks or gluons (directly or through resonances).

    Tells a card whose matched particle never appears (a wrong id) or never decays to coloured
    partons (leptons, taus, invisible states: the ``decay`` rule cannot match) from a rare one.
    """
    events = np.arange(batch.n_events)
    # the decay rule's candidates are exactly the last copies that have coloured decay partons
    every = truth_partons(batch, events, match_id, mode="axis")
    coloured = truth_partons(batch, events, match_id, mode="decay")
    return len(every.entry), len(coloured.entry)


def match_jets(
    batch: EventBatch,
    jet_p4: np.ndarray,
    jet_event: np.ndarray,
    match_id: int,
    radius: float,
    mode: str = "decay",
) -> tuple[np.ndarray, np.ndarray]:
    """Truth-match jets: ``(matched mask (n,), truth p4 (n, 4))``.

    A jet matches a parton of its event when ``Delta R(jet, parton) < radius`` and (``mode=
    "decay"``) every decay parton is within ``radius`` of the jet axis, or (``mode="axis"``)
    with no condition on decay products; the closest such parton is its truth.
    """
    n = len(jet_p4)
    matched = np.zeros(n, dtype=bool)
    truth = np.zeros((n, 4), dtype=np.float64)
    if not n:
        return matched, truth
    partons = truth_partons(batch, np.unique(jet_event), match_id, mode)
    if not len(partons.entry):
        return matched, truth
    # all (jet, parton of the same event) pairs
    lo = np.searchsorted(partons.event, jet_event, side="left")
    hi = np.searchsorted(partons.event, jet_event, side="right")
    per_jet = hi - lo
    pair_jet = np.repeat(np.arange(n), per_jet)
    pair_parton = np.repeat(lo, per_jet) + np.arange(per_jet.sum()) - np.repeat(np.cumsum(per_jet) - per_jet, per_jet)
    if not len(pair_jet):
        return matched, truth
    jet_eta, jet_phi = eta(jet_p4), phi(jet_p4)
    parton_p4 = batch.momenta(partons.entry)
    parton_eta, parton_phi = eta(parton_p4), phi(parton_p4)
    to_parton = delta_r_eta_phi(jet_eta[pair_jet], jet_phi[pair_jet], parton_eta[pair_parton], parton_phi[pair_parton])
    # the farthest decay parton of each pair
    n_daughters = np.bincount(partons.daughter_owner, minlength=len(partons.entry))
    first_daughter = np.cumsum(n_daughters) - n_daughters
    per_pair = n_daughters[pair_parton]
    owner_pair = np.repeat(np.arange(len(pair_jet)), per_pair)
    daughter = (
        np.repeat(first_daughter[pair_parton], per_pair)
        + np.arange(per_pair.sum())
        - np.repeat(np.cumsum(per_pair) - per_pair, per_pair)
    )
    daughter_p4 = batch.momenta(partons.daughter_entry[daughter])
    to_daughter = delta_r_eta_phi(
        jet_eta[pair_jet[owner_pair]], jet_phi[pair_jet[owner_pair]], eta(daughter_p4), phi(daughter_p4)
    )
    farthest = np.zeros(len(pair_jet))  # 0 where a candidate has no decay partons (axis mode)
    np.maximum.at(farthest, owner_pair, to_daughter)
    good = np.flatnonzero((to_parton < radius) & (farthest < radius))
    # closest good parton per jet: sort by (jet, distance), keep the first of each jet
    good = good[np.lexsort((to_parton[good], pair_jet[good]))]
    first = np.ones(len(good), dtype=bool)
    first[1:] = pair_jet[good][1:] != pair_jet[good][:-1]
    best = good[first]
    matched[pair_jet[best]] = True
    truth[pair_jet[best]] = batch.momenta(partons.entry[pair_parton[best]])
    return matched, truth

"""From a batch of Pythia events to the jets in the window: select, cluster, match, pack.

:func:`find_jets` is the per-batch step of every shard: the visible final-state particles
of an :class:`~jetae.generation.pythia.EventBatch` are clustered with FastJet
(:mod:`jetae.generation.clustering`, regionally by default: :mod:`jetae.generation.regional`),
the jets in the window are truth-matched for signal processes
(:mod:`jetae.generation.matching`) and their constituents packed, hardest first.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from jetae.features.kinematics import pt, rapidity_fastjet
from jetae.generation.clustering import (
    JetWindow,
    cluster,
    event_of,
    in_window,
    pack_constituents,
    visible_final_state,
)
from jetae.generation.matching import match_jets
from jetae.generation.pythia import EventBatch
from jetae.generation.regional import REGIONAL_MIN_PT_FACTOR, SKELETON_PT, regional_jets


@dataclass
class BatchJets:
    """Jets found in one batch, in event order then FastJet order.

    ``constituents`` is ``(n, max_constituents, 4)`` float32 ``(E, px, py, pz)``, hardest
    first, zero padded; ``truth`` ``(n, 4)`` float32 (zeros when unmatched);
    ``event`` the batch-local event index of each jet; ``window_event`` the event index of
    every jet in the window before truth matching (to measure the matching efficiency).
    """

    constituents: np.ndarray
    truth: np.ndarray
    event: np.ndarray
    window_event: np.ndarray

    def __len__(self) -> int:
        return len(self.event)

    @property
    def n_in_window(self) -> int:
        """Jets in the window before truth matching."""
        return len(self.window_event)


def find_jets(
    batch: EventBatch,
    visible,
    window: JetWindow,
    match_id: int | None,
    timings: dict[str, float] | None = None,
    regional: bool = True,
    stats: dict[str, int] | None = None,
    match_mode: str = "decay",
) -> BatchJets:
    """All jets in the window from a batch of events; for signal, only truth-matched ones.

    A signal jet must lie within ``Delta R < window.radius`` of the matched particle (last
    copy before decay) and, with ``match_mode="decay"`` (default), have all of its coloured
    decay partons within the same distance of the jet axis (``Delta R`` in (pseudorapidity,
    phi)); ``match_mode="axis"`` asks for the particle alone. The matched particle's
    four-momentum becomes the jet's truth; for background the truth is zero.

    ``regional=True`` (default) clusters only around candidate jets (:mod:`jetae.generation.regional`); ``False``
    clusters every event in full. Both give the same jets.
    ``timings``, if given, accumulates CPU seconds spent per stage (``select``, ``regions``,
    ``cluster``, ``match``, ``pack``) for the benchmark; ``stats`` counts events and
    particles clustered.
    """
    clock = time.process_time  # CPU time: other jobs on the machine disturb it less
    t0 = clock()
    selected = visible_final_state(batch, visible)
    event = event_of(batch.offsets, selected)
    p4 = batch.momenta(selected)
    t1 = clock()
    if timings is not None:
        timings["select"] = timings.get("select", 0.0) + t1 - t0
    if regional and window.pt_min >= REGIONAL_MIN_PT_FACTOR * SKELETON_PT:
        pt_ = pt(p4)
        y = rapidity_fastjet(p4[:, 0], p4[:, 3])
        jet_p4, jet_event, const_offsets, const_index = regional_jets(
            p4, pt_, y, event, batch.n_events, window, timings, stats
        )
        chosen = np.arange(len(jet_p4))
    else:
        counts = np.bincount(event, minlength=batch.n_events)
        jet_p4, jet_event, const_offsets, const_index = cluster(p4, counts, window)
        chosen = in_window(jet_p4, window)
        if timings is not None:
            timings["cluster"] = timings.get("cluster", 0.0) + clock() - t1
    t2 = clock()
    window_event = jet_event[chosen]
    truth = np.zeros((len(chosen), 4), dtype=np.float64)
    if match_id is not None:
        matched, truth = match_jets(batch, jet_p4[chosen], window_event, match_id, window.radius, match_mode)
        chosen, truth = chosen[matched], truth[matched]
    t3 = clock()
    constituents = pack_constituents(p4, const_offsets, const_index, chosen, window.max_constituents)
    if timings is not None:
        timings["match"] = timings.get("match", 0.0) + t3 - t2
        timings["pack"] = timings.get("pack", 0.0) + clock() - t3
    return BatchJets(
        constituents=constituents,
        truth=truth.astype(np.float32),
        event=jet_event[chosen],
        window_event=window_event,
    )

"""FastJet anti-kT clustering of many events at once, the jet window, and packing constituents.

Everything here works on flat numpy columns (the particles of all events one after the
other, with per-event counts); FastJet (Scikit-HEP ``fastjet``, the real FastJet) clusters
all events of a batch in one C++ call through its multi-event interface.
:mod:`jetae.generation.regional` clusters only around candidate jets with the same tools,
and :func:`jetae.generation.jet_finding.find_jets` puts the steps together.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import awkward as ak
import fastjet
import numpy as np

from jetae.features.cpp_output import capture_stdout, stdout_to_stderr
from jetae.features.kinematics import eta, pt
from jetae.generation.pythia import EventBatch

try:  # the C++ engine behind fastjet.ClusterSequence on Awkward arrays: private API, other versions may lack it
    from fastjet._ext import interfacemulti as _INTERFACE_MULTI
except ImportError:  # pragma: no cover - other fastjet versions
    _INTERFACE_MULTI = None

log = logging.getLogger(__name__)

#: FastJet prints a citation banner on first use. It goes to stderr (once per process) when
#: jetae logs at INFO level, and is dropped when quiet or in pool workers ("discard"), so
#: that 16 workers do not print 16 banners. Never to stdout, which holds the CLI's results.
BANNER = {"shown": False, "mode": "stderr"}

#: Set to False to always use fastjet's public Awkward interface (same results, slower).
USE_NUMPY_ENGINE = True


@dataclass(frozen=True)
class JetWindow:
    """Jet definition and selection: anti-kT ``radius``, ``pt_min < pT < pt_max`` (GeV),
    ``|eta| < eta_max``, at most ``max_constituents`` constituents kept (hardest first)."""

    pt_min: float = 550.0
    pt_max: float = 650.0
    eta_max: float = 2.0
    radius: float = 0.8
    max_constituents: int = 200


def event_of(offsets: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Event number of flat entries ``index`` given the ``(n_events + 1,)`` event ``offsets``."""
    return np.searchsorted(offsets, index, side="right") - 1


def visible_final_state(batch: EventBatch, visible) -> np.ndarray:
    """Flat indices of the visible final-state particles (``isFinal() and isVisible()``)."""
    final = np.flatnonzero(batch.status > 0)
    return final[visible(batch.pid[final])]


_JET_DEFINITIONS: dict[float, object] = {}


def _jet_definition(radius: float):
    """FastJet's anti-kT definition with E-scheme recombination and the Best strategy (cached)."""
    key = float(radius)
    if key not in _JET_DEFINITIONS:
        _JET_DEFINITIONS[key] = fastjet.JetDefinition(fastjet.antikt_algorithm, key)
    return _JET_DEFINITIONS[key]


class Clustering:
    """FastJet's anti-kT clustering of many events in one C++ call.

    Fed numpy columns straight into the engine behind ``fastjet.ClusterSequence`` on
    Awkward arrays, which saves building Awkward arrays for every batch; with another fastjet
    version (or ``USE_NUMPY_ENGINE = False``) it goes through that public interface.

    Parameters
    ----------
    p4:
        ``(n_particles, 4)`` float64 ``(E, px, py, pz)`` GeV, events one after the other.
    counts:
        ``(n_events,)`` number of particles of each event.
    radius:
        The anti-kT radius R.
    """

    def __init__(self, p4: np.ndarray, counts: np.ndarray, radius: float):
        self.n_events = len(counts)
        self.offsets = np.zeros(self.n_events + 1, dtype=np.int64)
        np.cumsum(counts, out=self.offsets[1:])
        self._result = self._sequence = None
        if self.offsets[-1] == 0:
            return
        engine = _INTERFACE_MULTI if USE_NUMPY_ENGINE else None
        if engine is not None:
            columns = [np.ascontiguousarray(p4[:, k], dtype=np.float64) for k in (1, 2, 3, 0)]

            def run():
                self._result = engine(
                    *columns, self.offsets[:-1].copy(), self.offsets[1:].copy(), _jet_definition(radius)
                )
        else:
            particles = ak.unflatten(
                ak.zip({"px": p4[:, 1], "py": p4[:, 2], "pz": p4[:, 3], "E": p4[:, 0]}, with_name="Momentum4D"),
                np.asarray(counts),
            )

            def run():
                self._sequence = fastjet.ClusterSequence(particles, _jet_definition(radius))

        if BANNER["shown"]:
            run()
        else:
            show = BANNER["mode"] == "stderr" and log.isEnabledFor(logging.INFO)
            with stdout_to_stderr() if show else capture_stdout():
                run()
            BANNER["shown"] = True

    def jets(self, pt_min: float) -> tuple[np.ndarray, np.ndarray]:
        """``(n_jets, 4)`` ``(E, px, py, pz)`` of the jets with ``pT >= pt_min`` and their event
        numbers, in event order and, within an event, FastJet's ``inclusive_jets`` order."""
        if self._result is not None:
            px, py, pz, e, offsets = self._result.to_numpy(float(pt_min))
            per_event = np.diff(np.asarray(offsets, dtype=np.int64))
        elif self._sequence is not None:
            jets = self._sequence.inclusive_jets(float(pt_min))
            per_event = np.asarray(ak.num(jets, axis=1), dtype=np.int64)
            flat = ak.flatten(jets, axis=1)
            px, py, pz, e = (np.asarray(flat[c], dtype=np.float64) for c in ("px", "py", "pz", "E"))
        else:
            return np.zeros((0, 4)), np.zeros(0, dtype=np.int64)
        jet_p4 = np.stack([e, px, py, pz], axis=1).astype(np.float64, copy=False).reshape(-1, 4)
        return jet_p4, np.repeat(np.arange(self.n_events), per_event)

    def constituents(self, pt_min: float, jet_event: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(const_offsets, const_index)`` of the jets of :meth:`jets` (same ``pt_min``): the
        constituents of jet ``j`` are ``const_index[const_offsets[j]:const_offsets[j + 1]]``,
        indices into the clustered particles (global, not event-local)."""
        if self._result is not None:
            jet_offsets, local, _ = self._result.to_numpy_with_constituents(float(pt_min))
            jet_offsets = np.asarray(jet_offsets, dtype=np.int64)
            local = np.asarray(local[jet_offsets[0] : jet_offsets[-1]], dtype=np.int64)
        elif self._sequence is not None:
            per_jet = ak.flatten(self._sequence.constituent_index(float(pt_min)), axis=1)
            per_jet = per_jet.layout.to_ListOffsetArray64(True)
            jet_offsets = np.asarray(per_jet.offsets.data, dtype=np.int64)
            local = np.asarray(ak.flatten(ak.Array(per_jet), axis=1), dtype=np.int64)
        else:
            return np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int64)
        jet_offsets = jet_offsets - jet_offsets[0]
        return jet_offsets, local + np.repeat(self.offsets[jet_event], np.diff(jet_offsets))


def cluster(
    p4: np.ndarray, counts: np.ndarray, window: JetWindow
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Anti-kT cluster many events at once with FastJet; keep jets with ``pT >= window.pt_min``.

    Parameters
    ----------
    p4:
        ``(n_particles, 4)`` float64 ``(E, px, py, pz)`` GeV, events one after the other.
    counts:
        ``(n_events,)`` number of particles of each event.

    Returns
    -------
    jet_p4, jet_event, const_offsets, const_index:
        ``(n_jets, 4)`` jet four-momenta, ``(n_jets,)`` event number of each jet, and the
        constituents of jet ``j`` as ``const_index[const_offsets[j]:const_offsets[j + 1]]``,
        indices into ``p4`` (global, not event-local).
    """
    clustering = Clustering(p4, counts, window.radius)
    jet_p4, jet_event = clustering.jets(window.pt_min)
    const_offsets, const_index = clustering.constituents(window.pt_min, jet_event)
    return jet_p4, jet_event, const_offsets, const_index


def in_window(jet_p4: np.ndarray, window: JetWindow) -> np.ndarray:
    """Indices of the ``(n_jets, 4)`` jets inside the window's pT (GeV) and pseudorapidity range."""
    jet_pt = pt(jet_p4)
    return np.flatnonzero((jet_pt > window.pt_min) & (jet_pt < window.pt_max) & (np.abs(eta(jet_p4)) < window.eta_max))


def pack_constituents(
    p4: np.ndarray, const_offsets: np.ndarray, const_index: np.ndarray, jets: np.ndarray, max_constituents: int
) -> np.ndarray:
    """``(len(jets), max_constituents, 4)`` float32 constituents of the selected ``jets``,
    ordered by decreasing pT, truncated and zero padded.

    ``p4``, ``const_offsets`` and ``const_index`` as returned with :func:`cluster`;
    ``jets`` indexes its jets.
    """
    sizes = const_offsets[jets + 1] - const_offsets[jets]
    out = np.zeros((len(jets), max_constituents, 4), dtype=np.float32)
    if len(jets) == 0:
        return out
    owner = np.repeat(np.arange(len(jets)), sizes)
    starts = np.repeat(const_offsets[jets], sizes)
    within = np.arange(len(owner)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    members = const_index[starts + within]
    momenta = p4[members]
    # hardest first inside each jet; lexsort is stable, so ties keep FastJet's order
    order = np.lexsort((-pt(momenta), owner))
    owner, momenta = owner[order], momenta[order]
    rank = np.arange(len(owner)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    keep = rank < max_constituents
    out[owner[keep], rank[keep]] = momenta[keep]
    return out

"""From a batch of Pythia events to jets in the window: FastJet clustering and truth matching.

Everything here works on the flat columns of :class:`jetae.data.gen_pythia.EventBatch`
with numpy; FastJet (Scikit-HEP ``fastjet``, the real FastJet) clusters all events of a
batch in one C++ call through its multi-event interface.

FastJet's anti-kT costs about 1 us per particle, mostly in the dense cores of hard jets,
so it is the largest part of jetae's overhead over Pythia. :func:`find_jets` therefore
clusters *regionally* by default (``regional=True``):

1. a *skeleton*: anti-kT (same R) of the visible particles with pT > ``SKELETON_PT``
   (about 45 of 300 per event, ~15 % of the full cost);
2. *candidates*: skeleton jets that could be the hard core of a jet in the window
   (rapidity, and an upper bound on the full jet's pT, the scalar pT sum within ``1.5 R``
   of the skeleton axis, reaching the window's lower edge); events without one are not
   clustered at all;
3. FastJet clusters, per event, only the particles within ``3 R`` of a candidate axis;
   jets in the window must lie within ``0.625 R`` of a candidate, and an event whose
   jet has a constituent farther than ``1.5 R`` from its axis is clustered in full.

This gives the same jets (constituents, order, truth, window counts) as clustering every
event in full (``regional=False``): an argument about anti-kT plus checks on 10^4 events
per process and in the tests; see docs/generation.md ("Speed").
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from jetae.data.gen_pythia import EventBatch, capture_stdout, stdout_to_stderr
from jetae.features.kinematics import eta, pt

log = logging.getLogger(__name__)

#: FastJet prints a citation banner on first use. It goes to stderr (once per process) when
#: jetae logs at INFO level, and is dropped when quiet or in pool workers ("discard"), so
#: that 16 workers do not print 16 banners. Never to stdout, which holds the CLI's results.
BANNER = {"shown": False, "mode": "stderr"}


@dataclass(frozen=True)
class JetWindow:
    """Jet definition and selection: anti-kT ``radius``, ``pt_min < pT < pt_max`` (GeV),
    ``|eta| < eta_max``, at most ``max_constituents`` constituents kept (hardest first)."""

    pt_min: float = 550.0
    pt_max: float = 650.0
    eta_max: float = 2.0
    radius: float = 0.8
    max_constituents: int = 200


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


def _event_of(offsets: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Event number of flat entries ``index`` given ``offsets``."""
    return np.searchsorted(offsets, index, side="right") - 1


def visible_final_state(batch: EventBatch, visible) -> np.ndarray:
    """Flat indices of the visible final-state particles (``isFinal() and isVisible()``)."""
    final = np.flatnonzero(batch.status > 0)
    return final[visible(batch.pid[final])]


_JET_DEFINITIONS: dict[float, object] = {}


def _jet_definition(radius: float):
    """FastJet's anti-kT definition with E-scheme recombination and the Best strategy (cached)."""
    import fastjet

    key = float(radius)
    if key not in _JET_DEFINITIONS:
        _JET_DEFINITIONS[key] = fastjet.JetDefinition(fastjet.antikt_algorithm, key)
    return _JET_DEFINITIONS[key]


def _multi_event_engine():
    """``fastjet._ext.interfacemulti``, the C++ engine behind ``fastjet.ClusterSequence`` on
    Awkward arrays, or ``None`` if this fastjet version does not have it (private API)."""
    try:
        import fastjet._ext

        return fastjet._ext.interfacemulti
    except (ImportError, AttributeError):  # pragma: no cover - other fastjet versions
        return None


#: Set to False to always use fastjet's public Awkward interface (same results, slower).
USE_NUMPY_ENGINE = True


class _Clustering:
    """FastJet's clustering of many events in one C++ call.

    Fed numpy columns straight into the engine behind ``fastjet.ClusterSequence`` on
    Awkward arrays, which saves building Awkward arrays for every batch; with another fastjet
    version (or ``USE_NUMPY_ENGINE = False``) it goes through that public interface.
    """

    def __init__(self, p4: np.ndarray, counts: np.ndarray, radius: float):
        self.n_events = len(counts)
        self.offsets = np.zeros(self.n_events + 1, dtype=np.int64)
        np.cumsum(counts, out=self.offsets[1:])
        self._result = self._sequence = None
        if self.offsets[-1] == 0:
            return
        engine = _multi_event_engine() if USE_NUMPY_ENGINE else None
        if engine is not None:
            columns = [np.ascontiguousarray(p4[:, k], dtype=np.float64) for k in (1, 2, 3, 0)]

            def run():
                self._result = engine(*columns, self.offsets[:-1].copy(), self.offsets[1:].copy(),
                                      _jet_definition(radius))
        else:
            import awkward as ak
            import fastjet

            particles = ak.unflatten(ak.zip({"px": p4[:, 1], "py": p4[:, 2], "pz": p4[:, 3], "E": p4[:, 0]},
                                            with_name="Momentum4D"), np.asarray(counts))

            def run():
                self._sequence = fastjet.ClusterSequence(particles, _jet_definition(radius))

        if BANNER["shown"]:
            run()
        else:
            show = BANNER["mode"] == "stderr" and log.isEnabledFor(logging.INFO)
            with (stdout_to_stderr() if show else capture_stdout()):
                run()
            BANNER["shown"] = True

    def jets(self, pt_min: float) -> tuple[np.ndarray, np.ndarray]:
        """``(n_jets, 4)`` ``(E, px, py, pz)`` of the jets with ``pT >= pt_min`` and their event
        numbers, in event order and, within an event, FastJet's ``inclusive_jets`` order."""
        if self._result is not None:
            px, py, pz, e, offsets = self._result.to_numpy(float(pt_min))
            per_event = np.diff(np.asarray(offsets, dtype=np.int64))
        elif self._sequence is not None:
            import awkward as ak

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
            local = np.asarray(local[jet_offsets[0]:jet_offsets[-1]], dtype=np.int64)
        elif self._sequence is not None:
            import awkward as ak

            per_jet = ak.flatten(self._sequence.constituent_index(float(pt_min)), axis=1)
            per_jet = per_jet.layout.to_ListOffsetArray64(True)
            jet_offsets = np.asarray(per_jet.offsets.data, dtype=np.int64)
            local = np.asarray(ak.flatten(ak.Array(per_jet), axis=1), dtype=np.int64)
        else:
            return np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int64)
        jet_offsets = jet_offsets - jet_offsets[0]
        return jet_offsets, local + np.repeat(self.offsets[jet_event], np.diff(jet_offsets))


def cluster(p4: np.ndarray, counts: np.ndarray, window: JetWindow) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
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
    clustering = _Clustering(p4, counts, window.radius)
    jet_p4, jet_event = clustering.jets(window.pt_min)
    const_offsets, const_index = clustering.constituents(window.pt_min, jet_event)
    return jet_p4, jet_event, const_offsets, const_index


def pack_constituents(p4: np.ndarray, const_offsets: np.ndarray, const_index: np.ndarray,
                      jets: np.ndarray, max_constituents: int) -> np.ndarray:
    """``(len(jets), max_constituents, 4)`` float32 constituents of the selected ``jets``,
    ordered by decreasing pT, truncated and zero padded."""
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


# --- truth matching -------------------------------------------------------------------------


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


def truth_partons(batch: EventBatch, events: np.ndarray, match_id: int) -> TruthPartons:
    """Every last copy of a particle with ``abs(id) == match_id`` in ``events`` (sorted) that
    has coloured decay products, with those products."""
    event_of, entry_of, owner, daughters = [], [], [], []
    for event in events.tolist():
        start, stop = int(batch.offsets[event]), int(batch.offsets[event + 1])
        ids = batch.pid[start:stop]
        found = np.flatnonzero(np.abs(ids) == match_id)
        # walk each chain of copies once, from its first copy (mother of another id)
        first = found[ids[batch.mother1[start + found]] != ids[found]]
        for i in first.tolist():
            last = _last_copy(batch, start, i)
            partons = decay_partons(batch, start, last)
            if partons:
                owner.extend([len(entry_of)] * len(partons))
                daughters.extend(start + d for d in partons)
                event_of.append(event)
                entry_of.append(start + last)
    as_int = lambda values: np.asarray(values, dtype=np.int64)  # noqa: E731
    return TruthPartons(as_int(event_of), as_int(entry_of), as_int(owner), as_int(daughters))


def _eta_phi(p4: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return eta(p4), np.arctan2(p4[..., 2], p4[..., 1])


def _delta_r(eta_a, phi_a, eta_b, phi_b):
    dphi = (phi_a - phi_b + np.pi) % (2.0 * np.pi) - np.pi
    return np.hypot(eta_a - eta_b, dphi)


def match_jets(batch: EventBatch, jet_p4: np.ndarray, jet_event: np.ndarray, match_id: int,
               radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Truth-match jets: ``(matched mask (n,), truth p4 (n, 4))``.

    A jet matches a parton of its event when ``Delta R(jet, parton) < radius`` and every
    decay parton is within ``radius`` of the jet axis; the closest such parton is its truth.
    """
    n = len(jet_p4)
    matched = np.zeros(n, dtype=bool)
    truth = np.zeros((n, 4), dtype=np.float64)
    if not n:
        return matched, truth
    partons = truth_partons(batch, np.unique(jet_event), match_id)
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
    jet_eta, jet_phi = _eta_phi(jet_p4)
    parton_eta, parton_phi = _eta_phi(batch.momenta(partons.entry))
    to_parton = _delta_r(jet_eta[pair_jet], jet_phi[pair_jet], parton_eta[pair_parton], parton_phi[pair_parton])
    # the farthest decay parton of each pair
    n_daughters = np.bincount(partons.daughter_owner, minlength=len(partons.entry))
    first_daughter = np.cumsum(n_daughters) - n_daughters
    per_pair = n_daughters[pair_parton]
    owner_pair = np.repeat(np.arange(len(pair_jet)), per_pair)
    daughter = np.repeat(first_daughter[pair_parton], per_pair) + np.arange(per_pair.sum()) \
        - np.repeat(np.cumsum(per_pair) - per_pair, per_pair)
    d_eta, d_phi = _eta_phi(batch.momenta(partons.daughter_entry[daughter]))
    to_daughter = _delta_r(jet_eta[pair_jet[owner_pair]], jet_phi[pair_jet[owner_pair]], d_eta, d_phi)
    farthest = np.zeros(len(pair_jet))
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


# --- regional clustering ---------------------------------------------------------------------

#: Particles of the skeleton clustering: pT above this (GeV).
SKELETON_PT = 5.0
#: Regional clustering needs the window's lower edge well above the skeleton's particles;
#: below ``SKELETON_PT * REGIONAL_MIN_PT_FACTOR`` every event is clustered in full.
REGIONAL_MIN_PT_FACTOR = 20.0
#: Skeleton jets considered as candidates: pT above this fraction of the window's lower edge
#: (the skeleton of a window jet measured at >= 0.39 of the jet's pT).
SKELETON_JET_FRACTION = 0.25
# No upper cut on a candidate's skeleton pT: the skeleton can merge hard particles that the
# full clustering gives to a neighbouring jet (seen: a 740 GeV skeleton jet around a 567 GeV
# window jet), so a skeleton jet above the window can still be the core of a jet in it.
#: Distances in units of the jet radius R: candidate rapidity margin beyond eta_max, radius
#: of the pT sum that bounds the jet's pT, radius of the clustered region, how close a window
#: jet must be to a candidate, and the constituent spread that triggers a full clustering.
RAPIDITY_MARGIN_R = 0.75
SUM_RADIUS_R = 1.5
REGION_RADIUS_R = 3.0
ACCEPT_RADIUS_R = 0.625
CONTAIN_RADIUS_R = 1.5
#: The pT sum within ``SUM_RADIUS_R`` must reach this fraction of the window's lower edge.
SUM_FACTOR = 0.97
#: Grid cell (in rapidity and azimuth, units of R) of the pT sums and region masks.
CELL_R = 0.25

_FAR = 1.0e5  # rapidity of a particle exactly along the beam (FastJet uses 1e5 too)


def _rapidity(e: np.ndarray, pz: np.ndarray) -> np.ndarray:
    """Rapidity ``0.5 ln((E + pz) / (E - pz))``; +-1e5 along the beam."""
    with np.errstate(divide="ignore", invalid="ignore"):
        y = 0.5 * np.log((e + pz) / (e - pz))
    return np.nan_to_num(y, nan=_FAR, posinf=_FAR, neginf=-_FAR)


def _wrap(dphi: np.ndarray) -> np.ndarray:
    return (dphi + np.pi) % (2.0 * np.pi) - np.pi


def _ranges(starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(start, start + size)`` for each pair (vectorised)."""
    return np.repeat(starts - np.cumsum(sizes) + sizes, sizes) + np.arange(int(sizes.sum()))


def _stencil(radius: float, cell_y: float, cell_phi: float) -> tuple[np.ndarray, np.ndarray]:
    """Cell offsets ``(di, dj)`` of every cell that may hold a point within ``radius`` of a
    point in the centre cell (nearest-point distance between the cells; a superset)."""
    k_y, k_phi = int(np.ceil(radius / cell_y)) + 1, int(np.ceil(radius / cell_phi)) + 1
    di, dj = np.meshgrid(np.arange(-k_y, k_y + 1), np.arange(-k_phi, k_phi + 1), indexing="ij")
    gap_y = np.maximum(np.abs(di) - 1, 0) * cell_y
    gap_phi = np.maximum(np.abs(dj) - 1, 0) * cell_phi
    near = gap_y ** 2 + gap_phi ** 2 < radius ** 2
    return di[near], dj[near]


@dataclass
class _Regions:
    """Result of :func:`_select_regions`: ``keep`` (sorted indices of the particles to cluster)
    and the candidate axes ``(event, y, phi)``, sorted by event."""

    keep: np.ndarray
    event: np.ndarray
    y: np.ndarray
    phi: np.ndarray
    n_skeleton: int


def _select_regions(p4: np.ndarray, pt_: np.ndarray, y: np.ndarray, event: np.ndarray, n_events: int,
                    window: JetWindow) -> _Regions:
    """Skeleton clustering, candidate jets and the particles around them (see the module doc).

    ``p4`` ``(n, 4)``, ``pt_`` and ``y`` ``(n,)`` describe the visible final-state particles of
    the batch, ``event`` ``(n,)`` their event numbers (non-decreasing).
    """
    radius = window.radius
    # 1. skeleton: anti-kT of the hard particles
    y_seed = window.eta_max + RAPIDITY_MARGIN_R * radius
    hard = np.flatnonzero((pt_ > SKELETON_PT) & (np.abs(y) < y_seed + radius))
    skeleton = _Clustering(p4[hard], np.bincount(event[hard], minlength=n_events), radius)
    seed_p4, seed_event = skeleton.jets(SKELETON_JET_FRACTION * window.pt_min)
    seed_y = _rapidity(seed_p4[:, 0], seed_p4[:, 3])
    ok = np.abs(seed_y) < y_seed
    seed_event, seed_y = seed_event[ok], seed_y[ok]
    seed_phi = np.arctan2(seed_p4[ok, 2], seed_p4[ok, 1])
    # 2. scalar pT per (event, rapidity cell, azimuth cell), out to the region's reach
    y_reach = y_seed + REGION_RADIUS_R * radius
    cell_y = CELL_R * radius
    n_y = int(np.ceil(2.0 * y_reach / cell_y))
    n_phi = max(int(2.0 * np.pi / (CELL_R * radius)), 1)
    cell_phi = 2.0 * np.pi / n_phi
    inside = np.flatnonzero(np.abs(y) < y_reach)
    iy = np.minimum(((y[inside] + y_reach) / cell_y).astype(np.int64), n_y - 1)
    iphi = np.minimum(((np.arctan2(p4[inside, 2], p4[inside, 1]) + np.pi) / cell_phi).astype(np.int64), n_phi - 1)
    cell = (event[inside] * n_y + iy) * n_phi + iphi
    grid = np.bincount(cell, weights=pt_[inside], minlength=n_events * n_y * n_phi)

    def cells_near(ev, cy, cphi, reach):
        """Flat cell numbers near each axis, ``(n_axes, n_offsets)``, and which are real."""
        di, dj = _stencil(reach, cell_y, cell_phi)
        if len(dj) and np.ptp(dj) >= n_phi:  # the stencil wraps all the way around in phi
            di, dj = np.unique(np.stack([di, dj % n_phi]), axis=1)
        sy = np.minimum(((cy + y_reach) / cell_y).astype(np.int64), n_y - 1)[:, None] + di[None, :]
        sphi = (np.minimum(((cphi + np.pi) / cell_phi).astype(np.int64), n_phi - 1)[:, None] + dj[None, :]) % n_phi
        real = (sy >= 0) & (sy < n_y)
        return (ev[:, None] * n_y + np.clip(sy, 0, n_y - 1)) * n_phi + sphi, real

    # 3. upper bound on the jet's pT: scalar sum within SUM_RADIUS_R * R of the skeleton axis
    near, real = cells_near(seed_event, seed_y, seed_phi, SUM_RADIUS_R * radius)
    bound = np.where(real, grid[near], 0.0).sum(axis=1) if len(seed_event) else np.zeros(0)
    passing = bound >= SUM_FACTOR * window.pt_min
    seed_event, seed_y, seed_phi = seed_event[passing], seed_y[passing], seed_phi[passing]
    # 4. the particles within REGION_RADIUS_R * R of a candidate axis
    near, real = cells_near(seed_event, seed_y, seed_phi, REGION_RADIUS_R * radius)
    marked = np.zeros(n_events * n_y * n_phi, dtype=bool)
    marked[near[real]] = True
    return _Regions(keep=inside[marked[cell]], event=seed_event, y=seed_y, phi=seed_phi, n_skeleton=len(hard))


def _regional_jets(p4: np.ndarray, pt_: np.ndarray, y: np.ndarray, event: np.ndarray, n_events: int,
                   window: JetWindow, timings: dict[str, float] | None, stats: dict[str, int] | None):
    """Jets in the window via regional clustering: ``(jet_p4, jet_event, const_offsets, const_index)``
    of the window jets only, as :func:`cluster` would give them for the full events."""
    clock = time.process_time
    t0 = clock()
    regions = _select_regions(p4, pt_, y, event, n_events, window)
    keep = regions.keep
    t1 = clock()
    clustering = _Clustering(p4[keep], np.bincount(event[keep], minlength=n_events), window.radius)
    jet_p4, jet_event = clustering.jets(window.pt_min)
    const_offsets, const_index = clustering.constituents(window.pt_min, jet_event)
    const_index = keep[const_index]
    chosen = _in_window(jet_p4, window)
    # a window jet must lie near a candidate axis (a jet cut by a region's edge never does)
    jet_y = _rapidity(jet_p4[chosen, 0], jet_p4[chosen, 3])
    jet_phi = np.arctan2(jet_p4[chosen, 2], jet_p4[chosen, 1])
    lo = np.searchsorted(regions.event, jet_event[chosen], side="left")
    per_jet = np.searchsorted(regions.event, jet_event[chosen], side="right") - lo
    owner = np.repeat(np.arange(len(chosen)), per_jet)
    axis = _ranges(lo, per_jet)
    gap = np.hypot(jet_y[owner] - regions.y[axis], _wrap(jet_phi[owner] - regions.phi[axis]))
    near = np.zeros(len(chosen), dtype=bool)
    near[owner[gap < ACCEPT_RADIUS_R * window.radius]] = True
    chosen, jet_y, jet_phi = chosen[near], jet_y[near], jet_phi[near]
    # a jet with a constituent far from its axis reaches towards the region's edge: cluster
    # that event in full instead
    sizes = const_offsets[chosen + 1] - const_offsets[chosen]
    members = const_index[_ranges(const_offsets[chosen], sizes)]
    spread = np.hypot(y[members] - np.repeat(jet_y, sizes),
                      _wrap(np.arctan2(p4[members, 2], p4[members, 1]) - np.repeat(jet_phi, sizes)))
    wide = np.zeros(n_events, dtype=bool)
    wide[jet_event[chosen][np.repeat(np.arange(len(chosen)), sizes)[spread > CONTAIN_RADIUS_R * window.radius]]] = True
    parts = [(jet_p4[chosen], jet_event[chosen], const_offsets, const_index, chosen)]
    if wide.any():
        regional = chosen[~wide[jet_event[chosen]]]
        parts = [(jet_p4[regional], jet_event[regional], const_offsets, const_index, regional)]
        full = np.flatnonzero(wide[event])
        f_p4, f_event, f_offsets, f_index = cluster(p4[full], np.bincount(event[full], minlength=n_events), window)
        f_chosen = _in_window(f_p4, window)
        parts.append((f_p4[f_chosen], f_event[f_chosen], f_offsets, full[f_index], f_chosen))
    jet_p4, jet_event, const_offsets, const_index = _join(parts)
    if timings is not None:
        timings["regions"] = timings.get("regions", 0.0) + t1 - t0
        timings["cluster"] = timings.get("cluster", 0.0) + clock() - t1
    if stats is not None:
        for key, value in (("events", n_events), ("events_clustered", int(np.count_nonzero(np.bincount(event[keep], minlength=n_events)))),
                           ("particles", len(p4)), ("particles_clustered", len(keep)),
                           ("skeleton_particles", regions.n_skeleton), ("events_in_full", int(wide.sum()))):
            stats[key] = stats.get(key, 0) + value
    return jet_p4, jet_event, const_offsets, const_index


def _in_window(jet_p4: np.ndarray, window: JetWindow) -> np.ndarray:
    """Indices of the jets inside the pT and pseudorapidity window."""
    jet_pt = pt(jet_p4)
    return np.flatnonzero((jet_pt > window.pt_min) & (jet_pt < window.pt_max) & (np.abs(eta(jet_p4)) < window.eta_max))


def _join(parts):
    """Concatenate ``(jet_p4, jet_event, const_offsets, const_index, selected jets)`` groups into
    one set of jets ordered by event (stable: each event's jets come from one group)."""
    p4s, events, sizes, members = [], [], [], []
    for jet_p4, jet_event, offsets, index, selected in parts:
        size = offsets[selected + 1] - offsets[selected]
        p4s.append(jet_p4)
        events.append(jet_event)
        sizes.append(size)
        members.append(index[_ranges(offsets[selected], size)])
    jet_p4, jet_event = np.concatenate(p4s).reshape(-1, 4), np.concatenate(events)
    size, member = np.concatenate(sizes), np.concatenate(members)
    order = np.argsort(jet_event, kind="stable")
    starts = np.cumsum(size) - size
    const_offsets = np.zeros(len(order) + 1, dtype=np.int64)
    np.cumsum(size[order], out=const_offsets[1:])
    return jet_p4[order], jet_event[order], const_offsets, member[_ranges(starts[order], size[order])]


def find_jets(batch: EventBatch, visible, window: JetWindow, match_id: int | None,
              timings: dict[str, float] | None = None, regional: bool = True,
              stats: dict[str, int] | None = None) -> BatchJets:
    """All jets in the window from a batch of events; for signal, only truth-matched ones.

    A signal jet must lie within ``Delta R < window.radius`` of the matched particle (last
    copy before decay) and have all of its coloured decay partons within the same distance
    of the jet axis (``Delta R`` in (pseudorapidity, phi)). The matched particle's
    four-momentum becomes the jet's truth; for background the truth is zero.

    ``regional=True`` (default) clusters only around candidate jets (module doc); ``False``
    clusters every event in full. Both give the same jets.
    ``timings``, if given, accumulates CPU seconds spent per stage (``select``, ``regions``,
    ``cluster``, ``match``, ``pack``) for the benchmark; ``stats`` counts events and
    particles clustered.
    """
    clock = time.process_time  # CPU time: other jobs on the machine disturb it less
    t0 = clock()
    selected = visible_final_state(batch, visible)
    event = _event_of(batch.offsets, selected)
    p4 = batch.momenta(selected)
    t1 = clock()
    if timings is not None:
        timings["select"] = timings.get("select", 0.0) + t1 - t0
    if regional and window.pt_min >= REGIONAL_MIN_PT_FACTOR * SKELETON_PT:
        pt_ = np.hypot(p4[:, 1], p4[:, 2])
        y = _rapidity(p4[:, 0], p4[:, 3])
        jet_p4, jet_event, const_offsets, const_index = _regional_jets(
            p4, pt_, y, event, batch.n_events, window, timings, stats)
        chosen = np.arange(len(jet_p4))
    else:
        counts = np.bincount(event, minlength=batch.n_events)
        jet_p4, jet_event, const_offsets, const_index = cluster(p4, counts, window)
        chosen = _in_window(jet_p4, window)
        if timings is not None:
            timings["cluster"] = timings.get("cluster", 0.0) + clock() - t1
    t2 = clock()
    window_event = jet_event[chosen]
    truth = np.zeros((len(chosen), 4), dtype=np.float64)
    if match_id is not None:
        matched, truth = match_jets(batch, jet_p4[chosen], window_event, match_id, window.radius)
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

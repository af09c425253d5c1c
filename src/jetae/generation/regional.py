"""Regional clustering: FastJet runs only around candidate jets, giving the same window jets.

FastJet's anti-kT costs about 1 us per particle, mostly in the dense cores of hard jets,
so it is the largest part of jetae's overhead over Pythia.
:func:`jetae.generation.jet_finding.find_jets` therefore clusters *regionally* by default
(``regional=True``), with :func:`regional_jets`:

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

import time
from dataclasses import dataclass

import numpy as np

from jetae.features.kinematics import delta_r_eta_phi, phi, rapidity_fastjet
from jetae.generation.clustering import Clustering, JetWindow, cluster, in_window

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
    near = gap_y**2 + gap_phi**2 < radius**2
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


def _select_regions(
    p4: np.ndarray,
    pt_: np.ndarray,
    y: np.ndarray,
    phi_: np.ndarray,
    event: np.ndarray,
    n_events: int,
    window: JetWindow,
) -> _Regions:
    """Skeleton clustering, candidate jets and the particles around them (see the module doc).

    ``p4`` ``(n, 4)``, ``pt_``, ``y`` and ``phi_`` ``(n,)`` describe the visible final-state
    particles of the batch, ``event`` ``(n,)`` their event numbers (non-decreasing).
    """
    radius = window.radius
    # 1. skeleton: anti-kT of the hard particles
    y_seed = window.eta_max + RAPIDITY_MARGIN_R * radius
    hard = np.flatnonzero((pt_ > SKELETON_PT) & (np.abs(y) < y_seed + radius))
    skeleton = Clustering(p4[hard], np.bincount(event[hard], minlength=n_events), radius)
    seed_p4, seed_event = skeleton.jets(SKELETON_JET_FRACTION * window.pt_min)
    seed_y = rapidity_fastjet(seed_p4[:, 0], seed_p4[:, 3])
    ok = np.abs(seed_y) < y_seed
    seed_event, seed_y = seed_event[ok], seed_y[ok]
    seed_phi = phi(seed_p4[ok])
    # 2. scalar pT per (event, rapidity cell, azimuth cell), out to the region's reach
    y_reach = y_seed + REGION_RADIUS_R * radius
    cell_y = CELL_R * radius
    n_y = int(np.ceil(2.0 * y_reach / cell_y))
    n_phi = max(int(2.0 * np.pi / (CELL_R * radius)), 1)
    cell_phi = 2.0 * np.pi / n_phi
    inside = np.flatnonzero(np.abs(y) < y_reach)
    iy = np.minimum(((y[inside] + y_reach) / cell_y).astype(np.int64), n_y - 1)
    iphi = np.minimum(((phi_[inside] + np.pi) / cell_phi).astype(np.int64), n_phi - 1)
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


def regional_jets(
    p4: np.ndarray,
    pt_: np.ndarray,
    y: np.ndarray,
    event: np.ndarray,
    n_events: int,
    window: JetWindow,
    timings: dict[str, float] | None = None,
    stats: dict[str, int] | None = None,
):
    """Jets in the window via regional clustering: ``(jet_p4, jet_event, const_offsets, const_index)``
    of the window jets only, as :func:`jetae.generation.clustering.cluster` would give them for the
    full events.

    ``p4`` ``(n, 4)`` float64 ``(E, px, py, pz)`` GeV, ``pt_`` and ``y`` ``(n,)`` (GeV and
    :func:`~jetae.features.kinematics.rapidity_fastjet`) describe the visible final-state
    particles of the batch, ``event`` ``(n,)`` their event numbers (non-decreasing).
    ``timings`` (CPU seconds per stage) and ``stats`` (counts), if given, are accumulated.
    """
    clock = time.process_time
    t0 = clock()
    phi_ = phi(p4)  # once for all particles: cheaper than gathering rows of p4 twice
    regions = _select_regions(p4, pt_, y, phi_, event, n_events, window)
    keep = regions.keep
    t1 = clock()
    clustering = Clustering(p4[keep], np.bincount(event[keep], minlength=n_events), window.radius)
    jet_p4, jet_event = clustering.jets(window.pt_min)
    const_offsets, const_index = clustering.constituents(window.pt_min, jet_event)
    const_index = keep[const_index]
    chosen = in_window(jet_p4, window)
    # a window jet must lie near a candidate axis (a jet cut by a region's edge never does)
    jet_y = rapidity_fastjet(jet_p4[chosen, 0], jet_p4[chosen, 3])
    jet_phi = phi(jet_p4[chosen])
    lo = np.searchsorted(regions.event, jet_event[chosen], side="left")
    per_jet = np.searchsorted(regions.event, jet_event[chosen], side="right") - lo
    owner = np.repeat(np.arange(len(chosen)), per_jet)
    axis = _ranges(lo, per_jet)
    gap = delta_r_eta_phi(jet_y[owner], jet_phi[owner], regions.y[axis], regions.phi[axis])
    near = np.zeros(len(chosen), dtype=bool)
    near[owner[gap < ACCEPT_RADIUS_R * window.radius]] = True
    chosen, jet_y, jet_phi = chosen[near], jet_y[near], jet_phi[near]
    # a jet with a constituent far from its axis reaches towards the region's edge: cluster
    # that event in full instead
    sizes = const_offsets[chosen + 1] - const_offsets[chosen]
    members = const_index[_ranges(const_offsets[chosen], sizes)]
    spread = delta_r_eta_phi(y[members], phi_[members], np.repeat(jet_y, sizes), np.repeat(jet_phi, sizes))
    wide = np.zeros(n_events, dtype=bool)
    wide[jet_event[chosen][np.repeat(np.arange(len(chosen)), sizes)[spread > CONTAIN_RADIUS_R * window.radius]]] = True
    parts = [(jet_p4[chosen], jet_event[chosen], const_offsets, const_index, chosen)]
    if wide.any():
        regional = chosen[~wide[jet_event[chosen]]]
        parts = [(jet_p4[regional], jet_event[regional], const_offsets, const_index, regional)]
        full = np.flatnonzero(wide[event])
        f_p4, f_event, f_offsets, f_index = cluster(p4[full], np.bincount(event[full], minlength=n_events), window)
        f_chosen = in_window(f_p4, window)
        parts.append((f_p4[f_chosen], f_event[f_chosen], f_offsets, full[f_index], f_chosen))
    jet_p4, jet_event, const_offsets, const_index = _join(parts)
    if timings is not None:
        timings["regions"] = timings.get("regions", 0.0) + t1 - t0
        timings["cluster"] = timings.get("cluster", 0.0) + clock() - t1
    if stats is not None:
        for key, value in (
            ("events", n_events),
            ("events_clustered", int(np.count_nonzero(np.bincount(event[keep], minlength=n_events)))),
            ("particles", len(p4)),
            ("particles_clustered", len(keep)),
            ("skeleton_particles", regions.n_skeleton),
            ("events_in_full", int(wide.sum())),
        ):
            stats[key] = stats.get(key, 0) + value
    return jet_p4, jet_event, const_offsets, const_index


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

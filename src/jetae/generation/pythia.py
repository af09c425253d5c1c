"""Pythia 8 set-up and bulk event extraction for ``jetae generate``.

Events come from ``Pythia.nextBatch`` (Pythia's own Awkward-array interface, filled in
C++), so no Python code runs per particle: the event record of a whole batch arrives as
flat numpy columns. This is the same event loop as calling ``pythia.next()`` that many
times with the same seed (checked in the tests).
"""

from __future__ import annotations

import importlib.metadata
import logging
from dataclasses import dataclass
from typing import Sequence

import awkward as ak
import numpy as np
import pythia8mc as pythia8

from jetae.errors import JetaeError
from jetae.features.cpp_output import capture_stdout, stdout_to_stderr  # noqa: F401 (jetae.data.gen_pythia re-exports)

log = logging.getLogger(__name__)

#: Pythia's allowed seed range for ``Random:seed``.
PYTHIA_SEED_MAX = 900_000_000

#: ``nextBatch`` gives up after this many times the requested events failed in a row.
_BATCH_FAILURE_FACTOR = 10.0


def physics_settings(sqrts: float, mpi: bool, pthat_min: float, pthat_max: float) -> list[str]:
    """Setting lines common to every process: beams, MPI, pTHat window (GeV)."""
    lines = [
        f"Beams:eCM = {sqrts:g}",
        f"PartonLevel:MPI = {'on' if mpi else 'off'}",
        f"PhaseSpace:pTHatMin = {pthat_min:g}",
    ]
    if pthat_max > 0:
        lines.append(f"PhaseSpace:pTHatMax = {pthat_max:g}")
    return lines


def _output_settings(seed: int, quiet: bool) -> list[str]:
    """Seed and print settings; ``quiet=False`` still hides banners and listings but lets
    Pythia's error messages through (to be captured for the user)."""
    lines = ["Print:quiet = on"] if quiet else ["Print:init = off", "Print:next = off"]
    return [*lines, "Next:numberCount = 0", "Random:setSeed = on", f"Random:seed = {int(seed)}"]


def _problems(lines: Sequence[str]) -> str:
    """Pythia's own error / warning lines, condensed for an error message."""
    hits = [line.strip(" *|") for line in lines if any(w in line for w in ("Error", "Abort", "Warning", "ERROR"))]
    hits = [h.replace("PYTHIA ", "") for h in hits]
    return "; ".join(h for h in hits if h)[:400]


def make_pythia(
    settings: Sequence[str], seed: int, card_path: str | None = None, card_lines: Sequence[tuple[int, str]] = ()
):
    """A Pythia instance with ``settings`` read and ``init()`` done, seeded with ``seed``.

    Pythia runs silently; if it rejects the setup, it is set up once more with its error
    messages on, and those go into the exception.

    Parameters
    ----------
    settings:
        Setting lines for ``readString`` (process, physics, card lines).
    seed:
        Pythia seed, ``1 <= seed <= 900000000``.
    card_path, card_lines:
        When the settings include a user card, its file and ``(line number, text)`` pairs,
        so that a rejected line is reported with its number.

    Raises
    ------
    JetaeError
        A setting Pythia rejects, or a failed ``init()`` (e.g. no process switched on).
    """
    if not 1 <= int(seed) <= PYTHIA_SEED_MAX:
        raise JetaeError(f"Pythia seed must be in 1..{PYTHIA_SEED_MAX}, got {seed}")
    pythia, problem = _try_make(settings, seed, quiet=True)
    if pythia is not None:
        return pythia
    _, problem = _try_make(settings, seed, quiet=False)  # again, to collect Pythia's messages
    line, detail = problem
    if line is not None:
        number = dict((text, n) for n, text in card_lines).get(line)
        where = f"line {number}: " if number is not None else ""
        raise JetaeError(f"{where}Pythia rejects the setting '{line}'" + (f" ({detail})" if detail else ""), card_path)
    raise JetaeError("Pythia init() failed with these settings" + (f": {detail}" if detail else ""), card_path)


def _try_make(settings: Sequence[str], seed: int, quiet: bool):
    """``(pythia, None)`` on success, else ``(None, (rejected line or None, Pythia's messages))``."""
    with capture_stdout() as output:
        pythia = pythia8.Pythia("", False)
        rejected = None
        for line in [*_output_settings(seed, quiet), *settings]:
            if not pythia.readString(line):
                rejected = line
                break
        ok = rejected is None and pythia.init()
    if ok:
        return pythia, None
    return None, (rejected, _problems(output))


def pythia_version() -> str:
    """The Pythia version of the installed ``pythia8mc`` bindings (e.g. ``8.317``)."""
    try:
        return importlib.metadata.version("pythia8mc")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - bindings built from source
        return "unknown"


@dataclass
class EventBatch:
    """The full event records of a batch of events, as flat numpy columns.

    All per-particle arrays have length ``offsets[-1]``; event ``k`` owns entries
    ``offsets[k]:offsets[k + 1]``. Mother/daughter indices are event-local, as in Pythia.
    The momentum columns are views of Pythia's buffers; :meth:`momenta` gathers
    ``(E, px, py, pz)`` rows only for the entries that are needed (most entries of the
    record, e.g. decayed hadrons, never are).
    """

    offsets: np.ndarray  # (n_events + 1,) int64
    pid: np.ndarray  # PDG id, int32
    status: np.ndarray  # int32
    mother1: np.ndarray
    mother2: np.ndarray
    daughter1: np.ndarray
    daughter2: np.ndarray
    e: np.ndarray  # (n_entries,) float64 GeV
    px: np.ndarray
    py: np.ndarray
    pz: np.ndarray

    @property
    def n_events(self) -> int:
        return len(self.offsets) - 1

    def momenta(self, index: np.ndarray) -> np.ndarray:
        """``(len(index), 4)`` float64 ``(E, px, py, pz)`` in GeV of the entries ``index``."""
        index = np.asarray(index, dtype=np.int64)
        out = np.empty((len(index), 4), dtype=np.float64)
        for k, column in enumerate((self.e, self.px, self.py, self.pz)):
            np.take(column, index, out=out[:, k])
        return out

    @property
    def p4(self) -> np.ndarray:
        """``(n_entries, 4)`` float64 ``(E, px, py, pz)`` of every entry (a copy; prefer :meth:`momenta`)."""
        return np.stack([self.e, self.px, self.py, self.pz], axis=1)


def next_batch(pythia, n_events: int) -> EventBatch:
    """Generate ``n_events`` events with ``pythia.nextBatch`` and flatten their records.

    Failed events are skipped and replaced, as in a ``pythia.next()`` loop that retries;
    a run where nearly every event fails raises :class:`JetaeError`.
    """
    try:
        batch = pythia.nextBatch(int(n_events), _BATCH_FAILURE_FACTOR)
    except RuntimeError as exc:
        raise JetaeError(f"Pythia failed to generate events ({exc}); check the process settings") from exc
    return _flatten(batch["prt"])


def _flatten(particles) -> EventBatch:
    """Flat numpy columns of the ``prt`` field of a ``nextBatch`` array (views of Pythia's
    buffers when the layout is the plain list of records that Pythia builds; no copies)."""
    layout = particles.layout
    if not isinstance(layout, ak.contents.ListOffsetArray):
        layout = layout.to_ListOffsetArray64(True)
    record = layout.content
    start, stop = int(layout.offsets[0]), int(layout.offsets[-1])

    def column(content, name: str) -> np.ndarray:
        field = content.content(name)
        if not isinstance(field, ak.contents.NumpyArray):  # not what Pythia builds; be safe
            field = ak.to_layout(ak.to_packed(ak.Array(field)))
        return np.asarray(field.data)[start:stop]

    momentum = record.content("p")
    return EventBatch(
        offsets=np.asarray(layout.offsets.data, dtype=np.int64) - start,
        pid=column(record, "id"),
        status=column(record, "status"),
        mother1=column(record, "mother1"),
        mother2=column(record, "mother2"),
        daughter1=column(record, "daughter1"),
        daughter2=column(record, "daughter2"),
        e=column(momentum, "e"),
        px=column(momentum, "px"),
        py=column(momentum, "py"),
        pz=column(momentum, "pz"),
    )


class VisibilityTable:
    """``isVisible()`` of Pythia's particle data, vectorised over PDG ids (cached)."""

    def __init__(self, pythia):
        self._particle_data = pythia.particleData
        self._ids = np.zeros(0, dtype=np.int64)
        self._visible = np.zeros(0, dtype=bool)

    def __call__(self, pid: np.ndarray) -> np.ndarray:
        """Boolean mask, True where the particle with that id is visible (not a neutrino etc.)."""
        pid = np.asarray(pid, dtype=np.int64)
        if len(self._ids):
            pos = np.minimum(np.searchsorted(self._ids, pid), len(self._ids) - 1)
            known = self._ids[pos] == pid
        else:
            pos = np.zeros(len(pid), dtype=np.int64)
            known = np.zeros(len(pid), dtype=bool)
        if not known.all():
            new = np.unique(pid[~known])
            visible = np.array([bool(self._particle_data.isVisible(int(i))) for i in new], dtype=bool)
            ids = np.concatenate([self._ids, new])
            order = np.argsort(ids, kind="stable")
            self._ids = ids[order]
            self._visible = np.concatenate([self._visible, visible])[order]
            pos = np.searchsorted(self._ids, pid)
        return self._visible[pos]

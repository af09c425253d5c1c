"""One shard of a ``jetae generate`` run: a fixed number of jets from one seeded Pythia.

A shard is fully described by a JSON-able :class:`ShardTask`, so it can run in this
process, in a ``ProcessPoolExecutor`` worker or on a remote Dask worker, and always gives
the same jets for the same task.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass
from typing import Callable, Iterable

import numpy as np

from jetae.errors import JetaeError
from jetae.generation.clustering import JetWindow
from jetae.generation.jet_finding import find_jets
from jetae.generation.matching import count_decays
from jetae.generation.processes import ProcessSpec
from jetae.generation.pythia import PYTHIA_SEED_MAX, VisibilityTable, make_pythia, next_batch, physics_settings
from jetae.jets import Jets

log = logging.getLogger(__name__)

#: Largest number of events asked of ``nextBatch`` at once (memory: ~15 MB per 100 events).
MAX_BATCH_EVENTS = 200
#: Smallest batch: ``nextBatch`` has a fixed cost of a few ms per call.
MIN_BATCH_EVENTS = 20
#: A signal shard that finds no matched jet in its first events checks why (wrong match id, or no
#: coloured decay products for the ``decay`` rule) after this many events.
MATCH_CHECK_EVENTS = 500
#: Give up when this many events gave no jet at all (wrong window or card), instead of looping forever.
MAX_EVENTS_WITHOUT_JETS = 50_000


def shard_seed(seed: int, shard_index: int) -> int:
    """Pythia seed (``1..900000000``) of shard ``shard_index`` of a run with ``seed``.

    Derived with :class:`numpy.random.SeedSequence` from ``(seed, shard_index)``, so
    shards are independent streams and the mapping never depends on the worker count.
    """
    state = np.random.SeedSequence(entropy=int(seed), spawn_key=(int(shard_index),)).generate_state(1, np.uint64)[0]
    return int(state % PYTHIA_SEED_MAX) + 1


def shard_sizes(n_jets: int, shard_size: int) -> list[int]:
    """Split ``n_jets`` into ``ceil(n_jets / shard_size)`` shards of ``shard_size`` (last one smaller)."""
    n_shards = math.ceil(n_jets / shard_size)
    return [min(shard_size, n_jets - i * shard_size) for i in range(n_shards)]


@dataclass(frozen=True)
class ShardTask:
    """Everything a worker needs to make one shard (JSON-able via :meth:`to_dict`)."""

    index: int
    n_jets: int
    seed: int  # the Pythia seed of this shard
    process: dict  # ProcessSpec.to_dict()
    window: dict  # JetWindow fields
    sqrts: float
    mpi: bool
    pthat_min: float
    pthat_max: float

    def settings(self) -> list[str]:
        """All Pythia setting lines of this shard except the seed."""
        spec = ProcessSpec.from_dict(self.process)
        return [*spec.settings, *physics_settings(self.sqrts, self.mpi, self.pthat_min, self.pthat_max)]

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ShardResult:
    """Jets of one shard plus the bookkeeping that goes into the provenance."""

    index: int
    constituents: np.ndarray  # (n_jets, max_constituents, 4) float32
    truth: np.ndarray  # (n_jets, 4) float32
    n_events: int  # events generated (the last batch may give more jets than needed)
    n_in_window: int  # jets in the window before truth matching, over those events
    seconds: float

    def summary(self) -> dict:
        """Per-shard numbers for the provenance record."""
        return {
            "index": self.index,
            "n_jets": int(len(self.constituents)),
            "n_events": int(self.n_events),
            "n_in_window": int(self.n_in_window),
            "seconds": round(self.seconds, 3),
        }


def run_shard(task: ShardTask | dict, progress: Callable[[int], None] | None = None) -> ShardResult:
    """Generate the jets of one shard.

    Events are made in batches until ``task.n_jets`` jets are found; the jets kept are the
    first ``n_jets`` in event order, so the result does not depend on batch sizes.

    Parameters
    ----------
    task:
        The shard (a :class:`ShardTask` or its dict form, as sent to remote workers).
    progress:
        Called with the number of new jets after each batch (for a progress bar).
    """
    if isinstance(task, dict):
        task = ShardTask(**task)
    start = time.perf_counter()
    spec = ProcessSpec.from_dict(task.process)
    window = JetWindow(**task.window)
    pythia = make_pythia(task.settings(), task.seed)
    visible = VisibilityTable(pythia)
    chunks, truths = [], []
    n_found = n_events = n_in_window = 0
    jets_per_event = 0.3  # first guess, refined from the events seen
    seen = (0, 0)  # matched particles, and those decaying to coloured partons, while no jet is found
    while n_found < task.n_jets:
        wanted = task.n_jets - n_found
        n_batch = int(min(MAX_BATCH_EVENTS, max(MIN_BATCH_EVENTS, math.ceil(1.2 * wanted / jets_per_event))))
        batch = next_batch(pythia, n_batch)
        jets = find_jets(batch, visible, window, spec.match_id, match_mode=spec.match_mode)
        if spec.is_signal and n_found == 0 and not len(jets) and n_events < MATCH_CHECK_EVENTS:
            particles, coloured = count_decays(batch, spec.match_id)
            seen = (seen[0] + particles, seen[1] + coloured)
            if n_events + batch.n_events >= MATCH_CHECK_EVENTS:
                check_matching_can_succeed(spec, n_events + batch.n_events, *seen)
        take = min(len(jets), wanted)
        if take < len(jets):
            # the quota is reached inside this batch: count only the events used
            used = int(jets.event[take - 1]) + 1
            n_events += used
            n_in_window += int(np.count_nonzero(jets.window_event < used))
        else:
            n_events += batch.n_events
            n_in_window += jets.n_in_window
        chunks.append(jets.constituents[:take])
        truths.append(jets.truth[:take])
        n_found += take
        jets_per_event = max(n_found / max(n_events, 1), 0.01)
        if n_found == 0 and n_events >= MAX_EVENTS_WITHOUT_JETS:
            raise JetaeError(
                f"no {'matched ' if spec.is_signal else ''}jet in the window after {n_events} {spec.name} events; "
                f"check the jet window ({window.pt_min:g}-{window.pt_max:g} GeV, |eta| < {window.eta_max:g}), "
                f"the pTHat window ({task.pthat_min:g}-{task.pthat_max:g} GeV) and the process settings"
            )
        if progress is not None and take:
            progress(take)
    return ShardResult(
        index=task.index,
        constituents=np.concatenate(chunks) if chunks else np.zeros((0, window.max_constituents, 4), np.float32),
        truth=np.concatenate(truths) if truths else np.zeros((0, 4), np.float32),
        n_events=n_events,
        n_in_window=n_in_window,
        seconds=time.perf_counter() - start,
    )


def check_matching_can_succeed(spec: ProcessSpec, n_events: int, particles: int, coloured: int) -> None:
    """Stop early (not after ``MAX_EVENTS_WITHOUT_JETS`` events) when a card's jets cannot be matched.

    Called once the first ``MATCH_CHECK_EVENTS`` events gave no matched jet, with the number of
    matched-id particles they held and how many decayed to quarks or gluons: none at all means a
    wrong ``match`` id (or a process that does not make the particle); none decaying to coloured
    partons means the ``decay`` rule cannot match (taus, leptons, invisible states).
    """
    where = f"{spec.card_path or spec.name}: "
    if particles == 0:
        raise JetaeError(
            f"{where}no particle with |PDG id| = {spec.match_id} (the card's '! jetae: match') in the first "
            f"{n_events} events; check the match id and that the card's process makes that particle"
        )
    if spec.match_mode == "decay" and coloured == 0:
        raise JetaeError(
            f"{where}{particles} particles with |PDG id| = {spec.match_id} in the first {n_events} events and "
            "none decayed to quarks or gluons, which the 'decay' matching rule needs; for leptonic, tau or "
            "invisible decays add '! jetae: match_mode = axis' to the card (docs/generation.md)"
        )


def assemble(results: Iterable[ShardResult], is_signal: bool) -> Jets:
    """The jets of finished shards as one :class:`~jetae.jets.Jets`, in shard order.

    ``ttv`` is 0 (train) for every jet and ``is_signal`` ``int(is_signal)``; the truth is the
    matched parton (zeros for background).
    """
    results = sorted(results, key=lambda r: r.index)
    constituents = np.concatenate([r.constituents for r in results])
    truth = np.concatenate([r.truth for r in results])
    n = len(constituents)
    return Jets(
        constituents=constituents,
        truth=truth,
        ttv=np.zeros(n, np.int64),
        is_signal=np.full(n, int(is_signal), np.int64),
    )

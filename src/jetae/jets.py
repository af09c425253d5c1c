"""The in-memory jet sample that every jetae step passes along."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

#: Maximum number of constituents stored per jet in the Top Tagging Reference layout.
N_CONSTITUENTS_MAX = 200

#: ``ttv`` codes of the reference dataset.
TTV_TRAIN, TTV_TEST, TTV_VAL = 0, 1, 2


@dataclass
class Jets:
    """A sample of jets with their constituents.

    Attributes
    ----------
    constituents:
        ``(n_jets, n_constituents, 4)`` float32, columns ``(E, px, py, pz)`` in GeV,
        ordered by decreasing pT; all-zero rows are padding.
    truth:
        ``(n_jets, 4)`` float32 ``(E, px, py, pz)`` of the matched hard parton (top, W or
        the card's particle) in GeV; zeros for background jets.
    ttv:
        ``(n_jets,)`` int64, 0 = train, 1 = test, 2 = validation (reference convention).
    is_signal:
        ``(n_jets,)`` int64, 1 for signal jets, 0 for background.
    source:
        Where the jets came from (file path), for error messages and provenance.
    """

    constituents: np.ndarray
    truth: np.ndarray
    ttv: np.ndarray
    is_signal: np.ndarray
    source: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        self.constituents = np.asarray(self.constituents, dtype=np.float32)
        if self.constituents.ndim != 3 or self.constituents.shape[2] != 4:
            raise ValueError(f"constituents must have shape (n_jets, n_constituents, 4), got {self.constituents.shape}")
        n = self.constituents.shape[0]
        self.truth = np.asarray(self.truth, dtype=np.float32).reshape(n, 4)
        self.ttv = np.asarray(self.ttv, dtype=np.int64).reshape(n)
        self.is_signal = np.asarray(self.is_signal, dtype=np.int64).reshape(n)

    @classmethod
    def from_constituents(
        cls,
        constituents: np.ndarray,
        is_signal: int | np.ndarray = 0,
        truth: np.ndarray | None = None,
        ttv: int | np.ndarray = 0,
        source: str | None = None,
    ) -> "Jets":
        """Build a sample from a constituent array alone (labels broadcast)."""
        constituents = np.asarray(constituents, dtype=np.float32)
        n = constituents.shape[0]
        return cls(
            constituents=constituents,
            truth=np.zeros((n, 4), np.float32) if truth is None else truth,
            ttv=np.broadcast_to(np.asarray(ttv, dtype=np.int64), (n,)).copy(),
            is_signal=np.broadcast_to(np.asarray(is_signal, dtype=np.int64), (n,)).copy(),
            source=source,
        )

    def __len__(self) -> int:
        return self.constituents.shape[0]

    def __getitem__(self, index: slice | np.ndarray | Sequence[int]) -> "Jets":
        """Select jets by slice, integer indices or boolean mask (always returns Jets)."""
        if isinstance(index, (int, np.integer)):
            index = slice(int(index), int(index) + 1)
        return Jets(
            constituents=self.constituents[index],
            truth=self.truth[index],
            ttv=self.ttv[index],
            is_signal=self.is_signal[index],
            source=self.source,
        )

    @property
    def n_constituents_max(self) -> int:
        """Length of the constituent axis (including padding)."""
        return self.constituents.shape[1]

    @property
    def multiplicity(self) -> np.ndarray:
        """``(n_jets,)`` number of non-padding constituents per jet."""
        return np.count_nonzero(np.any(self.constituents != 0.0, axis=2), axis=1)

    @staticmethod
    def concatenate(samples: Sequence["Jets"]) -> "Jets":
        """Join samples; constituent axes are zero-padded to the longest."""
        if not samples:
            raise ValueError("nothing to concatenate")
        width = max(s.n_constituents_max for s in samples)
        padded = [np.pad(s.constituents, ((0, 0), (0, width - s.n_constituents_max), (0, 0))) for s in samples]
        sources = {s.source for s in samples}
        return Jets(
            constituents=np.concatenate(padded),
            truth=np.concatenate([s.truth for s in samples]),
            ttv=np.concatenate([s.ttv for s in samples]),
            is_signal=np.concatenate([s.is_signal for s in samples]),
            source=sources.pop() if len(sources) == 1 else None,
        )

    def shuffled(self, seed: int = 0) -> "Jets":
        """A copy in random order (deterministic for a given seed)."""
        order = np.random.default_rng(seed).permutation(len(self))
        return self[order]

"""scikit-learn model selection for anomaly detectors on labelled jets.

A detector trains on background only and is judged by how it ranks signal above background, so
cross-validation on a labelled sample needs training folds without signal and test folds with
both. :class:`BackgroundSplit` makes such folds for ``GridSearchCV`` / ``cross_val_score``:

>>> from sklearn.model_selection import GridSearchCV
>>> search = GridSearchCV(create_model("pca"), {"n_components": [5, 10, 20]}, scoring="roc_auc",
...                       cv=BackgroundSplit(3)).fit(jets.constituents, jets.is_signal)

Jets go in as the constituent array ``(n_jets, n_constituents, 4)`` (scikit-learn indexes arrays,
not :class:`~jetae.jets.Jets`); ``y`` is 1 for signal, 0 for background.
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np
from sklearn.model_selection import StratifiedKFold

from jetae.errors import JetaeError


class BackgroundSplit:
    """Stratified K-fold splits whose training folds keep only the background (``y == 0``).

    Every jet is in exactly one test fold (signal and background, stratified by ``y``); the
    training indices of a fold are the background jets of the other folds.
    """

    def __init__(self, n_splits: int = 5, shuffle: bool = True, random_state: int | None = 0):
        if n_splits < 2:
            raise JetaeError(f"BackgroundSplit needs n_splits >= 2, got {n_splits}")
        self.n_splits = n_splits
        self.shuffle = shuffle
        self.random_state = random_state if shuffle else None

    def split(self, X: Any, y: Any, groups: Any = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(train, test)`` index arrays per fold; ``y`` (labels, 1 = signal) is required."""
        if y is None:
            raise JetaeError("BackgroundSplit needs the labels y (1 = signal, 0 = background)")
        labels = np.asarray(y).ravel()
        if not np.any(labels == 0):
            raise JetaeError("BackgroundSplit: y has no background jets (y == 0) to train on")
        folds = StratifiedKFold(self.n_splits, shuffle=self.shuffle, random_state=self.random_state)
        for train, test in folds.split(np.zeros(len(labels)), labels):
            yield train[labels[train] == 0], test

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        return self.n_splits

    def __repr__(self) -> str:
        return f"BackgroundSplit(n_splits={self.n_splits}, shuffle={self.shuffle}, random_state={self.random_state})"

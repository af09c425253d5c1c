"""Toy jets for tests that need jet-shaped inputs but not Pythia (the physics tests use Pythia)."""

from __future__ import annotations

import numpy as np

from jetae.jets import Jets


def prong_jets(
    n: int, prongs: int = 1, seed: int = 0, n_constituents: int = 40, pt: float = 500.0, random_axis: bool = True
) -> Jets:
    """``n`` jets of massless constituents around ``prongs`` axes (1: QCD-like, 3: top-like).

    Constituents are pT-ordered, momenta in GeV, jet pT ~ ``pt``. With ``random_axis`` the jet
    axis has a random eta in (-1, 1) and phi; otherwise every jet points at eta = phi = 0.
    ``is_signal`` is 1 for more than one prong.
    """
    rng = np.random.default_rng(seed)
    if random_axis:
        eta0, phi0 = rng.uniform(-1, 1, (n, 1)), rng.uniform(-np.pi, np.pi, (n, 1))
    else:
        eta0, phi0 = np.zeros((n, 1)), np.zeros((n, 1))
    centres = rng.normal(0, 0.25, (n, prongs, 2))
    centres[:, 0] = 0.0
    prong = np.take_along_axis(centres, rng.integers(0, prongs, (n, n_constituents))[..., None], axis=1)
    eta = eta0 + prong[..., 0] + rng.normal(0, 0.04, (n, n_constituents))
    phi = phi0 + prong[..., 1] + rng.normal(0, 0.04, (n, n_constituents))
    constituent_pt = pt * np.sort(rng.dirichlet(np.full(n_constituents, 0.5), n), axis=1)[:, ::-1]
    p4 = np.stack(
        [
            constituent_pt * np.cosh(eta),
            constituent_pt * np.cos(phi),
            constituent_pt * np.sin(phi),
            constituent_pt * np.sinh(eta),
        ],
        axis=-1,
    )
    return Jets.from_constituents(p4, is_signal=int(prongs > 1), source=f"toy{prongs}")

"""The "Signal zoo" table of docs/generation.md: one row per generated jet file.

For each ``FILE.h5`` (with its ``FILE.h5.json`` sidecar): the matched fraction (matched /
window jets) and jets per event from the sidecar, the jet-mass quartiles, the median truth
mass and constituent count, and the medians of the N-subjettiness ratios tau21, tau32, tau43
(beta = 1, R0 = 0.8, exclusive-kT axes of the jet's constituents; a low tau_{N}/tau_{N-1}
means N prongs fit better than N - 1).

Usage::

    .venv/bin/python bench/zoo_table.py data/zoo/*.h5
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import fastjet
import numpy as np

from jetae.features.kinematics import jet_kinematics, mass, padding_mask
from jetae.io.provenance import sidecar_for
from jetae.io.toptag import read_jets


def n_subjettiness(constituents: np.ndarray, n_max: int = 4, r0: float = 0.8) -> np.ndarray:
    """``(n_max,)`` tau_1..tau_n_max of one jet's real constituents ``(m, 4)`` (E, px, py, pz)."""
    particles = [fastjet.PseudoJet(float(px), float(py), float(pz), float(e)) for e, px, py, pz in constituents]
    sequence = fastjet.ClusterSequence(particles, fastjet.JetDefinition(fastjet.kt_algorithm, 1.5))
    pt = np.hypot(constituents[:, 1], constituents[:, 2])
    y = np.array([p.rap() for p in particles])
    phi = np.array([p.phi_std() for p in particles])
    taus = np.zeros(n_max)
    for n in range(1, min(n_max, len(particles)) + 1):
        axes = sequence.exclusive_jets(n)
        distance = np.min(
            [np.hypot(y - a.rap(), (phi - a.phi_std() + np.pi) % (2 * np.pi) - np.pi) for a in axes], axis=0
        )
        taus[n - 1] = np.sum(pt * distance) / (np.sum(pt) * r0)
    return taus


def row(path: Path) -> str:
    jets = read_jets(path)
    totals = json.loads(sidecar_for(path).read_text())["totals"]
    kinematics = jet_kinematics(jets.constituents)
    q25, q50, q75 = np.percentile(kinematics["mass"], [25, 50, 75])
    real = padding_mask(jets.constituents)
    taus = np.array([n_subjettiness(c[m]) for c, m in zip(jets.constituents, real)])
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = [np.nanmedian(taus[:, n] / taus[:, n - 1]) for n in (1, 2, 3)]
    matched = f"{totals['matched_fraction']:.2f}" if jets.truth.any() else "-"
    truth = f"{np.median(mass(jets.truth)):.0f}" if jets.truth.any() else "-"
    cells = [
        path.stem,
        str(len(jets)),
        matched,
        f"{totals['jets_per_event']:.3f}",
        f"{q25:.0f} / {q50:.0f} / {q75:.0f}",
        truth,
        f"{np.median(kinematics['multiplicity']):.0f}",
        *(f"{r:.2f}" for r in ratios),
    ]
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args()
    print(
        "| sample | jets | matched | jets/event | jet mass q25 / q50 / q75 (GeV) | truth mass (median) "
        "| constituents (median) | tau21 | tau32 | tau43 |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for path in args.files:
        print(row(path))


if __name__ == "__main__":
    main()

#!/usr/bin/env python
"""What JetNet's massless constituents do to the jet mass, measured on jetae's own samples.

JetNet files keep only (etarel, phirel, ptrel) per particle, so ``jetae.io.jetnet`` rebuilds
massless four-vectors (E = |p|). This takes real Pythia 8 + FastJet jets (the reference-layout
test samples), rebuilds each jet from the same constituents made massless (what reading a
JetNet file written from them gives: ``tests/test_datasets.py`` checks that equality to 1e-4),
and records the relative change of the jet mass and pT per sample.

Usage (from the repository root; a few seconds)::

    .venv/bin/python bench/jetnet_massless.py --data data --n-jets 5000

Writes ``bench/results/jetnet_massless.json`` (atomically).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from jetae.features.kinematics import jet_kinematics, padding_mask
from jetae.io.atomic import write_text_atomic
from jetae.io.toptag import read_jets

SAMPLES = ("qcd_test.h5", "top_test.h5", "w_test.h5")


def summary(values: np.ndarray) -> dict[str, float]:
    q05, q50, q95 = np.quantile(values, [0.05, 0.5, 0.95])
    return {
        "mean": float(values.mean()),
        "q05": float(q05),
        "median": float(q50),
        "q95": float(q95),
        "min": float(values.min()),
        "max": float(values.max()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data", help="directory with qcd_test.h5, top_test.h5, w_test.h5")
    parser.add_argument("--n-jets", type=int, default=5000, help="jets per sample (first N)")
    parser.add_argument("--out", default="bench/results/jetnet_massless.json")
    args = parser.parse_args()
    results = {}
    for name in SAMPLES:
        path = Path(args.data) / name
        if not path.exists():
            continue
        jets = read_jets(path, n_max=args.n_jets)
        real = np.asarray(jets.constituents, dtype=np.float64)
        massless = real.copy()
        massless[..., 0] = np.linalg.norm(real[..., 1:], axis=-1)
        before, after = jet_kinematics(real), jet_kinematics(massless)
        energy, momentum = real[..., 0], np.linalg.norm(real[..., 1:], axis=-1)
        constituent_mass = np.sqrt(np.clip(energy**2 - momentum**2, 0.0, None))[padding_mask(real)]
        results[path.stem] = {
            "n_jets": len(jets),
            "relative_mass_change": summary(after["mass"] / before["mass"] - 1.0),
            "mass_change_gev": summary(after["mass"] - before["mass"]),
            "relative_pt_change_max": float(np.abs(after["pt"] / before["pt"] - 1.0).max()),
            "constituents_with_mass_above_0.1_gev": float((constituent_mass > 0.1).mean()),
        }
        print(name, json.dumps(results[path.stem]["relative_mass_change"]))
    record = {"command": f"bench/jetnet_massless.py --data {args.data} --n-jets {args.n_jets}", "samples": results}
    write_text_atomic(args.out, json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()

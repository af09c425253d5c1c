#!/usr/bin/env python
"""NAE ensembles from saved per-jet scores: how far averaging over seeds and epochs tames the seed spread.

Reads the score files written by ``bench/bench_nae.py --save-scores STEM.npz`` (one
``STEM_<direction>.npz`` per seed and direction, holding the test scores of the final weights
and of each of the last NAE epochs, plus held-out training-class ``reference`` jets) and
records, per direction and anomaly class, the AUC of

* every single run, three ways: the last epoch's weights (``last_epoch``), the final weights
  (``final``: the mean weights when the run used ``average_epochs``) and the mean energy of
  the last epochs' weights (``snapshots``, a snapshot ensemble within one run);
* every ensemble of k of the seeds (k = 2 .. n), for each of those three, scoring a jet by
  the mean energy of the members. Each member is a normalised density p_i ~ exp(-E_i / T)
  with the same T, so the mean energy ranks jets as the product of the members' densities
  (a product of experts); ``standardized`` repeats it with each member's energies first
  scaled to zero mean and unit variance on the reference jets, as a check.

Usage (after the bench runs of each seed, see docs/nae.md)::

    python bench/nae_ensemble.py /work/exp/s6/avg4_seed{0,1,2,3,4,5}.npz --out bench/results/nae_ensemble.json

(each argument is a STEM.npz as given to ``--save-scores``; the direction files are found next to it).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
from pathlib import Path

import numpy as np

from bench_nae import DIRECTIONS  # bench/bench_nae.py, next to this script (its directory is on sys.path)
from jetae.evaluation.metrics import auc, summarize
from jetae.io.atomic import write_text_atomic

ROOT = Path(__file__).resolve().parents[1]

KINDS = ("last_epoch", "final", "snapshots")


def member_scores(scores: dict[str, np.ndarray], kind: str, sample: str) -> np.ndarray:
    """One run's scores of ``sample`` for ``kind`` (see the module doc)."""
    epochs = sorted(
        int(key.split("/")[0].removeprefix("epoch"))
        for key in scores
        if key.startswith("epoch") and key.endswith(f"/{sample}")
    )
    if kind == "final":
        return scores[f"final/{sample}"]
    if kind == "last_epoch":
        return scores[f"epoch{epochs[-1]}/{sample}"]
    return np.mean([scores[f"epoch{e}/{sample}"] for e in epochs], axis=0)


def ensemble_scores(runs: list[dict[str, np.ndarray]], kind: str, sample: str, standardized: bool) -> np.ndarray:
    """Mean (optionally reference-standardised) score of ``sample`` over ``runs``."""
    columns = []
    for scores in runs:
        values = member_scores(scores, kind, sample)
        if standardized:
            reference = member_scores(scores, kind, "reference")
            values = (values - reference.mean()) / reference.std()
        columns.append(values)
    return np.mean(columns, axis=0)


def study(stems: list[Path], n_bootstrap: int) -> dict:
    result: dict = {"inputs": [str(s) for s in stems], "directions": {}}
    for direction, spec in DIRECTIONS.items():
        background, signals = spec["background"], spec["signals"]
        files = [s.with_name(f"{s.stem}_{direction}.npz") for s in stems]
        present = [f for f in files if f.exists()]
        if not present:
            continue
        runs = [dict(np.load(f)) for f in present]
        block: dict = {"files": [str(f) for f in present], "signals": {}}
        for signal in signals:
            name = signal.removesuffix("_test")
            single = {
                f.stem: {
                    kind: round(auc(member_scores(r, kind, background), member_scores(r, kind, signal)), 4)
                    for kind in KINDS
                }
                for f, r in zip(present, runs)
            }
            ensembles: dict = {}
            for combine in ("mean_energy", "standardized"):
                for kind in KINDS:
                    for k in range(2, len(runs) + 1):
                        values = []
                        for subset in itertools.combinations(range(len(runs)), k):
                            chosen = [runs[i] for i in subset]
                            values.append(
                                auc(
                                    ensemble_scores(chosen, kind, background, combine == "standardized"),
                                    ensemble_scores(chosen, kind, signal, combine == "standardized"),
                                )
                            )
                        ensembles.setdefault(combine, {}).setdefault(kind, {})[f"{k}_members"] = {
                            "n_ensembles": len(values),
                            "min": round(min(values), 4),
                            "mean": round(float(np.mean(values)), 4),
                            "max": round(max(values), 4),
                        }
            full = summarize(
                ensemble_scores(runs, "final", background, False),
                ensemble_scores(runs, "final", signal, False),
                n_bootstrap=n_bootstrap,
                seed=0,
            )
            block["signals"][name] = {
                "single_runs": single,
                "single_runs_mean": {
                    kind: round(float(np.mean([s[kind] for s in single.values()])), 4) for kind in KINDS
                },
                "ensembles": ensembles,
                "all_members_final_mean_energy": {
                    key: round(float(full[key]), 4) if full[key] is not None and math.isfinite(full[key]) else None
                    for key in ("auc", "auc_err", "r30", "r50")
                },
            }
        result["directions"][direction] = block
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stems", nargs="+", type=Path, help="STEM.npz as given to bench_nae.py --save-scores")
    parser.add_argument("--n-bootstrap", type=int, default=20)
    parser.add_argument("--note", default=None, help="free text stored in the JSON (e.g. how the runs were made)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "nae_ensemble.json")
    args = parser.parse_args(argv)
    result = study(args.stems, args.n_bootstrap)
    if not result["directions"]:
        raise SystemExit("no score files found next to: " + ", ".join(map(str, args.stems)))
    result["command"] = " ".join(["python", *sys.argv])
    result["note"] = args.note
    write_text_atomic(args.out, json.dumps(result, indent=1) + "\n")
    for direction, block in result["directions"].items():
        for signal, entry in block["signals"].items():
            print(f"{direction}-trained, {signal}: single {entry['single_runs_mean']}")
            for kind, by_k in entry["ensembles"].get("mean_energy", {}).items():
                print(
                    f"  {kind:11s} "
                    + "  ".join(f"{k}: {v['min']:.3f}-{v['max']:.3f} (mean {v['mean']:.3f})" for k, v in by_k.items())
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

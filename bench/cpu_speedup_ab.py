"""conv_ae CPU training speed-up, measured as an interleaved A/B of the engine (issue #21).

The speed settings of ``bench/bench_training.py`` run one after the other, so a job that starts
or stops on the other core mid-run moves one setting and not the other. This script alternates
the two engine settings that the speed-up is about, round after round, in one process:

* ``fp32``: ``Detector.fit`` with ``precision=32-true`` (channels-last, as before bf16 became the
  default: what ``jetae train conv_ae`` ran when issue #21 was filed);
* ``default``: ``Detector.fit`` at the default ``precision=auto`` (bf16 autocast on this CPU).

Each fit trains ``conv_ae`` at its default options (batch 256) on ``--n-train`` QCD jets for one
warm-up and ``--epochs`` timed epochs (no validation split, no early stopping); a setting's figure
is its best timed epoch in a round. The order inside a round alternates (fp32 first in even
rounds). Reported: per-round jets/s, the per-round ratio default / fp32, and medians; the load
average before and after, so a disturbed run shows.

    OMP_NUM_THREADS=1 python bench/cpu_speedup_ab.py            # ~5 min on one thread
    python bench/cpu_speedup_ab.py --rounds 2 --n-train 2000 --out /tmp/ab.json   # quick look

Writes bench/results/cpu_speedup_ab.json. The AUC at equal budget is ``auc_check`` of
``bench/bench_training.py`` (same two settings, three seeds).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
from pathlib import Path

import torch

from jetae.io.atomic import write_text_atomic
from jetae.io.toptag import read_jets

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_training import engine_training  # noqa: E402  (a sibling script, not a package)

SETTINGS = {"fp32": {"precision": "32-true"}, "default": {}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--qcd-train", type=Path, default=Path("data/qcd_train.h5"))
    parser.add_argument("--n-train", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per fit (after one warm-up epoch)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("bench/results/cpu_speedup_ab.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    jets = read_jets(args.qcd_train)[: args.n_train]
    device = torch.device("cpu")

    load_start = os.getloadavg()
    rounds = []
    for index in range(args.rounds):
        order = list(SETTINGS) if index % 2 == 0 else list(reversed(SETTINGS))
        result = {}
        for name in order:
            run, _ = engine_training("conv_ae", jets, dict(SETTINGS[name]), args.epochs, device)
            result[name] = {"jets_per_second": run["jets_per_second"], "precision": run["precision"]}
        result["ratio_default_over_fp32"] = result["default"]["jets_per_second"] / result["fp32"]["jets_per_second"]
        result["order"] = order
        rounds.append(result)
        print(
            f"round {index}: fp32 {result['fp32']['jets_per_second']:.0f}, "
            f"default {result['default']['jets_per_second']:.0f} jets/s, ratio {result['ratio_default_over_fp32']:.2f}",
            flush=True,
        )
    ratios = [r["ratio_default_over_fp32"] for r in rounds]
    summary = {
        "median_jets_per_second": {
            name: statistics.median(r[name]["jets_per_second"] for r in rounds) for name in SETTINGS
        },
        "ratio_per_round": ratios,
        "median_ratio": statistics.median(ratios),
        "min_ratio": min(ratios),
        "max_ratio": max(ratios),
    }
    results = {
        "meta": {
            "command": " ".join(["python", *sys.argv]),
            "cpu": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "torch": torch.__version__,
            "threads": args.threads,
            "load_average_start": load_start,
            "load_average_end": os.getloadavg(),
            "n_train": len(jets),
            "epochs_timed": args.epochs,
            "timing": "best timed epoch of each fit (after one warm-up epoch); settings alternate within rounds",
        },
        "settings": SETTINGS,
        "rounds": rounds,
        "summary": summary,
    }
    write_text_atomic(args.out, json.dumps(results, indent=1) + "\n")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()

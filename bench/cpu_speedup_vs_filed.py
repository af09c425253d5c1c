"""conv_ae CPU training speed against the code issue #21 was filed on, measured side by side.

Issue #21 asks for ">= 2x today's conv_ae training throughput at equal AUC", "today" being the
code when it was filed (commit a6afbf9: fp32, channels-last). ``bench/cpu_speedup_ab.py``
compares the two precisions of the *current* engine; this script runs the filed code itself, so
that every change since (bf16 autocast and anything else on the training path) counts, and
nothing that did not happen does. Three variants, each a ``jetae train conv_ae`` command run in a
fresh process with one thread (``OMP_NUM_THREADS=1``), the same jets and options:

* ``filed``: the package as of the filed commit (``--filed-src``, its ``src`` directory first on
  ``PYTHONPATH``), at its defaults;
* ``current_fp32``: this checkout with ``--set precision=32-true``;
* ``current``: this checkout at its defaults (bf16 autocast on a CPU with bf16 instructions).

Speed: ``--rounds`` rounds; in each, the three run in a rotating order on ``--n-train`` jets for
``--epochs`` epochs. A run's figure is its training jets (90 % of ``--n-train``: the default
validation split) over the median of its epoch times after the first (``history.json``; an epoch's
time includes its validation pass). Reported: per-round jets/s, per-round ratios to ``filed``,
medians, and the load average.

AUC (``--auc-seeds``): ``filed`` and ``current`` each train on ``--auc-train`` jets for
``--auc-epochs`` epochs per seed; each version's own ``jetae evaluate`` gives the top-vs-QCD AUC on
``--n-test`` jets of each test file.

    git worktree add /tmp/jetae-filed a6afbf9
    OMP_NUM_THREADS=1 python bench/cpu_speedup_vs_filed.py --filed-src /tmp/jetae-filed/src   # ~20 min

The issue's "about 800 jets/s" was the ``full`` benchmark's conv_ae (batch 128, 55 s per epoch of
45 000 jets, presets.yaml); ``--set batch_size=128`` measures that setting:

    OMP_NUM_THREADS=1 python bench/cpu_speedup_vs_filed.py --filed-src /tmp/jetae-filed/src \
        --set batch_size=128 --auc-seeds --out bench/results/cpu_speedup_vs_filed_batch128.json

Writes bench/results/cpu_speedup_vs_filed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from jetae.io.atomic import write_text_atomic

REPO = Path(__file__).resolve().parent.parent
VARIANTS = ("filed", "current_fp32", "current")


def jetae_command(variant: str, filed_src: Path) -> tuple[list[str], dict[str, str]]:
    """The ``jetae`` command line of ``variant`` and its environment (one thread)."""
    source = filed_src if variant == "filed" else REPO / "src"
    env = dict(os.environ, PYTHONPATH=str(source), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    command = [sys.executable, "-c", "import sys; from jetae.cli.main import main; sys.exit(main())"]
    return command, env


def run_jetae(variant: str, filed_src: Path, arguments: list[str]) -> None:
    command, env = jetae_command(variant, filed_src)
    completed = subprocess.run([*command, *arguments], env=env, cwd=REPO, capture_output=True, text=True)
    if completed.returncode != 0:
        raise SystemExit(f"{variant}: jetae {shlex.join(arguments)} failed:\n{completed.stderr[-3000:]}")


def train(
    variant: str, filed_src: Path, args: argparse.Namespace, out: Path, n_train: int, epochs: int, seed: int
) -> list[float]:
    """Train conv_ae; return the epoch times of ``history.json`` (seconds)."""
    arguments = ["train", "conv_ae", "--train", str(args.qcd_train), "--n-train", str(n_train)]
    arguments += ["--epochs", str(epochs), "--seed", str(seed), "--out", str(out), "--overwrite"]
    for option in args.set:
        arguments += ["--set", option]
    if variant == "current_fp32":
        arguments += ["--set", "precision=32-true"]
    run_jetae(variant, filed_src, arguments)
    history = json.loads((out / "history.json").read_text())
    return [float(entry["seconds"]) for entry in history]


def top_auc(variant: str, filed_src: Path, args: argparse.Namespace, run: Path, report: Path) -> float:
    arguments = ["evaluate", str(run), "--background", str(args.qcd_test), "--signal", str(args.top_test)]
    arguments += ["--n-max", str(args.n_test), "--n-bootstrap", "2", "--out", str(report), "--overwrite"]
    run_jetae(variant, filed_src, arguments)
    metrics = json.loads((report / "metrics.json").read_text())
    return float(metrics["signals"][args.top_test.stem]["auc"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--filed-src", type=Path, required=True, help="src/ of a checkout of the filed commit")
    parser.add_argument("--qcd-train", type=Path, default=REPO / "data/qcd_train.h5")
    parser.add_argument("--qcd-test", type=Path, default=REPO / "data/qcd_test.h5")
    parser.add_argument("--top-test", type=Path, default=REPO / "data/top_test.h5")
    parser.add_argument("--n-train", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--auc-seeds", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument("--auc-train", type=int, default=20_000)
    parser.add_argument("--auc-epochs", type=int, default=5)
    parser.add_argument("--n-test", type=int, default=5_000)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a conv_ae option for every variant (repeatable), e.g. batch_size=128 (the full benchmark's)",
    )
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/cpu_speedup_vs_filed.json")
    args = parser.parse_args()
    if not (args.filed_src / "jetae" / "__init__.py").is_file():
        raise SystemExit(f"{args.filed_src}: not a jetae src/ directory (git worktree add DIR a6afbf9; pass DIR/src)")

    load_start = os.getloadavg()
    train_jets = int(round(args.n_train * 0.9))
    rounds = []
    with tempfile.TemporaryDirectory(prefix="jetae-vs-filed-") as scratch:
        for index in range(args.rounds):
            order = VARIANTS[index % 3 :] + VARIANTS[: index % 3]
            result: dict[str, object] = {"order": list(order)}
            for variant in order:
                seconds = train(variant, args.filed_src, args, Path(scratch) / variant, args.n_train, args.epochs, 0)
                result[variant] = {
                    "epoch_seconds": seconds,
                    "jets_per_second": train_jets / statistics.median(seconds[1:]),
                }
            for variant in VARIANTS[1:]:
                result[f"ratio_{variant}_over_filed"] = (
                    result[variant]["jets_per_second"] / result["filed"]["jets_per_second"]
                )
            rounds.append(result)
            print(
                f"round {index}: "
                + ", ".join(f"{v} {result[v]['jets_per_second']:.0f}" for v in VARIANTS)
                + f" jets/s; current/filed {result['ratio_current_over_filed']:.2f}",
                flush=True,
            )

        auc_runs: dict[str, list[dict[str, float]]] = {"filed": [], "current": []}
        for seed in args.auc_seeds:
            for variant in auc_runs:
                run = Path(scratch) / f"auc_{variant}_{seed}"
                seconds = train(variant, args.filed_src, args, run, args.auc_train, args.auc_epochs, seed)
                value = top_auc(variant, args.filed_src, args, run, Path(scratch) / f"report_{variant}_{seed}")
                auc_runs[variant].append({"seed": seed, "auc_top_vs_qcd": value, "epoch_seconds": seconds})
                print(f"auc seed {seed}: {variant} {value:.4f} ({sum(seconds):.0f} s)", flush=True)

    def spread(values: list[float]) -> float:
        return statistics.stdev(values) if len(values) > 1 else 0.0

    summary: dict[str, object] = {
        "median_jets_per_second": {v: statistics.median(r[v]["jets_per_second"] for r in rounds) for v in VARIANTS},
        **{
            f"median_ratio_{v}_over_filed": statistics.median(r[f"ratio_{v}_over_filed"] for r in rounds)
            for v in VARIANTS[1:]
        },
        "ratio_current_over_filed_per_round": [r["ratio_current_over_filed"] for r in rounds],
    }
    if args.auc_seeds:
        aucs = {v: [run["auc_top_vs_qcd"] for run in runs] for v, runs in auc_runs.items()}
        summary["auc"] = {v: {"mean": statistics.mean(a), "sd": spread(a), "per_seed": a} for v, a in aucs.items()}
        summary["auc_difference_current_minus_filed"] = statistics.mean(aucs["current"]) - statistics.mean(
            aucs["filed"]
        )
    results = {
        "meta": {
            "command": " ".join(["python", *sys.argv]),
            "cpu": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "threads": 1,
            "load_average_start": load_start,
            "load_average_end": os.getloadavg(),
            "n_train": args.n_train,
            "epochs": args.epochs,
            "options": args.set,
            "timing": "training jets / median epoch time after the first (history.json; validation pass included)",
            "auc": {"n_train": args.auc_train, "epochs": args.auc_epochs, "n_test_each": args.n_test},
        },
        "rounds": rounds,
        "auc_runs": auc_runs,
        "summary": summary,
    }
    write_text_atomic(args.out, json.dumps(results, indent=1) + "\n")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()

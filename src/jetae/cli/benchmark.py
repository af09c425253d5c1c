"""``jetae benchmark``: the whole model zoo on one dataset, QCD-trained and top-trained."""

from __future__ import annotations

import argparse
import shlex
from typing import TYPE_CHECKING

from jetae.config import parse_set_options
from jetae.errors import JetaeError

if TYPE_CHECKING:
    from jetae.experiments.benchmark import BenchmarkConfig


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "benchmark",
        help="train and evaluate the whole model zoo in both directions",
        description="Train every model (or --models) on QCD jets and tag top and W jets (AUC, R30, mass "
        "sculpting, training time, inference speed), and train it on top jets with QCD as the "
        "anomaly (reverse AUC). Writes OUT/benchmark.json and OUT/benchmark.md (with the published "
        "reference numbers, on another sample, next to it). --preset quick generates and caches small "
        "samples (minutes on a laptop); --preset full reads the samples of bench/make_samples.sh. "
        "--preset zoo (zoo-quick) adds the signal zoo (data/zoo/NAME.h5 of bench/make_zoo_samples.sh; "
        "zoo-quick generates small ones) and evaluates every score of each model; with --seeds 0 1 2 it "
        "writes OUT/zoo.json (min / median AUC over the zoo, reverse AUC, mean ± sd over seeds). "
        "Per-model options of each preset: src/jetae/experiments/benchmark/presets.yaml. "
        "Exit status 1 if any model failed (the others still run and are written).",
    )
    parser.add_argument(
        "--preset",
        choices=("quick", "full", "zoo-quick", "zoo"),
        default="quick",
        help="quick: generated small samples, few epochs; full: bench/make_samples.sh samples; zoo-quick, zoo: "
        "the same plus the signal zoo",
    )
    parser.add_argument(
        "--zoo",
        nargs="+",
        metavar="SIGNAL",
        help="zoo signals to add (default: the preset's; all seven for zoo and zoo-quick), e.g. --zoo light_top "
        "dark_shower; with --preset zoo or full also signals of your own, read from DATA_DIR/zoo/NAME.h5",
    )
    parser.add_argument("--models", nargs="+", metavar="MODEL", help="models to run (default: all, see `jetae models`)")
    parser.add_argument(
        "--data-dir", metavar="DIR", help="sample directory (default: data/benchmark-quick for quick, data for full)"
    )
    parser.add_argument("--n-train", type=int, metavar="N", help="training jets (quick 2000, full 50000)")
    parser.add_argument("--n-test", type=int, metavar="N", help="jets per test sample (quick 1000, full 10000)")
    parser.add_argument("--n-outliers", type=int, metavar="N", help="W outlier jets for oe_vae (quick 500, full 5000)")
    parser.add_argument("--epochs", type=int, metavar="N", help="override every model's epoch counts")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="MODEL.KEY=VALUE",
        help="one model option (repeatable), e.g. --set conv_ae.lr=3e-4 --set nae.x_steps=10",
    )
    parser.add_argument("--device", help="auto, cpu, cuda or mps (torch models)")
    parser.add_argument("--seed", type=int, help="seed of every model and of the bootstrap (default: 0)")
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        metavar="S",
        help="run once per seed (OUT/seed<S>/) and write the seed summary into OUT (benchmark_seeds.json; "
        "zoo.json for a zoo run); instead of --seed",
    )
    parser.add_argument(
        "--n-bootstrap", type=int, default=100, metavar="N", help="bootstrap replicas for the AUC errors (default: 100)"
    )
    parser.add_argument("--workers", type=int, help="generation processes for quick samples (default: all cores)")
    parser.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="torch CPU threads (quick: 1, robust on a shared CPU; full: one per core)",
    )
    parser.add_argument(
        "--out", default="reports/benchmark", metavar="DIR", help="output directory (default: reports/benchmark)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    parser.add_argument(
        "--results-copy", metavar="DIR", help="also write DIR/benchmark_<preset>.json and .md (e.g. bench/results)"
    )
    parser.add_argument(
        "--merge",
        nargs="+",
        metavar="RUN_DIR",
        help="instead of running: combine benchmark directories of disjoint --models runs on the "
        "same samples into --out",
    )
    parser.add_argument(
        "--seed-summary",
        nargs="+",
        metavar="RUN",
        help="instead of running: the spread over --seed of benchmark runs on the same samples "
        "(directories or benchmark.json files) -> OUT/benchmark_seeds.{json,md}",
    )
    parser.set_defaults(func=run)


def model_overrides(assignments: list[str]) -> dict[str, dict]:
    """``["conv_ae.lr=1e-3", "nae.representation.n_pixels=32"]`` -> ``{"conv_ae": {"lr": 0.001}, ...}``."""
    for item in assignments:
        key = item.split("=", 1)[0]
        if "=" not in item or "." not in key:
            raise JetaeError(f"--set expects MODEL.KEY=VALUE, got {item!r}")
    overrides = parse_set_options(assignments)
    return {model: options for model, options in overrides.items()}


def run(args: argparse.Namespace) -> int:
    # The benchmark pulls in torch, the models and the generator: imported when the command runs,
    # so that `jetae --help` (which registers every command) stays fast. Same in merge / seed_summary.
    from jetae.experiments.benchmark import BenchmarkConfig, command_line, markdown_table_only, run_benchmark

    if args.merge and args.seed_summary:
        raise JetaeError("--merge and --seed-summary are separate steps; give one")
    if args.seeds and (args.merge or args.seed_summary):
        raise JetaeError("--seeds runs the benchmark; --merge and --seed-summary combine runs: give one")
    if args.seeds and args.seed is not None:
        raise JetaeError("give --seed (one run) or --seeds (one run per seed), not both")
    if args.merge:
        return merge(args)
    if args.seed_summary:
        return seed_summary(args)

    config = BenchmarkConfig(
        preset=args.preset,
        models=tuple(args.models) if args.models else None,
        data_dir=args.data_dir,
        out_dir=args.out,
        n_train=args.n_train,
        n_test=args.n_test,
        n_outliers=args.n_outliers,
        epochs=args.epochs,
        device=args.device,
        model_options=model_overrides(args.set),
        seed=args.seed if args.seed is not None else 0,
        n_bootstrap=args.n_bootstrap,
        workers=args.workers,
        threads=args.threads,
        overwrite=args.overwrite,
        results_copy=args.results_copy,
        zoo=tuple(args.zoo) if args.zoo else None,
    )
    if args.seeds:
        return run_seeds(args, config)
    config.command = command_line(config, args.set)
    payload = run_benchmark(config)
    print(markdown_table_only(payload), end="")
    print(f"\nresults: {args.out}/benchmark.md, {args.out}/benchmark.json")
    if payload["failed"]:
        print(f"failed: {', '.join(payload['failed'])}")
        return 1
    return 0


def print_zoo(summary: dict) -> list[str]:
    """Print the zoo table of a seed summary (if it has a zoo); the zoo files written."""
    if summary.get("zoo") is None:
        return []
    from jetae.experiments.benchmark.zoo import zoo_columns, zoo_rows
    from jetae.experiments.tables import markdown_table

    columns = zoo_columns(summary["zoo"])
    print()
    print("\n".join(markdown_table(columns, zoo_rows(summary["zoo"]), right=tuple(range(1, len(columns))))))
    return ["zoo.md", "zoo.json"]


def run_seeds(args: argparse.Namespace, config: "BenchmarkConfig") -> int:
    from jetae.experiments.benchmark import command_words
    from jetae.experiments.seeds import run_seed_benchmarks, summary_table
    from jetae.experiments.seeds import seed_dir as seed_directory

    words = command_words(config, args.set)
    at = words.index("--seed")
    words[at : at + 2] = ["--seeds", *map(str, args.seeds)]
    config.command = shlex.join(words)
    summary = run_seed_benchmarks(config, args.seeds, args.set)
    print(summary_table(summary), end="")
    files = [f"{args.out}/{name}" for name in (*print_zoo(summary), "benchmark_seeds.md", "benchmark_seeds.json")]
    runs = ", ".join(str(seed_directory(args.out, seed)) for seed in args.seeds)
    print(f"\nruns: {runs}\nsummary: {', '.join(files)}")
    if summary["failed"]:
        print(f"failed: {', '.join(summary['failed'])}")
        return 1
    return 0


def merge(args: argparse.Namespace) -> int:
    from jetae.experiments.benchmark import markdown_table_only, merge_benchmarks, write_results

    payload = merge_benchmarks(args.merge)
    write_results(payload, args.out, args.overwrite, args.results_copy)
    print(markdown_table_only(payload), end="")
    print(f"\nmerged {len(args.merge)} runs: {args.out}/benchmark.md, {args.out}/benchmark.json")
    return 1 if payload["failed"] else 0


def seed_summary(args: argparse.Namespace) -> int:
    from jetae.experiments.seeds import summarize_seeds, summary_table, write_summary

    words = ["jetae", "benchmark", "--seed-summary", *map(str, args.seed_summary), "--out", str(args.out)]
    words += ["--results-copy", str(args.results_copy)] if args.results_copy else []
    summary = summarize_seeds(args.seed_summary, command=shlex.join(words))
    write_summary(summary, args.out, args.overwrite, args.results_copy)
    print(summary_table(summary), end="")
    files = [f"{args.out}/{name}" for name in (*print_zoo(summary), "benchmark_seeds.md", "benchmark_seeds.json")]
    print(
        f"\n{len(args.seed_summary)} runs, seeds {', '.join(str(s) for s in summary['meta']['seeds'])}: "
        f"{', '.join(files)}"
    )
    return 0

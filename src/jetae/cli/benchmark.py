"""``jetae benchmark``: the whole model zoo on one dataset, QCD-trained and top-trained."""

from __future__ import annotations

import argparse

from jetae.config import parse_set_options
from jetae.errors import JetaeError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "benchmark",
        help="train and evaluate the whole model zoo in both directions",
        description="Train every model (or --models) on QCD jets and tag top and W jets (AUC, R30, mass "
        "sculpting, training time, inference speed), and train it on top jets with QCD as the "
        "anomaly (reverse AUC). Writes OUT/benchmark.json and OUT/benchmark.md (with the published "
        "reference numbers, on another sample, next to it). --preset quick generates and caches small "
        "samples (minutes on a laptop); --preset full reads the samples of bench/make_samples.sh. "
        "Per-model options of each preset: src/jetae/experiments/benchmark/presets.yaml. "
        "Exit status 1 if any model failed (the others still run and are written).",
    )
    parser.add_argument(
        "--preset",
        choices=("quick", "full"),
        default="quick",
        help="quick: generated small samples, few epochs; full: bench/make_samples.sh samples",
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
    parser.add_argument("--seed", type=int, default=0, help="seed of every model and of the bootstrap (default: 0)")
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
        seed=args.seed,
        n_bootstrap=args.n_bootstrap,
        workers=args.workers,
        threads=args.threads,
        overwrite=args.overwrite,
        results_copy=args.results_copy,
    )
    config.command = command_line(config, args.set)
    payload = run_benchmark(config)
    print(markdown_table_only(payload), end="")
    print(f"\nresults: {args.out}/benchmark.md, {args.out}/benchmark.json")
    if payload["failed"]:
        print(f"failed: {', '.join(payload['failed'])}")
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

    summary = summarize_seeds(args.seed_summary)
    write_summary(summary, args.out, args.overwrite, args.results_copy)
    print(summary_table(summary), end="")
    print(
        f"\n{len(args.seed_summary)} runs, seeds {', '.join(str(s) for s in summary['meta']['seeds'])}: "
        f"{args.out}/benchmark_seeds.md, {args.out}/benchmark_seeds.json"
    )
    return 0

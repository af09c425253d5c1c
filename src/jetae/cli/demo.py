"""``jetae demo``: the main job end to end (generate, train, evaluate, report)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="generate jets, train pca / dense_ae / conv_ae, evaluate, write a report",
        description="The main job on a laptop: small QCD training sample and top / W test samples from "
        "Pythia 8 + FastJet (cached, so a second run reuses them), three detectors trained on QCD, "
        "one report comparing them.",
    )
    parser.add_argument("--data-dir", default="data/demo", help="where samples are generated / cached")
    parser.add_argument("--runs-dir", default="runs/demo", help="where trained models go")
    parser.add_argument("--out", default="reports/demo", help="report directory (replaced)")
    parser.add_argument("--n-train", type=int, default=4000, help="QCD training jets")
    parser.add_argument("--n-test", type=int, default=1000, help="jets per test sample")
    parser.add_argument("--epochs", type=int, default=15, help="maximum training epochs")
    parser.add_argument("--models", nargs="+", default=["pca", "dense_ae", "conv_ae"], help="models to train")
    parser.add_argument("--workers", type=int, help="generation processes (default: all cores)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # The demo pulls in torch, the models and the generator: imported when the command runs,
    # so that `jetae --help` (which registers every command) stays fast.
    from jetae.evaluation.terminal import summary_lines
    from jetae.experiments.demo import DemoConfig, run_demo
    from jetae.models import get_model_spec

    for name in args.models:
        get_model_spec(name)  # unknown names fail before any work
    config = DemoConfig(
        data_dir=args.data_dir,
        runs_dir=args.runs_dir,
        report_dir=args.out,
        n_train=args.n_train,
        n_test=args.n_test,
        epochs=args.epochs,
        models=tuple(args.models),
        workers=args.workers,
    )
    metrics = run_demo(config)
    print("\n".join(summary_lines(metrics)))
    print(f"\nreport: {Path(args.out).resolve() / 'report.html'}")
    return 0

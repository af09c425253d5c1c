"""``jetae evaluate``: metrics, plots and an HTML report of trained models on background and signal jets."""

from __future__ import annotations

import argparse
import shlex

from jetae.cli._options import add_unphysical_option, unphysical_policy


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="evaluate trained models: metrics, plots, HTML report",
        description="Score background and signal jets with one or more trained models and write metrics.json, "
        "plots (PNG and PDF) and a self-contained report.html to --out. With several RUN_DIRs, "
        "each model gets a sub-report REPORT_DIR/<run name>/ and the top page compares them.",
    )
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="model directory written by `jetae train`")
    parser.add_argument("--background", required=True, metavar="FILE.h5", help="background jets (reference layout)")
    parser.add_argument(
        "--signal",
        required=True,
        action="append",
        metavar="FILE.h5",
        help="signal jets (repeatable; each named by its file stem)",
    )
    parser.add_argument("--out", required=True, metavar="REPORT_DIR", help="report directory to write")
    parser.add_argument(
        "--score",
        action="append",
        metavar="NAME",
        help="score(s) to evaluate (repeatable; default: each model's first)",
    )
    parser.add_argument("--n-max", type=int, metavar="N", help="use at most N jets of each file")
    parser.add_argument(
        "--n-bootstrap", type=int, default=100, metavar="N", help="bootstrap replicas for the AUC error (default: 100)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for bootstrap and subsampling (default: 0)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing REPORT_DIR")
    add_unphysical_option(parser)
    parser.set_defaults(func=run)


def command_line(args: argparse.Namespace) -> list[str]:
    """The evaluation as a command line (from the parsed options, so it is right however we were called)."""
    words = ["jetae", "evaluate", *map(str, args.run_dirs), "--background", str(args.background)]
    for path in args.signal:
        words += ["--signal", str(path)]
    words += ["--out", str(args.out)]
    for score in args.score or []:
        words += ["--score", score]
    if args.n_max is not None:
        words += ["--n-max", str(args.n_max)]
    words += ["--n-bootstrap", str(args.n_bootstrap), "--seed", str(args.seed)]
    words += ["--drop-unphysical"] if getattr(args, "drop_unphysical", False) else []
    return words + (["--overwrite"] if args.overwrite else [])


def run(args: argparse.Namespace) -> int:
    # The evaluation pulls in torch and matplotlib: imported when the command runs, so that
    # `jetae --help` (which registers every command) stays fast.
    from jetae.errors import JetaeError
    from jetae.evaluation.evaluate import REPORT_FILE, evaluate_models
    from jetae.evaluation.terminal import summary_lines

    if args.n_max is not None and args.n_max < 1:
        raise JetaeError(f"--n-max must be >= 1, got {args.n_max}")
    if args.n_bootstrap < 0:
        raise JetaeError(f"--n-bootstrap must be >= 0, got {args.n_bootstrap}")
    command = shlex.join(command_line(args))
    metrics = evaluate_models(
        args.run_dirs,
        args.background,
        args.signal,
        args.out,
        scores=args.score,
        provenance={"command": command, "n_max": args.n_max},
        overwrite=args.overwrite,
        n_max=args.n_max,
        n_bootstrap=args.n_bootstrap,
        seed=args.seed,
        on_unphysical=unphysical_policy(args),
    )
    print("\n".join(summary_lines(metrics)))
    print(f"report: {args.out}/{REPORT_FILE}")
    return 0

"""``jetae score``: per-jet anomaly scores of a trained model, with jet mass, pT and label."""

from __future__ import annotations

import argparse
from pathlib import Path

from jetae.cli._options import add_unphysical_option, unphysical_policy
from jetae.errors import JetaeError
from jetae.io.atomic import check_not_input, check_writable


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "score",
        help="score jets with a trained model",
        description="Write one anomaly score per jet (higher = more anomalous) together with jet mass, pT, "
        "eta, multiplicity and label to an HDF5 file.",
    )
    parser.add_argument("run_dir", help="model directory written by `jetae train`")
    parser.add_argument("file", help="jets to score (reference layout)")
    parser.add_argument("--out", required=True, metavar="SCORES.h5", help="output HDF5 file")
    parser.add_argument(
        "--score", action="append", metavar="NAME", help="score(s) to compute (repeatable; default: the model's first)"
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing SCORES.h5 (never the jet file or a file of RUN_DIR)",
    )
    add_unphysical_option(parser)
    parser.set_defaults(func=run)


def check_output(out: str, inputs: list[str], overwrite: bool) -> None:
    """Before any work: ``out`` can be written, is none of the inputs, and exists only with ``overwrite``."""
    check_writable(out, "file")
    check_not_input(out, inputs, "file")
    if not overwrite and (Path(out).exists() or Path(out).is_symlink()):
        raise JetaeError("exists; pass --overwrite to replace it", out)


def run(args: argparse.Namespace) -> int:
    # `jetae --help` imports every command module: torch, pandas and h5py load only when run
    from jetae.evaluation.score_table import check_finite_scores, score_table
    from jetae.io.scores import write_scores
    from jetae.io.toptag import read_jets
    from jetae.models import load_model

    check_output(args.out, [args.file, args.run_dir], args.overwrite)
    detector = load_model(args.run_dir)
    jets = read_jets(args.file, on_unphysical=unphysical_policy(args))
    table = score_table(detector, jets, args.score)
    check_finite_scores(table, detector.name, args.file)
    write_scores(
        args.out,
        table,
        attrs={"model": detector.name, "run_dir": str(args.run_dir), "source": str(args.file)},
        overwrite=args.overwrite,
    )
    print(f"scored {len(jets)} jets from {args.file} with {detector.name} -> {args.out}")
    return 0

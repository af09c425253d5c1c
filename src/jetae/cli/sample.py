"""``jetae sample``: jets drawn from a trained autoencoder's decoder, written as a representation file."""

from __future__ import annotations

import argparse
import shlex

from jetae.cli._types import positive_int, seed_int
from jetae.errors import JetaeError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sample",
        help="draw jets from an autoencoder's decoder (a trainable Monte Carlo)",
        description="Draw N latent codes (from the prior of a VAE; from a Gaussian mixture fitted to the codes "
        "of the --train jets for a plain autoencoder), decode them and write the jets as a representation file "
        "(HDF5: /inputs in the model's representation, its spec and provenance as attributes; read back with "
        "`jetae info FILE.h5` or jetae.io.representation_file.read_representation_file). A report directory "
        "compares them with real jets: average image, pixel-intensity spectrum, mass, pT and N-subjettiness "
        "measured on the rows, and the cross-validated AUC of a classifier separating generated from real "
        "(0.5 = perfect).",
    )
    parser.add_argument(
        "run", metavar="RUN", help="run directory of a trained autoencoder (vae, dense_ae, conv_ae, ...)"
    )
    parser.add_argument("--n", type=positive_int, required=True, metavar="N", help="number of jets to draw")
    parser.add_argument("--out", required=True, metavar="FILE.h5", help="output representation file")
    parser.add_argument(
        "--train",
        metavar="FILE.h5",
        help="real jets: a plain autoencoder's latent density is fitted to their codes; also the comparison's "
        "real jets unless --reference is given",
    )
    parser.add_argument("--reference", metavar="FILE.h5", help="real jets to compare with (default: --train)")
    parser.add_argument("--report", metavar="DIR", help="report directory (default: FILE_report next to --out)")
    parser.add_argument("--n-fit", type=positive_int, metavar="N", help="fit the density to the first N --train jets")
    parser.add_argument(
        "--components", type=positive_int, default=10, metavar="K", help="Gaussian mixture components (default: 10)"
    )
    parser.add_argument(
        "--n-compare",
        type=positive_int,
        default=3000,
        metavar="N",
        help="real and generated jets each in the comparison and classifier (default: 3000)",
    )
    parser.add_argument("--seed", type=seed_int, default=0, help="seed of the density fit and the draw (default: 0)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file and report")
    parser.set_defaults(func=run, sample_parser=parser)


def command_line(args: argparse.Namespace) -> str:
    """The command rebuilt from the parsed options."""
    words = ["jetae", "sample", args.run]
    for action in args.sample_parser._actions:
        if not action.option_strings or action.dest == "help":
            continue
        value = getattr(args, action.dest, None)
        if value is None or value is False or value == action.default:
            continue
        words += [action.option_strings[-1]] if value is True else [action.option_strings[-1], str(value)]
    return shlex.join(words)


def run(args: argparse.Namespace) -> int:
    # torch, sklearn, lightgbm and matplotlib load only when the command runs (`jetae --help` stays fast)
    from jetae.experiments.studies.sample import sample, summary_lines

    if args.train is None and args.reference is None:
        raise JetaeError("give real jets: --train (a plain autoencoder's density is fitted to them) or --reference")
    results = sample(
        args.run,
        args.n,
        args.out,
        train=args.train,
        reference=args.reference,
        report_dir=args.report,
        n_fit=args.n_fit,
        n_components=args.components,
        n_compare=args.n_compare,
        seed=args.seed,
        command=command_line(args),
        overwrite=args.overwrite,
    )
    print("\n".join(summary_lines(results)))
    print(f"report: {results['report_dir']}/report.html")
    return 0

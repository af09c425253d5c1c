"""``jetae convert``: write a JetClass, JetNet (or reference-layout) file in the reference layout."""

from __future__ import annotations

import argparse

from jetae.cli._options import add_unphysical_option, unphysical_policy
from jetae.cli._types import positive_int


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "convert",
        help="convert JetClass ROOT / JetNet HDF5 files to the reference layout",
        description="Read IN (a JetClass ROOT file, a JetNet HDF5 file, or a reference-layout file; recognised by "
        "content) with the readers' checks and write OUT.h5 in the Top Tagging Reference layout (pandas HDF5, key "
        "'table'), with a provenance sidecar OUT.h5.json. The output appears only when complete and never "
        "replaces IN. Labels: is_signal_new = 0 for the background classes (JetClass: QCD; JetNet: g, q), "
        "1 for every other class.",
    )
    parser.add_argument("input", metavar="IN", help="JetClass ROOT, JetNet HDF5 or reference-layout file")
    parser.add_argument("out", metavar="OUT.h5", help="output file in the reference layout")
    parser.add_argument(
        "--n-constituents",
        type=positive_int,
        default=200,
        metavar="N",
        help="constituent slots per jet (default 200, the reference layout's); jets with more keep their N "
        "hardest constituents, and a warning counts them",
    )
    parser.add_argument(
        "--background",
        metavar="CLASS[,CLASS...]",
        help="classes labelled background (is_signal_new = 0), e.g. QCD or g,q (the defaults); "
        "every other class is signal",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing OUT.h5 (never IN)")
    add_unphysical_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # `jetae --help` imports every command module: pandas, h5py and uproot load only when run
    from jetae.io.convert import convert_file

    background = None
    if args.background is not None:
        background = [name.strip() for name in args.background.split(",") if name.strip()]
    record = convert_file(
        args.input,
        args.out,
        n_constituents=args.n_constituents,
        overwrite=args.overwrite,
        background=background,
        on_unphysical=unphysical_policy(args),
    )
    truncated = f", {record['n_truncated']} truncated to {record['n_constituents']}" if record["n_truncated"] else ""
    print(f"{record['n_jets']} jets ({record['format']}{truncated}) -> {args.out}", flush=True)
    return 0

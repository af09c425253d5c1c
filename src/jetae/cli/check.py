"""``jetae check``: validate jet files with the readers' own rules and say what was found."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "check",
        help="validate jet files (layout, dtypes, finite and physical momenta, padding, labels)",
        description="Check each reference-layout FILE with the same code the readers use: layout and dtypes "
        "(nothing is unpickled), finite momenta, non-empty jets, physical four-vectors "
        "(E >= |p|, E >= 0), integer labels, padding and pT order, counts. Exit 0 when every file "
        "would be read as it is, 1 when some file has problems, 2 when a file cannot be read at all.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="HDF5 file(s) in the Top Tagging Reference layout")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # `jetae --help` imports every command module: the reader (pandas, h5py) loads only when run
    from jetae.io.check import check_exit_code, check_sample, format_check

    reports = []
    for i, name in enumerate(args.files):
        report = check_sample(name)
        reports.append(report)
        print(("\n" if i else "") + format_check(report), flush=True)
    return check_exit_code(reports)

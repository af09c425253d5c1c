"""Command-line options shared by several ``jetae`` commands."""

from __future__ import annotations

import argparse


def add_unphysical_option(parser: argparse.ArgumentParser) -> None:
    """``--drop-unphysical``, for every command that reads jets (see :func:`unphysical_policy`)."""
    parser.add_argument(
        "--drop-unphysical",
        action="store_true",
        help="drop jets with unphysical constituents (E < 0 or E < |p|) and log how many, instead of refusing the file",
    )


def unphysical_policy(args: argparse.Namespace) -> str:
    """The readers' ``on_unphysical`` argument for the parsed options."""
    return "drop" if getattr(args, "drop_unphysical", False) else "error"

"""``jetae`` entry point: discovers subcommands, turns JetaeError into one clean line."""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from typing import NoReturn

import jetae.cli
from jetae import __version__
from jetae.errors import JetaeError

log = logging.getLogger("jetae")


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (``jetae train: error: ...``), like jetae's own."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="jetae",
        description="Unsupervised anomaly detection on collider jets with autoencoders.",
    )
    parser.add_argument("--version", action="version", version=f"jetae {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="debug log output")
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_info in sorted(pkgutil.iter_modules(jetae.cli.__path__), key=lambda m: m.name):
        if module_info.name.startswith("_") or module_info.name == "main":
            continue
        module = importlib.import_module(f"jetae.cli.{module_info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(subparsers)
    return parser


def setup_logging(verbose: int = 0, quiet: bool = False) -> None:
    level = logging.WARNING if quiet else (logging.DEBUG if verbose else logging.INFO)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("jetae").setLevel(level)
    for noisy in (
        "lightning",
        "lightning.pytorch",
        "lightning.fabric",
        "distributed",
        "matplotlib",
        "fontTools",
        "numexpr",
    ):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    setup_logging(args.verbose, args.quiet)
    try:
        result = args.func(args)
    except JetaeError as exc:
        print(f"jetae {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        # The system said no (permissions, full disk, a file vanished): one line, not a traceback.
        # A command checks its outputs before it starts; this catches what happens later.
        if args.verbose:
            log.exception("system error")
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        print(f"jetae {args.command}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"jetae {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())

"""``jetae generate``: make a jet sample with Pythia 8 + FastJet."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from jetae.cli._types import non_negative_int, positive_int

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "generate",
        help="generate a jet sample with Pythia 8 + FastJet",
        description=(
            "Generate N jets of PROCESS (qcd, top, w) or of your own Pythia card, and write them in the "
            "Top Tagging Reference layout (pandas.read_hdf(FILE, 'table')) with a provenance sidecar FILE.json. "
            "Defaults follow the reference dataset: 14 TeV, no MPI, anti-kT R=0.8, 550 < pT < 650 GeV, |eta| < 2, "
            "at most 200 constituents. Shards run in parallel on all cores (or on a Dask cluster); an interrupted "
            "run resumes when the same command is run again."
        ),
        epilog="Example: jetae generate top --n 100000 --out top.h5 --seed 1",
    )
    parser.add_argument("process", nargs="?", metavar="PROCESS", help="qcd, top or w (omit with --card)")
    parser.add_argument("--n", type=positive_int, required=True, metavar="N", help="number of jets to generate")
    parser.add_argument("--out", required=True, metavar="FILE.h5", help="output HDF5 file")
    parser.add_argument(
        "--seed",
        type=non_negative_int,
        default=0,
        help="run seed (default 0); same seed, N and shard size give the same jets whatever the worker count",
    )
    parser.add_argument(
        "--workers",
        type=positive_int,
        default=None,
        metavar="W",
        help="local worker processes (default: all available cores)",
    )
    parser.add_argument(
        "--scheduler", metavar="ADDRESS", help="run the shards on an existing Dask cluster, e.g. tcp://host:8786"
    )
    parser.add_argument(
        "--card",
        metavar="FILE|NAME",
        help=(
            "your own Pythia settings file with a '! jetae: match = PDG_ID' line, or the name of a card shipped "
            "with jetae (the signal zoo: dark_shower, higgs_bb, light_top, ...; see docs/generation.md)"
        ),
    )
    physics = parser.add_argument_group("physics")
    physics.add_argument("--pt-min", type=float, default=550.0, help="jet pT lower edge in GeV (default 550)")
    physics.add_argument("--pt-max", type=float, default=650.0, help="jet pT upper edge in GeV (default 650)")
    physics.add_argument("--eta-max", type=float, default=2.0, help="jet |eta| limit (default 2)")
    physics.add_argument("--radius", type=float, default=0.8, help="anti-kT radius (default 0.8)")
    physics.add_argument("--sqrts", type=float, default=14000.0, help="collision energy in GeV (default 14000)")
    physics.add_argument(
        "--mpi",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="multiple parton interactions (default off, as in the reference dataset)",
    )
    physics.add_argument(
        "--max-constituents",
        type=positive_int,
        default=200,
        help="constituents kept per jet, hardest first (default 200)",
    )
    physics.add_argument(
        "--pthat-min", type=float, default=None, metavar="GEV", help="PhaseSpace:pTHatMin (default 0.8 x pt-min)"
    )
    physics.add_argument(
        "--pthat-max",
        type=float,
        default=None,
        metavar="GEV",
        help="PhaseSpace:pTHatMax (default 1.25 x pt-max; 0 = no upper limit)",
    )
    run = parser.add_argument_group("run control")
    run.add_argument(
        "--shard-size",
        type=positive_int,
        default=None,
        metavar="JETS",
        help="jets per shard (default ceil(N/32) clamped to 500..2000)",
    )
    run.add_argument("--overwrite", action="store_true", help="replace FILE if it exists")
    run.add_argument(
        "--restart",
        action="store_true",
        help="discard the finished shards of an earlier interrupted run instead of resuming",
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run_command)


def run_command(args: argparse.Namespace) -> int:
    # `jetae --help` imports every command module: Pythia, FastJet and pandas load only when run
    from jetae.generation.generate import generate_to_file

    provenance = generate_to_file(
        args.out,
        args.process,
        args.n,
        seed=args.seed,
        workers=args.workers,
        scheduler=args.scheduler,
        card=args.card,
        pt_min=args.pt_min,
        pt_max=args.pt_max,
        eta_max=args.eta_max,
        radius=args.radius,
        sqrts=args.sqrts,
        mpi=args.mpi,
        max_constituents=args.max_constituents,
        shard_size=args.shard_size,
        pthat_min=args.pthat_min,
        pthat_max=args.pthat_max,
        overwrite=args.overwrite,
        restart=args.restart,
        progress=not args.no_progress and not args.quiet,
        command=_command_line(args),
    )
    totals = provenance["totals"]
    name = provenance["arguments"]["process"]["name"]
    seconds = totals["wall_seconds"]
    rows = [
        ("output", str(args.out)),
        ("process", name),
        ("jets", f"{totals['n_jets']}"),
        ("events", f"{totals['n_events']}"),
        ("jets/event", f"{totals['jets_per_event']:.3f}" if totals["jets_per_event"] else "-"),
        (
            "matched",
            f"{totals['matched_fraction']:.3f} of the jets in the window"
            if provenance["arguments"]["process"]["match_id"] and totals["matched_fraction"]
            else "-",
        ),
        ("shards reused", f"{provenance['shards_reused']} of {len(provenance['shards'])}"),
        ("wall time", f"{seconds:.1f} s ({totals['n_jets'] / seconds:.1f} jets/s)" if seconds else "-"),
        ("provenance", str(args.out) + ".json"),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    return 0


def _command_line(args: argparse.Namespace) -> list[str]:
    """The command as typed when run as ``jetae``; else rebuilt from the parsed options."""
    if sys.argv and os.path.basename(sys.argv[0]) == "jetae":
        return ["jetae", *sys.argv[1:]]
    options = {k: v for k, v in vars(args).items() if k not in ("func",) and v not in (None, False)}
    return ["jetae", "generate", *(f"--{k.replace('_', '-')}={v}" for k, v in sorted(options.items()))]

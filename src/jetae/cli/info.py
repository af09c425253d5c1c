"""``jetae info``: what is in a jet file (counts, labels, splits, kinematics, provenance)."""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from jetae.cli._options import add_unphysical_option, unphysical_policy
from jetae.errors import JetaeError
from jetae.features.kinematics import jet_kinematics
from jetae.io.provenance import read_provenance

log = logging.getLogger(__name__)

#: Per-jet quantities summarised, with their printed labels.
QUANTITIES = {"pt": "pT [GeV]", "mass": "mass [GeV]", "multiplicity": "constituents"}
SPLIT_NAMES = {0: "train", 1: "test", 2: "val"}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "info",
        help="summarise jet files",
        description="For each FILE: number of jets, signal/background and train/test/val "
        "counts, jet pT / mass / multiplicity statistics, and the provenance sidecar "
        "(FILE.json) if there is one. Files are streamed in chunks, so any size works. "
        "Reference-layout HDF5, JetClass ROOT and JetNet HDF5 files are recognised by their content; "
        "for the latter two the layout and the class counts are shown too.",
    )
    parser.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="jet file(s): Top Tagging Reference layout, JetClass ROOT or JetNet HDF5",
    )
    parser.add_argument("--max-jets", type=int, metavar="N", help="summarise only the first N jets of each file")
    add_unphysical_option(parser)
    parser.set_defaults(func=run)


def summarize_file(
    path: str | os.PathLike, n_max: int | None = None, chunk_size: int = 100_000, on_unphysical: str = "error"
) -> dict[str, Any]:
    """Streamed summary of a reference-layout file.

    Returns a dict with ``n_jets``, ``n_signal``, ``n_background``, ``splits``
    (``{ttv code: count}``) and ``stats``: for ``pt`` and ``mass`` (GeV) and
    ``multiplicity``, the mean, std, min, 25/50/75 % quantiles and max over jets.
    Only per-jet numbers are kept in memory, never more than one chunk of constituents.
    For JetClass and JetNet files (see :mod:`jetae.io.datasets`) the dict also has ``format``,
    ``layout`` (one line) and ``classes`` (``{class name: jets}`` over the rows summarised).
    """
    # `jetae --help` imports every command module: pandas (via the reader) and tqdm load only when run
    from tqdm.auto import tqdm

    from jetae.io.datasets import FORMATS, class_counts, describe_dataset, detect_format
    from jetae.io.toptag import count_jets, iter_jets

    path = Path(path)
    n_total = count_jets(path)
    n_read = n_total if n_max is None else min(n_max, n_total)
    per_jet: dict[str, list[np.ndarray]] = {name: [] for name in QUANTITIES}
    signal, ttv = [], []
    with tqdm(total=n_read, unit="jet", desc=path.name, disable=None, leave=False) as progress:
        for chunk in iter_jets(path, chunk_size=chunk_size, stop=n_read, on_unphysical=on_unphysical):
            kinematics = jet_kinematics(chunk.constituents)
            for name in QUANTITIES:
                per_jet[name].append(kinematics[name])
            signal.append(chunk.is_signal)
            ttv.append(chunk.ttv)
            progress.update(len(chunk))
    if not signal:
        raise JetaeError("contains no jets", path)
    is_signal, splits = np.concatenate(signal), np.concatenate(ttv)
    stats = {}
    for name, parts in per_jet.items():
        values = np.concatenate(parts).astype(np.float64)
        q25, q50, q75 = np.quantile(values, [0.25, 0.5, 0.75])
        stats[name] = {
            "mean": float(values.mean()),
            "std": float(values.std()),
            "min": float(values.min()),
            "25%": float(q25),
            "50%": float(q50),
            "75%": float(q75),
            "max": float(values.max()),
        }
    codes, counts = np.unique(splits, return_counts=True)
    kind = detect_format(path)
    foreign = {}
    if kind != "toptag":
        foreign = {
            "format": FORMATS[kind],
            "layout": describe_dataset(path),
            "classes": class_counts(path, stop=n_read),
        }
    return {
        **foreign,
        "path": str(path),
        "n_jets_in_file": n_total,
        "n_jets": int(len(is_signal)),
        "n_signal": int((is_signal == 1).sum()),
        "n_background": int((is_signal == 0).sum()),
        "splits": {int(code): int(count) for code, count in zip(codes, counts)},
        "stats": stats,
    }


def _short(value: Any, width: int = 100) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= width else text[: width - 3] + "..."


def format_summary(summary: dict[str, Any], sidecar: Path | None, provenance: Any) -> str:
    """The printed block for one file."""
    n = summary["n_jets"]

    def share(count: int) -> str:
        return f"{count} ({100.0 * count / n:.1f}%)"

    lines = [summary["path"]]
    if "layout" in summary:
        lines.append(f"  format        {summary['layout']}")
    if n != summary["n_jets_in_file"]:
        lines.append(f"  jets          {n} summarised of {summary['n_jets_in_file']}")
    else:
        lines.append(f"  jets          {n}")
    lines.append(f"  labels        signal {share(summary['n_signal'])}, background {share(summary['n_background'])}")
    other = n - summary["n_signal"] - summary["n_background"]
    if other:
        lines[-1] += f", other {share(other)}"
    if "classes" in summary:
        total = sum(summary["classes"].values())
        shown = ", ".join(
            f"{name} {count} ({100.0 * count / total:.1f}%)" for name, count in summary["classes"].items()
        )
        lines.append(f"  classes       {shown} (file rows)")
    splits = ", ".join(
        f"{SPLIT_NAMES.get(code, f'ttv={code}')} {share(count)}" for code, count in summary["splits"].items()
    )
    lines.append(f"  splits        {splits}")
    columns = ["mean", "std", "min", "25%", "50%", "75%", "max"]
    lines.append(f"  {'per jet':<14}" + "".join(f"{c:>10}" for c in columns))
    for name, label in QUANTITIES.items():
        lines.append(f"  {label:<14}" + "".join(f"{summary['stats'][name][c]:>10.2f}" for c in columns))
    if sidecar is not None:
        lines.append(f"  provenance    {sidecar}")
        if isinstance(provenance, dict):
            for key, value in provenance.items():
                lines.append(f"    {key}: {_short(value)}")
        elif provenance is not None:
            lines.append(f"    {_short(provenance)}")
        else:
            lines.append("    (not readable JSON)")
    else:
        lines.append("  provenance    none (no FILE.json sidecar)")
    return "\n".join(lines)


def representation_file(path: Path) -> bool:
    """Whether ``path`` is a representation file (``jetae sample``'s output) rather than jets."""
    if not path.is_file():
        return False
    from jetae.io.representation_file import is_representation_file

    return is_representation_file(path)


def format_representation(path: Path, n_max: int | None = None) -> str:
    """The printed block for a representation file: rows, shape, representation, element statistics."""
    from jetae.io.representation_file import read_representation_file

    sample = read_representation_file(path, n_max=n_max)
    rows = sample.inputs.reshape(len(sample), -1).astype(np.float64)
    sums = rows.sum(axis=1)
    nonzero = float((rows != 0).sum(axis=1).mean())
    lines = [
        str(path),
        f"  rows          {len(sample)} (representation file: model inputs, no constituents)",
        f"  shape         {tuple(sample.inputs.shape[1:])}",
        f"  representation {json.dumps(sample.representation, sort_keys=True)}",
        f"  elements      min {rows.min():.4g}, max {rows.max():.4g}, non-zero per row {nonzero:.1f}",
        f"  row sums      mean {sums.mean():.4g}, min {sums.min():.4g}, max {sums.max():.4g}",
    ]
    if sample.arrays:
        lines.append("  datasets      " + ", ".join(f"{k} {tuple(v.shape)}" for k, v in sample.arrays.items()))
    for key, value in sample.metadata.items():
        lines.append(f"    {key}: {_short(value)}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if args.max_jets is not None and args.max_jets < 1:
        raise JetaeError(f"--max-jets must be at least 1, got {args.max_jets}")
    for i, name in enumerate(args.files):
        path = Path(name)
        if representation_file(path):  # `jetae sample` output: model inputs, no jets
            print(("\n" if i else "") + format_representation(path, args.max_jets), flush=True)
            continue
        summary = summarize_file(path, n_max=args.max_jets, on_unphysical=unphysical_policy(args))
        sidecar, provenance = read_provenance(path)
        print(("\n" if i else "") + format_summary(summary, sidecar, provenance), flush=True)
    return 0

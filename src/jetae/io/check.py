"""``check_sample``: everything the readers would find wrong with a jet file, in one pass.

It opens the file with the readers' own :func:`jetae.io.toptag.open_frame` (layout,
dtypes, no pickles) and applies their per-chunk rules
(:func:`jetae.io.validate.find_problems`) to every jet, but collects the problems
instead of stopping at the first, and adds legal-but-notable facts (interior padding,
constituents out of pT order, extra columns). A file passes when the readers would
accept it as it is.

JetClass ROOT and JetNet HDF5 files (:mod:`jetae.io.datasets`) are checked the same way
on the constituents their reader builds (which are always packed and pT-ordered); a
problem of their layout or labels stops the check with the reader's error.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from jetae.io.datasets import FORMATS, detect_format, is_signal, open_dataset
from jetae.io.toptag import LABEL_COLUMNS, TRUTH_COLUMNS, layout_columns, open_frame
from jetae.io.validate import find_problems, padding_report

#: Problem kinds in the order they are reported.
PROBLEM_KINDS = ("non-finite", "empty", "unphysical", "labels")


def check_sample(path: str | os.PathLike, chunk_size: int = 50_000) -> dict[str, Any]:
    """Validate a reference-layout file; returns what was found.

    Returns
    -------
    dict with ``path``, ``storage`` (pandas format), ``n_jets``, ``n_slots`` (constituent
    slots per jet), ``truth`` and ``labels`` (columns present), ``extra_columns``,
    ``problems`` (``{kind: {"jets": n, "constituents": n (unphysical only), "rows": first
    rows}}``, only kinds found), ``label_counts`` (``{"signal", "background", "other"}``),
    ``splits`` (``{ttv: n}``), ``padding`` (see :func:`padding_report`) and ``ok``
    (True when the readers accept the file unchanged).

    Raises
    ------
    JetaeError
        The file cannot be opened as the reference layout at all (missing, damaged, foreign
        layout, Python objects or other non-numeric nodes, missing columns).
    """
    kind = detect_format(path)
    if kind != "toptag":
        return _check_dataset(path, kind, chunk_size)
    problems: dict[str, dict[str, Any]] = {}
    padding = {"interior_padding": 0, "not_pt_ordered": 0, "constituents": 0, "max_multiplicity": 0}
    labels = {"signal": 0, "background": 0, "other": 0}
    splits: dict[int, int] = {}
    with open_frame(path) as frame:
        momentum_columns, truth_columns, label_columns = layout_columns(frame)
        known = set(momentum_columns) | set(TRUTH_COLUMNS) | set(LABEL_COLUMNS)
        extra = [str(c) for c in frame.layout.columns if c not in known]
        n_jets = frame.layout.n_rows
        for lo in range(0, n_jets, chunk_size):
            hi = min(lo + chunk_size, n_jets)
            momenta = frame.read(momentum_columns, lo, hi, np.float32).reshape(hi - lo, -1, 4)
            label_values = dict(zip(label_columns, frame.read(label_columns, lo, hi, np.float64).T))
            for problem in find_problems(momenta, label_values, offset=lo):
                entry = problems.setdefault(problem.kind, {"jets": 0, "constituents": 0, "rows": []})
                entry["jets"] += int(problem.jets.sum())
                entry["constituents"] += problem.n_constituents
                entry["rows"] = (entry["rows"] + problem.rows)[:5]
            finite = np.isfinite(momenta).all(axis=(1, 2))
            for key, value in padding_report(momenta[finite]).items():
                padding[key] = max(padding[key], value) if key == "max_multiplicity" else padding[key] + value
            signal = label_values["is_signal_new"]
            labels["signal"] += int((signal == 1).sum())
            labels["background"] += int((signal == 0).sum())
            labels["other"] += int(((signal != 0) & (signal != 1)).sum())
            if "ttv" in label_values:
                codes, counts = np.unique(label_values["ttv"][np.isfinite(label_values["ttv"])], return_counts=True)
                for code, count in zip(codes, counts):
                    splits[int(code)] = splits.get(int(code), 0) + int(count)
        storage = frame.layout.storage
    return {
        "path": str(path),
        "storage": storage,
        "n_jets": n_jets,
        "n_slots": len(momentum_columns) // 4,
        "truth": bool(truth_columns),
        "labels": label_columns,
        "extra_columns": extra,
        "problems": {kind: problems[kind] for kind in PROBLEM_KINDS if kind in problems},
        "label_counts": labels,
        "splits": splits,
        "padding": padding,
        "ok": not problems and n_jets > 0,
    }


def _add_problems(problems: dict[str, dict[str, Any]], found: list) -> None:
    for problem in found:
        entry = problems.setdefault(problem.kind, {"jets": 0, "constituents": 0, "rows": []})
        entry["jets"] += int(problem.jets.sum())
        entry["constituents"] += problem.n_constituents
        entry["rows"] = (entry["rows"] + problem.rows)[:5]


def _check_dataset(path: str | os.PathLike, kind: str, chunk_size: int) -> dict[str, Any]:
    """:func:`check_sample` for a JetClass or JetNet file.

    Same keys, plus ``format``, ``layout`` (one line), ``classes`` (``{name: jets}``) and
    ``background`` (the class names read as ``is_signal = 0``).
    """
    problems: dict[str, dict[str, Any]] = {}
    padding = {"interior_padding": 0, "not_pt_ordered": 0, "constituents": 0, "max_multiplicity": 0}
    labels = {"signal": 0, "background": 0, "other": 0}
    classes: dict[str, int] = {}
    width = 0
    with open_dataset(path, kind) as data:
        background = data.background_indices()
        n_jets = data.n_jets
        for lo in range(0, n_jets, chunk_size):
            raw = data.read(lo, min(lo + chunk_size, n_jets))
            width = max(width, raw.constituents.shape[1])
            _add_problems(problems, find_problems(raw.constituents, offset=lo))
            finite = np.isfinite(raw.constituents).all(axis=(1, 2))
            for key, value in padding_report(raw.constituents[finite]).items():
                padding[key] = max(padding[key], value) if key == "max_multiplicity" else padding[key] + value
            signal = is_signal(raw.class_index, background)
            labels["background"] += int((signal == 0).sum())
            labels["signal"] += int((signal == 1).sum())
            for code in raw.class_index:
                name = data.classes[code] if code >= 0 else "unknown"
                classes[name] = classes.get(name, 0) + 1
        layout = data.describe()
    return {
        "path": str(path),
        "format": FORMATS[kind],
        "layout": layout,
        "storage": kind,
        "n_jets": n_jets,
        "n_slots": width,
        "truth": False,
        "labels": [],
        "classes": classes,
        "background": [data.classes[i] for i in background],
        "extra_columns": [],
        "problems": {kind: problems[kind] for kind in PROBLEM_KINDS if kind in problems},
        "label_counts": labels,
        "splits": {0: n_jets} if n_jets else {},
        "padding": padding,
        "ok": not problems and n_jets > 0,
    }


def format_check(report: dict[str, Any]) -> str:
    """The printed block of ``jetae check`` for one file."""
    n = report["n_jets"]
    lines = [f"{report['path']}: {'OK' if report['ok'] else 'PROBLEMS'}"]
    if "layout" in report:
        lines.append(f"  layout        {report['layout']}")
        shown = ", ".join(f"{name} {count}" for name, count in report["classes"].items())
        lines.append(
            f"  classes       {shown or 'none'}; background (is_signal = 0): {', '.join(report['background'])}"
        )
    else:
        lines.append(
            f"  layout        Top Tagging Reference, pandas '{report['storage']}' format, "
            f"{report['n_slots']} constituent slots, truth columns {'yes' if report['truth'] else 'no'}, "
            f"labels {', '.join(report['labels'])}"
        )
    if report["extra_columns"]:
        shown = ", ".join(report["extra_columns"][:6]) + (" ..." if len(report["extra_columns"]) > 6 else "")
        lines.append(f"  extra columns {len(report['extra_columns'])} (ignored by jetae): {shown}")
    lines.append(f"  jets          {n}")
    if n == 0:
        lines.append("  problem       the file contains no jets")
    counts = report["label_counts"]
    lines.append(
        f"  labels        signal {counts['signal']}, background {counts['background']}"
        + (f", other values {counts['other']}" if counts["other"] else "")
    )
    if report["splits"]:
        lines.append(
            "  splits        " + ", ".join(f"ttv={code}: {count}" for code, count in sorted(report["splits"].items()))
        )
    padding = report["padding"]
    lines.append(f"  constituents  {padding['constituents']} in all, at most {padding['max_multiplicity']} per jet")
    lines.append(
        f"  padding       {padding['interior_padding']} jet(s) with padding between constituents, "
        f"{padding['not_pt_ordered']} not in decreasing pT (both legal)"
    )
    names = {
        "non-finite": "NaN or inf momenta",
        "empty": "jets without constituents",
        "unphysical": "unphysical constituents (E < 0 or E < |p|)",
        "labels": "non-integer or NaN labels",
    }
    if not report["problems"]:
        lines.append("  problems      none: every jet finite, non-empty, physical, with integer labels")
    for kind, entry in report["problems"].items():
        detail = f"{entry['constituents']} constituent(s) in " if kind == "unphysical" else ""
        lines.append(f"  problem       {names[kind]}: {detail}{entry['jets']} jet(s), e.g. rows {entry['rows']}")
    if "unphysical" in report["problems"] and len(report["problems"]) == 1:
        lines.append("                (readers refuse the file; --drop-unphysical drops those jets)")
    return "\n".join(lines)


def check_exit_code(reports: list[dict[str, Any]]) -> int:
    """0 when every file passes, 1 when any has problems (errors that stop reading exit 2)."""
    return 0 if all(report["ok"] for report in reports) else 1

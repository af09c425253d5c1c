"""Self-contained HTML evaluation reports.

One page per model: metrics tables, the plots (PNG embedded as base64 data URIs), the
model config as pretty JSON and the data provenance. No external CSS, JS, fonts or
images, so the file can be mailed or archived alone. Every piece of text is escaped.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import shlex
from pathlib import Path
from typing import Any, Mapping, Sequence

from jetae.evaluation.resolvability import NOT_AVAILABLE, REASON_SUFFIX

CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1150px;
       padding: 0 1em; color: #1d1d1f; background: #fff; line-height: 1.4; }
h1 { font-size: 1.7em; margin-bottom: 0.1em; } h2 { border-bottom: 2px solid #5790fc; padding-bottom: 0.2em;
  margin-top: 1.8em; } h3 { margin-bottom: 0.3em; }
.subtitle { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: 0.6em 0 1em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccd; padding: 0.3em 0.7em; text-align: right; }
th { background: #eef2fb; } td.text, th.text { text-align: left; }
tr:nth-child(even) td { background: #f8f9fc; }
figure { margin: 1em 0 1.6em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #dde; }
figcaption { color: #444; font-size: 0.9em; margin-top: 0.3em; }
pre { background: #f5f6f8; border: 1px solid #dde; padding: 0.8em; overflow-x: auto; font-size: 0.82em;
      max-height: 32em; }
.grid { display: flex; flex-wrap: wrap; gap: 1em; } .grid figure { flex: 0 1 540px; }
.grid figure.wide { flex: 1 1 100%; }
.note { color: #666; font-size: 0.88em; } .warn { color: #a0522d; }
"""


# --------------------------------------------------------------------------- formatting
def esc(value: Any) -> str:
    """HTML-escape anything (via ``str``)."""
    return html.escape(str(value), quote=True)


def fmt(value: Any, digits: int = 4, infinite: str = "&infin;") -> str:
    """A number for a table cell: ``digits`` significant digits, inf as the symbol, None/NaN as n/a."""
    if value is None:
        return NOT_AVAILABLE
    if isinstance(value, bool):
        return esc(value)
    if isinstance(value, int):
        return esc(value)
    if isinstance(value, float):
        if math.isnan(value):
            return NOT_AVAILABLE
        if math.isinf(value):
            return infinite if value > 0 else "-" + infinite
        return esc(f"{value:.{digits}g}")
    return esc(value)


def fmt_pm(value: Any, error: Any, digits: int = 4) -> str:
    """``value ± error`` (error omitted when unknown, and with an unknown value)."""
    if value is None or error is None or (isinstance(error, float) and not math.isfinite(error)):
        return fmt(value, digits)
    return f"{fmt(value, digits)} &plusmn; {fmt(error, 2)}"


def figure_cell(block: Mapping[str, Any], key: str, digits: int = 4, error_key: str | None = None) -> str:
    """A figure of a metrics block for a table cell; a figure the sample does not resolve is
    "n/a" with its reason as a tooltip (the reasons are also listed under the table)."""
    value = block.get(key)
    if value is None and block.get(key + REASON_SUFFIX):
        return f'<span title="{esc(block[key + REASON_SUFFIX])}">{NOT_AVAILABLE}</span>'
    if error_key is not None:
        return fmt_pm(value, block.get(error_key), digits)
    return fmt(value, digits)


#: Figures of the tables and their names in words, for the list of unresolved figures.
FIGURE_NAMES = {
    "auc": "AUC",
    "auc_err": "AUC error",
    "r30": "R30",
    "r50": "R50",
    "eps_s_at_1e-2": "εS at εB=1e-2",
    "eps_s_at_1e-3": "εS at εB=1e-3",
    "jsd_eff50": "JSD (εB=50%)",
    "inv_jsd_eff50": "1/JSD (εB=50%)",
    "jsd_eff10": "JSD (εB=10%)",
    "inv_jsd_eff10": "1/JSD (εB=10%)",
    "dcorr": "dCor²",
}


def unresolved_figures(metrics: Mapping[str, Any], prefix: str = "") -> list[str]:
    """One line per figure the samples do not resolve: ``"[prefix: ]score, signal: figure: reason"``.

    An AUC error or 1/JSD unresolved for the same reason as its AUC or JSD is not listed twice.
    """
    lines = []
    parents = {"auc_err": "auc", "inv_jsd_eff50": "jsd_eff50", "inv_jsd_eff10": "jsd_eff10"}

    def collect(where: str, block: Mapping[str, Any]) -> None:
        for key, name in FIGURE_NAMES.items():
            reason = block.get(key + REASON_SUFFIX)
            if block.get(key) is not None or not reason:
                continue
            if key in parents and block.get(parents[key] + REASON_SUFFIX) == reason:
                continue
            lines.append(f"{prefix + ': ' if prefix else ''}{where}: {name}: {reason}")

    for score, block in score_blocks(metrics).items():
        for signal, s in block["signals"].items():
            collect(f"{score}, {signal}", s)
        collect(f"{score}, mass sculpting", block["mass_sculpting"])
    return lines


def unresolved_html(lines: Sequence[str]) -> str:
    """The list of unresolved figures under the tables (empty when every figure is resolved)."""
    if not lines:
        return ""
    return (
        '<p class="note">n/a: not resolvable with these samples (too few jets for a measurement; the rules '
        "and their numbers are in <code>jetae.evaluation.metrics</code>):</p><ul>"
        + "".join(f'<li class="note">{esc(line)}</li>' for line in lines)
        + "</ul>"
    )


def png_data_uri(path: str | os.PathLike) -> str:
    """The PNG at ``path`` as a ``data:image/png;base64,...`` URI."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def pretty_json(data: Any) -> str:
    """Indented JSON (non-JSON values as strings), escaped for a ``<pre>`` block."""
    return html.escape(json.dumps(data, indent=2, sort_keys=False, default=str), quote=False)


def table(header: Sequence[str], rows: Sequence[Sequence[str]], text_columns: int = 1) -> str:
    """An HTML table; cells are pre-formatted HTML; the first ``text_columns`` are left-aligned."""

    def cell(tag: str, i: int, content: str) -> str:
        klass = ' class="text"' if i < text_columns else ""
        return f"<{tag}{klass}>{content}</{tag}>"

    head = "".join(cell("th", i, esc(h)) for i, h in enumerate(header))
    body = "\n".join("<tr>" + "".join(cell("td", i, c) for i, c in enumerate(row)) + "</tr>" for row in rows)
    head_row = f"<tr>{head}</tr>\n" if any(header) else ""
    return f"<table>\n{head_row}{body}\n</table>"


def png_size(path: str | os.PathLike) -> tuple[int, int]:
    """``(width, height)`` in pixels from a PNG's IHDR chunk."""
    header = Path(path).read_bytes()[:24]
    if header[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG file")
    return int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")


def figure_html(png: str | os.PathLike, caption: str) -> str:
    """A ``<figure>`` with the PNG embedded and an escaped caption; wide images span the page."""
    width, height = png_size(png)
    klass = ' class="wide"' if width > 1.6 * height else ""
    return (
        f'<figure{klass}><img src="{png_data_uri(png)}" alt="{esc(caption)}" width="{width}" height="{height}">'
        f"<figcaption>{esc(caption)}</figcaption></figure>"
    )


def page(title: str, body: str) -> str:
    """A complete HTML document with the inline stylesheet."""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">\n<title>{esc(title)}</title>\n'
        f"<style>{CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


# --------------------------------------------------------------------------- tables
PERFORMANCE_HEADER = (
    "score",
    "signal",
    "AUC",
    "R30 = 1/εB(εS=0.3)",
    "R50",
    "εS at εB=1e-2",
    "εS at εB=1e-3",
    "n signal",
    "n background",
)
SCULPTING_HEADER = ("score", "JSD (εB=50%)", "1/JSD (εB=50%)", "JSD (εB=10%)", "1/JSD (εB=10%)", "dCor² (mass, score)")


def score_blocks(metrics: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """``{score name: {"signals", "mass_sculpting"}}`` of a single-model metrics dict."""
    if "scores" in metrics:
        return dict(metrics["scores"])
    return {metrics.get("score", "score"): {"signals": metrics["signals"], "mass_sculpting": metrics["mass_sculpting"]}}


def performance_rows(metrics: Mapping[str, Any], prefix: Sequence[str] = ()) -> list[list[str]]:
    """Table rows (pre-formatted) of the performance table for one model."""
    rows = []
    for score, block in score_blocks(metrics).items():
        for signal, s in block["signals"].items():
            rows.append(
                [
                    *map(esc, prefix),
                    esc(score),
                    esc(signal),
                    figure_cell(s, "auc", error_key="auc_err"),
                    figure_cell(s, "r30"),
                    figure_cell(s, "r50"),
                    figure_cell(s, "eps_s_at_1e-2"),
                    figure_cell(s, "eps_s_at_1e-3"),
                    fmt(s.get("n")),
                    fmt(s.get("n_background")),
                ]
            )
    return rows


def sculpting_rows(metrics: Mapping[str, Any], prefix: Sequence[str] = ()) -> list[list[str]]:
    """Table rows of the mass-sculpting table for one model."""
    rows = []
    for score, block in score_blocks(metrics).items():
        m = block["mass_sculpting"]
        rows.append(
            [
                *map(esc, prefix),
                esc(score),
                *(figure_cell(m, key) for key in ("jsd_eff50", "inv_jsd_eff50", "jsd_eff10", "inv_jsd_eff10", "dcorr")),
            ]
        )
    return rows


def _scalar_items(data: Mapping[str, Any]) -> list[tuple[str, Any]]:
    return [(k, v) for k, v in data.items() if isinstance(v, (str, int, float, bool)) or v is None]


def _lookup(record: Mapping[str, Any], *paths: tuple[str, ...]) -> Any:
    """The first value found at one of the key paths of a nested dict, else None."""
    for path in paths:
        node: Any = record
        for key in path:
            node = node.get(key) if isinstance(node, Mapping) else None
        if node is not None:
            return node
    return None


def generation_summary(record: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Key facts of a generation record (``FILE.h5.json``) as ``(label, text)`` rows.

    Knows the ``jetae generate`` layout (command as a word list, ``arguments``, ``totals``,
    ``shards``, ``versions``) and falls back to the record's other top-level scalars, so
    records of other tools still show something useful.
    """
    rows: list[tuple[str, str]] = []
    command = record.get("command")
    if isinstance(command, (list, tuple)):
        command = shlex.join(str(word) for word in command)
    facts = {
        "command": command,
        "process": _lookup(record, ("process",), ("arguments", "process", "name"), ("arguments", "process")),
        "seed": _lookup(record, ("seed",), ("arguments", "seed")),
        "jets": _lookup(record, ("n_jets",), ("totals", "n_jets"), ("arguments", "n_jets")),
        "events": _lookup(record, ("n_events",), ("totals", "n_events")),
        "created": record.get("created"),
    }
    shards = record.get("shards")
    if isinstance(shards, list) and shards:
        seeds = [shard.get("seed") for shard in shards if isinstance(shard, Mapping) and "seed" in shard]
        facts["shard seeds"] = ", ".join(map(str, seeds[:8])) + (
            f" ... ({len(seeds)} shards)" if len(seeds) > 8 else ""
        )
    versions = record.get("versions")
    if isinstance(versions, Mapping):
        facts["versions"] = ", ".join(f"{k} {v}" for k, v in versions.items())
    for label, value in facts.items():
        if value not in (None, "") and not isinstance(value, (Mapping, list)):
            rows.append((label, str(value)))
    shown = {"command", "process", "seed", "n_jets", "n_events", "created", "versions", "shards"}
    rows += [
        (k, json.dumps(v) if not isinstance(v, str) else v)
        for k, v in _scalar_items(record)
        if k not in shown and v is not None
    ]
    return rows


def _value(value: Any) -> str:
    return esc(value) if isinstance(value, str) else fmt(value, digits=10)


def provenance_html(provenance: Mapping[str, Any]) -> str:
    """The data-provenance section: one block per input file, with its generation sidecar."""
    parts = []
    files = [("background", provenance.get("background"))]
    files += [(f"signal: {name}", info) for name, info in (provenance.get("signals") or {}).items()]
    for role, info in files:
        if not info:
            continue
        rows = [
            [esc("file"), esc(info.get("path"))],
            [esc("jets used"), fmt(info.get("n_jets_used"))],
            [esc("jets in file"), fmt(info.get("n_jets_in_file"))],
            [esc("labelled signal (is_signal_new = 1)"), fmt(info.get("n_labelled_signal"))],
        ]
        parts.append(f"<h3>{esc(role)}</h3>")
        generation = info.get("generation")
        if isinstance(generation, Mapping):
            rows += [[esc(f"generation: {k}"), esc(v)] for k, v in generation_summary(generation)]
        parts.append(table(("", ""), rows, text_columns=2))
        if isinstance(generation, Mapping):
            parts.append(
                f"<details><summary>generation record ({esc(info.get('sidecar'))})</summary>"
                f"<pre>{pretty_json(generation)}</pre></details>"
            )
        elif info.get("sidecar_error"):
            parts.append(f'<p class="warn">generation record unreadable: {esc(info["sidecar_error"])}</p>')
        else:
            parts.append(
                '<p class="note">no generation record (no <code>FILE.h5.json</code> sidecar next to the data file).</p>'
            )
    evaluation = provenance.get("evaluation")
    if evaluation:
        parts.append("<h3>this evaluation</h3>")
        parts.append(table(("", ""), [[esc(k), _value(v)] for k, v in _scalar_items(evaluation)], text_columns=2))
    return "\n".join(parts)


# --------------------------------------------------------------------------- pages
def model_report_html(
    metrics: Mapping[str, Any],
    figures: Sequence[tuple[str, str | os.PathLike]],
    model_metadata: Mapping[str, Any],
    provenance: Mapping[str, Any],
    title: str | None = None,
    notes: Sequence[str] = (),
) -> str:
    """The report page of one model.

    Parameters
    ----------
    metrics:
        Single-model metrics dict (the ``metrics.json`` layout; inf/NaN may still be floats).
    figures:
        ``(caption, png path)`` in display order; PNGs are embedded.
    model_metadata:
        ``detector.metadata()`` (plus training provenance), shown as JSON.
    provenance:
        ``{"background": file info, "signals": {name: file info}, "evaluation": {...}}``.
    notes:
        Plain-text remarks (e.g. skipped plots), listed under the tables.
    """
    title = title or f"jetae evaluation: {metrics.get('model')}"
    run_dir = metrics.get("run_dir")
    subtitle = f"model <b>{esc(metrics.get('model'))}</b>" + (f" from <code>{esc(run_dir)}</code>" if run_dir else "")
    evaluation = provenance.get("evaluation") or {}
    if evaluation.get("created"):
        subtitle += f" &middot; {esc(evaluation['created'])}"
    body = [
        f"<h1>{esc(title)}</h1>",
        f'<p class="subtitle">{subtitle}</p>',
        "<h2>Performance</h2>",
        '<p class="note">Higher score = more anomalous. AUC error: bootstrap standard deviation. '
        "R30/R50: background rejection 1/εB at 30%/50% signal efficiency. n/a: the samples do not resolve "
        "the figure (listed with the reason below the tables).</p>",
        table(PERFORMANCE_HEADER, performance_rows(metrics), text_columns=2),
        "<h2>Mass sculpting (background)</h2>",
        '<p class="note">Jensen-Shannon divergence (base 2) between the background jet-mass '
        "distribution before and after a score cut keeping 50% / 10% of the background; higher 1/JSD = "
        "less sculpting. dCor²: squared distance correlation of mass and score.</p>",
        table(SCULPTING_HEADER, sculpting_rows(metrics), text_columns=1),
        unresolved_html(unresolved_figures(metrics)),
    ]
    if notes:
        body.append("<ul>" + "".join(f'<li class="note">{esc(n)}</li>' for n in notes) + "</ul>")
    body.append("<h2>Plots</h2>")
    body.append('<div class="grid">' + "\n".join(figure_html(png, caption) for caption, png in figures) + "</div>")
    body.append("<h2>Model</h2>")
    body.append(f"<pre>{pretty_json(model_metadata)}</pre>")
    body.append("<h2>Data provenance</h2>")
    body.append(provenance_html(provenance))
    return page(title, "\n".join(body))


def comparison_report_html(
    models: Mapping[str, Mapping[str, Any]],
    roc_png: str | os.PathLike,
    links: Mapping[str, str],
    provenance: Mapping[str, Any],
    title: str = "jetae evaluation: model comparison",
    extra_figures: Sequence[tuple[str, str | os.PathLike]] = (),
) -> str:
    """The overview page of several models: combined tables, the overlaid ROC, links to each model's page.

    ``extra_figures``: ``(caption, png path)`` shown under "Sensitivity vs mass sculpting".
    """
    perf_rows: list[list[str]] = []
    sculpt_rows: list[list[str]] = []
    unresolved: list[str] = []
    for label, metrics in models.items():
        perf_rows += performance_rows(metrics, prefix=(label,))
        sculpt_rows += sculpting_rows(metrics, prefix=(label,))
        unresolved += unresolved_figures(metrics, prefix=label)
    link_items = "".join(
        f'<li><a href="{esc(href)}">{esc(label)}</a> ({esc(models[label].get("model"))}'
        f"{', ' + esc(models[label].get('run_dir')) if models[label].get('run_dir') else ''})</li>"
        for label, href in links.items()
    )
    body = [
        f"<h1>{esc(title)}</h1>",
        f'<p class="subtitle">{len(models)} models &middot; background <code>'
        f"{esc((provenance.get('background') or {}).get('path'))}</code></p>",
        "<h2>Models</h2>",
        f"<ul>{link_items}</ul>",
        "<h2>Performance</h2>",
        table(("model", *PERFORMANCE_HEADER), perf_rows, text_columns=3),
        "<h2>Mass sculpting (background)</h2>",
        table(("model", *SCULPTING_HEADER), sculpt_rows, text_columns=2),
        unresolved_html(unresolved),
        "<h2>ROC curves</h2>",
        figure_html(roc_png, "ROC curves of all models, scores and signals"),
    ]
    if extra_figures:
        body += [
            "<h2>Sensitivity vs mass sculpting</h2>",
            '<div class="grid">' + "\n".join(figure_html(png, caption) for caption, png in extra_figures) + "</div>",
        ]
    body += ["<h2>Data provenance</h2>", provenance_html(provenance)]
    return page(title, "\n".join(body))

"""What every study shares: its configuration record, its report page and writing its directory atomically."""

from __future__ import annotations

import json
import logging
import os
import platform
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np

from jetae import __version__
from jetae.errors import JetaeError
from jetae.evaluation import report as html
from jetae.evaluation.jsonify import json_ready
from jetae.evaluation.plots import save_figure
from jetae.io.atomic import atomic_dir, check_not_input

if TYPE_CHECKING:
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

RESULTS_FILE = "results.json"
CONFIG_FILE = "config.json"
REPORT_FILE = "report.html"


def study_config(
    study: str,
    parameters: Mapping[str, Any],
    model_configs: Mapping[str, Any] | None = None,
    command: str | None = None,
) -> dict[str, Any]:
    """The fully resolved configuration of a study run, with versions and the command."""
    versions = {"jetae": __version__, "numpy": np.__version__, "python": platform.python_version()}
    for module in ("torch", "lightning", "sklearn", "lightgbm", "fastjet"):
        loaded = sys.modules.get(module)
        if loaded is not None:
            versions[module] = getattr(loaded, "__version__", None)
    config = {"study": study, "command": command, "parameters": dict(parameters)}
    if model_configs is not None:
        config["models"] = dict(model_configs)
    config["versions"] = versions
    return config


def check_out_dir(out: str | os.PathLike, overwrite: bool, inputs: Sequence[str | os.PathLike] = ()) -> Path:
    """Refuse an existing output directory unless ``overwrite``, and always one that is or holds one of
    the study's ``inputs`` (data files it reads): checked before any work."""
    out = Path(out)
    check_not_input(out, inputs, kind="dir")
    if out.exists() and not overwrite:
        raise JetaeError("output directory already exists; pass --overwrite to replace it", out)
    if out.exists() and not out.is_dir():
        raise JetaeError("output path exists and is not a directory", out)
    return out


def write_study(
    out: str | os.PathLike,
    results: Mapping[str, Any],
    config: Mapping[str, Any],
    figures: Mapping[str, "Figure"],
    overwrite: bool = False,
    report: Callable[[Path], str] | None = None,
    files: Mapping[str, Callable[[Path], None]] | None = None,
) -> Path:
    """Write ``results.json``, ``config.json`` and each figure as ``<stem>.png|pdf`` into ``out``.

    ``report(directory)``, called once the figures are in ``directory``, returns the HTML of
    ``report.html`` (see :func:`study_report_html`). ``files``: ``{name: write(path)}`` for
    further files. Everything goes into a temporary directory renamed onto ``out`` at the end:
    after an error there is no ``out`` (or the old one is untouched).
    """
    out = check_out_dir(out, overwrite)
    with atomic_dir(out, overwrite=overwrite) as tmp:
        (tmp / RESULTS_FILE).write_text(json.dumps(json_ready(results), indent=2) + "\n")
        (tmp / CONFIG_FILE).write_text(json.dumps(json_ready(config), indent=2) + "\n")
        for stem, figure in figures.items():
            save_figure(figure, tmp, stem)
        for name, write in (files or {}).items():
            write(tmp / name)
        if report is not None:
            (tmp / REPORT_FILE).write_text(report(tmp), encoding="utf-8")
    log.info("wrote %s", out)
    return out


def study_report_html(
    title: str,
    subtitle: str,
    sections: Sequence[tuple[str, str]],
    figures: Sequence[tuple[str, Path]],
    config: Mapping[str, Any],
    results: Mapping[str, Any] | None = None,
) -> str:
    """A study's self-contained report page in the style of ``jetae evaluate``'s ``report.html``.

    ``sections``: ``(heading, HTML)`` in order (build tables with
    :func:`jetae.evaluation.report.table`, escape text with :func:`~jetae.evaluation.report.esc`);
    ``figures``: ``(caption, PNG path)``, embedded; ``config`` (and ``results``) are shown as JSON
    at the end. ``title`` and ``subtitle`` are plain text.
    """
    body = [f"<h1>{html.esc(title)}</h1>", f'<p class="subtitle">{html.esc(subtitle)}</p>']
    for heading, content in sections:
        body += [f"<h2>{html.esc(heading)}</h2>", content]
    if figures:
        body.append("<h2>Plots</h2>")
        body.append(
            '<div class="grid">' + "\n".join(html.figure_html(png, caption) for caption, png in figures) + "</div>"
        )
    body += ["<h2>Configuration</h2>", f"<pre>{html.pretty_json(json_ready(config))}</pre>"]
    if results is not None:
        body.append(
            f"<details><summary>{RESULTS_FILE}</summary><pre>{html.pretty_json(json_ready(results))}</pre></details>"
        )
    return html.page(title, "\n".join(body))


def notes_html(lines: Sequence[str]) -> str:
    """Plain-text remarks as an HTML list (escaped)."""
    return "<ul>" + "".join(f"<li>{html.esc(line)}</li>" for line in lines) + "</ul>"

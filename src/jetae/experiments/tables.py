"""Markdown tables of results (``benchmark.md``, ``benchmark_seeds.md``) and their cells."""

from __future__ import annotations

from typing import Any, Sequence

from tabulate import tabulate

from jetae.evaluation.resolvability import NOT_AVAILABLE


def number_cell(value: Any, spec: str, none: str = NOT_AVAILABLE) -> str:
    """A table number ``format(value, spec)``; ``none`` (default "n/a": not resolvable with these
    samples) for null."""
    return none if value is None else format(value, spec)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]], right: Sequence[int] = ()) -> list[str]:
    """The lines of a Markdown (pipe) table of pre-formatted cells, by ``tabulate``.

    Columns whose index is in ``right`` are right-aligned, the others left-aligned. Cells are
    taken as text (no number parsing, so "0.870 ± 0.010" and "1,234" stay as formatted); a
    ``|`` inside a cell becomes ``/``.
    """
    cells = [[str(cell).replace("|", "/") for cell in row] for row in rows]
    aligns = ["right" if i in right else "left" for i in range(len(header))]
    return tabulate(cells, headers=list(header), tablefmt="pipe", disable_numparse=True, colalign=aligns).splitlines()

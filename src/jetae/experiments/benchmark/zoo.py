"""The signal-zoo summary of benchmark runs: ``zoo.json`` and its tables (issue #18).

An unsupervised tagger is worth something only if it flags signals nobody modelled, so the
headline is the **minimum AUC over the zoo signals**, with their median, the reverse AUC
(trained on top, QCD as the anomaly) and the top AUC (the standard, reported apart; W is not a
zoo signal either). Per model *and score* (every score of ``score_names``), over seeds::

    {"signals": [zoo signal, ...],
     "models": {NAME: {"auc": {signal: mean}, "auc_sd": {signal: sd},
                       "min_auc", "min_auc_sd", "median_auc", "median_auc_sd",
                       "reverse_auc", "reverse_auc_sd", "top_auc", "top_auc_sd", "top_r30",
                       "w_auc", "w_auc_sd", "r30": {signal: mean}, "r30_sd": {signal: sd},
                       "model", "score", "default_score", "seeds",
                       "per_seed": {"min_auc": [...], "median_auc": [...], "reverse_auc": [...], "top_auc": [...]},
                       "train_jets_per_s", "score_jets_per_s", "train_seconds",
                       "peak_rss_mb", "peak_rss_above_start_mb", "peak_gpu_mb", "failed"}}}

``NAME`` is the model for a model with one score and ``model:score`` for each score of a model
with several (``vae:elbo``, ``vae:kl``, ...). The minimum and the median are taken over the zoo
signals **per seed**, then averaged over the seeds, so their sd is the seed-to-seed sd of the
per-seed minimum (median); ``auc`` is the per-signal mean, so ``min(auc.values())`` may differ
from ``min_auc``. sd: sample standard deviation over seeds (n - 1), null for one seed; any
figure is null when a seed lacks it (a failed direction, listed in ``failed``, or a figure the
test samples do not resolve). Speed and memory are the model's, the same for each of its scores:
forward-direction training and scoring rates (mean over seeds; scoring counts each jet once per
score evaluated), peak resident memory of a direction (max over seeds and directions, including
the samples held in memory) and its rise above the start of the direction.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from jetae.experiments.tables import markdown_table, number_cell

#: Figures taken per seed: key -> (direction, signal); ``min``/``median`` are computed over the zoo.
_SINGLE = {"reverse_auc": ("reverse", "qcd"), "top_auc": ("forward", "top"), "w_auc": ("forward", "w")}


def entry_name(model: str, score: str, n_scores: int) -> str:
    """The name of a model's score in ``zoo.json``: the model alone, or ``model:score`` for several scores."""
    return model if n_scores == 1 else f"{model}:{score}"


def _ok(block: Any) -> bool:
    return isinstance(block, Mapping) and block.get("status") == "ok"


def _score_names(block: Mapping[str, Any]) -> list[str]:
    return list(block.get("score_names") or ([block["score"]] if block.get("score") else []))


def _signals(block: Any, score: str) -> Mapping[str, Any] | None:
    """The per-signal blocks of ``score`` in a direction's result (None if failed or not evaluated)."""
    if not _ok(block):
        return None
    if "scores" in block:
        return (block["scores"].get(score) or {}).get("signals")
    return block.get("signals") if block.get("score") == score else None


def _figure(signals: Mapping[str, Any] | None, signal: str, key: str) -> float | None:
    value = ((signals or {}).get(signal) or {}).get(key)
    return float(value) if value is not None else None


def _mean_sd(values: Sequence[float | None]) -> tuple[float | None, float | None]:
    """Mean and sd (n - 1; None for one value) of ``values``; both None if any is None or none given."""
    if not values or any(v is None for v in values):
        return None, None
    array = np.asarray(values, dtype=np.float64)
    return float(array.mean()), (float(array.std(ddof=1)) if len(array) > 1 else None)


def _mean(values: Sequence[float | None]) -> float | None:
    return _mean_sd(values)[0]


def _max(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return float(max(present)) if present else None


def _model_figures(by_seed: Mapping[int, Mapping[str, Any]]) -> dict[str, Any]:
    """Speed and memory of one model over its seeds (the same for each of its scores)."""
    seeds = sorted(by_seed)
    forward = [by_seed[s].get("forward") for s in seeds]
    blocks = [by_seed[s].get(d) for s in seeds for d in ("forward", "reverse")]
    memories = [b.get("memory") or {} for b in blocks if _ok(b)]

    def rate(block: Any, key: str) -> float | None:
        value = block.get(key) if _ok(block) else None
        return float(value) if value is not None and np.isfinite(value) else None

    figures = {
        "train_jets_per_s": _mean([rate(b, "train_jets_per_s") for b in forward]),
        "score_jets_per_s": _mean([rate(b, "inference_jets_per_s") for b in forward]),
        "train_seconds": _mean([rate(b, "train_seconds") for b in forward]),
        "peak_rss_mb": _max([m.get("peak_rss_mb") for m in memories]),
        "peak_rss_above_start_mb": _max(
            [
                m["peak_rss_mb"] - m["rss_start_mb"]
                for m in memories
                if m.get("peak_rss_mb") is not None
                and m.get("rss_start_mb") is not None
                and m.get("peak_rss_scope") == "direction"
            ]
        ),
    }
    gpu = _max([m.get("peak_gpu_mb") for m in memories])
    if gpu is not None:
        figures["peak_gpu_mb"] = gpu
    return figures


def zoo_summary(results: Mapping[str, Mapping[int, Mapping[str, Any]]], signals: Sequence[str]) -> dict[str, Any]:
    """``zoo.json`` (layout in the module doc) from ``{model: {seed: {"forward": block, "reverse": block}}}``
    (the ``models`` entries of benchmark runs, grouped by seed), for the zoo ``signals``."""
    signals = list(signals)
    models: dict[str, Any] = {}
    for model, by_seed in results.items():
        seeds = sorted(by_seed)
        failed = [
            f"seed {seed} {direction}"
            for seed in seeds
            for direction in ("forward", "reverse")
            if not _ok(by_seed[seed].get(direction))
        ]
        scores: list[str] = []
        for seed in seeds:
            for direction in ("forward", "reverse"):
                block = by_seed[seed].get(direction)
                if _ok(block):
                    scores += [s for s in _score_names(block) if s not in scores]
        figures = _model_figures(by_seed)
        for index, score in enumerate(scores or ["?"]):
            forward = [_signals(by_seed[s].get("forward"), score) for s in seeds]
            reverse = [_signals(by_seed[s].get("reverse"), score) for s in seeds]
            auc = {signal: [_figure(f, signal, "auc") for f in forward] for signal in signals}
            r30 = {signal: [_figure(f, signal, "r30") for f in forward] for signal in signals}
            per_seed: dict[str, list[float | None]] = {"min_auc": [], "median_auc": []}
            for i in range(len(seeds)):
                values = [auc[signal][i] for signal in signals]
                complete = bool(values) and all(v is not None for v in values)
                per_seed["min_auc"].append(float(np.min(values)) if complete else None)
                per_seed["median_auc"].append(float(np.median(values)) if complete else None)
            per_seed["reverse_auc"] = [_figure(r, "qcd", "auc") for r in reverse]
            per_seed["top_auc"] = [_figure(f, "top", "auc") for f in forward]
            w_auc = [_figure(f, "w", "auc") for f in forward]
            entry: dict[str, Any] = {"auc": {}, "auc_sd": {}}
            for signal in signals:
                entry["auc"][signal], entry["auc_sd"][signal] = _mean_sd(auc[signal])
            for key in ("min_auc", "median_auc", "reverse_auc", "top_auc"):
                entry[key], entry[f"{key}_sd"] = _mean_sd(per_seed[key])
            entry["top_r30"] = _mean([_figure(f, "top", "r30") for f in forward])
            entry["w_auc"], entry["w_auc_sd"] = _mean_sd(w_auc)
            entry["r30"] = {signal: _mean(values) for signal, values in r30.items()}
            entry["r30_sd"] = {signal: _mean_sd(values)[1] for signal, values in r30.items()}
            entry.update(
                model=model,
                score=score,
                default_score=index == 0,
                seeds=seeds,
                per_seed=per_seed,
                **figures,
                failed=failed,
            )
            models[entry_name(model, score, len(scores))] = entry
    return {"signals": signals, "models": models}


def _cell(mean: float | None, sd: float | None, spec: str = ".3f") -> str:
    if mean is None:
        return "–"
    return f"{format(mean, spec)} ± {format(sd, spec)}" if sd is not None else format(mean, spec)


def zoo_columns(summary: Mapping[str, Any]) -> tuple[str, ...]:
    """Header of the AUC table: the headline figures first, then every zoo signal, W and the costs."""
    return (
        "model",
        "min AUC",
        "median AUC",
        "reverse AUC",
        "top AUC",
        *summary["signals"],
        "W AUC",
        "train jets/s",
        "score jets/s",
        "peak RSS MB",
    )


def zoo_rows(summary: Mapping[str, Any]) -> list[list[str]]:
    """Cells of the AUC table (:func:`zoo_columns`), one row per model and score."""
    rows = []
    for name, entry in summary["models"].items():
        rows.append(
            [
                name,
                *(_cell(entry[key], entry[f"{key}_sd"]) for key in ("min_auc", "median_auc", "reverse_auc", "top_auc")),
                *(_cell(entry["auc"][s], entry["auc_sd"][s]) for s in summary["signals"]),
                _cell(entry["w_auc"], entry["w_auc_sd"]),
                number_cell(entry["train_jets_per_s"], ",.0f", "–"),
                number_cell(entry["score_jets_per_s"], ",.0f", "–"),
                number_cell(entry["peak_rss_mb"], ",.0f", "–"),
            ]
        )
    return rows


def zoo_tables(summary: Mapping[str, Any]) -> list[str]:
    """The AUC table and the R30 table of a zoo summary, with their notes (Markdown lines)."""
    columns = zoo_columns(summary)
    lines = markdown_table(columns, zoo_rows(summary), right=tuple(range(1, len(columns))))
    n_seeds = sorted({len(entry["seeds"]) for entry in summary["models"].values()})
    spread = "mean ± sd over the seeds (n - 1)" if any(n > 1 for n in n_seeds) else "one seed: its value (no spread)"
    lines += [
        "",
        f"- AUC, {spread}. min / median AUC: the minimum / median over the {len(summary['signals'])} zoo signals, "
        "taken per seed and then averaged over the seeds. reverse AUC: trained on top jets, QCD as the anomaly. "
        "top and W are not zoo signals (top: the standard benchmark, reported apart).",
        "- One row per model and score (`model:score` for a model with several scores). train / score jets/s: "
        "forward training and scoring rates (scoring counts each jet once per score evaluated); peak RSS MB: "
        "peak resident memory of a direction, including the samples held in memory (zoo.json: "
        "`peak_rss_above_start_mb`).",
        "",
    ]
    header = ("model", "top R30", *(f"{s} R30" for s in summary["signals"]))
    rows = [
        [
            name,
            number_cell(entry["top_r30"], ".1f", "–"),
            *(_cell(entry["r30"][s], entry["r30_sd"][s], ".1f") for s in summary["signals"]),
        ]
        for name, entry in summary["models"].items()
    ]
    lines += markdown_table(header, rows, right=tuple(range(1, len(header))))
    lines += [
        "",
        "- R30: background rejection 1/eps_B at 30% signal efficiency (– where a seed does not resolve it).",
    ]
    failed = [f"{name}: {', '.join(entry['failed'])}" for name, entry in summary["models"].items() if entry["failed"]]
    if failed:
        lines += ["", "Failed (no mean for the figures of that direction): " + "; ".join(failed)]
    return lines


def zoo_markdown(summary: Mapping[str, Any], meta: Mapping[str, Any]) -> str:
    """``zoo.md``: the tables of :func:`zoo_tables` under a heading with the runs (``meta`` of a seed summary)."""
    lines = [
        f"# jetae signal-zoo benchmark (preset `{meta.get('preset')}`)",
        "",
        f"Model seeds {', '.join(str(s) for s in meta.get('seeds', []))}; zoo signals "
        f"{', '.join(summary['signals'])}; the same samples and sizes in every run (checked).",
        "",
    ]
    if meta.get("command"):
        lines += [f"Command: `{meta['command']}`", ""]
    lines += zoo_tables(summary)
    runs = meta.get("runs") or []
    if runs:
        lines += ["", "Runs:", ""]
        lines += [
            f"- seed {info['seed']}: `{info['run']}` ({', '.join(info['models'])})"
            + (f": `{info['command']}`" if info.get("command") else "")
            for info in runs
        ]
    return "\n".join(lines) + "\n"

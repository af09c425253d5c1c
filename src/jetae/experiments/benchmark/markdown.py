"""``benchmark.md``: the result table, its notes, the failures and the published reference numbers."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from jetae.evaluation.resolvability import NOT_AVAILABLE
from jetae.experiments.benchmark.config import needs_outliers_safe
from jetae.experiments.benchmark.presets import MODEL_TRAIN_JETS, PUBLISHED
from jetae.experiments.benchmark.zoo import zoo_columns, zoo_rows, zoo_summary, zoo_tables
from jetae.experiments.tables import markdown_table, number_cell

#: Columns of the result table.
RESULT_COLUMNS = (
    "model",
    "top AUC",
    "top R30",
    "W AUC",
    "W R30",
    "reverse AUC",
    "JSD50",
    "JSD10",
    "train s",
    "infer jets/s",
)


def auc_cell(block: Mapping[str, Any] | None) -> str:
    """``AUC ± error``; "n/a" where the samples do not resolve the AUC (null in the results), "–" without a block."""
    if not block:
        return "–"
    if block.get("auc") is None:
        return NOT_AVAILABLE
    err = block.get("auc_err")
    return f"{block['auc']:.3f} ± {err:.3f}" if err is not None else f"{block['auc']:.3f}"


def result_rows(payload: Mapping[str, Any]) -> list[list[str]]:
    """The cells of the result table (one row per model, columns of :data:`RESULT_COLUMNS`)."""
    rows = []
    for name, directions in payload["models"].items():
        forward, reverse = directions.get("forward", {}), directions.get("reverse", {})
        if forward.get("status") == "ok":
            top, w = forward["signals"]["top"], forward["signals"]["w"]
            sculpt = forward["mass_sculpting"]
            cells = [auc_cell(top), number_cell(top.get("r30"), ".1f"), auc_cell(w), number_cell(w.get("r30"), ".1f")]
        else:
            cells = ["failed"] + ["–"] * 3
        cells.append(auc_cell(reverse["signals"]["qcd"]) if reverse.get("status") == "ok" else "failed")
        if forward.get("status") == "ok":
            cells += [
                number_cell(sculpt.get("jsd_eff50"), ".3g"),
                number_cell(sculpt.get("jsd_eff10"), ".3g"),
                f"{forward['train_seconds']:.1f}",
                number_cell(forward.get("inference_jets_per_s"), ",.0f"),
            ]
        else:
            cells += ["–"] * 4
        label = f"{name} (a)" if needs_outliers_safe(name) else name
        rows.append([label, *cells])
    return rows


def run_zoo_summary(payload: Mapping[str, Any]) -> dict[str, Any] | None:
    """The zoo summary (:func:`~jetae.experiments.benchmark.zoo.zoo_summary`) of one run; None without a zoo."""
    signals = payload["meta"].get("zoo") or []
    if not signals:
        return None
    seed = (payload["meta"].get("seeds") or {}).get("models", 0)
    return zoo_summary({name: {seed: directions} for name, directions in payload["models"].items()}, signals)


def markdown_report(payload: Mapping[str, Any]) -> str:
    """``benchmark.md``: the result table, notes, failures, then the published reference table."""
    meta = payload["meta"]
    sizes = meta["sizes"]
    lines = [f"# jetae benchmark (preset `{meta['preset']}`)", ""]
    if meta.get("command"):
        lines += [f"Command: `{meta['command']}`", ""]
    files = ", ".join(f"`{Path(info['path']).name}`" for info in meta["samples"].values() if info.get("path"))
    lines += [
        f"jetae {meta['jetae']}, torch {meta['torch']}, device {meta['device']} ({meta['device_name']}), "
        f"{meta['available_cores']} of {meta['cpu_count']} CPU cores; started {meta['started']}, "
        f"wall time {meta['wall_seconds']:.0f} s.",
        "",
        f"Samples (Pythia 8 + FastJet, particle level; {files}): forward = trained on {sizes['n_train_forward']} QCD "
        f"jets, tested on {sizes['n_test']} QCD, top and W jets each; reverse = trained on "
        f"{sizes['n_train_reverse']} top jets, tested on {sizes['n_reverse_test']} held-out top jets vs "
        f"{sizes['n_test']} QCD jets as the anomaly."
        + (
            f" oe_vae sees {sizes['n_outliers']} W jets of a separate file as outliers."
            if sizes.get("n_outliers")
            else ""
        ),
        "",
    ]
    lines += markdown_table(RESULT_COLUMNS, result_rows(payload), right=tuple(range(1, len(RESULT_COLUMNS))))
    lines += [
        "",
        "- AUC ± its bootstrap standard deviation; R30 = background rejection 1/eps_B at 30% signal efficiency "
        "(n/a: not resolvable with these test samples, e.g. fewer than 10 background jets pass; the reason is in "
        "benchmark.json). Each model's default score (higher = more anomalous).",
        "- reverse AUC: the model trained on top jets, QCD jets as the anomaly (below 0.5: QCD looks *less* "
        "anomalous than top).",
        "- JSD50 / JSD10: Jensen-Shannon divergence (bits, 0 = unchanged) between the QCD jet-mass distribution "
        "before and after a score cut keeping 50% / 10% of the QCD jets (forward direction).",
        "- train s: forward training wall time (including the input representation); infer jets/s: "
        "`anomaly_score` throughput on the forward test sets.",
    ]
    for name, directions in payload["models"].items():
        trained = {d: b.get("n_train") for d, b in directions.items() if b.get("status") == "ok"}
        if (
            trained.get("forward", sizes["n_train_forward"]) != sizes["n_train_forward"]
            or trained.get("reverse", sizes["n_train_reverse"]) != sizes["n_train_reverse"]
        ):
            _, reason = MODEL_TRAIN_JETS.get(meta["preset"], {}).get(name, (None, ""))
            lines.append(
                f"- {name}: trained on the first {trained.get('forward', '–')} QCD / "
                f"{trained.get('reverse', '–')} top jets only"
                + (f" ({reason})" if reason else "")
                + "; same test samples."
            )
    if any(needs_outliers_safe(name) for name in payload["models"]):
        lines.append(
            "- (a) trained with W jets as outliers (outlier exposure): its W column is not an unsupervised "
            "result; top is the unseen signal."
        )
    zoo = run_zoo_summary(payload)
    if zoo is not None:
        lines += [
            "",
            f"## Signal zoo (seed {meta['seeds']['models']}; every score of each model)",
            "",
            f"Zoo samples: `zoo/NAME.h5`, {sizes['n_test']} jets each, against the same QCD test jets. Over seeds: "
            "`jetae benchmark --seeds` or `--seed-summary` (zoo.json).",
            "",
        ]
        lines += zoo_tables(zoo)
    failures = [
        (f"{name} {direction}", block)
        for name, directions in payload["models"].items()
        for direction, block in directions.items()
        if block.get("status") != "ok"
    ]
    if failures:
        lines += ["", "Failures:", ""]
        lines += [f"- {what}: {block.get('error_type')}: {block.get('error')}" for what, block in failures]
    reference = payload.get("published_reference") or PUBLISHED.as_dict()
    lines += [
        "",
        f"## {reference['heading']}",
        "",
        "Numbers read in the sources below, on *other* samples: for orientation only, not a comparison on "
        "the same jets.",
        "",
    ]
    rows = [
        [
            r["model"],
            r["data"],
            number_cell(r.get("top_auc"), ".4g", "–"),
            number_cell(r.get("r30"), ".0f", "–"),
            number_cell(r.get("reverse_auc"), ".3f", "–"),
            r["source"],
        ]
        for r in reference["rows"]
    ]
    lines += markdown_table(("model", "data", "top AUC", "R30", "reverse AUC", "source"), rows, right=(2, 3, 4))
    lines += [""] + [f"- {caveat}" for caveat in reference["caveats"]]
    return "\n".join(lines) + "\n"


def markdown_table_only(payload: Mapping[str, Any]) -> str:
    """Just the result table, and the zoo's AUC table for a zoo run (for the terminal)."""
    lines = markdown_table(RESULT_COLUMNS, result_rows(payload), right=tuple(range(1, len(RESULT_COLUMNS))))
    zoo = run_zoo_summary(payload)
    if zoo is not None:
        columns = zoo_columns(zoo)
        lines += ["", *markdown_table(columns, zoo_rows(zoo), right=tuple(range(1, len(columns))))]
    return "\n".join(lines) + "\n"

"""The terminal table of an evaluation: one line per model x score x signal."""

from __future__ import annotations

from typing import Any, Mapping

from jetae.evaluation import metrics as m
from jetae.evaluation.report import score_blocks


def summary_lines(metrics: Mapping[str, Any]) -> list[str]:
    """One line per model x score x signal (header first) for the terminal."""
    models = metrics["models"] if "models" in metrics else {metrics.get("model", "model"): metrics}
    header = (
        f"{'model':<20} {'score':<16} {'signal':<20} {'AUC':>15} {'R30':>9} {'R50':>9} {'eps_S@1e-2':>10} "
        f"{'1/JSD50':>9} {'n':>8}"
    )
    lines = [header]

    num = m.not_resolvable_text
    unresolved = False
    for label, model_metrics in models.items():
        for score, block in score_blocks(model_metrics).items():
            inv_jsd = block["mass_sculpting"].get("inv_jsd_eff50")
            for signal, s in block["signals"].items():
                err = s.get("auc_err")
                auc_text = num(s.get("auc"), ".4f") + (f"±{err:.4f}" if err is not None else "")
                cells = [
                    num(s.get("r30"), "9.2f"),
                    num(s.get("r50"), "9.2f"),
                    num(s.get("eps_s_at_1e-2"), ".4f"),
                    num(inv_jsd, "9.1f"),
                ]
                unresolved |= m.NOT_AVAILABLE in cells or s.get("auc") is None
                lines.append(
                    f"{label[:20]:<20} {score[:16]:<16} {signal[:20]:<20} {auc_text:>15} "
                    f"{cells[0]:>9} {cells[1]:>9} {cells[2]:>10} {cells[3]:>9} {s.get('n'):>8}"
                )
    if unresolved:
        lines.append(
            f"{m.NOT_AVAILABLE}: not resolvable with these samples; metrics.json gives the reason "
            f"(<figure>{m.REASON_SUFFIX})"
        )
    return lines

"""Sensitivity against mass sculpting across models: the points of the AUC-vs-1/JSD plot.

A DisCo lambda scan (models differing only in ``disco_lambda``) becomes one curve per
model configuration, its points ordered by lambda.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from typing import Sequence

from jetae.evaluation.jsonify import json_ready
from jetae.evaluation.model_metrics import ModelResult
from jetae.evaluation.report import score_blocks


def tradeoff_series(results: Sequence[ModelResult], signal: str) -> dict[str, list[tuple[float | None, float, str]]]:
    """Points of the sensitivity-vs-sculpting plot for one signal: ``{curve: [(1/JSD50, AUC, label)]}``.

    One curve per model configuration that differs only in ``disco_lambda`` (and score,
    when several are evaluated), named after the model (plus its first run label when one
    model appears with several configurations). Its runs are ordered by lambda (runs
    without one keep their order) and labelled ``λ=...``, else by their run label.
    ``1/JSD = None`` means infinite (JSD = 0). Runs whose AUC or JSD the samples do not
    resolve (``null`` in metrics.json) are left out.
    """
    grouped: dict[tuple[str, str, str], list[tuple[float, int, tuple[float | None, float, str]]]] = {}
    first_label: dict[tuple[str, str, str], str] = {}
    for order, result in enumerate(results):
        config = dict(result.metadata.get("config") or {})
        lam = config.pop("disco_lambda", None)
        lam = float(lam) if isinstance(lam, (int, float)) else None
        fingerprint = json.dumps(json_ready(config), sort_keys=True)
        for score, block in score_blocks(result.metrics).items():
            if signal not in block["signals"]:
                continue
            auc = block["signals"][signal].get("auc")
            if auc is None or block["mass_sculpting"].get("jsd_eff50") is None:
                continue  # not resolved by these samples: no point to draw
            key = (result.detector.name, score if len(result.score_names) > 1 else "", fingerprint)
            first_label.setdefault(key, result.label)
            inv_jsd = block["mass_sculpting"].get("inv_jsd_eff50")
            inv_jsd = None if inv_jsd is None or not math.isfinite(inv_jsd) else float(inv_jsd)
            point = (inv_jsd, float(auc), result.label if lam is None else f"λ={lam:g}")
            grouped.setdefault(key, []).append((math.inf if lam is None else lam, order, point))
    n_configs = Counter(name for name, _ in {(name, fingerprint) for name, _, fingerprint in grouped})
    series = {}
    for key, entries in grouped.items():
        name, score, _ = key
        curve = name + (f" [{first_label[key]}]" if n_configs[name] > 1 else "") + (f" ({score})" if score else "")
        series[curve] = [point for _, _, point in sorted(entries, key=lambda e: (e[0], e[1]))]
    return series

"""``jetae train``: fit a detector on background jets and save it to a run directory."""

from __future__ import annotations

import argparse
import logging
import shlex
import shutil
import sys
from pathlib import Path

from jetae.cli._types import positive_int, seed_int

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train", help="train a model on background jets",
        description="Train MODEL on the jets of --train (background only, unless you study contamination) "
                    "and save it to --out. Options come from --config (YAML/JSON) and --set key=value.",
    )
    parser.add_argument("model", help="model name (see `jetae models`)")
    parser.add_argument("--train", required=True, metavar="FILE.h5", help="training jets (reference layout)")
    parser.add_argument("--val", metavar="FILE.h5", help="validation jets (default: a split of --train)")
    parser.add_argument("--outliers", metavar="FILE.h5",
                        help="outlier jets for outlier-exposure models (e.g. oe_vae; W jets when testing on top)")
    parser.add_argument("--out", required=True, metavar="RUN_DIR", help="directory to write the model to")
    parser.add_argument("--epochs", type=positive_int, help="maximum number of epochs")
    parser.add_argument("--config", metavar="FILE.yaml", help="YAML/JSON file of model options")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override one option (repeatable), e.g. --set lr=1e-3 --set representation.n_pixels=32")
    parser.add_argument("--n-train", type=positive_int, metavar="N", help="use only the first N training jets")
    parser.add_argument("--device", help="auto, cpu, cuda or mps")
    parser.add_argument("--devices", type=positive_int, help="devices per node (>1 uses DDP)")
    parser.add_argument("--num-nodes", type=positive_int, help="number of nodes (DDP)")
    parser.add_argument("--seed", type=seed_int, help="random seed")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing RUN_DIR")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run from its last checkpoint")
    parser.set_defaults(func=run)


def model_options(args: argparse.Namespace) -> dict:
    """Merge --config, --set and the dedicated flags into one overrides dict."""
    from jetae.config import _merge, load_config_file, parse_set_options

    from jetae.models.base import config_fields
    from jetae.models.registry import get_model_spec

    options = load_config_file(args.config) if args.config else {}
    options = _merge(options, parse_set_options(args.set))
    fields = config_fields(get_model_spec(args.model).config_cls)
    for flag, key in (("epochs", "epochs"), ("device", "device"), ("devices", "devices"),
                      ("num_nodes", "num_nodes"), ("seed", "seed")):
        value = getattr(args, flag, None)
        if value is not None:
            # a model made of other models (ensemble) passes training flags on to their options
            target = options if key in fields or "options" not in fields else options.setdefault("options", {})
            target[key] = value
    return options


def checkpoint_dir_for(run_dir: Path) -> Path:
    """Where an unfinished run keeps its checkpoints (removed when the run completes)."""
    return run_dir.with_name(run_dir.name + ".partial")


def is_ddp_worker() -> bool:
    """True in a DDP process other than global rank 0 (started by Lightning, torchrun or SLURM).

    Such a process trains its share but must not touch the run directory or checkpoints.
    """
    import os

    for variable in ("RANK", "LOCAL_RANK", "NODE_RANK"):
        if os.environ.get(variable, "0") != "0":
            return True
    return False


def run(args: argparse.Namespace) -> int:
    from jetae.data.toptag import read_jets
    from jetae.errors import JetaeError
    from jetae.models import create_model

    run_dir = Path(args.out)
    if run_dir.exists() and not args.overwrite:
        raise JetaeError("run directory already exists; pass --overwrite to replace it", run_dir)
    detector = create_model(args.model, model_options(args))
    fit_options = {}
    if getattr(args, "outliers", None):
        if "outliers" not in getattr(detector, "fit_options", ()):
            raise JetaeError(f"model {args.model!r} does not train on outliers; --outliers is for outlier-exposure "
                             "models such as oe_vae")
        fit_options["outliers"] = read_jets(args.outliers)
    train_jets = read_jets(args.train, n_max=args.n_train)
    val_jets = read_jets(args.val) if args.val else None
    n_signal = int(train_jets.is_signal.sum())
    if n_signal:
        log.warning("%s: %d of %d training jets are labelled signal (contamination study?)", args.train,
                    n_signal, len(train_jets))
    checkpoints = checkpoint_dir_for(run_dir)
    if not args.resume and checkpoints.exists() and not is_ddp_worker():
        # (A DDP worker starts after rank 0 has begun writing here: it must not delete anything.)
        shutil.rmtree(checkpoints)
    detector.fit(train_jets, val_jets, checkpoint_dir=checkpoints, resume=args.resume, **fit_options)
    if not getattr(detector, "is_global_zero_", True) or is_ddp_worker():
        return 0  # DDP worker process: rank 0 writes the model
    provenance = {
        "command": "jetae " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv else "",
        "train_file": str(args.train),
        "val_file": str(args.val) if args.val else None,
        "n_train": len(train_jets),
        "n_val": len(val_jets) if val_jets is not None else None,
    }
    if "outliers" in fit_options:
        provenance["outliers_file"] = str(args.outliers)
        provenance["n_outliers"] = len(fit_options["outliers"])
    detector.save(run_dir, overwrite=args.overwrite, extra=provenance)
    shutil.rmtree(checkpoints, ignore_errors=True)
    print(f"trained {args.model} on {len(train_jets)} jets -> {run_dir}{_best_epoch_summary(detector)}")
    return 0


def _best_epoch_summary(detector) -> str:
    """`` (best epoch 7 of 12: train_loss=..., val_loss=...)`` from the loss history, or ''."""
    history = [r for r in getattr(detector, "history_", []) if isinstance(r, dict) and "epoch" in r]
    if not history:
        return ""
    monitor = "val_loss" if any("val_loss" in r for r in history) else "train_loss"
    members = sorted({r["member"] for r in history if "member" in r})
    if members:  # an ensemble: the best epoch of each member
        best_epochs = []
        for member in members:
            own = [r for r in history if r.get("member") == member]
            best = min(own, key=lambda r: r.get(monitor, float("inf")))
            best_epochs.append(f"{best['epoch']} of {len(own)}")
        return f" ({len(members)} members; best epochs by {monitor}: {', '.join(best_epochs)})"
    best = min(history, key=lambda r: r.get(monitor, float("inf")))
    losses = ", ".join(f"{k}={v:.5g}" for k, v in best.items() if k.endswith("loss"))
    return f" (best epoch {best['epoch']} of {len(history)}: {losses})"

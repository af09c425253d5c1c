"""``jetae train``: fit a detector on background jets and save it to a run directory."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

from jetae.cli._options import add_unphysical_option, unphysical_policy
from jetae.cli._types import positive_int, seed_int
from jetae.config import config_to_dict, load_config_file, merge_options, parse_set_options
from jetae.errors import JetaeError
from jetae.io.atomic import check_writable, write_text_atomic
from jetae.models.registry import create_model, get_model_spec
from jetae.train.config import result_neutral_options

log = logging.getLogger(__name__)

#: The record, in RUN_DIR.partial, of what an unfinished run trains (see :func:`training_record`).
OPTIONS_FILE = "options.json"

#: Trainer options that may differ when a run is resumed: they change how it runs (where, with or
#: without a progress bar), not what it learns. Every other option, the model and the data must match.
RESUME_FREE_OPTIONS = result_neutral_options()


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a model on background jets",
        description="Train MODEL on the jets of --train (background only, unless you study contamination) "
        "and save it to --out. Options come from --config (YAML/JSON) and --set key=value.",
    )
    parser.add_argument("model", help="model name (see `jetae models`)")
    parser.add_argument("--train", required=True, metavar="FILE.h5", help="training jets (reference layout)")
    parser.add_argument("--val", metavar="FILE.h5", help="validation jets (default: a split of --train)")
    parser.add_argument(
        "--outliers",
        metavar="FILE.h5",
        help="outlier jets for outlier-exposure models (e.g. oe_vae; W jets when testing on top)",
    )
    parser.add_argument("--out", required=True, metavar="RUN_DIR", help="directory to write the model to")
    parser.add_argument("--epochs", type=positive_int, help="maximum number of epochs")
    parser.add_argument("--config", metavar="FILE.yaml", help="YAML/JSON file of model options")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one option (repeatable), e.g. --set lr=1e-3 --set representation.n_pixels=32",
    )
    parser.add_argument("--n-train", type=positive_int, metavar="N", help="use only the first N training jets")
    parser.add_argument("--device", help="auto, cpu, cuda or mps")
    parser.add_argument("--devices", type=positive_int, help="devices per node (>1 uses DDP)")
    parser.add_argument("--num-nodes", type=positive_int, help="number of nodes (DDP)")
    parser.add_argument("--seed", type=seed_int, help="random seed")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing RUN_DIR and throw away the checkpoints of an interrupted run "
        "(RUN_DIR.partial); with --resume, only RUN_DIR is replaced",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run from its last checkpoint (in RUN_DIR.partial). Use the "
        "model, options (--config, --set, --epochs, --seed, --devices, --num-nodes) and data "
        "(--train, --val, --outliers, --n-train) of the interrupted run: a difference is "
        "refused, so that the saved config describes what was trained. Only the trainer "
        "options that cannot change the result (--device, --set progress=...) may differ",
    )
    add_unphysical_option(parser)
    parser.set_defaults(func=run)


def model_options(args: argparse.Namespace) -> dict:
    """Merge --config, --set and the dedicated flags into one dict of options (model and trainer options)."""
    options = load_config_file(args.config) if args.config else {}
    fields = get_model_spec(args.model).option_names()
    if "model" in options and "model" not in fields:
        # a config file may name the model it is for (configs/agnostic.yaml): it must be this one
        named = options.pop("model")
        if named != args.model:
            raise JetaeError(f"is a config for model {named!r}, not {args.model!r}", args.config)
    options = merge_options(options, parse_set_options(args.set))
    for flag, key in (
        ("epochs", "epochs"),
        ("device", "device"),
        ("devices", "devices"),
        ("num_nodes", "num_nodes"),
        ("seed", "seed"),
    ):
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
    for variable in ("RANK", "LOCAL_RANK", "NODE_RANK"):
        if os.environ.get(variable, "0") != "0":
            return True
    return False


def has_checkpoint(checkpoints: Path) -> bool:
    """Whether an unfinished run's folder holds a checkpoint (of the model or of an ensemble member)."""
    return checkpoints.is_dir() and any(checkpoints.rglob("*.ckpt"))


def training_record(args: argparse.Namespace, detector) -> dict[str, Any]:
    """What a run trains: the model, its fully resolved options (``config`` and ``trainer``, as in the saved
    ``config.json``) and the data (absolute paths, --n-train).

    Written to ``RUN_DIR.partial/options.json`` when a run starts; ``--resume`` compares it with
    the record of the resuming command (:func:`resume_differences`).
    """

    def absolute(path: str | None) -> str | None:
        return None if path is None else os.path.abspath(path)

    return {
        "model": args.model,
        "config": config_to_dict(detector.config),
        "trainer": None if detector.trainer_config is None else config_to_dict(detector.trainer_config),
        "data": {
            "train": absolute(args.train),
            "val": absolute(args.val),
            "outliers": absolute(getattr(args, "outliers", None)),
            "n_train": args.n_train,
            "unphysical": unphysical_policy(args),
        },
    }


def resume_differences(old: dict, new: dict) -> list[str]:
    """``["lr: 0.001 -> 0.01", "--n-train: null -> 100", ...]`` between two :func:`training_record` s.

    Trainer options in :data:`RESUME_FREE_OPTIONS` (the model's, or those of an ensemble's members,
    given under ``options``) are left out: they do not change what is trained.
    """

    def flatten(record: Any, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
        if isinstance(record, dict) and record:
            return {
                key: value for name, item in record.items() for key, value in flatten(item, (*prefix, name)).items()
            }
        return {prefix: record}

    def label(key: tuple[str, ...]) -> str:
        if key[0] == "data":
            return "--" + key[1].replace("_", "-")
        return ".".join(key[1:]) if key[0] in ("config", "trainer") else ".".join(key)

    def free(key: tuple[str, ...]) -> bool:
        if key[-1] not in RESUME_FREE_OPTIONS:
            return False
        return key[:-1] == ("trainer",) or key[:-1] == ("config", "options")  # the model's, or its members'

    old_flat, new_flat = flatten(old), flatten(new)
    missing = object()
    changes = []
    for key in sorted(set(old_flat) | set(new_flat)):
        before, after = old_flat.get(key, missing), new_flat.get(key, missing)
        if before != after and not free(key):
            shown = ["(unset)" if value is missing else json.dumps(value) for value in (before, after)]
            changes.append(f"{label(key)}: {shown[0]} -> {shown[1]}")
    return changes


def check_checkpoint_dir(checkpoints: Path, record: dict, resume: bool, overwrite: bool) -> None:
    """Refuse, before any work, to lose or to wrongly continue the checkpoints of an interrupted run.

    Without ``--resume`` the checkpoints are thrown away only with ``--overwrite``. With ``--resume``
    the options of the interrupted run (``options.json``) must equal this command's, except
    :data:`RESUME_FREE_OPTIONS`: a run resumed with another learning rate, epoch count, network
    or data would continue with the old settings (they live in the checkpoint) while the saved
    config claimed the new ones. A folder without a checkpoint holds nothing worth keeping.
    """
    if not has_checkpoint(checkpoints):
        return
    if not resume:
        if not overwrite:
            raise JetaeError(
                "holds the checkpoints of an interrupted run: pass --resume to continue it, "
                "or --overwrite to throw it away and start again",
                checkpoints,
            )
        return
    try:
        saved = json.loads((checkpoints / OPTIONS_FILE).read_text())
        if not isinstance(saved, dict):
            raise ValueError(OPTIONS_FILE)
    except (OSError, ValueError):
        raise JetaeError(
            f"cannot resume: no readable {OPTIONS_FILE} says what the interrupted run trained; "
            "pass --overwrite (without --resume) to start again",
            checkpoints,
        ) from None
    changes = resume_differences(saved, record)
    if changes:
        raise JetaeError(
            f"cannot resume with options other than the interrupted run's ({'; '.join(changes)}): "
            "rerun with the original options, or pass --overwrite (without --resume) to start again",
            checkpoints,
        )


def start_checkpoint_dir(checkpoints: Path, record: dict, resume: bool) -> None:
    """Empty ``checkpoints`` (unless resuming one) and record what this run trains in it."""
    if resume and has_checkpoint(checkpoints):
        return  # check_checkpoint_dir found the same options there
    if checkpoints.exists():
        log.info("removing %s", checkpoints)
        shutil.rmtree(checkpoints)
    checkpoints.mkdir(parents=True)
    write_text_atomic(checkpoints / OPTIONS_FILE, json.dumps(record, indent=1) + "\n")


def run(args: argparse.Namespace) -> int:
    from jetae.io.toptag import read_jets

    run_dir = Path(args.out)
    checkpoints = checkpoint_dir_for(run_dir)
    if run_dir.exists() and not args.overwrite:
        raise JetaeError("run directory already exists; pass --overwrite to replace it", run_dir)
    # Outputs first: a folder that cannot be written fails now, not after the fit.
    check_writable(run_dir, kind="dir")
    check_writable(checkpoints, kind="dir")
    detector = create_model(args.model, model_options(args))
    record = training_record(args, detector)
    # A DDP worker starts after rank 0 has begun writing the checkpoints: it must not touch them.
    main_process = not is_ddp_worker()
    if main_process:
        check_checkpoint_dir(checkpoints, record, resume=args.resume, overwrite=args.overwrite)
    fit_options = {}
    if getattr(args, "outliers", None):
        if "outliers" not in detector.fit_options:
            raise JetaeError(
                f"model {args.model!r} does not train on outliers; --outliers is for outlier-exposure "
                "models such as oe_vae"
            )
        fit_options["outliers"] = read_jets(args.outliers, on_unphysical=unphysical_policy(args))
    train_jets = read_jets(args.train, n_max=args.n_train, on_unphysical=unphysical_policy(args))
    val_jets = read_jets(args.val, on_unphysical=unphysical_policy(args)) if args.val else None
    n_signal = int(train_jets.is_signal.sum())
    if n_signal:
        log.warning(
            "%s: %d of %d training jets are labelled signal (contamination study?)",
            args.train,
            n_signal,
            len(train_jets),
        )
    train_jets = detector.select_training_jets(train_jets)  # what fit uses (nae caps it): recorded below
    try:
        if main_process:
            start_checkpoint_dir(checkpoints, record, resume=args.resume)
        detector.fit(train_jets, val_jets, checkpoint_dir=checkpoints, resume=args.resume, **fit_options)
    except BaseException:
        if main_process and not has_checkpoint(checkpoints):
            shutil.rmtree(checkpoints, ignore_errors=True)  # nothing to resume: leave no empty folder behind
        raise
    if not detector.is_global_zero_ or not main_process:
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
    if members:  # an ensemble or a combination: the best epoch of each member that trains by epochs
        best_epochs = []
        for member in members:
            own = [r for r in history if r.get("member") == member]
            best = min(own, key=lambda r: r.get(monitor, float("inf")))
            best_epochs.append(f"member {member}: {best['epoch']} of {len(own)}")
        return f" (best epochs by {monitor}: {', '.join(best_epochs)})"
    best = min(history, key=lambda r: r.get(monitor, float("inf")))
    losses = ", ".join(f"{k}={v:.5g}" for k, v in best.items() if k.endswith("loss"))
    return f" (best epoch {best['epoch']} of {len(history)}: {losses})"

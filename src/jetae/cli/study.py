"""``jetae study contamination|reverse|digits|toy|pretrain|features|morph``: the studies named in the
field's literature, and the autoencoder used as a tool (pretraining, features, morphing)."""

from __future__ import annotations

import argparse
import shlex
from typing import Any, Sequence

from jetae.config import merge_options, parse_set_options
from jetae.errors import JetaeError

# The studies and the model registry pull in torch, sklearn and matplotlib: they are imported
# inside the functions below, when a study runs, so that `jetae --help` (which registers every
# command) stays fast.

STUDIES = {
    "contamination": "AUC vs the fraction of signal mixed into the training jets",
    "reverse": "train on background and tag signal, train on signal and tag background",
    "digits": "8x8 digits: train on nine classes, score the held-out one (per digit, per model)",
    "toy": "function autoencoder: points on y = f(x) through a 1-d bottleneck (runs in seconds)",
    "pretrain": "unsupervised pretraining: tagger from the AE's encoder vs from random weights, per label count",
    "features": "boosted trees on observables, on AE features (code + error), on both; isolation forest",
    "morph": "decoded jets along lines in the latent space: interpolation and an attribute vector, measured",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "study",
        help="run a study: contamination, reverse, digits, toy, pretrain, features, morph",
        description="Studies that train detectors and compare them. Each writes results.json, config.json "
        "(the fully resolved configuration) and its plot (PNG and PDF) to --out.",
    )
    studies = parser.add_subparsers(dest="study", metavar="STUDY", required=True)

    contamination = _add(
        studies,
        "contamination",
        "Train each --model on N jets of which a fraction f is signal ((1-f)N background + fN "
        "signal, seeded), for each f, and evaluate on the clean test set (background test vs "
        "signal test). Plots AUC vs f.",
    )
    _jet_inputs(contamination, "size N of every (mixed) training sample (default: all background training jets)")
    contamination.add_argument(
        "--fractions",
        nargs="+",
        default=["0", "0.01", "0.05", "0.1", "0.5"],
        metavar="F",
        help="signal fractions in [0, 1], space or comma separated (default: 0 0.01 0.05 0.1 0.5)",
    )
    _model_options(contamination, default_models=["conv_ae"])
    contamination.set_defaults(func=run_contamination)

    reverse = _add(
        studies,
        "reverse",
        "Train each --model on the background training jets and tag the signal (forward), and on "
        "the signal training jets and tag the background (reverse). Records AUC and R30 both ways.",
    )
    _jet_inputs(reverse, "use the first N jets of each training file (default: all)")
    _model_options(reverse, default_models=["conv_ae"])
    reverse.set_defaults(func=run_reverse)

    digits = _add(
        studies,
        "digits",
        "scikit-learn's bundled 8x8 digits: for each held-out digit train each --model on the nine "
        "other classes and score the held-out one; one AUC per digit and model.",
    )
    digits.add_argument(
        "--digits",
        nargs="+",
        default=[str(d) for d in range(10)],
        metavar="D",
        help="digits to hold out in turn (default: 0-9)",
    )
    digits.add_argument(
        "--test-fraction",
        type=float,
        default=0.25,
        metavar="F",
        help="fraction of the nine inlier classes kept for testing (default: 0.25)",
    )
    _model_options(digits, default_models=["conv_ae", "nae"], bootstrap=False)
    digits.set_defaults(func=run_digits)

    toy = _add(
        studies,
        "toy",
        "The function autoencoder (also examples/function_autoencoder.py): points on y = f(x) are input "
        "and output of a dense AE with a 1-d code. Plots the learned curve over the training points and "
        "the reconstruction error over the plane.",
    )
    toy.add_argument("--function", default="sin", help="sin, parabola, cubic, tanh or gauss (default: sin)")
    toy.add_argument("--n-points", type=int, default=1000, metavar="N", help="training points (default: 1000)")
    toy.add_argument("--x-range", type=float, nargs=2, metavar=("MIN", "MAX"), help="x range (default: per function)")
    toy.add_argument("--noise", type=float, default=0.0, help="Gaussian noise on y (default: 0)")
    toy.add_argument("--grid-size", type=int, default=120, metavar="N", help="score map points per axis")
    toy.add_argument(
        "--off-curve-distance",
        type=float,
        default=0.5,
        metavar="DY",
        help="vertical shift of the off-curve test points (default: 0.5)",
    )
    toy.add_argument("--model", default="dense_ae", help="model taking (n, 2) arrays (default: dense_ae)")
    toy.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a model option (repeatable), e.g. --set latent_dim=2 --set activation=relu",
    )
    toy.add_argument("--epochs", type=int, help="maximum number of epochs")
    toy.set_defaults(func=run_toy)

    _register_ae_tool(studies)


def _register_ae_tool(studies: argparse._SubParsersAction) -> None:
    """The studies that use a trained autoencoder as a tool (issue #20; ``jetae sample`` is its own command)."""
    from jetae.cli._types import positive_int

    pretrain = _add(
        studies,
        "pretrain",
        "Pretrain an autoencoder (--model, default dense_ae on 40x40 images) on all training jets of "
        "--background and --signal without labels; then, for each label count and seed, train a tagger = "
        "its encoder + a small head (BCE) on that many labelled jets, once from the pretrained weights and "
        "once from random weights with the same budget (plus a frozen-encoder reference). Plots test AUC "
        "vs label count and says where pretraining helps.",
    )
    _tool_inputs(pretrain)
    pretrain.add_argument(
        "--labels",
        nargs="+",
        default=["100,300,1000,3000,10000"],
        metavar="N",
        help="numbers of labelled jets, half background, half signal (default: 100,300,1000,3000,10000)",
    )
    pretrain.add_argument(
        "--seeds", type=positive_int, default=3, metavar="K", help="seeds per label count (default 3)"
    )
    pretrain.add_argument("--model", default="dense_ae", metavar="NAME", help="the autoencoder (default: dense_ae)")
    pretrain.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override an autoencoder option (repeatable; default for dense_ae: representation={kind: image}, "
        "scaler=global)",
    )
    pretrain.add_argument("--epochs", type=positive_int, help="maximum number of epochs of the autoencoder")
    pretrain.add_argument(
        "--steps", type=positive_int, default=500, metavar="N", help="optimiser steps of every tagger (default: 500)"
    )
    pretrain.add_argument(
        "--tagger-batch-size", type=positive_int, default=128, metavar="N", help="tagger batch size (default: 128)"
    )
    pretrain.add_argument("--tagger-lr", type=float, default=1e-3, metavar="LR", help="tagger learning rate (1e-3)")
    pretrain.set_defaults(func=run_pretrain)

    features = _add(
        studies,
        "features",
        "Gradient-boosted trees (LightGBM, extra 'gbdt') trained with labels on (a) jet observables (mass, pT, "
        "multiplicity, N-subjettiness tau1-3, tau21, tau32; FastJet), (b) the AE's latent code + reconstruction "
        "error, (c) both; and an isolation forest on the AE features of background only. AUCs on the test files, "
        "feature importances.",
    )
    features.add_argument("run", metavar="RUN", help="run directory of a trained autoencoder")
    _tool_inputs(features)
    features.add_argument(
        "--gbdt-set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a LightGBM option (repeatable), e.g. --gbdt-set num_leaves=63",
    )
    features.add_argument(
        "--n-bootstrap", type=int, default=100, metavar="N", help="bootstrap replicas of the AUC errors (default: 100)"
    )
    features.set_defaults(func=run_features)

    morph = _add(
        studies,
        "morph",
        "Decode jets along the line between the latent codes of pairs (A from --from, B from --to) and add the "
        "attribute vector (mean code of B - mean code of A) to A's codes in steps; measures mass, pT, multiplicity "
        "and N-subjettiness ratios of the decoded jets at every step.",
    )
    morph.add_argument("run", metavar="RUN", help="run directory of a trained autoencoder (images, or constituents)")
    morph.add_argument("--from", dest="from_file", required=True, metavar="A.h5", help="jets A (reference layout)")
    morph.add_argument("--to", dest="to_file", required=True, metavar="B.h5", help="jets B (reference layout)")
    morph.add_argument(
        "--n-jets", type=positive_int, default=2000, metavar="N", help="jets read from each file (default: 2000)"
    )
    morph.add_argument("--pairs", type=positive_int, default=6, metavar="N", help="pairs interpolated (default: 6)")
    morph.add_argument("--steps", type=int, default=9, metavar="N", help="points per walk, endpoints included (9)")
    morph.add_argument(
        "--max-alpha", type=float, default=1.0, metavar="A", help="largest multiple of the attribute vector (1)"
    )
    morph.set_defaults(func=run_morph)


def _tool_inputs(parser: argparse.ArgumentParser) -> None:
    """The four jet files, named as in issue #20 (the other studies' names are accepted too)."""
    for flags, dest, what in (
        (("--background-train", "--background"), "background_train", "background training jets"),
        (("--signal-train", "--signal"), "signal_train", "signal training jets"),
        (("--background-test", "--test-background"), "background_test", "background test jets"),
        (("--signal-test", "--test-signal"), "signal_test", "signal test jets"),
    ):
        parser.add_argument(*flags, dest=dest, required=True, metavar="FILE.h5", help=f"{what} (reference layout)")
    parser.add_argument("--n-train", type=int, metavar="N", help="use at most the first N jets of each training file")
    parser.add_argument("--n-test", type=int, metavar="N", help="use at most the first N jets of each test file")


def _add(studies: argparse._SubParsersAction, name: str, description: str) -> argparse.ArgumentParser:
    parser = studies.add_parser(name, help=STUDIES[name], description=description)
    parser.add_argument("--out", required=True, metavar="DIR", help="output directory (refused if it exists)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampling and of every model (default: 0)")
    parser.set_defaults(study_parser=parser)
    return parser


def _jet_inputs(parser: argparse.ArgumentParser, n_train_help: str) -> None:
    for role in ("background-train", "signal-train", "background-test", "signal-test"):
        parser.add_argument(
            f"--{role}", required=True, metavar="FILE.h5", help=f"{role.replace('-', ' ')} jets (reference layout)"
        )
    parser.add_argument("--n-train", type=int, metavar="N", help=n_train_help)
    parser.add_argument("--n-test", type=int, metavar="N", help="use at most the first N jets of each test file")


def _model_options(parser: argparse.ArgumentParser, default_models: list[str], bootstrap: bool = True) -> None:
    parser.add_argument(
        "--model",
        action="append",
        metavar="NAME",
        help=f"model to study (repeatable; default: {' '.join(default_models)})",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="[MODEL:]KEY=VALUE",
        help="override a model option (repeatable) for every model, or for one with a MODEL: "
        "prefix, e.g. --set epochs=10 --set conv_ae:latent_dim=16",
    )
    parser.add_argument("--epochs", type=int, help="maximum number of epochs of every model that has epochs")
    if bootstrap:
        parser.add_argument(
            "--n-bootstrap",
            type=int,
            default=100,
            metavar="N",
            help="bootstrap replicas of the AUC error (default: 100)",
        )
    parser.set_defaults(default_models=default_models)


# --------------------------------------------------------------------------- option handling
def command_line(args: argparse.Namespace) -> str:
    """The study as a shell command, rebuilt from the parsed options (however it was called)."""
    words = ["jetae", "study", args.study]
    words += [str(getattr(args, a.dest)) for a in args.study_parser._actions if not a.option_strings]
    for action in args.study_parser._actions:
        if not action.option_strings or action.dest == "help":
            continue
        value = getattr(args, action.dest, None)
        if value is None or value is False or value == action.default:
            continue
        flag = action.option_strings[-1]
        if value is True:
            words.append(flag)
        elif action.nargs in ("+", 2) or isinstance(action.nargs, int):
            words += [flag, *map(str, value)]
        elif isinstance(value, list):
            for item in value:
                words += [flag, str(item)]
        else:
            words += [flag, str(value)]
    return shlex.join(words)


def split_numbers(values: Sequence[str], what: str, kind: type = float) -> list[Any]:
    """``["0", "0.01,0.05"]`` -> ``[0.0, 0.01, 0.05]``; a bad number raises a JetaeError."""
    items = [item for value in values for item in str(value).replace(",", " ").split()]
    try:
        return [kind(item) for item in items]
    except ValueError:
        raise JetaeError(f"{what} must be numbers, got {' '.join(items)!r}") from None


def per_model_options(
    models: Sequence[str], assignments: Sequence[str], epochs: int | None = None
) -> dict[str, dict[str, Any]]:
    """``--set [MODEL:]key=value`` (and ``--epochs``) as ``{model: overrides}``.

    An assignment without a prefix applies to every model; ``MODEL:key=value`` to that
    model only (which must be one of the study's models).
    """
    from jetae.experiments.options import has_option

    common: list[str] = []
    specific: dict[str, list[str]] = {name: [] for name in models}
    for item in assignments:
        key = item.split("=", 1)[0]
        if ":" in key:
            name, rest = item.split(":", 1)
            if name not in specific:
                raise JetaeError(f"--set {item}: model {name!r} is not in this study ({', '.join(models)})")
            specific[name].append(rest)
        else:
            common.append(item)
    options = {}
    for name in models:
        merged = merge_options(parse_set_options(common), parse_set_options(specific[name]))
        if epochs is not None and has_option(name, "epochs"):
            merged["epochs"] = epochs
        options[name] = merged
    return options


def _models(args: argparse.Namespace) -> list[str]:
    from jetae.experiments.options import check_models

    return check_models(args.model or args.default_models)


def _check_common(args: argparse.Namespace) -> None:
    from jetae.experiments.studies.common import check_out_dir

    names = ("background_train", "signal_train", "background_test", "signal_test", "run", "from_file", "to_file")
    inputs = [getattr(args, name, None) for name in names]
    check_out_dir(args.out, args.overwrite, [path for path in inputs if isinstance(path, str)])
    if getattr(args, "n_bootstrap", 0) < 0:
        raise JetaeError(f"--n-bootstrap must be >= 0, got {args.n_bootstrap}")
    for flag in ("n_train", "n_test", "epochs"):
        value = getattr(args, flag, None)
        if value is not None and value < 1:
            raise JetaeError(f"--{flag.replace('_', '-')} must be >= 1, got {value}")


def _finish(lines: list[str], out: str) -> int:
    from jetae.experiments.studies.common import RESULTS_FILE

    print("\n".join(lines))
    print(f"results: {out}/{RESULTS_FILE}")
    return 0


# --------------------------------------------------------------------------- studies
def run_contamination(args: argparse.Namespace) -> int:
    from jetae.experiments.studies.contamination import (
        check_fractions,
        contamination_study,
        summary_lines,
        write_contamination,
    )

    _check_common(args)
    models = _models(args)
    fractions = check_fractions(split_numbers(args.fractions, "--fractions"))
    results = contamination_study(
        args.background_train,
        args.signal_train,
        args.background_test,
        args.signal_test,
        models=models,
        fractions=fractions,
        n_train=args.n_train,
        n_test=args.n_test,
        seed=args.seed,
        model_options=per_model_options(models, args.set, args.epochs),
        n_bootstrap=args.n_bootstrap,
    )
    write_contamination(args.out, results, command_line(args), overwrite=args.overwrite)
    return _finish(summary_lines(results), args.out)


def run_reverse(args: argparse.Namespace) -> int:
    from jetae.experiments.studies.reverse import reverse_study, summary_lines, write_reverse

    _check_common(args)
    models = _models(args)
    results = reverse_study(
        args.background_train,
        args.signal_train,
        args.background_test,
        args.signal_test,
        models=models,
        n_train=args.n_train,
        n_test=args.n_test,
        seed=args.seed,
        model_options=per_model_options(models, args.set, args.epochs),
        n_bootstrap=args.n_bootstrap,
    )
    write_reverse(args.out, results, command_line(args), overwrite=args.overwrite)
    return _finish(summary_lines(results), args.out)


def run_digits(args: argparse.Namespace) -> int:
    from jetae.experiments.studies.digits import digits_holdout_study, summary_lines, write_digits

    _check_common(args)
    models = _models(args)
    result = digits_holdout_study(
        models=models,
        digits=split_numbers(args.digits, "--digits", int),
        test_fraction=args.test_fraction,
        seed=args.seed,
        model_options=per_model_options(models, args.set, args.epochs),
    )
    write_digits(args.out, result, command_line(args), overwrite=args.overwrite)
    return _finish(summary_lines(result), args.out)


def run_toy(args: argparse.Namespace) -> int:
    from jetae.experiments.studies.toy import summary_lines, toy_study, write_toy

    _check_common(args)
    options = per_model_options([args.model], args.set, args.epochs)[args.model]
    result = toy_study(
        function=args.function,
        n_points=args.n_points,
        x_range=tuple(args.x_range) if args.x_range else None,
        noise=args.noise,
        seed=args.seed,
        model=args.model,
        model_options=options,
        grid_size=args.grid_size,
        off_curve_distance=args.off_curve_distance,
    )
    write_toy(args.out, result, command_line(args), overwrite=args.overwrite)
    return _finish(summary_lines(result), args.out)


def run_pretrain(args: argparse.Namespace) -> int:
    from jetae.experiments.options import check_models
    from jetae.experiments.studies.pretrain import TaggerBudget, pretrain_study, summary_lines, write_pretrain

    _check_common(args)
    check_models([args.model])
    options = per_model_options([args.model], args.set, args.epochs)[args.model]
    results = pretrain_study(
        args.background_train,
        args.signal_train,
        args.background_test,
        args.signal_test,
        labels=split_numbers(args.labels, "--labels", int),
        n_seeds=args.seeds,
        model=args.model,
        model_options=options,
        n_train=args.n_train,
        n_test=args.n_test,
        seed=args.seed,
        budget=TaggerBudget(steps=args.steps, batch_size=args.tagger_batch_size, lr=args.tagger_lr),
    )
    write_pretrain(args.out, results, command_line(args), overwrite=args.overwrite)
    return _finish(summary_lines(results), args.out)


def run_features(args: argparse.Namespace) -> int:
    from jetae.experiments.studies.features import features_study, summary_lines, write_features

    _check_common(args)
    results = features_study(
        args.run,
        args.background_train,
        args.signal_train,
        args.background_test,
        args.signal_test,
        n_train=args.n_train,
        n_test=args.n_test,
        seed=args.seed,
        gbdt_options=parse_set_options(args.gbdt_set),
        n_bootstrap=args.n_bootstrap,
    )
    write_features(args.out, results, command_line(args), overwrite=args.overwrite)
    return _finish(summary_lines(results), args.out)


def run_morph(args: argparse.Namespace) -> int:
    from jetae.experiments.studies.morph import morph_study, summary_lines, write_morph

    _check_common(args)
    results, images = morph_study(
        args.run,
        args.from_file,
        args.to_file,
        n_jets=args.n_jets,
        n_pairs=args.pairs,
        steps=args.steps,
        max_alpha=args.max_alpha,
        seed=args.seed,
    )
    write_morph(args.out, results, images, command_line(args), overwrite=args.overwrite)
    return _finish(summary_lines(results), args.out)

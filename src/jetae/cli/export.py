"""``jetae export``: a trained model as one ONNX graph from raw constituents to the anomaly score."""

from __future__ import annotations

import argparse

from jetae.cli._options import add_unphysical_option, unphysical_policy
from jetae.cli.score import check_output


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export a trained model to ONNX (constituents -> anomaly score)",
        description="Write an ONNX graph that takes float32 constituents (n_jets, n_constituents, 4) "
        "(E, px, py, pz in GeV, all-zero rows = padding, the reference layout's order) and returns one "
        "anomaly score per jet: representation (e.g. image making), input scaling, network and score in one "
        "graph, checked with onnxruntime before it is written. See docs/export.md.",
    )
    parser.add_argument("run_dir", help="model directory written by `jetae train`")
    parser.add_argument("--out", required=True, metavar="MODEL.onnx", help="output ONNX file")
    parser.add_argument("--score", metavar="NAME", help="score to export (default: the model's first)")
    parser.add_argument(
        "--from",
        dest="inputs",
        choices=("constituents", "representation"),
        default="constituents",
        help="graph input: raw constituents (default), or the representation the model reads (e.g. jet images, "
        "for toolchains that compute it elsewhere)",
    )
    parser.add_argument("--opset", type=int, default=None, metavar="N", help="ONNX opset (default 17; >= 16)")
    parser.add_argument(
        "--check",
        metavar="JETS.h5",
        help="also score these jets with jetae and with onnxruntime and print how well they agree",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing MODEL.onnx")
    add_unphysical_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # torch and onnx load only when the command runs (`jetae --help` imports every command module)
    from jetae.errors import JetaeError
    from jetae.models import load_model
    from jetae.models.export import DEFAULT_OPSET, OnnxScorer, export_onnx, score_agreement

    opset = DEFAULT_OPSET if args.opset is None else args.opset
    if opset < 16:
        raise JetaeError(f"--opset must be >= 16 (ScatterElements with add-reduction), got {opset}")
    inputs = [args.run_dir] + ([args.check] if args.check else [])
    check_output(args.out, inputs, args.overwrite)
    detector = load_model(args.run_dir)
    jets = None
    if args.check:
        from jetae.io.toptag import read_jets

        jets = read_jets(args.check, on_unphysical=unphysical_policy(args))
    path = export_onnx(detector, args.out, score=args.score, inputs=args.inputs, opset=opset, overwrite=args.overwrite)
    score = detector._check_score_name(args.score)
    print(f"exported {detector.name} (score {score}, from {args.inputs}) -> {path}")
    if jets is not None:
        import numpy as np

        from jetae.models.inputs import make_inputs

        reference = detector.anomaly_score(jets, score=score)
        data = jets.constituents if args.inputs == "constituents" else make_inputs(jets, detector.config.representation)
        onnx_scores = OnnxScorer(path)(data)
        agreement = score_agreement(reference, onnx_scores)
        line = (
            f"check on {len(jets)} jets of {args.check}: {100 * agreement['fraction_within']:.2f}% of scores within "
            f"1e-3 relative, max relative difference {agreement['max_relative_difference']:.3g}"
        )
        if len(np.unique(jets.is_signal)) == 2:
            from sklearn.metrics import roc_auc_score

            line += (
                f"; AUC jetae {roc_auc_score(jets.is_signal, reference):.4f}, "
                f"onnx {roc_auc_score(jets.is_signal, onnx_scores):.4f}"
            )
        print(line)
    return 0

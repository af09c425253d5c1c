#!/usr/bin/env python
"""The function autoencoder: the classroom picture behind autoencoder anomaly detection.

Points (x, y) on a curve y = f(x) are both input and output of a small dense autoencoder
whose bottleneck is a single number. After training, the decoder has learned the curve;
points off the curve are mapped onto it and reconstruct badly, so the reconstruction
error over the plane is an anomaly score that vanishes on the curve.

    python examples/function_autoencoder.py --function sin --out reports/toy
    # the same as: jetae study toy --function sin --out reports/toy

Writes ``toy.png`` / ``toy.pdf`` (learned curve over the training points; error over the
plane), ``results.json`` and ``config.json`` into ``--out``. Runs in seconds on a CPU.
This script is a thin wrapper: the work is done by :func:`jetae.studies.toy.toy_study`.
"""

from __future__ import annotations

import argparse
import logging
import sys

from jetae.errors import JetaeError
from jetae.experiments.studies.toy import FUNCTIONS, summary_lines, toy_study, write_toy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--function", default="sin", choices=sorted(FUNCTIONS), help="the curve y = f(x)")
    parser.add_argument("--n-points", type=int, default=1000, help="training points")
    parser.add_argument("--noise", type=float, default=0.0, help="Gaussian noise on y")
    parser.add_argument("--latent-dim", type=int, default=1, help="size of the code (1 = a curve)")
    parser.add_argument("--epochs", type=int, default=150, help="maximum number of epochs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="reports/function_autoencoder", help="output directory")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("lightning", "lightning.pytorch", "lightning.fabric", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        result = toy_study(function=args.function, n_points=args.n_points, noise=args.noise, seed=args.seed,
                           model_options={"latent_dim": args.latent_dim, "epochs": args.epochs})
        command = " ".join(["python", "examples/function_autoencoder.py", *(sys.argv[1:] if argv is None else argv)])
        write_toy(args.out, result, command=command, overwrite=args.overwrite)
    except JetaeError as exc:
        print(f"function_autoencoder: error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(summary_lines(result)))
    print(f"plot: {args.out}/toy.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())

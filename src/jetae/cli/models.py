"""``jetae models``: list the registered detectors."""

from __future__ import annotations

import argparse

from jetae.config import config_to_dict
from jetae.models.registry import available_models, get_model_spec


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "models", help="list available models", description="List the registered anomaly detectors."
    )
    parser.add_argument(
        "--options",
        metavar="MODEL",
        help="show every option of MODEL with its default (model options, then trainer options)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.options:
        spec = get_model_spec(args.options)
        print(f"{spec.name}: {spec.description}")
        config, trainer = spec.detector_cls.resolve_options()
        for key, value in config_to_dict(config).items():
            print(f"  {key} = {value}")
        if trainer is not None:
            print("training (how it is trained; `--set` takes these too):")
            for key, value in config_to_dict(trainer).items():
                print(f"  {key} = {value}")
        return 0
    specs = available_models()
    width = max(len(spec.name) for spec in specs)
    for spec in specs:
        print(f"{spec.name:<{width}}  {spec.description}")
    return 0

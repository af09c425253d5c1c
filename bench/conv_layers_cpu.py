"""Where conv_ae's CPU training time goes, layer by layer (issue #21, docs/models.md "Speed").

Times forward + backward of each convolution of the default `conv_ae` (3x3 kernels, 40x40 images,
stages [[10, 10], [10, 5]] and the mirrored decoder) on one batch, in four settings: NCHW or
channels-last memory layout, fp32 or bf16 autocast. The sum over the layers bounds what any
training loop can reach with that network on one thread, which is why the bf16 default stops
short of 2x over fp32 channels-last. A fifth setting times an exact rewrite of each layer that
bf16 kernels might fill better: space-to-depth (the image's 2x2 pixel blocks as 4x the channels at
half the side, so a 3x3 "same" conv becomes a 3x3 conv from 4x to 4x the channels; 4x the
arithmetic, wider layers).

    python bench/conv_layers_cpu.py                    # ~1 min on one thread
    python bench/conv_layers_cpu.py --threads 2 --out /tmp/layers.json

Writes bench/results/conv_layers_cpu.json: milliseconds per batch for every layer and setting,
their sums, the implied jets/s of the convolutions alone and the bf16 / fp32 ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

from jetae.io.atomic import write_text_atomic
from jetae.models.nets import SameConv2d

#: (in channels, out channels, image side) of every conv of the default conv_ae, encoder then decoder.
LAYERS = [(1, 10, 40), (10, 10, 40), (10, 10, 20), (10, 5, 20), (5, 10, 20), (10, 10, 20), (10, 10, 40), (10, 1, 40)]
#: (channels-last, bf16 autocast, space-to-depth) per setting.
SETTINGS = {
    "fp32_nchw": (False, False, False),
    "bf16_nchw": (False, True, False),
    "fp32_channels_last": (True, False, False),
    "bf16_channels_last": (True, True, False),
    "bf16_channels_last_space_to_depth": (True, True, True),
}


def time_layer(
    in_channels: int,
    out_channels: int,
    side: int,
    channels_last: bool,
    bf16: bool,
    space_to_depth: bool,
    batch: int,
    repeats: int,
) -> float:
    """Best-of-3 mean milliseconds of one forward + backward of a 3x3 conv over ``batch`` images."""
    needs_input_grad = in_channels != 1  # the first layer's input (the jet images) needs no gradient
    if space_to_depth:  # output pixel (2i + a, 2j + b) reads input blocks i-1..i+1, j-1..j+1
        in_channels, out_channels, side = 4 * in_channels, 4 * out_channels, side // 2
    conv = SameConv2d(in_channels, out_channels, 3)
    images = torch.randn(batch, in_channels, side, side)
    if channels_last:
        conv = conv.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
    images.requires_grad_(needs_input_grad)

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            output = conv(images)
        output.float().sum().backward()

    for _ in range(3):
        step()
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeats):
            step()
        best = min(best, (time.perf_counter() - start) / repeats * 1e3)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=256, help="conv_ae's default batch size")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path("bench/results/conv_layers_cpu.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    layers = {}
    for index, (in_channels, out_channels, side) in enumerate(LAYERS):
        part = "encoder" if index < len(LAYERS) // 2 else "decoder"
        name = f"{part} {in_channels}->{out_channels} @ {side}x{side}"
        layers[name] = {
            setting: round(time_layer(in_channels, out_channels, side, *flags, args.batch, args.repeats), 2)
            for setting, flags in SETTINGS.items()
        }
        print(name, layers[name], flush=True)
    totals = {setting: round(sum(row[setting] for row in layers.values()), 1) for setting in SETTINGS}
    result = {
        "meta": {
            "command": "python bench/conv_layers_cpu.py"
            + (f" --threads {args.threads}" if args.threads != 1 else "")
            + (f" --batch {args.batch}" if args.batch != 256 else ""),
            "torch": torch.__version__,
            "cpu": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "threads": args.threads,
            "batch": args.batch,
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "date": time.strftime("%Y-%m-%d"),
            "unit": "milliseconds per forward + backward of one batch (best of 3 means)",
        },
        "layers": layers,
        "total_ms": totals,
        "conv_only_jets_per_second": {s: round(args.batch / (t / 1e3)) for s, t in totals.items()},
        "bf16_over_fp32_channels_last": round(totals["fp32_channels_last"] / totals["bf16_channels_last"], 2),
        "channels_last_bf16_over_fp32_nchw": round(totals["fp32_nchw"] / totals["bf16_channels_last"], 2),
        "space_to_depth_over_bf16_channels_last": round(
            totals["bf16_channels_last"] / totals["bf16_channels_last_space_to_depth"], 2
        ),
    }
    write_text_atomic(args.out, json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("total_ms", "conv_only_jets_per_second")}))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""The vivid colorizer's trade-off over the decoding temperature: MSE, mean PSNR, colourfulness, wrong-hue rate.

For a trained chroma-bins checkpoint, the network runs once per batch and its
logits are decoded by the annealed mean at every temperature T asked for
(T = 0: the mode, the centre of the most likely bin); each decoding is scored
on the same test images as ``minimlp-colorize evaluate``: MSE of the RGB image
in [-1, 1], mean per-image PSNR, the colourfulness ratio (mean √(U² + V²)
of the output over that of the ground truth) and the wrong-hue rate
(``task.metrics.wrong_hue_rate``). Gray-copy is the first row. ``--on valid``
scores the validation images instead: pick the temperature there, report it on test.

    python benchmarks/vivid_tradeoff.py --checkpoint runs/unet-vivid --data shared --split full \
        --temperatures 1 0.6 0.38 0.2 0.1 0 [--on valid] [--images 1000] [--json tradeoff.json]
"""
import argparse
import json
import sys

import numpy as np

from minimlp.backend import resolve_device, to_device, to_numpy
from minimlp.colorize.task.metrics import HUE_CHROMA, HUE_DEGREES, colorfulness_ratio, scores, wrong_hue_rate
from minimlp.colorize.models.store import load_colorizer
from minimlp.colorize.task.data import load_split
from minimlp.colorize.task.arrays import gray_copy, gray_input, output_to_rgb, rgb_target


def decode_all(model, images, temperatures, batch_size=250):
    """{T: planar RGB (N, 3072)} for every temperature, from one forward pass per batch (evaluation mode)."""
    bins = model.chroma_bins
    gray = gray_input(images)
    out = {t: [] for t in temperatures}
    for start in range(0, len(gray), batch_size):
        g = to_device(gray[start:start + batch_size], model.device)
        logits = model(g)
        for t in temperatures:
            bins.temperature = t
            out[t].append(to_numpy(output_to_rgb(logits, g, "chroma-bins", bins=bins)))
    return {t: np.concatenate(parts) for t, parts in out.items()}


def table(model, images, temperatures):
    """Rows of (name, MSE, PSNR, colourfulness ratio, wrong-hue rate): gray-copy (hue rate NaN: it has no
    colour), then each temperature."""
    truth = rgb_target(images)
    base = gray_copy(gray_input(images))
    rows = [("gray-copy", *scores(base, images), colorfulness_ratio(base, truth), wrong_hue_rate(base, truth))]
    for t, rgb in decode_all(model, images, temperatures).items():
        rows.append((f"T = {t:g}" + (" (mode)" if t == 0 else ""), *scores(rgb, images),
                     colorfulness_ratio(rgb, truth), wrong_hue_rate(rgb, truth)))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="a chroma-bins run folder or .npz")
    parser.add_argument("--data", default="default", help="default (embedded), shared, or a CIFAR-10 archive")
    parser.add_argument("--split", default="paper", choices=["paper", "full"])
    parser.add_argument("--temperatures", type=float, nargs="+", default=[1.0, 0.6, 0.38, 0.2, 0.1, 0.0])
    parser.add_argument("--on", default="test", choices=["test", "valid"], help="the images scored (default test)")
    parser.add_argument("--images", type=int, default=None, help="score only the first N of them")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args(argv)
    model, config = load_colorizer(args.checkpoint, device=resolve_device(args.device))
    if config["task"] != "chroma-bins":
        sys.exit(f"{args.checkpoint} holds a {config['task']} model; the trade-off needs a chroma-bins one")
    images = getattr(load_split(args.data, args.split), args.on).images[:args.images]
    rows = table(model, images, args.temperatures)
    print(f"{config['model']} ({len(model.chroma_bins)} bins) on {len(images)} {args.on} images ({args.data}, "
          f"{args.split} split); wrong hue: {HUE_DEGREES:g}° or more off where both chromas exceed {HUE_CHROMA:g}")
    print(f"| decoding | {args.on} MSE | mean PSNR (dB) | colourfulness ratio | wrong-hue rate | MSE vs gray-copy |")
    print("|---|---|---|---|---|---|")
    for name, mse, psnr, ratio, hue in rows:
        print(f"| {name} | {mse:.5f} | {psnr:.2f} | {ratio:.3f} | {'-' if hue != hue else f'{hue:.3f}'} "
              f"| {(mse / rows[0][1] - 1) * 100:+.1f}% |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump([dict(zip(("decoding", "mse", "psnr", "colorfulness_ratio", "wrong_hue_rate"), row))
                       for row in rows], f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())

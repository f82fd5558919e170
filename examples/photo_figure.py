"""Large photos colorized by a U-Net at reduced and at native resolution, for the eye: a figure and colour strengths.

    python examples/photo_figure.py --checkpoint pretrained --out results [--figure fig_photos.png] [PHOTO ...]

Photos: the ones given, else matplotlib's sample photo of Grace Hopper (512x600, colour) and a drawn 640x480
scene (sky, sun, grass, a red house); each is turned to gray and colorized with the chroma predicted with the
short side at 32 pixels and upsampled (``--resolution 32``, the default) and at the photo's own size
(``--resolution native``). Writes ``OUT/FIGURE`` (default ``fig_photos.png``) (per photo: original, gray, reduced, native, each
scaled to 256 pixels high) and prints each image's colour strength, mean |RGB − luma| over its pixels (0 for
gray), the measure the vivid-colours issue quoted.
"""
import argparse
import os

import numpy as np
from PIL import Image, ImageDraw

from minimlp.atomic import atomic_path
from minimlp.colorize.models.store import load_colorizer
from minimlp.colorize.running.photo import colorize_photo

HEIGHT = 256


def drawn_scene():
    """A 640x480 drawing: blue sky, yellow sun, green grass, a red house with a brown door."""
    img = Image.new("RGB", (640, 480), (110, 170, 235))
    d = ImageDraw.Draw(img)
    d.rectangle([0, 300, 640, 480], fill=(60, 150, 60))
    d.ellipse([480, 40, 580, 140], fill=(250, 210, 40))
    d.rectangle([140, 200, 340, 360], fill=(190, 40, 35))
    d.polygon([(120, 200), (240, 110), (360, 200)], fill=(120, 60, 40))
    d.rectangle([215, 280, 265, 360], fill=(90, 55, 30))
    return img


def sample_photos():
    """[(name, PIL image)]: Grace Hopper from matplotlib's sample data (when installed) and the drawn scene."""
    photos = []
    try:
        import matplotlib.cbook
        photos.append(("grace_hopper", Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg")).convert("RGB")))
    except Exception:  # matplotlib or its sample data missing: the drawn scene alone
        pass
    photos.append(("drawn_scene_640x480", drawn_scene()))
    return photos


def colour_strength(image):
    """Mean over pixels of |RGB − luma| (0..255 units), BT.601 luma: 0 for a gray image."""
    rgb = np.asarray(image.convert("RGB"), dtype=np.float64)
    luma = rgb @ np.array([0.299, 0.587, 0.114])
    return float(np.abs(rgb - luma[..., None]).mean())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("photos", nargs="*", help="image files (default: the two sample photos)")
    parser.add_argument("--checkpoint", default="pretrained", help="a U-Net run folder, .npz or pretrained[:NAME]")
    parser.add_argument("--out", default="results")
    parser.add_argument("--figure", default="fig_photos.png", help="file name of the figure in --out")
    args = parser.parse_args(argv)
    model, config = load_colorizer(args.checkpoint)
    photos = [(os.path.basename(p), Image.open(p).convert("RGB")) for p in args.photos] or sample_photos()
    rows = []
    for name, image in photos:
        gray = image.convert("L").convert("RGB")
        reduced = colorize_photo(model, config["task"], image, resolution=None)
        native = colorize_photo(model, config["task"], image, resolution="native")
        row = [image, gray, reduced, native]
        print(f"{name} ({image.width}x{image.height}): colour strength original {colour_strength(image):.1f}, "
              f"reduced {colour_strength(reduced):.1f}, native {colour_strength(native):.1f}")
        rows.append([im.resize((round(im.width * HEIGHT / im.height), HEIGHT), Image.BICUBIC) for im in row])
    width = max(sum(im.width for im in row) + 6 * (len(row) - 1) for row in rows)
    canvas = Image.new("RGB", (width, len(rows) * (HEIGHT + 6)), "white")
    for r, row in enumerate(rows):
        x = 0
        for im in row:
            canvas.paste(im, (x, r * (HEIGHT + 6)))
            x += im.width + 6
    os.makedirs(args.out, exist_ok=True)
    with atomic_path(os.path.join(args.out, args.figure), suffix=".png") as tmp:
        canvas.save(tmp, format="PNG")
    print(f"wrote {os.path.join(args.out, args.figure)} (per photo: original, gray, reduced, native)")


if __name__ == "__main__":
    main()

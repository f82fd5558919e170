"""The parts of one Winograd F(2x2, 3x3) convolution on one thread: each tile transform and the 16 products, µs.

    python benchmarks/winograd_parts.py [--shapes 32x32x1 64x16x1 128x8x4]   # channels x side x images

Each part is the best of 20 calls of the compiled loop alone (``kernels/cpu/winograd_loops.py``), float32, with
the same buffers the layer uses; the products' GF/s count 16 multiply-adds per tile and channel pair. Where the
row-wise transforms (``kernels/cpu/winograd_rows.py``) take the shape, which the layer then runs, they are timed
beside the per-tile loops.
"""
import argparse
import time

import numpy as np

from minimlp.kernels.cpu import blas
from minimlp.kernels.cpu import winograd_loops as loops
from minimlp.kernels.cpu import winograd_rows as rows
from minimlp.kernels.cpu.winograd import spread_width


def best(fn, repeats=20):
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) * 1e6


def parts(channels, side, images):
    rng = np.random.default_rng(0)
    c = o = channels
    th = tw = side // 2
    tiles = th * tw * images
    width = spread_width(c, tiles, 4)
    geometry = (c, side, side, o, side, side, th, tw, 1, 1)
    x = rng.standard_normal((images, c, side, side)).astype(np.float32)
    y = np.empty((images, o, side, side), np.float32)
    v = np.empty((16, c, width), np.float32)
    m = np.empty((16, o, width), np.float32)
    u = rng.standard_normal((16, o, c)).astype(np.float32)
    du = np.zeros((16, o, c), np.float32)
    bias = np.zeros(o, np.float32)
    address = blas.gemm_address(np.float32)
    one, zero = np.float32(1), np.float32(0)
    flops = 2 * 16 * o * c * tiles
    with blas.one_blas_thread():
        times = {
            "input transform": best(lambda: loops.input_transform(x, v, 0, images, geometry)),
            "products (forward)": best(lambda: loops._products(16, u, v, m, (loops.NO_TRANS, loops.NO_TRANS), o,
                                                               tiles, c, *address, one, zero)),
            "output transform": best(lambda: loops.output_transform(m, y, bias, 0, images, geometry)),
            "gradient transform": best(lambda: loops.gradient_transform(y, m, 0, images, geometry)),
            "products (dU)": best(lambda: loops._products(16, m, v, du, (loops.NO_TRANS, loops.TRANS), o, c, tiles,
                                                          *address, one, one)),
            "products (dV)": best(lambda: loops._products(16, u, m, v, (loops.TRANS, loops.NO_TRANS), c, tiles, o,
                                                          *address, one, zero)),
            "scatter transform": best(lambda: loops.scatter_transform(v, x, 0, images, geometry)),
        }
        if rows.takes(geometry):
            times.update({
                "input, by rows": best(lambda: rows.input_transform(x, v, 0, images, geometry)),
                "output, by rows": best(lambda: rows.output_transform(m, y, bias, 0, images, geometry)),
                "gradient, by rows": best(lambda: rows.gradient_transform(y, m, 0, images, geometry)),
                "scatter, by rows": best(lambda: rows.scatter_transform(v, x, 0, images, geometry)),
            })
    print(f"C = O = {channels}, {side}x{side}, {images} image{'s' if images > 1 else ''}:")
    for name, us in times.items():
        rate = f"  ({flops / us / 1e3:.0f} GF/s)" if name.startswith("products") else ""
        print(f"  {name:<20}{us:8.0f} µs{rate}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shapes", nargs="+", default=["32x32x1", "64x16x1", "128x8x4"])
    for shape in parser.parse_args().shapes:
        parts(*(int(v) for v in shape.split("x")))


if __name__ == "__main__":
    main()

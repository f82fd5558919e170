"""The colorizer's U-Net as nested Sequential/Concat (two 3x3 conv + BatchNorm + ReLU per level, max-pooling
down, transposed convolution up, skips concatenated), and its keys converted to and from the usual torch names
(the torch twin is ``tests/torch_unet.py``). The nesting, drawn out: docs/colorizer.md.
"""
import numpy as np

from ...nn import (AdaptiveAvgPool2d, BatchNorm2d, Concat, Conv2d, ConvTranspose2d, GlobalFusion, MaxPool2d, ReLU,
                   Residual, Sequential)


def conv_block(in_channels, out_channels, dtype=np.float32, dilation=1, residual=False):
    """Two (3x3 Conv2d, BatchNorm2d, ReLU) layers; ``dilation`` spreads both kernels' taps (padding keeps the
    size); ``residual`` adds the first layer's output to the second's before its ReLU:
    y = ReLU(h + BN(conv(h))), h = ReLU(BN(conv(x))) (He et al. 2016's block, one conv changing the width)."""
    def conv(c_in):
        return Conv2d(c_in, out_channels, 3, padding=dilation, dilation=dilation, dtype=dtype)

    first = (conv(in_channels), BatchNorm2d(out_channels, dtype=dtype), ReLU())
    second = (conv(out_channels), BatchNorm2d(out_channels, dtype=dtype))
    if residual:
        return Sequential(*first, Residual(Sequential(*second)), ReLU())
    return Sequential(*first, *second, ReLU())


def global_context(channels, dtype=np.float32):
    """Iizuka et al.'s global features, fused: each image's mean feature vector through a 1x1 conv and ReLU,
    concatenated to every pixel, mixed back to ``channels`` by a 1x1 conv, BatchNorm2d and ReLU."""
    branch = Sequential(AdaptiveAvgPool2d(1), Conv2d(channels, channels, 1, dtype=dtype), ReLU())
    return Sequential(GlobalFusion(branch), Conv2d(2 * channels, channels, 1, dtype=dtype),
                      BatchNorm2d(channels, dtype=dtype), ReLU())


def unet(in_channels=1, out_channels=2, widths=(32, 64, 128), dtype=np.float32, bottleneck_dilation=1,
         residual=False, context=False):
    """The U-Net as nested ``Sequential``/``Concat`` (input height and width divisible by 2^(levels − 1)).

    Options (each measured in results/ABLATION.md): ``bottleneck_dilation`` for the coarsest level's
    convolutions, ``residual`` blocks (``conv_block``), ``context``: a ``global_context`` fusion after the
    coarsest level's block.
    """
    widths = tuple(int(w) for w in widths)
    if len(widths) < 2:
        raise ValueError(f"unet: need at least two widths, got {widths}")

    def block(c_in, c_out, dilation=1):
        return conv_block(c_in, c_out, dtype, dilation, residual)

    def level(k):
        last = k == len(widths) - 1
        down = [MaxPool2d(2), block(widths[k - 1], widths[k], bottleneck_dilation if last else 1)]
        up = ConvTranspose2d(widths[k], widths[k - 1], 2, stride=2, dtype=dtype)
        if last:
            return Sequential(*down, *([global_context(widths[k], dtype)] if context else []), up)
        return Sequential(*down, Concat(level(k + 1)), block(2 * widths[k], widths[k]), up)

    return Sequential(block(in_channels, widths[0]), Concat(level(1)),
                      block(2 * widths[0], widths[0]), Conv2d(widths[0], out_channels, 1, dtype=dtype))


def unet_key_table(levels=3):
    """minimlp prefix → torch prefix, for ``unet`` with ``levels`` widths and ``torch_unet``'s names."""
    table = {"0.": "enc1.", "2.": "dec1.", "3.": "head."}
    prefix = "1.block."
    for k in range(1, levels):
        last = k == levels - 1
        table[prefix + "1."] = "bottleneck." if last else f"enc{k + 1}."
        if last:
            table[prefix + "2."] = f"up{k}."
        else:
            table[prefix + "3."] = f"dec{k + 1}."
            table[prefix + "4."] = f"up{k}."
        prefix += "2.block."
    return table


def to_torch_unet_state_dict(state_dict, levels=3):
    """minimlp ``unet`` keys → ``torch_unet`` keys (values unchanged; ``minimlp.to_torch_state_dict`` makes tensors)."""
    return rename_prefixes(state_dict, unet_key_table(levels))


def from_torch_unet_state_dict(state_dict, levels=3):
    """``torch_unet`` keys → minimlp ``unet`` keys (values unchanged)."""
    return rename_prefixes(state_dict, {v: k for k, v in unet_key_table(levels).items()})


def rename_prefixes(state_dict, table):
    """A copy of ``state_dict`` with each key's longest matching prefix in ``table`` (old → new) replaced."""
    ordered = sorted(table.items(), key=lambda kv: -len(kv[0]))
    out = type(state_dict)()
    for key, value in state_dict.items():
        for old, new in ordered:
            if key.startswith(old):
                key = new + key[len(old):]
                break
        out[key] = value
    return out

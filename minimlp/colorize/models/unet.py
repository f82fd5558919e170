"""The colorizer's U-Net as nested Sequential/Concat (two 3x3 conv + BatchNorm + ReLU per level, max-pooling
down, transposed convolution up, skips concatenated), and its keys converted to and from the usual torch names
(the torch twin is ``tests/torch_unet.py``). The nesting, drawn out: docs/colorizer.md.
"""
import numpy as np

from ...nn import BatchNorm2d, Concat, Conv2d, ConvTranspose2d, MaxPool2d, ReLU, Sequential


def conv_block(in_channels, out_channels, dtype=np.float32):
    """Two (3x3 Conv2d, BatchNorm2d, ReLU) layers."""
    return Sequential(Conv2d(in_channels, out_channels, 3, padding=1, dtype=dtype),
                      BatchNorm2d(out_channels, dtype=dtype), ReLU(),
                      Conv2d(out_channels, out_channels, 3, padding=1, dtype=dtype),
                      BatchNorm2d(out_channels, dtype=dtype), ReLU())


def unet(in_channels=1, out_channels=2, widths=(32, 64, 128), dtype=np.float32):
    """The U-Net as nested ``Sequential``/``Concat`` (input height and width divisible by 2^(levels − 1))."""
    widths = tuple(int(w) for w in widths)
    if len(widths) < 2:
        raise ValueError(f"unet: need at least two widths, got {widths}")

    def level(k):
        down = [MaxPool2d(2), conv_block(widths[k - 1], widths[k], dtype)]
        up = ConvTranspose2d(widths[k], widths[k - 1], 2, stride=2, dtype=dtype)
        if k == len(widths) - 1:
            return Sequential(*down, up)
        return Sequential(*down, Concat(level(k + 1)), conv_block(2 * widths[k], widths[k], dtype), up)

    return Sequential(conv_block(in_channels, widths[0], dtype), Concat(level(1)),
                      conv_block(2 * widths[0], widths[0], dtype), Conv2d(widths[0], out_channels, 1, dtype=dtype))


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

"""The colorizer's U-Net written the usual torch way: named parts, skips in ``forward`` (its twin is
``minimlp.colorize.models.unet.unet``; ``unet_key_table`` maps the keys between the two)."""


def torch_unet(in_channels=1, out_channels=2, widths=(32, 64, 128)):
    """The U-Net of ``minimlp.colorize.models.unet.unet`` as a torch module."""
    import torch
    from torch import nn as tnn

    def block(cin, cout):
        return tnn.Sequential(tnn.Conv2d(cin, cout, 3, padding=1), tnn.BatchNorm2d(cout), tnn.ReLU(),
                              tnn.Conv2d(cout, cout, 3, padding=1), tnn.BatchNorm2d(cout), tnn.ReLU())

    class UNet(tnn.Module):
        def __init__(self):
            super().__init__()
            n = len(widths)
            self.levels = n
            self.enc1 = block(in_channels, widths[0])
            for k in range(1, n - 1):
                setattr(self, f"enc{k + 1}", block(widths[k - 1], widths[k]))
            self.bottleneck = block(widths[-2], widths[-1])
            for k in range(n - 1, 0, -1):
                setattr(self, f"up{k}", tnn.ConvTranspose2d(widths[k], widths[k - 1], 2, stride=2))
                setattr(self, f"dec{k}", block(2 * widths[k - 1], widths[k - 1]))
            self.head = tnn.Conv2d(widths[0], out_channels, 1)
            self.pool = tnn.MaxPool2d(2)

        def forward(self, x):
            skips = []
            for k in range(1, self.levels):
                x = getattr(self, f"enc{k}")(x)
                skips.append(x)
                x = self.pool(x)
            x = self.bottleneck(x)
            for k in range(self.levels - 1, 0, -1):
                x = getattr(self, f"dec{k}")(torch.cat([skips[k - 1], getattr(self, f"up{k}")(x)], 1))
            return self.head(x)

    return UNet()

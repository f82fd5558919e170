"""Test-time flip averaging for the U-Net colorizers: the prediction for a photo and for its mirror image,
averaged (the mirror's mirrored back). docs/colorizer.md.
"""
from ... import nn
from .architectures import conv_core


class MirrorAverage(nn.Module):
    """y = (f(x) + M f(M x)) / 2 in evaluation, M the left-right flip of the last axis; y = f(x) in training.

    ``f`` is a fully convolutional network on images (N, C, H, W): a horizontally mirrored scene has the
    mirrored colours, so the two predictions estimate the same chroma. Backward is f's in training; in
    evaluation nothing is kept for it (f ran twice), and backward says so.
    """

    def __init__(self, block):
        super().__init__()
        self.block = block
        self._averaged = False

    def forward(self, x):
        self._averaged = not self.training
        if self.training:
            return self.block(x)
        mirrored = self.block(x[..., ::-1].copy())
        return (self.block(x) + mirrored[..., ::-1]) * 0.5

    def backward(self, dout):
        self._trained_last()
        return self.block.backward(dout)

    def backward_parameters(self, dout):
        self._trained_last()
        self.block.backward_parameters(dout)

    def _trained_last(self):
        if self._averaged:
            raise RuntimeError("MirrorAverage: backward after an evaluation forward (the averaged prediction "
                               "keeps nothing for backward); train the network inside it")


def mirror_averaged(model):
    """The flat U-Net colorizer ``model`` (Unflatten, U-Net, Flatten) with its U-Net inside ``MirrorAverage``,
    the same weights (the keys gain 'block.'); a ValueError for any other model."""
    net = conv_core(model)
    if net is None:
        raise ValueError("flip averaging needs a U-Net colorizer (an MLP's input is not an image it can mirror)")
    averaged = nn.Sequential(model[0], MirrorAverage(net), model[2])
    if hasattr(model, "chroma_bins"):
        averaged.chroma_bins = model.chroma_bins
    return averaged.train(model.training)

"""The vivid colorizer's network: a U-Net giving logits over Q chroma bins per pixel (task 'chroma-bins'), with
the config's fitted bins attached as ``model.chroma_bins`` for decoding. docs/colorizer.md.
"""
from ..task.chroma_bins import ChromaBins

def attach_bins(model, config):
    """``model`` (built from 'model_kwargs' {'arch': 'unet', 'widths', 'out_channels'}) with the config's fitted
    'chroma_bins' as ``model.chroma_bins``, checked against its number of output planes."""
    kwargs = config["model_kwargs"]
    if "chroma_bins" not in config or "out_channels" not in kwargs:
        raise ValueError(f"{config.get('model')}: a chroma-bins config needs its fitted 'chroma_bins' and "
                         f"model_kwargs 'out_channels' (train_run fills them in from the training images)")
    bins = ChromaBins.from_config(config["chroma_bins"])
    if kwargs["out_channels"] != len(bins):
        raise ValueError(f"{config.get('model')}: out_channels {kwargs['out_channels']} differs from the "
                         f"{len(bins)} chroma bins of the config")
    model.chroma_bins = bins
    return model

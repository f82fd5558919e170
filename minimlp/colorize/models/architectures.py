"""The colorizer's networks: the paper's MLPs and autoencoders, the chroma MLP and the U-Nets, all taking the
flat luma (N, 1024) and giving the task's flat output; ``model_kwargs['arch']`` ("mlp" or "unet") picks one.
Inputs, outputs, why the U-Net is flat outside: docs/colorizer.md.
"""
from ... import nn
from .unet import unet
from .vivid import attach_bins

GRAY = 1024
RGB = 3072
CHROMA = 2048

ACTIVATIONS = {"sigmoid": nn.Sigmoid, "relu": nn.ReLU, "tanh": nn.Tanh, "leaky_relu": nn.LeakyReLU,
               "none": nn.Identity, "identity": nn.Identity}


def _activation(name):
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; choose from {sorted(ACTIVATIONS)}") from None


def mlp(hidden=(512,), activation="sigmoid", out_activation="tanh", batchnorm=True, bn_after_output=True,
        dropout=0.0, in_features=GRAY, out_features=RGB):
    """The paper's MLP family: [Linear → BatchNorm → act → Dropout] per hidden width, then Linear → (BN) → out act.

    The paper's best (its Table 3): one hidden layer of 512, BatchNorm after
    every Linear including the output, sigmoid hidden, tanh output.
    """
    layers = []
    width = in_features
    for h in hidden:
        layers.append(nn.Linear(width, h))
        if batchnorm:
            layers.append(nn.BatchNorm1d(h))
        layers.append(_activation(activation))
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = h
    layers.append(nn.Linear(width, out_features))
    if batchnorm and bn_after_output:
        layers.append(nn.BatchNorm1d(out_features))
    layers.append(_activation(out_activation))
    return nn.Sequential(*layers)


def flat_unet(widths=(32, 64, 128), out_channels=2, side=32, **options):
    """Unflatten → ``unet.unet(1, out_channels, widths)`` → Flatten: luma (N, side²) in, (N, C·side²) out.

    The U-Net itself is ``model[1]`` (fully convolutional: ``running/photo.py``
    runs it on any size whose sides are multiples of 2^(levels − 1)). ``options``: ``unet.unet``'s.
    """
    return nn.Sequential(nn.Unflatten(1, (1, side, side)), unet(1, out_channels, widths, **options), nn.Flatten())


ARCHITECTURES = {"mlp": mlp, "unet": flat_unet}

# images per evaluation batch: a U-Net's im2col buffers grow with channels x pixels (at 1000 images the 32-64-128
# U-Net's largest would be 2.4 GB), an MLP's activations stay small
EVAL_BATCH = {"mlp": 1000, "unet": 100}


def conv_core(model):
    """The inner fully convolutional network of a ``flat_unet`` model, or None for any other model."""
    if isinstance(model, nn.Sequential) and len(model) == 3 and isinstance(model[0], nn.Unflatten) \
            and isinstance(model[2], nn.Flatten):
        return model[1]
    return None


def eval_batch_size(model):
    """``EVAL_BATCH`` for the model's architecture."""
    return EVAL_BATCH["unet" if conv_core(model) is not None else "mlp"]


AUTOENCODER_WIDTHS = {
    1: (512,),
    2: (512, 256),
    3: (512, 256, 512),
    5: (512, 256, 128, 256, 512),
}


def autoencoder(depth, **kwargs):
    """The paper's fully connected autoencoders with 1, 2, 3 or 5 hidden layers.

    Widths halve from 512 to a bottleneck and double back before the 3072
    output (our choice; the paper does not list them):
    1: 1024-512-3072, 2: 1024-512-256-3072, 3: 1024-512-256-512-3072,
    5: 1024-512-256-128-256-512-3072. Other settings as ``mlp``.
    """
    if depth not in AUTOENCODER_WIDTHS:
        raise ValueError(f"autoencoder depth must be one of {sorted(AUTOENCODER_WIDTHS)}, got {depth}")
    return mlp(hidden=AUTOENCODER_WIDTHS[depth], **kwargs)


def build_model(config):
    """The network for a config dict with 'model_kwargs' (as written by the CLI); 'arch' picks it, "mlp" if absent.

    A 'chroma-bins' config's model also gets its fitted bins, for decoding (``vivid.attach_bins``).
    """
    kwargs = dict(config["model_kwargs"])
    arch = kwargs.pop("arch", "mlp")
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; choose from {sorted(ARCHITECTURES)}")
    if config.get("task") == "chroma-bins":
        return attach_bins(ARCHITECTURES[arch](**kwargs), config)
    return ARCHITECTURES[arch](**kwargs)


def needs_two_images(config):
    """Whether the config's network cannot train on a batch of one image: an MLP with BatchNorm1d.

    The U-Net's BatchNorm2d averages over the pixels too (N·H·W values per
    channel, 64 or more at its coarsest level), so one image is enough.
    """
    kwargs = config["model_kwargs"]
    return kwargs.get("arch", "mlp") == "mlp" and kwargs.get("batchnorm", True)


def is_convolutional(config):
    """Whether the config's network is the fully convolutional U-Net (runs on any image size)."""
    return config["model_kwargs"].get("arch", "mlp") == "unet"

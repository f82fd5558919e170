"""The colorizer's networks: the paper's MLPs and autoencoders, the chroma MLP and the U-Nets, as named presets.

Input: 1024 gray values (a 32x32 image, row-major) in [-1, 1]. Output, for
the paper's 'rgb' task: 3072 values in [-1, 1], channel-planar like torch's
``view`` of a (3, 32, 32) image; for the 'chroma' task: 2048 values, the U
and V planes of BT.601 YUV (see ``tasks.py``).

A config's ``model_kwargs`` name the architecture with ``arch``: "mlp" (the
default, so configs and checkpoints written before U-Nets existed still load)
or "unet". The U-Net sees the same flat arrays as the MLPs: ``flat_unet``
wraps it in Unflatten (N, 1024) → (N, 1, 32, 32) and Flatten
(N, C, 32, 32) → (N, C·1024), so the data pipeline, losses, checkpoints and
evaluation are the MLPs' own.
"""
from .. import nn
from .vivid import VIVID_PRESETS, attach_bins

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


def flat_unet(widths=(32, 64, 128), out_channels=2, side=32):
    """Unflatten → ``nn.unet.unet(1, out_channels, widths)`` → Flatten: luma (N, side²) in, (N, C·side²) out.

    The U-Net itself is ``model[1]`` (fully convolutional: ``photo.py`` runs it
    on any size whose sides are multiples of 2^(levels − 1)).
    """
    from ..nn.unet import unet
    return nn.Sequential(nn.Unflatten(1, (1, side, side)), unet(1, out_channels, widths), nn.Flatten())


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


PAPER_TRAINING = {"optimizer": "adam", "lr": 2e-4, "batch_size": 16, "epochs": 80, "weight_decay": 0.0,
                  "schedule": "none", "split": "paper", "hflip": False}

# the recipe a PyTorch twin of the 32-64-128 U-Net reached test MSE 0.0159 with (issue 16); weight decay 1e-2
# is torch.optim.AdamW's default
UNET_TRAINING = {"optimizer": "adamw", "lr": 2e-3, "batch_size": 64, "epochs": 20, "weight_decay": 1e-2,
                 "schedule": "onecycle", "split": "full", "hflip": True}

PRESETS = {
    "paper-mlp1": {"task": "rgb", "model": {"hidden": [512]}, "training": PAPER_TRAINING,
                   "about": "the paper's best: 1024-512-3072, BatchNorm, sigmoid, tanh (Table 3)"},
    "paper-mlp2": {"task": "rgb", "model": {"hidden": [512, 512]}, "training": PAPER_TRAINING,
                   "about": "the paper's MLP with two hidden layers of 512"},
    "paper-mlp3": {"task": "rgb", "model": {"hidden": [512, 512, 512]}, "training": PAPER_TRAINING,
                   "about": "the paper's MLP with three hidden layers of 512"},
    **{f"paper-ae{d}": {"task": "rgb", "model": {"hidden": list(w)}, "training": PAPER_TRAINING,
                        "about": f"the paper's autoencoder with {d} hidden layer{'s' if d > 1 else ''}: "
                                 f"1024-{'-'.join(map(str, w))}-3072"}
       for d, w in AUTOENCODER_WIDTHS.items()},
    "chroma-mlp": {
        "task": "chroma",
        "model": {"hidden": [2048, 2048], "activation": "relu", "out_activation": "none", "batchnorm": True,
                  "bn_after_output": False, "dropout": 0.2, "out_features": CHROMA},
        "training": {"optimizer": "adamw", "lr": 1e-3, "batch_size": 128, "epochs": 20, "weight_decay": 1e-2,
                     "schedule": "onecycle", "split": "full", "hflip": True},
        "about": "luma in, YUV chroma out: 1024-2048-2048-2048, BatchNorm, ReLU, dropout 0.2; AdamW, one-cycle",
    },
    "unet": {
        "task": "chroma",
        "model": {"arch": "unet", "widths": [32, 64, 128], "out_channels": 2},
        "training": UNET_TRAINING,
        "about": ("luma in, YUV chroma out: U-Net 32-64-128 (3x3 conv + BatchNorm + ReLU, two poolings); "
                  "AdamW, one-cycle"),
    },
    "unet-small": {
        "task": "chroma",
        "model": {"arch": "unet", "widths": [16, 32, 64], "out_channels": 2},
        "training": UNET_TRAINING,
        "about": "the U-Net at half width, 16-32-64, for CPUs (about a quarter of the work per image)",
    },
}


def recipe(chosen):
    """A preset's training settings in flag form: '--optimizer adam --lr 0.0002 --batch-size 16 …'."""
    return " ".join(f"--{k.replace('_', '-')} {v:g}" if isinstance(v, float) else
                    (f"--{'' if v else 'no-'}{k}" if isinstance(v, bool) else f"--{k.replace('_', '-')} {v}")
                    for k, v in chosen["training"].items())


def list_models():
    """The text of `minimlp-colorize models`: each preset with its recipe, then the pretrained models."""
    from .loading import PRETRAINED, default_pretrained, installed_pretrained
    lines = [f"{name:12s} [{p['task']}] {p['about']}\n{'':12s} training: {recipe(p)}" for name, p in PRESETS.items()]
    installed = installed_pretrained()
    default = default_pretrained() if installed else None
    lines.append("\npretrained models (--checkpoint pretrained:NAME; 'pretrained' alone is the default):")
    for name, stem in PRETRAINED.items():
        state = ("default" if name == default else "installed") if name in installed else "not installed"
        lines.append(f"{name:12s} {stem}.npz  ({state})")
    return "\n".join(lines)


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


def is_convolutional(config):
    """Whether the config's network is the fully convolutional U-Net (runs on any image size)."""
    return config["model_kwargs"].get("arch", "mlp") == "unet"


def preset(name):
    """A preset by name, or a ValueError listing them."""
    if name not in PRESETS:
        raise ValueError(f"unknown model {name!r}; choose from: {', '.join(PRESETS)}")
    return PRESETS[name]


PRESETS.update(VIVID_PRESETS)

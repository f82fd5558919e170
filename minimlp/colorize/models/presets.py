"""The colorizer's named presets: a task, a network and a training recipe each (``minimlp-colorize models``).

A config's ``model_kwargs`` name the architecture with ``arch`` ("mlp", the default, or "unet"; see
``architectures``); ``training`` holds one value per key of ``TRAINING_KEYS``, which the command line's flags,
the studies and the sweeps override.
"""
from .architectures import AUTOENCODER_WIDTHS, CHROMA

TRAINING_KEYS = ("optimizer", "lr", "batch_size", "epochs", "weight_decay", "schedule", "split", "hflip")
MODEL_KEYS = ("hidden", "activation", "out_activation", "batchnorm", "bn_after_output", "dropout")   # the MLPs'

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
    "unet4": {
        "task": "chroma",
        "model": {"arch": "unet", "widths": [32, 64, 128, 256], "out_channels": 2},
        "training": UNET_TRAINING,
        "about": ("the U-Net with a fourth level, 32-64-128-256 (a 4x4 bottleneck): the recipe search's best "
                  "single change (results/ABLATION.md); about 1.35x the work of unet"),
    },
    "unet-small": {
        "task": "chroma",
        "model": {"arch": "unet", "widths": [16, 32, 64], "out_channels": 2},
        "training": UNET_TRAINING,
        "about": "the U-Net at half width, 16-32-64, for CPUs (about a quarter of the work per image)",
    },
    "unet-vivid": {
        "task": "chroma-bins", "model": {"arch": "unet", "widths": [32, 64, 128]}, "training": UNET_TRAINING,
        "about": "vivid colours: U-Net 32-64-128, per-pixel softmax over Q chroma bins, rebalanced "
                 "cross-entropy, annealed-mean decoding (Zhang et al. 2016)"},
    "unet4-vivid": {
        "task": "chroma-bins", "model": {"arch": "unet", "widths": [32, 64, 128, 256]}, "training": UNET_TRAINING,
        "about": "unet-vivid on the four-level U-Net of unet4, 32-64-128-256"},
    "unet-vivid-small": {
        "task": "chroma-bins", "model": {"arch": "unet", "widths": [16, 32, 64]}, "training": UNET_TRAINING,
        "about": "unet-vivid at widths 16-32-64, for the CPU"},
}


def recipe(chosen):
    """A preset's training settings in flag form: '--optimizer adam --lr 0.0002 --batch-size 16 …'."""
    return " ".join(f"--{k.replace('_', '-')} {v:g}" if isinstance(v, float) else
                    (f"--{'' if v else 'no-'}{k}" if isinstance(v, bool) else f"--{k.replace('_', '-')} {v}")
                    for k, v in chosen["training"].items())


def preset(name):
    """A preset by name, or a ValueError listing them."""
    if name not in PRESETS:
        raise ValueError(f"unknown model {name!r}; choose from: {', '.join(PRESETS)}")
    return PRESETS[name]

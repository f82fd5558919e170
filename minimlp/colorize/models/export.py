"""Export a trained colorizer as a small pretrained file: weight matrices in float16, with its config.

``export_pretrained`` reads a run's ``best.npz`` (or any model checkpoint),
stores every floating-point array with two or more dimensions (the Linear
weight matrices and the convolution kernels, nearly all of the bytes) as float16 and keeps the
vectors (biases, BatchNorm's affine parameters and running statistics) in
float32. Loading needs nothing special: ``Module.load_state_dict`` copies into
the model's float32 parameters, casting as it copies, so the float16 values
are used exactly (every float16 is a float32).

Rounding a weight to float16 changes it by at most 2⁻¹¹ of its size (about
0.05%); ``experiments.ship`` scores both and writes the pretrained model as
the package stores it.
"""
import os

import numpy as np

from ...serialization import save
from ...train.checkpoint import MODEL_FORMAT, read_checkpoint
from .store import checkpoint_file


def half_state(state_dict, dtype=np.float16):
    """The state dict with floating arrays of ndim ≥ 2 cast to ``dtype`` (vectors and integers unchanged)."""
    out = {}
    for key, value in state_dict.items():
        value = np.asarray(value)
        if np.issubdtype(value.dtype, np.floating) and value.ndim >= 2:
            value = value.astype(dtype)
        out[key] = value
    return out


def export_pretrained(checkpoint, path, dtype=np.float16, temperature=None):
    """Write ``path`` (.npz, a minimlp model checkpoint) from ``checkpoint`` with float16 weight matrices.

    ``temperature``: the annealed-mean temperature a chroma-bins (vivid) model is shipped to decode at.
    """
    state = read_checkpoint(checkpoint_file(checkpoint))
    config = dict(state["config"])
    config["storage"] = np.dtype(dtype).name
    if temperature is not None:
        if "chroma_bins" not in config:
            raise ValueError(f"{checkpoint}: a decoding temperature needs a chroma-bins (vivid) model, not "
                             f"{config.get('model')!r}")
        config["chroma_bins"] = {**config["chroma_bins"], "temperature": float(temperature)}
    save({"format": MODEL_FORMAT, "model": half_state(state["model"], dtype), "config": config,
          "epoch": state.get("epoch"), "valid_loss": state.get("valid_loss")}, path)
    os.chmod(path, 0o644)   # a shipped file must be readable by all, whatever the umask
    return path

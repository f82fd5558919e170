"""Export a trained colorizer as a small pretrained file: weight matrices (ndim ≥ 2) in float16, vectors in
float32, with its config; it loads into float32 parameters unchanged. docs/colorizer.md says what float16 costs.
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

"""Exchanging weights with PyTorch: state dicts of tensors to and from minimlp."""
from collections import OrderedDict

import numpy as np

from .backend import to_numpy


def from_torch_state_dict(torch_state_dict):
    """A torch ``state_dict`` (name → tensor) as name → NumPy array, ready for ``load_state_dict``; a module's
    extra state (``…_extra_state``, any object) passes through as it is."""
    out = OrderedDict()
    for name, value in torch_state_dict.items():
        if _is_extra_state(name):
            out[name] = value
            continue
        if hasattr(value, "detach"):
            value = value.detach().cpu().numpy()
        out[name] = np.array(value, copy=True)
    return out


def to_torch_state_dict(state_dict):
    """A minimlp ``state_dict`` as name → torch tensor (CPU), for ``torch_module.load_state_dict``; extra state
    (``…_extra_state``) passes through as it is."""
    import torch
    return OrderedDict((name, v if _is_extra_state(name) else torch.from_numpy(np.array(to_numpy(v), copy=True)))
                       for name, v in state_dict.items())


def _is_extra_state(name):
    return name == "_extra_state" or name.endswith("._extra_state")

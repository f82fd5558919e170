"""Optimizers matching ``torch.optim``, with fused updates over flat buffers.

``SGD``, ``RMSprop``, ``Adam`` and ``AdamW`` take ``model.parameters()`` (or
torch's list-of-dicts parameter groups); schedules are in
``minimlp.optim.lr_scheduler``. ``fused=False`` selects the plain readable
update (``_update_reference``), the teaching version the fused kernels are
tested against.
"""
from .optimizer import Optimizer
from .sgd import SGD
from .rmsprop import RMSprop
from .adam import Adam, AdamW
from . import lr_scheduler

__all__ = ["Optimizer", "SGD", "RMSprop", "Adam", "AdamW", "lr_scheduler"]

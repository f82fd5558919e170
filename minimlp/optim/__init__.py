"""Optimizers matching ``torch.optim``, updating flat buffers in one call per run of parameters.

``SGD``, ``RMSprop``, ``Adam`` and ``AdamW`` take ``model.parameters()`` (or
torch's list-of-dicts parameter groups); schedules are in
``minimlp.optim.lr_scheduler``. Each update's maths is in ``minimlp.formulas``;
``fused=False`` runs that formula even where a compiled kernel exists.
"""
from .optimizer import Optimizer
from .sgd import SGD
from .rmsprop import RMSprop
from .adam import Adam, AdamW
from . import lr_scheduler

__all__ = ["Optimizer", "SGD", "RMSprop", "Adam", "AdamW", "lr_scheduler"]

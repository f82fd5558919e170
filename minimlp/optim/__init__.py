"""Optimizers matching ``torch.optim``, updating flat buffers in one call per run of parameters.

``SGD``, ``RMSprop``, ``Adam``, ``AdamW``, ``Adagrad``, ``Adadelta``, ``Adamax``, ``NAdam``, ``RAdam``,
``ASGD``, ``Rprop``, ``Adafactor``, ``Muon`` (2-d parameters only) and ``LBFGS`` (whose ``step`` takes a
closure) take ``model.parameters()`` (or
torch's list-of-dicts parameter groups); schedules are in
``minimlp.optim.lr_scheduler``, weight averaging (SWA, EMA) in ``minimlp.optim.swa_utils``. Each update's
maths is in ``minimlp.formulas``; ``fused=False`` runs that formula even where a compiled kernel exists.
"""
from . import lr_scheduler, swa_utils
from .adadelta import Adadelta
from .adafactor import Adafactor
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .adamax import Adamax
from .asgd import ASGD
from .lbfgs import LBFGS
from .muon import Muon
from .nadam import NAdam
from .optimizer import Optimizer
from .radam import RAdam
from .rmsprop import RMSprop
from .rprop import Rprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "RMSprop", "Adam", "AdamW", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam",
           "ASGD", "Rprop", "Adafactor", "LBFGS", "Muon", "lr_scheduler", "swa_utils"]

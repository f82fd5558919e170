"""Weight averaging, as ``torch.optim.swa_utils``: an averaged copy of a model (SWA's equal weights or an EMA),
BatchNorm statistics recomputed for it, and the SWA learning-rate schedule.

::

    swa_model = AveragedModel(model)               # or AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.999))
    swa_scheduler = SWALR(optimizer, swa_lr=0.05)
    for epoch in range(epochs):
        train_one_epoch(model, optimizer)          # the original model is trained
        if epoch >= swa_start:
            swa_model.update_parameters(model)     # and averaged into the copy
            swa_scheduler.step()
    update_bn(loader, swa_model)                   # the copy's BatchNorm statistics, from the data
"""
import copy
import itertools
import math
import warnings

import numpy as np

from ..backend import device_of, to_device
from ..formulas.adafactor import lerp_
from ..nn.batchnorm import BatchNorm1d
from ..nn.module import Module, backward_of
from .lr_scheduler import LRScheduler

__all__ = ["AveragedModel", "update_bn", "SWALR", "get_ema_multi_avg_fn", "get_swa_multi_avg_fn", "get_ema_avg_fn",
           "get_swa_avg_fn"]


def _check_decay(decay):
    if decay < 0.0 or decay > 1.0:
        raise ValueError(f"Invalid decay value {decay} provided. Please provide a value in [0,1] range.")


def _is_floating(array):
    return array.dtype.kind in "fc"


def get_ema_multi_avg_fn(decay=0.999):
    r"""The exponential moving average, in place over lists of arrays: ``fn(averaged, current, n_averaged)`` sets
    each

    .. math:: \bar\theta \leftarrow d \, \bar\theta + (1 - d) \, \theta

    (d = ``decay``, in [0, 1]: ValueError otherwise), computed as torch's ``lerp`` from :math:`\bar\theta` towards
    :math:`\theta` by 1 − d; an integer array (a BatchNorm's ``num_batches_tracked``) takes the formula as
    written, truncated to its dtype, as torch's. ``n_averaged`` is not used."""
    _check_decay(decay)

    def ema_update(ema_param_list, current_param_list, _):
        if _is_floating(ema_param_list[0]):
            for ema, current in zip(ema_param_list, current_param_list):
                lerp_(ema, current, 1 - decay)
        else:
            for ema, current in zip(ema_param_list, current_param_list, strict=True):
                ema[...] = ema * decay + current * (1 - decay)

    return ema_update


def get_swa_multi_avg_fn():
    r"""The equal-weight (SWA) average, in place over lists of arrays: ``fn(averaged, current, n_averaged)`` sets
    each

    .. math:: \bar\theta \leftarrow \bar\theta + (\theta - \bar\theta) / (n + 1)

    with n = ``n_averaged`` (the models averaged so far), computed as torch's ``lerp`` by 1/(n + 1). As in torch,
    that weight is a float32 number when n is an array (torch's 0-d tensor divides in its default dtype) and a
    Python float when n is an int; an integer array takes the formula as written, truncated to its dtype."""

    def swa_update(averaged_param_list, current_param_list, num_averaged):
        if _is_floating(averaged_param_list[0]):
            if isinstance(num_averaged, (int, float)):
                weight = 1 / (num_averaged + 1)
            else:
                weight = float(np.float32(1) / np.float32(int(num_averaged) + 1))
            for averaged, current in zip(averaged_param_list, current_param_list):
                lerp_(averaged, current, weight)
        else:
            for averaged, current in zip(averaged_param_list, current_param_list):
                averaged[...] = averaged + (current - averaged) / (num_averaged + 1)

    return swa_update


def get_ema_avg_fn(decay=0.999):
    r"""The exponential moving average of one array: ``fn(averaged, current, n_averaged)`` returns
    :math:`d \, \bar\theta + (1 - d) \, \theta` (d = ``decay``, in [0, 1]: ValueError otherwise), a new array."""
    _check_decay(decay)

    def ema_update(ema_param, current_param, num_averaged):
        return decay * ema_param + (1 - decay) * current_param

    return ema_update


def get_swa_avg_fn():
    r"""The equal-weight (SWA) average of one array: ``fn(averaged, current, n_averaged)`` returns
    :math:`\bar\theta + (\theta - \bar\theta) / (n + 1)` (n = ``n_averaged``, the models averaged so far), a new
    array."""

    def swa_update(averaged_param, current_param, num_averaged):
        return averaged_param + (current_param - averaged_param) / (num_averaged + 1)

    return swa_update


def _arrays(module, use_buffers):
    """The arrays ``update_parameters`` averages: the parameters' data, then (``use_buffers``) the buffers."""
    arrays = (p.data for p in module.parameters())
    return itertools.chain(arrays, module.buffers()) if use_buffers else arrays


class AveragedModel(Module):
    r"""A copy of ``model`` whose parameters are a running average of the model's, as
    ``torch.optim.swa_utils.AveragedModel``: stochastic weight averaging (SWA) by default, an exponential moving
    average (EMA) with ``multi_avg_fn=get_ema_multi_avg_fn(decay)``.

    Each ``update_parameters(model)`` sets every parameter :math:`\bar\theta` of the copy from the model's
    :math:`\theta`, with n = ``n_averaged`` the updates so far:

    .. math::
        \bar\theta &\leftarrow \theta                                        && n = 0 \\
        \bar\theta &\leftarrow \bar\theta + (\theta - \bar\theta) / (n + 1) && \text{SWA (default)} \\
        \bar\theta &\leftarrow d \, \bar\theta + (1 - d) \, \theta           && \text{EMA}

    then n ← n + 1. ``avg_fn(averaged, current, n_averaged)`` returns one array's new average;
    ``multi_avg_fn(averaged_list, current_list, n_averaged)`` updates lists in place, once per device and dtype
    (not both: AssertionError, as torch). ``use_buffers=True`` averages the buffers too (running statistics, and
    BatchNorm's integer ``num_batches_tracked``, truncated); otherwise the buffers are copied from the model at
    each update. ``n_averaged`` is a 0-d int64 buffer.

    ``module`` is a deep copy of the model (moved to ``device`` if given: 'cpu' or 'gpu'); the copy's forward is
    this module's (``swa_model(x)``), and ``backward`` goes through the copy too (its input gradient, its
    parameters' gradients), as torch's autograd goes through it. Train the original model: the averages are
    written into the copy by ``update_parameters``. ``state_dict()`` has torch's keys: ``n_averaged``, then
    ``module.<...>``; ``avg_fn`` and ``multi_avg_fn`` are not saved. The default average is torch's CPU one on
    every device (torch on CUDA lerps by a float32 1/(n + 1): the last bits can differ).
    """

    def __init__(self, model, device=None, avg_fn=None, multi_avg_fn=None, use_buffers=False):
        super().__init__()
        if avg_fn is not None and multi_avg_fn is not None:
            raise AssertionError("Only one of avg_fn and multi_avg_fn should be provided")
        self.module = copy.deepcopy(model)
        if device is not None:
            self.module = self.module.to(device)
        n_averaged = np.zeros((), dtype=np.int64)
        self.register_buffer("n_averaged", n_averaged if device is None else to_device(n_averaged, device))
        self.avg_fn = avg_fn
        self.multi_avg_fn = multi_avg_fn
        self.use_buffers = use_buffers

    def forward(self, *args, **kwargs):
        """The copy's forward: ``self.module(*args, **kwargs)``."""
        return self.module(*args, **kwargs)

    def backward(self, dout):
        """The copy's backward: its input gradient, its parameters' gradients added (the model trained is the
        original; this is for gradients of the averaged model itself)."""
        return backward_of(self.module, dout)

    def backward_parameters(self, dout):
        """The copy's parameters' gradients only."""
        return backward_of(self.module, dout, want_dx=False)

    def update_parameters(self, model):
        """Average ``model``'s parameters (and buffers, with ``use_buffers``) into the copy; n_averaged += 1."""
        averaged, current = [], []
        first = int(self.n_averaged) == 0
        for mine, theirs in zip(_arrays(self.module, self.use_buffers), _arrays(model, self.use_buffers)):
            theirs = to_device(theirs, device_of(mine)) if device_of(theirs) != device_of(mine) else theirs
            averaged.append(mine)
            current.append(theirs)
            if first:
                mine[...] = theirs
        if not first:
            if self.multi_avg_fn is not None or self.avg_fn is None:
                groups = {}
                for mine, theirs in zip(averaged, current):
                    key = (device_of(mine), mine.dtype.str)
                    groups.setdefault(key, ([], []))
                    groups[key][0].append(mine)
                    groups[key][1].append(theirs)
                for (device, _), (mine, theirs) in groups.items():
                    n_averaged = to_device(self.n_averaged, device)
                    if self.multi_avg_fn is not None:
                        self.multi_avg_fn(mine, theirs, n_averaged)
                    else:
                        average = get_swa_avg_fn()
                        for a, b in zip(mine, theirs, strict=True):
                            a[...] = average(a, b, n_averaged)
            else:
                for mine, theirs in zip(averaged, current, strict=True):
                    mine[...] = self.avg_fn(mine, theirs, to_device(self.n_averaged, device_of(mine)))
        if not self.use_buffers:   # the buffers follow the model's
            for mine, theirs in zip(self.module.buffers(), model.buffers(), strict=True):
                mine[...] = to_device(theirs, device_of(mine))
        self.n_averaged += 1


def update_bn(loader, model, device=None):
    r"""Recompute the running statistics of every BatchNorm layer of ``model`` from one pass over ``loader``, as
    ``torch.optim.swa_utils.update_bn``.

    Each BatchNorm's statistics are reset (mean 0, variance 1, ``num_batches_tracked`` 0) and its ``momentum``
    set to None for the pass, so that after N batches they are the cumulative averages

    .. math:: \hat\mu = \frac1N \sum_{i=1}^N \mu_i, \qquad \hat\sigma^2 = \frac1N \sum_{i=1}^N \sigma_i^2

    of the batch means and unbiased batch variances; then each momentum and the model's mode are restored.
    ``loader`` yields arrays, or lists/tuples whose first element is the input (``(x, y)``); ``device`` ('cpu',
    'gpu'): where each batch is moved first. A model without BatchNorm is left as it is.
    """
    momenta = {}
    for module in model.modules():
        if isinstance(module, BatchNorm1d):   # BatchNorm1d/2d/3d and their lazy forms
            module.reset_running_stats()
            momenta[module] = module.momentum
    if not momenta:
        return
    was_training = model.training
    model.train()
    for module in momenta:
        module.momentum = None
    for batch in loader:
        if isinstance(batch, (list, tuple)):
            batch = batch[0]
        if device is not None:
            batch = to_device(batch, device)
        model(batch)
    for module, momentum in momenta.items():
        module.momentum = momentum
    model.train(was_training)


class SWALR(LRScheduler):
    r"""Anneal each group's learning rate to ``swa_lr`` over ``anneal_epochs`` steps, then hold it, as
    ``torch.optim.swa_utils.SWALR``.

    With :math:`\eta` the group's rate when the schedule starts and :math:`s` = ``swa_lr``, the rate after step t
    is

    .. math::
        \eta_t = s \, \alpha(\tau_t) + \eta \, (1 - \alpha(\tau_t)), \qquad \tau_t = \min(1, t / \max(1, T)),

    :math:`\alpha(\tau) = (1 - \cos \pi\tau)/2` (``"cos"``) or :math:`\tau` (``"linear"``), T = ``anneal_epochs``;
    computed as torch's, recursively: each step recovers :math:`\eta` from the current rate and the previous
    :math:`\alpha` (so a rate changed from outside carries through), and T = 0 jumps to s at once. ``swa_lr`` is
    one number or one per group (stored as each group's ``"swa_lr"``); torch's ValueErrors for a wrong count, a
    strategy other than ``"cos"`` or ``"linear"``, and a negative or non-int ``anneal_epochs``. ``state_dict()``
    holds every attribute but the optimizer and the anneal function, as torch's.
    """

    def __init__(self, optimizer, swa_lr, anneal_epochs=10, anneal_strategy="cos", last_epoch=-1):
        if isinstance(swa_lr, (list, tuple)):
            if len(swa_lr) != len(optimizer.param_groups):
                raise ValueError(f"swa_lr must have the same length as optimizer.param_groups. swa_lr has "
                                 f"{len(swa_lr)} values, param_groups has {len(optimizer.param_groups)}.")
            swa_lrs = list(swa_lr)
        else:
            swa_lrs = [swa_lr] * len(optimizer.param_groups)
        for value, group in zip(swa_lrs, optimizer.param_groups, strict=True):
            group["swa_lr"] = value
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"anneal_strategy must be one of 'cos' or 'linear', instead got {anneal_strategy}")
        self._set_anneal_func(anneal_strategy)
        if not isinstance(anneal_epochs, int) or anneal_epochs < 0:
            raise ValueError(f"anneal_epochs must be equal or greater than 0, got {anneal_epochs}")
        self.anneal_epochs = anneal_epochs
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _linear_anneal(t):
        return t

    @staticmethod
    def _cosine_anneal(t):
        return (1 - math.cos(math.pi * t)) / 2

    @staticmethod
    def _get_initial_lr(lr, swa_lr, alpha):
        """The rate η the schedule started from, given the rate ``lr`` = s·α + η·(1 − α) it wrote last."""
        if alpha == 1:
            return swa_lr
        return (lr - alpha * swa_lr) / (1 - alpha)

    def _set_anneal_func(self, anneal_strategy):
        self._anneal_strategy = anneal_strategy
        self.anneal_func = self._cosine_anneal if anneal_strategy == "cos" else self._linear_anneal

    def get_lr(self):
        if not self._get_lr_called_within_step:
            warnings.warn("To get the last learning rate computed by the scheduler, please use `get_last_lr()`.",
                          UserWarning, stacklevel=2)
        step = self._step_count - 1
        if self.anneal_epochs == 0:
            step = max(1, step)
        groups = self.optimizer.param_groups
        prev_alpha = self.anneal_func(max(0, min(1, (step - 1) / max(1, self.anneal_epochs))))
        prev_lrs = [self._get_initial_lr(group["lr"], group["swa_lr"], prev_alpha) for group in groups]
        alpha = self.anneal_func(max(0, min(1, step / max(1, self.anneal_epochs))))
        return [group["swa_lr"] * alpha + lr * (1 - alpha) for group, lr in zip(groups, prev_lrs, strict=True)]

    def state_dict(self):
        """Every attribute but the optimizer and the anneal function."""
        return {key: value for key, value in self.__dict__.items() if key not in ("optimizer", "anneal_func")}

    def load_state_dict(self, state_dict):
        self.__dict__.update(state_dict)
        self._set_anneal_func(self._anneal_strategy)

"""ASGD: averaged stochastic gradient descent, a decaying step size and a running average of the iterates."""
import numpy as np

from ..kernels import ops
from .optimizer import Optimizer, implementation_flags


class ASGD(Optimizer):
    r"""Averaged SGD, as ``torch.optim.ASGD``.

    For each parameter :math:`p` with gradient :math:`g_t` at step :math:`t`
    (learning rate :math:`\gamma`, decay term :math:`\lambda`, power
    :math:`\alpha`, averaging start :math:`t_0`, weight decay :math:`\lambda_w`);
    :math:`\eta_0 = \gamma`, :math:`\mu_0 = 1`, :math:`a_0 = 0`:

    .. math::
        g_t &\leftarrow -g_t                                   && \text{if maximize} \\
        g_t &\leftarrow g_t + \lambda_w p_{t-1}               && \text{if } \lambda_w \ne 0 \\
        p_t &\leftarrow p_{t-1} (1 - \lambda \eta_{t-1}) - \eta_{t-1} g_t \\
        a_t &\leftarrow a_{t-1} + \mu_{t-1} (p_t - a_{t-1}) \ (\mu_{t-1} \ne 1), \quad p_t \ (\mu_{t-1} = 1) \\
        \eta_t &\leftarrow \gamma / (1 + \lambda \gamma t)^\alpha, \quad
            \mu_t \leftarrow 1 / \max(1, t - t_0)

    State per parameter: ``step``, ``eta`` (:math:`\eta`), ``mu`` (:math:`\mu`), both numbers kept as torch
    keeps them, float32 values (torch's default dtype), and ``ax`` (:math:`a`, the average). As in torch,
    :math:`\eta` is computed after each step from the learning rate then, so a schedule's new rate takes
    effect one step later, and :math:`\eta_0` is the rate when the parameter's state is made. ``lambd``,
    ``alpha`` and ``t0`` are not checked, as in torch. The update is ``minimlp.formulas.asgd``. ``foreach`` and
    ``capturable``/``differentiable=False`` are torch's, kept in the groups.
    """

    _op = ops.asgd
    _arguments = ("ax",)
    _scalars = ("eta", "mu")

    def __init__(self, params, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0.0, foreach=None,
                 maximize=False, differentiable=False, capturable=False):
        defaults = dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay, maximize=bool(maximize),
                        **implementation_flags(foreach, capturable, differentiable))
        super().__init__(params, defaults)

    def _state_names(self, group):
        return ["ax"]

    def _init_state(self, i, group):
        state = super()._init_state(i, group)
        state["eta"] = float(np.float32(float(group["lr"])))
        state["mu"] = 1.0
        return state

    def _hyper(self, group, step):
        return dict(lr=float(group["lr"]), lambd=float(group["lambd"]), alpha=float(group["alpha"]),
                    t0=float(group["t0"]), weight_decay=float(group["weight_decay"]),
                    maximize=bool(group["maximize"]), step=step)

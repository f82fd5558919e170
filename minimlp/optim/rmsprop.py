"""RMSprop, plain or centered, with optional momentum and (L2) weight decay."""
from ..kernels import ops
from .optimizer import Optimizer, check_nonnegative, implementation_flags


class RMSprop(Optimizer):
    r"""RMSprop, as ``torch.optim.RMSprop``.

    For each parameter :math:`p` with gradient :math:`g_t` (learning rate
    :math:`\gamma`, smoothing :math:`\alpha`, momentum :math:`\mu`, weight
    decay :math:`\lambda`); :math:`v_0 = \bar g_0 = b_0 = 0`:

    .. math::
        g_t &\leftarrow -g_t                                         && \text{if maximize} \\
        g_t &\leftarrow g_t + \lambda p_{t-1}                       && \text{if } \lambda \ne 0 \\
        v_t &\leftarrow \alpha v_{t-1} + (1 - \alpha) g_t^2 \\
        \tilde v_t &\leftarrow v_t - \bar g_t^2, \quad
            \bar g_t \leftarrow \bar g_{t-1} + (1 - \alpha)(g_t - \bar g_{t-1})
                                                                    && \text{if centered} \\
        \tilde v_t &\leftarrow v_t                                  && \text{otherwise} \\
        b_t &\leftarrow \mu b_{t-1} + g_t / (\sqrt{\tilde v_t} + \epsilon), \quad
            p_t \leftarrow p_{t-1} - \gamma b_t                     && \text{if } \mu > 0 \\
        p_t &\leftarrow p_{t-1} - \gamma g_t / (\sqrt{\tilde v_t} + \epsilon)
                                                                    && \text{otherwise}

    State per parameter: ``step``, ``square_avg`` (:math:`v`),
    ``momentum_buffer`` (:math:`b`, if :math:`\mu > 0`), ``grad_avg``
    (:math:`\bar g`, if centered). The update is ``minimlp.formulas.rmsprop``.
    """

    _op = ops.rmsprop
    _arguments = ("square_avg", "grad_avg", "momentum_buffer")

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False, capturable=False, foreach=None, maximize=False, differentiable=False, *,
                 fused=None):
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                        centered=centered, maximize=bool(maximize),
                        **implementation_flags(foreach, capturable, differentiable))
        super().__init__(params, defaults, fused=fused)

    def _validate(self, group):
        super()._validate(group)
        check_nonnegative("epsilon value", group["eps"])
        check_nonnegative("momentum value", group["momentum"])
        check_nonnegative("alpha value", group["alpha"])

    def _state_names(self, group):
        names = ["square_avg"]
        if group["momentum"] > 0:
            names.append("momentum_buffer")
        if group["centered"]:
            names.append("grad_avg")
        return names

    def _hyper(self, group, step):
        return dict(lr=float(group["lr"]), alpha=float(group["alpha"]), eps=float(group["eps"]),
                    weight_decay=float(group["weight_decay"]), momentum=float(group["momentum"]),
                    maximize=bool(group["maximize"]))

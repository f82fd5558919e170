"""SGD with momentum, dampening, Nesterov momentum and (L2) weight decay."""
from ..kernels import ops
from .optimizer import Optimizer, check_nonnegative, implementation_flags


class SGD(Optimizer):
    r"""Stochastic gradient descent, as ``torch.optim.SGD``.

    For each parameter :math:`p` with gradient :math:`g_t` at step :math:`t`
    (learning rate :math:`\gamma`, momentum :math:`\mu`, dampening
    :math:`\tau`, weight decay :math:`\lambda`):

    .. math::
        g_t &\leftarrow -g_t                                     && \text{if maximize} \\
        g_t &\leftarrow g_t + \lambda p_{t-1}                   && \text{if } \lambda \ne 0 \\
        b_t &\leftarrow g_t \ (t = 1), \quad \mu b_{t-1} + (1 - \tau) g_t \ (t > 1)
                                                                && \text{if } \mu \ne 0 \\
        g_t &\leftarrow g_t + \mu b_t \ \text{(nesterov)}, \quad b_t \ \text{(otherwise)}
                                                                && \text{if } \mu \ne 0 \\
        p_t &\leftarrow p_{t-1} - \gamma g_t

    State per parameter: ``momentum_buffer`` (:math:`b`) when :math:`\mu \ne 0`,
    and a ``step`` count that marks the first momentum step; ``state_dict()``
    leaves it out, as torch keeps none (a loaded buffer means the first step is
    past), so torch's SGD state loads here and ours there.
    ``lr`` defaults to torch's 1e-3. The update is ``minimlp.formulas.sgd``. ``foreach`` and
    ``differentiable=False`` are torch's, kept in the groups; ``fused=False`` runs the formula.
    """

    _op = ops.sgd
    _arguments = ("momentum_buffer",)
    _saves_step = False

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False, *, maximize=False, foreach=None, differentiable=False, fused=None):
        flags = implementation_flags(foreach, differentiable=differentiable)
        del flags["capturable"]   # torch's SGD has none
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=bool(maximize), **flags, fused=fused)
        super().__init__(params, defaults, fused=fused)

    def _validate(self, group):
        super()._validate(group)
        check_nonnegative("momentum value", group["momentum"])
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening "
                             f"(got momentum={group['momentum']}, dampening={group['dampening']})")

    def _state_names(self, group):
        return ["momentum_buffer"] if group["momentum"] != 0 else []

    def _started(self, state, name):
        state["step"] = 0   # momentum switched on mid-run: its buffer starts as the gradient, as torch's

    def _hyper(self, group, step):
        return dict(lr=float(group["lr"]), momentum=float(group["momentum"]), dampening=float(group["dampening"]),
                    weight_decay=float(group["weight_decay"]), nesterov=bool(group["nesterov"]),
                    maximize=bool(group["maximize"]), step=step)

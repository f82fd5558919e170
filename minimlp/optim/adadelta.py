"""Adadelta: steps sized by the ratio of running RMS of past steps to running RMS of gradients."""
from ..kernels import ops
from .optimizer import Optimizer, check_nonnegative, implementation_flags


class Adadelta(Optimizer):
    r"""Adadelta, as ``torch.optim.Adadelta``.

    For each parameter :math:`p` with gradient :math:`g_t` (learning rate
    :math:`\gamma`, decay :math:`\rho`, weight decay :math:`\lambda`);
    :math:`v_0 = u_0 = 0`:

    .. math::
        g_t &\leftarrow -g_t                                   && \text{if maximize} \\
        g_t &\leftarrow g_t + \lambda p_{t-1}                 && \text{if } \lambda \ne 0 \\
        v_t &\leftarrow \rho v_{t-1} + (1 - \rho) g_t^2 \\
        \Delta_t &\leftarrow \frac{\sqrt{u_{t-1} + \epsilon}}{\sqrt{v_t + \epsilon}} \, g_t \\
        u_t &\leftarrow \rho u_{t-1} + (1 - \rho) \Delta_t^2 \\
        p_t &\leftarrow p_{t-1} - \gamma \Delta_t

    State per parameter: ``step``, ``square_avg`` (:math:`v`), ``acc_delta`` (:math:`u`). ``lr`` defaults to
    torch's 1.0. The update is ``minimlp.formulas.adadelta``. ``foreach`` and
    ``capturable``/``differentiable=False`` are torch's, kept in the groups.
    """

    _op = ops.adadelta
    _arguments = ("square_avg", "acc_delta")

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, foreach=None, *, capturable=False,
                 maximize=False, differentiable=False):
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=bool(maximize),
                        **implementation_flags(foreach, capturable, differentiable))
        super().__init__(params, defaults)

    def _validate(self, group):
        super()._validate(group)
        if not 0.0 <= group["rho"] <= 1.0:
            raise ValueError(f"Invalid rho value: {group['rho']} (must be in [0, 1])")
        check_nonnegative("epsilon value", group["eps"])

    def _state_names(self, group):
        return ["square_avg", "acc_delta"]

    def _hyper(self, group, step):
        return dict(lr=float(group["lr"]), rho=float(group["rho"]), eps=float(group["eps"]),
                    weight_decay=float(group["weight_decay"]), maximize=bool(group["maximize"]))

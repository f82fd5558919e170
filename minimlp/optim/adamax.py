"""Adamax: Adam with the infinity norm of past gradients in place of their second moment."""
from ..kernels import ops
from .optimizer import Optimizer, check_betas, check_nonnegative, implementation_flags


class Adamax(Optimizer):
    r"""Adamax, as ``torch.optim.Adamax``.

    For each parameter :math:`p` with gradient :math:`g_t` at step :math:`t`
    (learning rate :math:`\gamma`, betas :math:`\beta_1, \beta_2`, weight
    decay :math:`\lambda`); :math:`m_0 = u_0 = 0`:

    .. math::
        g_t &\leftarrow -g_t                                   && \text{if maximize} \\
        g_t &\leftarrow g_t + \lambda p_{t-1}                 && \text{if } \lambda \ne 0 \\
        m_t &\leftarrow \beta_1 m_{t-1} + (1 - \beta_1) g_t \\
        u_t &\leftarrow \max(\beta_2 u_{t-1}, |g_t| + \epsilon) \\
        p_t &\leftarrow p_{t-1} - \frac{\gamma}{1 - \beta_1^t} \, \frac{m_t}{u_t}

    State per parameter: ``step``, ``exp_avg`` (:math:`m`), ``exp_inf`` (:math:`u`). ``lr`` defaults to
    torch's 2e-3. The update is ``minimlp.formulas.adamax``. ``foreach`` and
    ``capturable``/``differentiable=False`` are torch's, kept in the groups.
    """

    _op = ops.adamax
    _arguments = ("exp_avg", "exp_inf")

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, foreach=None, *,
                 maximize=False, differentiable=False, capturable=False):
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, maximize=bool(maximize),
                        **implementation_flags(foreach, capturable, differentiable))
        super().__init__(params, defaults)

    def _validate(self, group):
        super()._validate(group)
        check_nonnegative("epsilon value", group["eps"])
        check_betas(group)

    def _state_names(self, group):
        return ["exp_avg", "exp_inf"]

    def _hyper(self, group, step):
        return dict(lr=float(group["lr"]), beta1=float(group["betas"][0]), beta2=float(group["betas"][1]),
                    eps=float(group["eps"]), weight_decay=float(group["weight_decay"]),
                    maximize=bool(group["maximize"]), step=step)

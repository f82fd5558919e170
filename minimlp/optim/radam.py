"""RAdam: Adam with its adaptive step rectified for the variance of a young second-moment estimate."""
from ..kernels import ops
from .optimizer import Optimizer, check_betas, check_nonnegative, implementation_flags


class RAdam(Optimizer):
    r"""RAdam, as ``torch.optim.RAdam``.

    For each parameter :math:`p` with gradient :math:`g_t` at step :math:`t`
    (learning rate :math:`\gamma`, betas :math:`\beta_1, \beta_2`, weight
    decay :math:`\lambda`); :math:`m_0 = v_0 = 0`,
    :math:`\rho_\infty = 2/(1 - \beta_2) - 1`:

    .. math::
        g_t &\leftarrow -g_t                                   && \text{if maximize} \\
        g_t &\leftarrow g_t + \lambda p_{t-1}                 && \text{if } \lambda \ne 0 \\
        p_{t-1} &\leftarrow p_{t-1} (1 - \gamma \lambda)
            && \text{instead, if decoupled\_weight\_decay} \\
        m_t &\leftarrow \beta_1 m_{t-1} + (1 - \beta_1) g_t, \quad
            v_t \leftarrow \beta_2 v_{t-1} + (1 - \beta_2) g_t^2, \quad
            \hat m_t \leftarrow m_t / (1 - \beta_1^t) \\
        \rho_t &\leftarrow \rho_\infty - 2 t \beta_2^t / (1 - \beta_2^t) \\
        r_t &\leftarrow \sqrt{\frac{(\rho_t - 4)(\rho_t - 2)\rho_\infty}{(\rho_\infty - 4)(\rho_\infty - 2)\rho_t}},
            \quad p_t \leftarrow p_{t-1} - \gamma \hat m_t \, r_t \frac{\sqrt{1 - \beta_2^t}}{\sqrt{v_t} + \epsilon}
            && \text{if } \rho_t > 5 \\
        p_t &\leftarrow p_{t-1} - \gamma \hat m_t                  && \text{otherwise}

    State per parameter: ``step``, ``exp_avg`` (:math:`m`), ``exp_avg_sq`` (:math:`v`). The update is
    ``minimlp.formulas.radam``. ``foreach`` and ``capturable``/``differentiable=False`` are torch's, kept in
    the groups.
    """

    _op = ops.radam
    _arguments = ("exp_avg", "exp_avg_sq")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 decoupled_weight_decay=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False):
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, maximize=bool(maximize),
                        **implementation_flags(foreach, capturable, differentiable),
                        decoupled_weight_decay=bool(decoupled_weight_decay))
        super().__init__(params, defaults)

    def _validate(self, group):
        super()._validate(group)
        check_nonnegative("epsilon value", group["eps"])
        check_betas(group)

    def _state_names(self, group):
        return ["exp_avg", "exp_avg_sq"]

    def _hyper(self, group, step):
        return dict(lr=float(group["lr"]), beta1=float(group["betas"][0]), beta2=float(group["betas"][1]),
                    eps=float(group["eps"]), weight_decay=float(group["weight_decay"]),
                    decoupled=bool(group["decoupled_weight_decay"]), maximize=bool(group["maximize"]), step=step)

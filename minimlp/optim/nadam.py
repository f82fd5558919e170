"""NAdam: Adam with Nesterov momentum, under a momentum schedule."""
from ..kernels import ops
from .optimizer import Optimizer, check_betas, check_nonnegative, implementation_flags


class NAdam(Optimizer):
    r"""NAdam, as ``torch.optim.NAdam``.

    For each parameter :math:`p` with gradient :math:`g_t` at step :math:`t`
    (learning rate :math:`\gamma`, betas :math:`\beta_1, \beta_2`, weight
    decay :math:`\lambda`, momentum decay :math:`\psi`);
    :math:`m_0 = v_0 = 0`, :math:`\Pi_0 = 1`:

    .. math::
        g_t &\leftarrow -g_t                                   && \text{if maximize} \\
        g_t &\leftarrow g_t + \lambda p_{t-1}                 && \text{if } \lambda \ne 0 \\
        p_{t-1} &\leftarrow p_{t-1} (1 - \gamma \lambda)
            && \text{instead, if decoupled\_weight\_decay} \\
        \mu_t &\leftarrow \beta_1 \bigl(1 - \tfrac12 \, 0.96^{t \psi}\bigr), \quad
            \mu_{t+1} \leftarrow \beta_1 \bigl(1 - \tfrac12 \, 0.96^{(t + 1) \psi}\bigr), \quad
            \Pi_t \leftarrow \Pi_{t-1} \mu_t \\
        m_t &\leftarrow \beta_1 m_{t-1} + (1 - \beta_1) g_t \\
        v_t &\leftarrow \beta_2 v_{t-1} + (1 - \beta_2) g_t^2 \\
        d_t &\leftarrow \sqrt{v_t / (1 - \beta_2^t)} + \epsilon \\
        p_t &\leftarrow p_{t-1} - \gamma \frac{1 - \mu_t}{1 - \Pi_t} \frac{g_t}{d_t}
            - \gamma \frac{\mu_{t+1}}{1 - \Pi_t \mu_{t+1}} \frac{m_t}{d_t}

    State per parameter: ``step``, ``mu_product`` (:math:`\Pi`, a number: as torch keeps it, a float32 value,
    torch's default dtype), ``exp_avg`` (:math:`m`), ``exp_avg_sq`` (:math:`v`). ``lr`` defaults to torch's
    2e-3. The update is ``minimlp.formulas.nadam``. ``foreach`` and ``capturable``/``differentiable=False``
    are torch's, kept in the groups.
    """

    _op = ops.nadam
    _arguments = ("exp_avg", "exp_avg_sq")
    _scalars = ("mu_product",)

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, momentum_decay=4e-3,
                 decoupled_weight_decay=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False):
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, momentum_decay=momentum_decay,
                        decoupled_weight_decay=bool(decoupled_weight_decay), maximize=bool(maximize),
                        **implementation_flags(foreach, capturable, differentiable))
        super().__init__(params, defaults)

    def _validate(self, group):
        super()._validate(group)
        check_nonnegative("epsilon value", group["eps"])
        check_betas(group)
        check_nonnegative("momentum_decay value", group["momentum_decay"])

    def _state_names(self, group):
        return ["exp_avg", "exp_avg_sq"]

    def _init_state(self, i, group):
        state = super()._init_state(i, group)
        state["mu_product"] = 1.0
        return state

    def _hyper(self, group, step):
        return dict(lr=float(group["lr"]), beta1=float(group["betas"][0]), beta2=float(group["betas"][1]),
                    eps=float(group["eps"]), weight_decay=float(group["weight_decay"]),
                    momentum_decay=float(group["momentum_decay"]), decoupled=bool(group["decoupled_weight_decay"]),
                    maximize=bool(group["maximize"]), step=step)

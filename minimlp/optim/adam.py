"""Adam and AdamW (decoupled weight decay), with optional AMSGrad."""
import numbers

from ..kernels import ops
from .optimizer import Optimizer, check_betas, check_nonnegative, implementation_flags


class Adam(Optimizer):
    r"""Adam, as ``torch.optim.Adam``.

    For each parameter :math:`p` with gradient :math:`g_t` at step :math:`t`
    (learning rate :math:`\gamma`, betas :math:`\beta_1, \beta_2`, weight
    decay :math:`\lambda`); :math:`m_0 = v_0 = \hat v^{max}_0 = 0`:

    .. math::
        g_t &\leftarrow -g_t                              && \text{if maximize} \\
        g_t &\leftarrow g_t + \lambda p_{t-1}            && \text{if } \lambda \ne 0 \\
        m_t &\leftarrow \beta_1 m_{t-1} + (1 - \beta_1) g_t \\
        v_t &\leftarrow \beta_2 v_{t-1} + (1 - \beta_2) g_t^2 \\
        \hat v_t &\leftarrow \max(\hat v_{t-1}, v_t) \ \text{(amsgrad)}, \quad v_t \ \text{(otherwise)} \\
        p_t &\leftarrow p_{t-1} - \frac{\gamma}{1 - \beta_1^t} \, \frac{m_t}
             {\sqrt{\hat v_t} / \sqrt{1 - \beta_2^t} + \epsilon}

    State per parameter: ``step``, ``exp_avg`` (:math:`m`), ``exp_avg_sq``
    (:math:`v`) and, with amsgrad, ``max_exp_avg_sq`` (:math:`\hat v`).
    The update is ``minimlp.formulas.adam``. ``decoupled_weight_decay=True`` is AdamW's decay, as torch's;
    ``foreach`` and ``capturable``/``differentiable=False`` are torch's, kept in the groups.
    """

    _op = ops.adam
    _arguments = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, *, foreach=None, maximize=False, capturable=False, differentiable=False,
                 fused=None, decoupled_weight_decay=False):
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=bool(maximize), **implementation_flags(foreach, capturable, differentiable),
                        fused=fused, decoupled_weight_decay=bool(decoupled_weight_decay))
        super().__init__(params, defaults, fused=fused)

    def _validate(self, group):
        super()._validate(group)
        check_nonnegative("epsilon value", group["eps"])
        check_betas(group)
        if isinstance(group["betas"][0], numbers.Real) != isinstance(group["betas"][1], numbers.Real):
            raise ValueError("betas must be either both floats or both Tensors")

    def _state_names(self, group):
        return ["exp_avg", "exp_avg_sq"] + (["max_exp_avg_sq"] if group["amsgrad"] else [])

    def _hyper(self, group, step):
        return dict(lr=float(group["lr"]), beta1=float(group["betas"][0]), beta2=float(group["betas"][1]),
                    eps=float(group["eps"]), weight_decay=float(group["weight_decay"]),
                    decoupled=bool(group["decoupled_weight_decay"]),
                    maximize=bool(group["maximize"]), step=step)


class AdamW(Adam):
    r"""AdamW, as ``torch.optim.AdamW``: Adam with decoupled weight decay.

    The same update as :class:`Adam` except that weight decay shrinks the
    parameter instead of being added to the gradient:

    .. math::
        p_{t-1} &\leftarrow p_{t-1} (1 - \gamma \lambda) \\
        m_t &\leftarrow \beta_1 m_{t-1} + (1 - \beta_1) g_t, \quad
        v_t \leftarrow \beta_2 v_{t-1} + (1 - \beta_2) g_t^2 \\
        p_t &\leftarrow p_{t-1} - \frac{\gamma}{1 - \beta_1^t} \, \frac{m_t}
             {\sqrt{\hat v_t} / \sqrt{1 - \beta_2^t} + \epsilon}

    (:math:`\hat v_t` as in Adam; ``maximize`` negates :math:`g_t` first, as in Adam). ``weight_decay``
    defaults to torch's 1e-2; the decay is scaled by the learning rate :math:`\gamma`, as in torch.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False, foreach=None, capturable=False, differentiable=False,
                 fused=None):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         foreach=foreach, maximize=maximize, capturable=capturable, differentiable=differentiable,
                         fused=fused, decoupled_weight_decay=True)

"""Adam and AdamW (decoupled weight decay), with optional AMSGrad."""
from .optimizer import Optimizer, check_nonnegative, fused_kernels
from ..backend import get_array_module


class Adam(Optimizer):
    r"""Adam, as ``torch.optim.Adam``.

    For each parameter :math:`p` with gradient :math:`g_t` at step :math:`t`
    (learning rate :math:`\gamma`, betas :math:`\beta_1, \beta_2`, weight
    decay :math:`\lambda`); :math:`m_0 = v_0 = \hat v^{max}_0 = 0`:

    .. math::
        g_t &\leftarrow g_t + \lambda p_{t-1}            && \text{if } \lambda \ne 0 \\
        m_t &\leftarrow \beta_1 m_{t-1} + (1 - \beta_1) g_t \\
        v_t &\leftarrow \beta_2 v_{t-1} + (1 - \beta_2) g_t^2 \\
        \hat v_t &\leftarrow \max(\hat v_{t-1}, v_t) \ \text{(amsgrad)}, \quad v_t \ \text{(otherwise)} \\
        p_t &\leftarrow p_{t-1} - \frac{\gamma}{1 - \beta_1^t} \, \frac{m_t}
             {\sqrt{\hat v_t} / \sqrt{1 - \beta_2^t} + \epsilon}

    State per parameter: ``step``, ``exp_avg`` (:math:`m`), ``exp_avg_sq``
    (:math:`v`) and, with amsgrad, ``max_exp_avg_sq`` (:math:`\hat v`).
    Supports ``step_in_backward()`` (``minimlp.optim.in_backward``).
    """

    _decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, *, fused=True):
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad)
        super().__init__(params, defaults, fused=fused)

    def _validate(self, group):
        super()._validate(group)
        check_nonnegative("epsilon value", group["eps"])
        betas = group["betas"] = tuple(group["betas"])
        if len(betas) != 2:
            raise ValueError(f"Invalid betas: {betas} (must be a pair)")
        for i, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {beta} (must be in [0, 1))")

    def _state_names(self, group):
        return ["exp_avg", "exp_avg_sq"] + (["max_exp_avg_sq"] if group["amsgrad"] else [])

    def _hyper(self, group, step):
        lr, wd = float(group["lr"]), float(group["weight_decay"])
        beta1, beta2 = float(group["betas"][0]), float(group["betas"][1])
        bias_correction1 = 1 - beta1 ** step
        bias_correction2 = 1 - beta2 ** step
        return lr, wd, beta1, beta2, lr / bias_correction1, bias_correction2 ** 0.5

    def _update_reference(self, p, g, state, group):
        xp = get_array_module(p)
        lr, wd, beta1, beta2, step_size, bc2_sqrt = self._hyper(group, state["step"])
        if wd != 0:
            if self._decoupled:
                p *= 1 - lr * wd
            else:
                g = g + wd * p
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m += (1 - beta1) * (g - m)
        v[...] = v * beta2 + (1 - beta2) * g * g
        if group["amsgrad"]:
            v = xp.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
        denom = xp.sqrt(v) / bc2_sqrt + float(group["eps"])
        p -= step_size * (m / denom)

    def _fused_keywords(self, group, step):
        lr, wd, beta1, beta2, step_size, bc2_sqrt = self._hyper(group, step)
        return dict(beta1=beta1, beta2=beta2, eps=float(group["eps"]),
                    weight_decay=0.0 if self._decoupled else wd,
                    decay=1 - lr * wd if self._decoupled else 1.0,
                    step_size=step_size, bias_correction2_sqrt=bc2_sqrt)

    def _update_fused(self, p, g, state, group):
        vmax = state.get("max_exp_avg_sq")
        fused_kernels(p).adam(
            p.reshape(-1), g.reshape(-1), state["exp_avg"].reshape(-1),
            state["exp_avg_sq"].reshape(-1), None if vmax is None else vmax.reshape(-1),
            **self._fused_keywords(group, state["step"]))

    def _in_backward_arguments(self, i):
        """Count this step for parameter ``i``; the state and scalars ``in_backward`` passes to ``_adam``."""
        if not self.fused:
            return None
        from . import fused_numba
        group = self.param_groups[self._group_of[i]]
        state = self.state[i] or self._init_state(i, group)
        state["step"] += 1
        p = self._params[i].data
        vmax = state.get("max_exp_avg_sq")
        return ((state["exp_avg"], state["exp_avg_sq"], p[:0] if vmax is None else vmax, vmax is not None)
                + fused_numba.adam_scalars(p.dtype, **self._fused_keywords(group, state["step"])))


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

    (:math:`\hat v_t` as in Adam). ``weight_decay`` defaults to torch's 1e-2;
    the decay is scaled by the learning rate :math:`\gamma`, as in torch.
    """

    _decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, fused=True):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, fused=fused)

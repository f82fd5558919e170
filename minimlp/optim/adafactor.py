"""Adafactor: second moments kept as row and column factors, a relative step size, update clipping."""
import numpy as np

from ..backend import get_array_module
from ..formulas import adafactor as formula
from .optimizer import Optimizer


class Adafactor(Optimizer):
    r"""Adafactor, as ``torch.optim.Adafactor`` (Shazeer and Stern, 2018, with torch's reading of it).

    For each parameter :math:`p` with gradient :math:`G_t` at step :math:`t` (``lr`` :math:`\gamma`,
    ``beta2_decay`` :math:`\tau`, ``eps`` :math:`= (\epsilon_1, \epsilon_2)`, clipping threshold ``d``,
    weight decay :math:`\lambda`); :math:`R_0 = C_0 = \hat V_0 = 0`:

    .. math::
        G_t &\leftarrow -G_t                                           && \text{if maximize} \\
        \hat\beta_{2,t} &= 1 - t^{\tau}, \quad \rho_t = \min(\gamma, 1/\sqrt t), \quad
            \alpha_t = \max(\epsilon_2, \mathrm{RMS}(p_{t-1})) \, \rho_t \\
        p_{t-1} &\leftarrow p_{t-1} (1 - \gamma \lambda) \\
        R_t &= \hat\beta_{2,t} R_{t-1} + (1 - \hat\beta_{2,t}) \, \mathrm{mean}_{\text{cols}}(G_t^2), \quad
        C_t = \hat\beta_{2,t} C_{t-1} + (1 - \hat\beta_{2,t}) \, \mathrm{mean}_{\text{rows}}(G_t^2), \quad
        \hat V_t = \frac{R_t C_t}{\max(\mathrm{mean}(R_t), \epsilon_1)}     && \dim p \ge 2 \\
        \hat V_t &= \hat\beta_{2,t} \hat V_{t-1} + (1 - \hat\beta_{2,t}) G_t^2         && \dim p < 2 \\
        U_t &= G_t / \max(\sqrt{\hat V_t}, \epsilon_1), \qquad
        p_t = p_{t-1} - \frac{\alpha_t}{\max(1, \mathrm{RMS}(U_t)/d)} \, U_t

    (rows and columns are the last two axes; leading axes are a batch of matrices). :math:`\epsilon_1`
    = None is the machine epsilon of the first updated parameter's dtype in the group (``np.finfo``), kept for
    the group's other parameters in that step, as torch does. The update is ``minimlp.formulas.adafactor``.

    State per parameter: ``step``, and ``row_var`` (:math:`R`: p's shape with the last axis 1) and ``col_var``
    (:math:`C`: the last but one axis 1) for a parameter of two or more dimensions, ``variance``
    (:math:`\hat V`, p's shape) otherwise. ``foreach`` is torch's, kept in the groups (every path here is
    the same loop).

    How it fits the base class: the groups, the checks, ``zero_grad``, the flat buffers and ``state_dict``
    are the base class's. The update is per parameter, not per run of neighbours (it needs each parameter's
    own RMS and its own matrix axes), so ``_step`` calls the formula once per parameter. ``variance`` has
    the parameter's shape and lives in the flat state buffers like any other optimizer's state; ``row_var``
    and ``col_var`` do not have it, so they are arrays of their own. A step inside backward updates nothing
    early (no compiled kernel takes an Adafactor update) and runs this same ``_step`` at the block's end.
    """

    def __init__(self, params, lr=1e-2, beta2_decay=-0.8, eps=(None, 1e-3), d=1.0, weight_decay=0.0, *,
                 foreach=None, maximize=False):
        defaults = dict(lr=lr, beta2_decay=beta2_decay, eps=eps, d=d, weight_decay=weight_decay, foreach=foreach,
                        maximize=maximize)
        super().__init__(params, defaults, fused=False)

    def _validate(self, group):
        lr, eps = group["lr"], group["eps"]
        if getattr(lr, "size", 1) != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Learning rate should be >= 0 but is: {lr}")
        if not 0.0 >= group["beta2_decay"]:
            raise ValueError(f"beta2_decay should be <= 0 but is: {group['beta2_decay']}")
        if eps[0] is not None and not 0.0 <= eps[0]:
            raise ValueError(f"epsilon1 should be >= 0 but is: {eps[0]}")
        if not 0.0 <= eps[1]:
            raise ValueError(f"epsilon2 should be >= 0 but is: {eps[1]}")
        if not 1.0 <= group["d"]:
            raise ValueError(f"Clipping threshold d should be >= 1 but is: {group['d']}")
        if not 0.0 <= group["weight_decay"]:
            raise ValueError(f"weight_decay should be >= 0 but is: {group['weight_decay']}")

    def _state_names(self, group):
        return []

    def _init_state(self, i, group):
        p = self._params[i].data
        if p.ndim > 1:
            xp = get_array_module(p)
            state = {"step": 0, "row_var": xp.zeros(p.shape[:-1] + (1,), dtype=p.dtype),
                     "col_var": xp.zeros(p.shape[:-2] + (1,) + p.shape[-1:], dtype=p.dtype)}
        else:
            variance = self._flat.state_view(i, "variance")
            variance.fill(0)
            state = {"step": 0, "variance": variance}
        self.state[i] = state
        return state

    def _step(self, skip):
        """Each parameter with a gradient (but those in ``skip``), one formula call each, group by group."""
        i = -1
        for group in self.param_groups:
            eps1, eps2 = group["eps"]
            for p in group["params"]:
                i += 1
                if p.grad is None or i in skip:
                    continue
                if p.data.dtype.kind == "c":
                    raise RuntimeError("Adafactor does not support complex parameters")
                self._flat.reclaim_gradient(i)
                state = self.state[i] or self._init_state(i, group)
                if eps1 is None:
                    eps1 = float(np.finfo(p.data.dtype).eps)
                state["step"] += 1
                formula.update(p.data, p.grad, state.get("row_var"), state.get("col_var"), state.get("variance"),
                               lr=float(group["lr"]), beta2_decay=group["beta2_decay"], eps1=eps1, eps2=eps2,
                               d=group["d"], weight_decay=group["weight_decay"], maximize=group["maximize"],
                               step=float(state["step"]))

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        for group in self.param_groups:
            group["eps"] = tuple(group["eps"])

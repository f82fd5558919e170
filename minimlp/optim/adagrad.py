"""Adagrad: steps scaled by each coordinate's accumulated squared gradients, with lr decay and L2 decay."""
from ..kernels import ops
from .optimizer import Optimizer, check_nonnegative, implementation_flags


class Adagrad(Optimizer):
    r"""Adagrad, as ``torch.optim.Adagrad``.

    For each parameter :math:`p` with gradient :math:`g_t` at step :math:`t`
    (learning rate :math:`\gamma`, lr decay :math:`\eta`, weight decay
    :math:`\lambda`, initial accumulator value :math:`\tau`); :math:`s_0 = \tau`:

    .. math::
        g_t &\leftarrow -g_t                                   && \text{if maximize} \\
        g_t &\leftarrow g_t + \lambda p_{t-1}                 && \text{if } \lambda \ne 0 \\
        \tilde\gamma &\leftarrow \gamma / (1 + (t - 1) \eta) \\
        s_t &\leftarrow s_{t-1} + g_t^2 \\
        p_t &\leftarrow p_{t-1} - \tilde\gamma \, g_t / (\sqrt{s_t} + \epsilon)

    State per parameter: ``step`` and ``sum`` (:math:`s`), made for every parameter when the optimizer is
    built (as torch does, so ``state_dict()`` lists them all from the start; a group added later gets its
    state at its first step). :math:`\tau` is the constructor's ``initial_accumulator_value``: as in torch, a
    group's own value is kept in the group but not used. The update is ``minimlp.formulas.adagrad``.
    ``foreach``, ``fused`` and ``differentiable=False`` are torch's, kept in the groups.
    """

    _op = ops.adagrad
    _arguments = ("sum",)

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10,
                 foreach=None, *, maximize=False, differentiable=False, fused=None):
        flags = implementation_flags(foreach, differentiable=differentiable)
        del flags["capturable"]   # torch's Adagrad has none
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, maximize=bool(maximize), **flags,
                        fused=fused)
        super().__init__(params, defaults, fused=fused)
        for i, gi in enumerate(self._group_of):
            self._init_state(i, self.param_groups[gi])

    def _validate(self, group):
        super()._validate(group)
        check_nonnegative("lr_decay value", group["lr_decay"])
        check_nonnegative("initial_accumulator_value value", group["initial_accumulator_value"])
        check_nonnegative("epsilon value", group["eps"])

    def _state_names(self, group):
        return ["sum"]

    def _init_state(self, i, group):
        state = super()._init_state(i, group)
        state["sum"].fill(self.defaults["initial_accumulator_value"])
        return state

    def _hyper(self, group, step):
        return dict(lr=float(group["lr"]), lr_decay=float(group["lr_decay"]),
                    weight_decay=float(group["weight_decay"]), eps=float(group["eps"]),
                    maximize=bool(group["maximize"]), step=step)

"""Rprop: resilient backpropagation, per-coordinate step sizes adapted to the gradient's sign alone."""
from ..kernels import ops
from .optimizer import Optimizer, implementation_flags


class Rprop(Optimizer):
    r"""Rprop, as ``torch.optim.Rprop``.

    For each parameter :math:`p` with gradient :math:`g_t` (etas
    :math:`\eta_-, \eta_+`, step sizes :math:`\Delta_{min}, \Delta_{max}`);
    :math:`g'_0 = 0`, :math:`\Delta_0 = \gamma` (the learning rate):

    .. math::
        g_t &\leftarrow -g_t                                   && \text{if maximize} \\
        f_t &\leftarrow \eta_+ \ (g_t g'_{t-1} > 0), \quad \eta_- \ (g_t g'_{t-1} < 0), \quad 1 \ \text{(otherwise)} \\
        \Delta_t &\leftarrow \min(\max(f_t \Delta_{t-1}, \Delta_{min}), \Delta_{max}) \\
        g_t &\leftarrow 0                                      && \text{if } g_t g'_{t-1} < 0 \\
        p_t &\leftarrow p_{t-1} - \operatorname{sign}(g_t) \Delta_t, \quad g'_t \leftarrow g_t

    State per parameter: ``step``, ``prev`` (:math:`g'`), ``step_size`` (:math:`\Delta`). As in torch, the
    learning rate only sets the first step sizes (a schedule changes nothing afterwards). The update is
    ``minimlp.formulas.rprop``. ``foreach`` and ``capturable``/``differentiable=False`` are torch's, kept in
    the groups.
    """

    _op = ops.rprop
    _arguments = ("prev", "step_size")

    def __init__(self, params, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), *, capturable=False, foreach=None,
                 maximize=False, differentiable=False):
        defaults = dict(lr=lr, etas=tuple(etas), step_sizes=tuple(step_sizes), maximize=bool(maximize),
                        **implementation_flags(foreach, capturable, differentiable))
        super().__init__(params, defaults)

    def _validate(self, group):
        super()._validate(group)
        etaminus, etaplus = group["etas"]
        if not 0.0 < etaminus < 1.0 < etaplus:
            raise ValueError(f"Invalid eta values: {etaminus}, {etaplus} (must be 0 < etaminus < 1 < etaplus)")

    def _state_names(self, group):
        return ["prev", "step_size"]

    def _init_state(self, i, group):
        state = super()._init_state(i, group)
        state["step_size"].fill(float(group["lr"]))
        return state

    def _hyper(self, group, step):
        (etaminus, etaplus), (low, high) = group["etas"], group["step_sizes"]
        return dict(etaminus=float(etaminus), etaplus=float(etaplus), step_size_min=float(low),
                    step_size_max=float(high), maximize=bool(group["maximize"]))

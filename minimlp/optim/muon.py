"""Muon: momentum whose update matrix is orthogonalised by a Newton–Schulz iteration, for 2-d parameters."""
from ..formulas import muon as formula
from ..kernels import ops
from ..nn.parameter import Parameter, is_lazy
from .optimizer import Optimizer


class Muon(Optimizer):
    r"""Muon, as ``torch.optim.Muon`` (Keller Jordan, 2024; Moonshot's learning-rate match, 2025).

    For each matrix :math:`p` (2-d) with gradient :math:`g_t` (learning rate :math:`\gamma`, momentum :math:`\mu`,
    weight decay :math:`\lambda`, Newton–Schulz coefficients :math:`(a, b, c)` and steps :math:`k`);
    :math:`B_0 = 0`:

    .. math::
        B_t &\leftarrow \mu B_{t-1} + (1 - \mu) g_t \\
        U_t &\leftarrow \mu B_t + (1 - \mu) g_t \ \text{(nesterov)}, \quad B_t \ \text{(otherwise)} \\
        X_0 &= U_t / \max(\lVert U_t \rVert_F, \epsilon), \quad
            X_{j+1} = a X_j + (b A_j + c A_j^2) X_j, \ A_j = X_j X_j^T \ (j < k), \quad O_t = X_k \\
        p_t &\leftarrow p_{t-1} (1 - \gamma \lambda) - \gamma' O_t, \quad
            \gamma' = \gamma \sqrt{\max(1, A/B)} \ \text{(``"original"``, None)}, \
            0.2 \gamma \sqrt{\max(A, B)} \ \text{(``"match_rms_adamw"``)}

    for p of shape (A, B); the iteration runs on :math:`U^T` where A > B. As torch's, the momentum is an
    interpolation (torch's ``lerp``), and the iteration is computed in bfloat16 (here float32 arrays rounded to
    bfloat16 after each of torch's operations: the same values, but where a float32 sum of a matrix product is
    added in another order a value may land one bfloat16 step away). The update is ``minimlp.formulas.muon``.

    Only 2-d parameters (torch's ValueError otherwise, here for a group added later too); biases, embeddings
    and the like belong to another optimizer (AdamW). State per parameter: ``momentum_buffer`` (:math:`B`, in
    the flat state buffers) and no step count, as torch's. The update is per parameter (each matrix is
    orthogonalised whole), one formula call each; a step inside backward updates nothing early.
    """

    _op = ops.muon
    _saves_step = False

    def __init__(self, params, lr=1e-3, weight_decay=0.1, momentum=0.95, nesterov=True,
                 ns_coefficients=formula.COEFFICIENTS, eps=formula.EPS, ns_steps=formula.STEPS, adjust_lr_fn=None):
        defaults = dict(lr=lr, weight_decay=weight_decay, momentum=momentum, nesterov=nesterov,
                        ns_coefficients=ns_coefficients, eps=eps, ns_steps=ns_steps, adjust_lr_fn=adjust_lr_fn)
        super().__init__(params, defaults, fused=False)

    def _validate(self, group):
        lr = group["lr"]
        if getattr(lr, "size", 1) != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Learning rate should be >= 0 but is: {lr}")
        if not 0.0 <= group["momentum"]:
            raise ValueError(f"momentum should be >= 0 but is: {group['momentum']}")
        if not 0.0 <= group["weight_decay"]:
            raise ValueError(f"weight decay should be >= 0 but is: {group['weight_decay']}")
        if group["adjust_lr_fn"] is not None and group["adjust_lr_fn"] not in ("original", "match_rms_adamw"):
            raise ValueError(f"Adjust learning rate function {group['adjust_lr_fn']} is not supported")
        if group["ns_steps"] >= 100:   # torch checks these two at the first step
            raise ValueError("Number of steps must be less than 100 for computational efficiency")
        if len(group["ns_coefficients"]) != 3:
            raise ValueError("Coefficients must be a tuple of exactly 3 values")

    def add_param_group(self, group):
        """Add a group (as the base class), its parameters 2-d matrices only: ValueError otherwise."""
        if isinstance(group, dict) and "params" in group:
            params = group["params"]
            params = [params] if isinstance(params, Parameter) else list(params)
            group = {**group, "params": params}
            for p in params:
                p = p[1] if isinstance(p, tuple) and len(p) == 2 else p
                if isinstance(p, Parameter) and not is_lazy(p) and p.ndim != 2:
                    raise ValueError("Muon only supports 2D parameters whereas we found a parameter with size: "
                                     f"{tuple(p.shape)}")
        super().add_param_group(group)

    def _state_names(self, group):
        return ["momentum_buffer"]

    def _init_state(self, i, group):
        buffer = self._flat.state_view(i, "momentum_buffer")
        buffer.fill(0)
        self.state[i] = {"momentum_buffer": buffer}
        return self.state[i]

    def _step(self, skip):
        """Each parameter with a gradient (but those in ``skip``), one formula call each, group by group."""
        i = -1
        for group in self.param_groups:
            for p in group["params"]:
                i += 1
                if p.grad is None or i in skip:
                    continue
                if p.data.dtype.kind == "c":
                    raise RuntimeError("Muon does not support complex parameters")
                self._flat.reclaim_gradient(i)
                state = self.state[i] or self._init_state(i, group)
                self._op.formula.update(
                    p.data, p.grad, state["momentum_buffer"], lr=float(group["lr"]),
                    weight_decay=float(group["weight_decay"]), momentum=float(group["momentum"]),
                    nesterov=bool(group["nesterov"]), ns_coefficients=tuple(group["ns_coefficients"]),
                    ns_steps=int(group["ns_steps"]), eps=float(group["eps"]), adjust_lr_fn=group["adjust_lr_fn"])

    def load_state_dict(self, state_dict):
        """Restore ``state_dict()`` output (or torch's Muon's) into this optimizer (same group layout)."""
        super().load_state_dict(state_dict)
        for state in self.state:
            state.pop("step", None)   # the base class counts steps; Muon keeps none, as torch's
        for group in self.param_groups:
            group["ns_coefficients"] = tuple(group["ns_coefficients"])

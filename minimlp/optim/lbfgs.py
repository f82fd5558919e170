"""L-BFGS: a quasi-Newton method that re-evaluates the loss through a closure."""
from ..backend import device_of, get_array_module, to_device
from ..formulas import lbfgs as formula
from .optimizer import Optimizer


class LBFGS(Optimizer):
    r"""L-BFGS, as ``torch.optim.LBFGS`` (itself after minFunc): ``step(closure)`` runs up to ``max_iter``
    iterations, each moving all parameters x (one flat vector) along the L-BFGS direction.

    The closure re-evaluates the model: it runs forward, clears and recomputes the gradients, and returns
    the loss::

        def closure():
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            model.backward(loss_fn.backward())
            return loss

        optimizer.step(closure)

    Each iteration k, with gradient :math:`g_k` (``minimlp.formulas.lbfgs``):

    .. math::
        d_k &= -g_k \quad (k = 1), \qquad
            d_k = -H_k g_k \quad \text{(two-loop recursion over the last ``history\_size`` pairs)} \\
        s &= t_{k-1} d_{k-1}, \quad y = g_k - g_{k-1}, \quad \text{kept if } y^\top s > 10^{-10},
            \quad H_0 = y^\top s / y^\top y \\
        t_k &= \gamma \min(1, 1 / \lVert g_1 \rVert_1) \quad (k = 1), \qquad t_k = \gamma \quad \text{(after)} \\
        x_{k+1} &= x_k + t_k d_k

    with :math:`\gamma` = ``lr``; ``line_search_fn="strong_wolfe"`` replaces :math:`t_k` by a step satisfying
    the strong Wolfe conditions, found from :math:`t_k` by cubic interpolation. A step stops when
    :math:`\lVert g \rVert_\infty \le` ``tolerance_grad`` (also before the first iteration), when
    :math:`g^\top d > -` ``tolerance_change``, when :math:`\lVert t d \rVert_\infty` or the change of loss
    is below ``tolerance_change``, after ``max_iter`` iterations or ``max_eval`` evaluations of the closure
    (default ``max_iter * 5 // 4``). Without line search the closure is not evaluated after the last
    iteration, so the returned loss is always the one at the parameters the step started from.

    One parameter group only, as torch (ValueError otherwise); its state lives in ``state[0]``, the first
    parameter's, as torch registers it: ``func_evals``, ``n_iter`` (counted over all steps), the last
    direction ``d`` and step ``t``, the history ``old_dirs`` (y), ``old_stps`` (s), ``ro``
    (:math:`1 / y^\top s`), ``H_diag``, ``prev_flat_grad``, ``prev_loss`` and ``al`` (the two-loop's
    :math:`\alpha`). ``state_dict()`` has torch's layout, and torch's own (tensors as arrays) loads.

    How it fits the base class: the groups, the checks, ``zero_grad``, the flat buffers (each ``p.data`` a
    view of one array) and ``state_dict``'s layout are the base class's; ``step`` is L-BFGS's own, since
    the update is not per parameter but one direction over all of them, computed from a history of whole
    flat vectors, with the closure evaluated several times per step. The state is one dict of vectors,
    lists of them and numbers, not per-parameter arrays, so ``state_dict``/``load_state_dict`` are
    overridden to copy it; and there is no step inside backward (a step needs the closure).
    """

    def __init__(self, params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7, tolerance_change=1e-9,
                 history_size=100, line_search_fn=None):
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        defaults = dict(lr=lr, max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
                        tolerance_change=tolerance_change, history_size=history_size, line_search_fn=line_search_fn)
        super().__init__(params, defaults, fused=False)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")

    def _validate(self, group):
        lr = group["lr"]
        if getattr(lr, "size", 1) != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")

    # ----------------------------------------------------- the parameters as one flat vector
    def _gather_flat_grad(self):
        """Every gradient, flattened and joined in parameter order (zeros where a parameter has none)."""
        xp = get_array_module(self._params[0].data)
        return xp.concatenate([xp.zeros(p.data.size, p.data.dtype) if p.grad is None else p.grad.reshape(-1)
                               for p in self._params])

    def _add_grad(self, step_size, update):
        """x ← x + step_size · update, parameter by parameter (in place: the flat views stay)."""
        offset = 0
        for p in self._params:
            n = p.data.size
            p.data += step_size * update[offset:offset + n].reshape(p.data.shape)
            offset += n

    def _directional_evaluate(self, closure, x, t, d):
        """(loss, gradient) at x + t d; the parameters are x again afterwards."""
        self._add_grad(t, d)
        loss = float(closure())
        flat_grad = self._gather_flat_grad()
        for p, saved in zip(self._params, x):
            p.data[...] = saved
        return loss, flat_grad

    # ------------------------------------------------------------------------------ step
    def can_step_in_backward(self):
        return False

    def step_in_backward(self):
        raise RuntimeError("LBFGS cannot step inside backward: its step re-evaluates the loss through a closure; "
                           "call optimizer.step(closure)")

    def step(self, closure):
        """Up to ``max_iter`` L-BFGS iterations; returns the closure's first loss (at the starting point)."""
        if len(self.param_groups) != 1:
            raise AssertionError(f"Expected exactly one param_group, but got {len(self.param_groups)}")
        self._check_views()
        group = self.param_groups[0]
        lr = float(group["lr"])
        max_iter, max_eval = group["max_iter"], group["max_eval"]
        tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
        line_search_fn, history_size = group["line_search_fn"], group["history_size"]

        state = self.state[0]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        orig_loss = closure()
        loss = float(orig_loss)
        current_evals = 1
        state["func_evals"] += 1
        flat_grad = self._gather_flat_grad()
        if abs(flat_grad).max() <= tolerance_grad:   # already optimal
            return orig_loss

        d, t = state.get("d"), state.get("t")
        old_dirs, old_stps, ro = state.get("old_dirs"), state.get("old_stps"), state.get("ro")
        H_diag, prev_flat_grad, prev_loss = state.get("H_diag"), state.get("prev_flat_grad"), state.get("prev_loss")

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1

            # the direction
            if state["n_iter"] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro = [], [], []
                H_diag = 1
            else:
                scale = formula.remember(old_dirs, old_stps, ro, flat_grad - prev_flat_grad, d * t, history_size)
                if scale is not None:
                    H_diag = scale
                if "al" not in state:
                    state["al"] = [None] * history_size
                d = formula.direction(flat_grad, old_dirs, old_stps, ro, H_diag, state["al"])

            if prev_flat_grad is None:
                prev_flat_grad = flat_grad.copy()
            else:
                prev_flat_grad[...] = flat_grad
            prev_loss = loss

            # the step length: the first step scaled down to at most lr / |g|₁
            if state["n_iter"] == 1:
                t = min(1.0, 1.0 / abs(flat_grad).sum()) * lr
            else:
                t = lr
            gtd = flat_grad.dot(d)
            if gtd > -tolerance_change:   # not a descent direction (to tolerance)
                break

            ls_func_evals = 0
            if line_search_fn is not None:
                if line_search_fn != "strong_wolfe":
                    raise RuntimeError("only 'strong_wolfe' is supported")
                x_init = [p.data.copy() for p in self._params]
                loss, flat_grad, t, ls_func_evals = formula.strong_wolfe(
                    lambda step: self._directional_evaluate(closure, x_init, step, d), t, d, loss, flat_grad, gtd,
                    max_ls=max_eval - current_evals)
                self._add_grad(t, d)
                opt_cond = abs(flat_grad).max() <= tolerance_grad
            else:
                self._add_grad(t, d)
                if n_iter != max_iter:   # the last iteration's point is not evaluated (the next step will)
                    loss = float(closure())
                    flat_grad = self._gather_flat_grad()
                    opt_cond = abs(flat_grad).max() <= tolerance_grad
                    ls_func_evals = 1
            current_evals += ls_func_evals
            state["func_evals"] += ls_func_evals

            # stop?
            if n_iter == max_iter or current_evals >= max_eval or opt_cond:
                break
            if abs(d * t).max() <= tolerance_change or abs(loss - prev_loss) < tolerance_change:
                break   # no progress

        state.update(d=d, t=t, old_dirs=old_dirs, old_stps=old_stps, ro=ro, H_diag=H_diag,
                     prev_flat_grad=prev_flat_grad, prev_loss=prev_loss)
        return orig_loss

    # ----------------------------------------------------------------------------- state
    def state_dict(self):
        """torch's layout: ``{"state": {0: {...}}, "param_groups": [...]}`` (no state before the first step),
        arrays and lists of them copied."""
        state = {0: {k: _copied(v) for k, v in self.state[0].items()}} if self.state[0] else {}
        return {"state": state, "param_groups": [self._group_state(self.param_groups[0], 0)]}

    def load_state_dict(self, state_dict):
        """Restore ``state_dict()`` output, ours or torch's (its tensors as arrays)."""
        groups = state_dict["param_groups"]
        sizes, expected = [len(g["params"]) for g in groups], [len(g["params"]) for g in self.param_groups]
        if sizes != expected:
            raise ValueError(f"loaded state dict's parameter groups hold {sizes} parameters, "
                             f"the optimizer's {expected}")
        for saved, group in zip(groups, self.param_groups):
            group.update({k: v for k, v in saved.items() if k != "params"})
        entries = {int(k): v for k, v in state_dict["state"].items()}
        like = self._params[0].data
        self.state = [{} for _ in self._params]
        self.state[0] = {k: _restored(v, like) for k, v in entries.get(0, {}).items()}


def _copied(value):
    if isinstance(value, list):
        return [_copied(v) for v in value]
    return value.copy() if hasattr(value, "shape") and getattr(value, "ndim", 0) > 0 else value


def _restored(value, like):
    """An array (a 0-d one as a scalar) on the parameters' device and in their dtype; lists entry by entry."""
    if isinstance(value, list):
        return [_restored(v, like) for v in value]
    if not hasattr(value, "shape"):   # counts, the loss, a step length kept as a number
        return value
    array = to_device(value, device_of(like)).astype(like.dtype, copy=True)
    return array[()] if array.ndim == 0 else array

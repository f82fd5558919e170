"""Optimizer: the base class, its parameter groups, state and flat buffers.

Flat buffers
------------
At construction the optimizer re-homes every parameter's ``data`` and gradient
storage into views of ONE flat array per (device, dtype) -- a *bucket* -- in
parameter order. State buffers (``exp_avg`` ...) are flat arrays of the same
layout, allocated when first needed. A parameter group's parameters on one
bucket are therefore one contiguous slice, so a step is one fused call per
(group, bucket) over flat memory. When some parameter of that slice has no
gradient (it is skipped, as in torch) or its step count differs from the
others, each run of neighbours that are updated together at one step count
gets its own call through the same routine.

Code that rebinds ``p.data`` after the optimizer was built (``model.to(...)``)
is detected at ``step()``: an array of the same shape, dtype and device is
copied back into the flat view; any other change re-flattens everything,
carrying the optimizer state over (cast to the new dtype/device).

State
-----
``state_dict()`` is a plain nested structure keyed by parameter *position*
(as torch does, never ``id()``)::

    {"state": {0: {"step": 3, "exp_avg": array, ...}, ...},
     "param_groups": [{"lr": 1e-3, ..., "params": [0, 1, ...]}, ...]}

with arrays copied (left on their device). ``load_state_dict`` restores it
into a freshly built optimizer over a freshly built model.
"""
import contextlib

from ..backend import device_of, get_array_module, to_device
from ..nn.parameter import Parameter

_required = object()


class _Bucket:
    """One flat data/grad array pair (and flat state arrays) for a device and dtype."""

    def __init__(self, xp, dtype, size):
        self.xp = xp
        self.dtype = dtype
        self.size = size
        self.data = xp.empty(size, dtype=dtype)
        self.grad = xp.zeros(size, dtype=dtype)
        self.state = {}

    def state_array(self, name):
        buf = self.state.get(name)
        if buf is None:
            buf = self.state[name] = self.xp.zeros(self.size, dtype=self.dtype)
        return buf


class Optimizer:
    """Base class: parameter groups, lazy per-parameter state, flat buffers.

    Subclasses define ``_state_names(group)`` (the buffers each parameter
    needs), ``_update_reference(p, g, state, group)`` (the readable NumPy/CuPy
    update, formula by formula) and ``_update_fused(p, g, state, group)``
    (the same update through one fused call over flat buffers). ``state``
    holds ``"step"`` (already incremented for this step) and the buffers.
    """

    def __init__(self, params, defaults, fused=True):
        self.defaults = dict(defaults)
        self.fused = bool(fused)
        self.param_groups = []
        self._params = []
        self._buckets = None
        if isinstance(params, (Parameter, dict)) or not hasattr(params, "__iter__"):
            raise TypeError("params should be an iterable of Parameters or of dicts, "
                            f"got {type(params).__name__}")
        groups = list(params)
        if len(groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # ----------------------------------------------------------------- groups
    def _validate(self, group):
        """Check a group's hyper-parameters; subclasses extend."""
        lr = group["lr"]
        if not lr >= 0.0:
            raise ValueError(f"Invalid learning rate: {lr} (must be >= 0)")
        wd = group.get("weight_decay", 0.0)
        if not wd >= 0.0:
            raise ValueError(f"Invalid weight_decay value: {wd} (must be >= 0)")

    def add_param_group(self, group):
        """Add ``{"params": [...], "lr": ..., ...}``; missing options take the defaults."""
        if not isinstance(group, dict):
            raise TypeError(f"a parameter group must be a dict, got {type(group).__name__}")
        params = group["params"]
        params = [params] if isinstance(params, Parameter) else list(params)
        if len(params) == 0:
            raise ValueError("optimizer got an empty parameter list")
        for p in params:
            if not isinstance(p, Parameter):
                raise TypeError(f"optimizer can only optimize Parameters, got {type(p).__name__}")
        known = {id(p) for p in self._params}
        if len({id(p) for p in params}) != len(params) or any(id(p) in known for p in params):
            raise ValueError("some parameters appear more than once (in one or more parameter groups)")
        full = {**self.defaults, **{k: v for k, v in group.items() if k != "params"}}
        for key, value in full.items():
            if value is _required:
                raise ValueError(f"parameter group didn't specify a value of required option {key!r}")
        self._validate(full)
        full["params"] = params
        saved = self.state_dict() if self._buckets is not None else None
        self.param_groups.append(full)
        self._params.extend(params)
        self._flatten()
        if saved is not None:
            saved["param_groups"].append(self._group_state(full, len(self._params) - len(params)))
            self.load_state_dict(saved)

    # ---------------------------------------------------------- flat buffers
    def _flatten(self):
        """Copy every parameter into one flat array per (device, dtype) and point it there."""
        buckets, where = {}, []
        for p in self._params:
            key = (device_of(p.data), p.data.dtype.str)
            if key not in buckets:
                buckets[key] = [get_array_module(p.data), p.data.dtype, 0]
            where.append((key, buckets[key][2]))
            buckets[key][2] += p.data.size
        self._buckets = {key: _Bucket(*spec) for key, spec in buckets.items()}
        self._slots, self._data_views, self._grad_views = [], [], []
        for p, (key, offset) in zip(self._params, where):
            bucket = self._buckets[key]
            n, shape = p.data.size, p.data.shape
            bucket.data[offset:offset + n] = p.data.reshape(-1)
            p.data = bucket.data[offset:offset + n].reshape(shape)
            grad_view = bucket.grad[offset:offset + n].reshape(shape)
            p.set_grad_storage(grad_view)
            self._slots.append((bucket, offset, n, shape))
            self._data_views.append(p.data)
            self._grad_views.append(grad_view)
        self.state = [{} for _ in self._params]
        self._group_of = [gi for gi, group in enumerate(self.param_groups) for _ in group["params"]]
        # (group index, bucket, start, stop, parameter indices): one contiguous run each
        self._segments, i = [], 0
        for gi, group in enumerate(self.param_groups):
            runs = {}
            for _ in group["params"]:
                runs.setdefault(id(self._slots[i][0]), []).append(i)
                i += 1
            for idx in runs.values():
                bucket, start = self._slots[idx[0]][0], self._slots[idx[0]][1]
                last = self._slots[idx[-1]]
                self._segments.append((gi, bucket, start, last[1] + last[2], idx))

    def _check_views(self):
        """Notice parameters whose ``data`` was rebound since the last step."""
        for i, p in enumerate(self._params):
            view = self._data_views[i]
            if p.data is view:
                continue
            new = p.data
            if new.shape == view.shape and new.dtype == view.dtype and device_of(new) == device_of(view):
                view[...] = new
                p.data = view
                p.set_grad_storage(self._grad_views[i])
            else:
                saved = self.state_dict()
                self._flatten()
                self.load_state_dict(saved)
                return

    # ------------------------------------------------------------------ step
    def zero_grad(self, set_to_none=True):
        """Forget every gradient (``set_to_none=False`` writes zeros instead)."""
        for p in self._params:
            p.zero_grad(set_to_none=set_to_none)

    def _init_state(self, i, group):
        bucket, offset, n, shape = self._slots[i]
        state = {"step": 0}
        for name in self._state_names(group):
            view = bucket.state_array(name)[offset:offset + n].reshape(shape)
            view.fill(0)
            state[name] = view
        self.state[i] = state
        return state

    def step(self, closure=None):
        """Update every parameter that has a gradient; returns ``closure()`` if given.

        A parameter without a gradient (``p.grad is None``: never written, or
        cleared by ``zero_grad()``) is skipped, as in torch: its value, state
        and step count stay as they are.
        """
        loss = closure() if closure is not None else None
        self._check_views()
        self._step(skip=())
        return loss

    def _step(self, skip):
        """Update every parameter with a gradient, except those at the indices in ``skip``.

        Parameters next to each other in a flat buffer, all to be updated and
        at the same step count, are updated together: one fused call per run.
        """
        params, states = self._params, self.state
        for gi, bucket, start, stop, idx in self._segments:
            group = self.param_groups[gi]
            fused = self.fused and fused_kernels(bucket.data) is not None
            update = self._update_fused if fused else self._update_reference
            runs, run = [], []
            for i in idx:
                p = params[i]
                if not p.has_grad or i in skip:
                    if run:
                        runs.append(run)
                    run = []
                    continue
                if p.grad is not self._grad_views[i]:
                    p.set_grad_storage(self._grad_views[i])
                if not states[i]:
                    self._init_state(i, group)
                if run and states[i]["step"] != states[run[0]]["step"]:
                    runs.append(run)
                    run = []
                run.append(i)
            if run:
                runs.append(run)
            for run in runs:
                first, last = self._slots[run[0]], self._slots[run[-1]]
                lo, hi = first[1], last[1] + last[2]
                step = states[run[0]]["step"] + 1
                flat = {name: bucket.state[name][lo:hi] for name in states[run[0]] if name != "step"}
                flat["step"] = step
                update(bucket.data[lo:hi], bucket.grad[lo:hi], flat, group)
                for i in run:
                    states[i]["step"] = step

    @contextlib.contextmanager
    def step_in_backward(self):
        """Context: the optimizer step taken inside backward; leaving it updates the remaining parameters.

        ::

            opt.zero_grad()
            loss = loss_fn(model(x), y)
            with opt.step_in_backward():
                model.backward(loss_fn.backward(), input_grad=False)

        is the same step as ``model.backward(...); opt.step()`` (to rounding:
        a layer may sum ∂L/∂x in another order), but a layer that supports it
        (``Linear``'s weight, with ``Adam``/``AdamW`` on the CPU) updates its
        parameter as soon as the gradient is computed, block by block while it
        is still in cache (``minimlp.optim.in_backward``).
        Each parameter is updated at most once per block: one backward call
        inside it, gradients not accumulated from earlier calls (those take
        the plain path). A weight shared between two Linear layers cannot be
        updated in backward (its second use would see the new value):
        ``Linear`` raises RuntimeError then; use ``backward(); step()``.
        ``p.grad`` holds the gradients afterwards, as with ``step()``. If
        backward raises inside the block, the parameters updated so far stay
        updated and the others are not stepped. The remaining parameters go
        through the base class's update, not through an overridden ``step()``.
        """
        from .. import compiled
        self._check_views()
        updates = []
        if type(self)._in_backward_arguments is not Optimizer._in_backward_arguments and compiled.use_compiled():
            from .in_backward import InBackwardUpdate  # needs Numba
            updates = [InBackwardUpdate(self, i) for i in range(len(self._params))]
            for p, u in zip(self._params, updates):
                p.update_in_backward = u
        try:
            yield self
        finally:
            for p in self._params:
                p.update_in_backward = None
        self._step(skip={u.index for u in updates if u.done})

    def _in_backward_arguments(self, i):
        """Arguments of the in-backward update of parameter ``i`` (its step counted), or None: not supported."""
        return None

    # ----------------------------------------------------------------- state
    def _group_state(self, group, first):
        saved = {k: v for k, v in group.items() if k != "params"}
        saved["params"] = list(range(first, first + len(group["params"])))
        return saved

    def state_dict(self):
        """The full state, keyed by parameter position, arrays copied."""
        state = {}
        for i, s in enumerate(self.state):
            if s:
                state[i] = {k: (v if k == "step" else v.copy()) for k, v in s.items()}
        groups, first = [], 0
        for group in self.param_groups:
            groups.append(self._group_state(group, first))
            first += len(group["params"])
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore ``state_dict()`` output into this optimizer (same group layout)."""
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(f"loaded state dict has {len(groups)} parameter groups, "
                             f"the optimizer has {len(self.param_groups)}")
        for saved, group in zip(groups, self.param_groups):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError("loaded state dict contains a parameter group that doesn't match "
                                 "the size of the optimizer's group "
                                 f"({len(saved['params'])} vs {len(group['params'])} parameters)")
        for saved, group in zip(groups, self.param_groups):
            for key, value in saved.items():
                if key != "params":
                    group[key] = tuple(value) if key == "betas" else value
        saved_state = {int(k): v for k, v in state_dict["state"].items()}
        position, first = {}, 0  # saved parameter key -> (position here, its group)
        for saved, group in zip(groups, self.param_groups):
            for j, old in enumerate(saved["params"]):
                position[int(old)] = (first + j, group)
            first += len(group["params"])
        self.state = [{} for _ in self._params]
        for old, entries in saved_state.items():
            i, group = position[old]
            state = self._init_state(i, group)
            device = device_of(self._params[i].data)
            for name, value in entries.items():
                if name == "step":
                    state["step"] = int(value)
                    continue
                if name not in state:
                    bucket, offset, n, shape = self._slots[i]
                    state[name] = bucket.state_array(name)[offset:offset + n].reshape(shape)
                if tuple(value.shape) != state[name].shape:
                    raise ValueError(f"state {name!r} of parameter {old} has shape {tuple(value.shape)}, "
                                     f"expected {state[name].shape}")
                state[name][...] = to_device(value, device)

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params"]
        return "\n".join(lines + [")"])


def fused_kernels(array):
    """The fused-update module for an array's device, or None where the readable update runs.

    On the GPU: ``fused_gpu`` (CuPy kernels, imported lazily). On the CPU:
    ``fused_numba`` (one compiled pass), unless ``MINIMLP_CPU_KERNELS=numpy``
    (``minimlp.compiled``) or Numba is missing; then None, and the optimizer
    runs its ``_update_reference``, formula by formula.
    """
    if device_of(array) == "gpu":
        from . import fused_gpu
        return fused_gpu
    from .. import compiled
    if compiled.use_compiled():
        from . import fused_numba
        return fused_numba
    return None


def check_nonnegative(name, value):
    if not value >= 0.0:
        raise ValueError(f"Invalid {name}: {value} (must be >= 0)")

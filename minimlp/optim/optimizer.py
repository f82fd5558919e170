"""Optimizer: the base class, with its parameter groups, its state and its step.

The parameters, their gradients and the state live in flat buffers (``flat.FlatParameters``), so that a
step is one update call per run of neighbouring parameters; each call goes to the optimizer's op
(``minimlp.kernels.ops``: the formula, or a compiled CPU or GPU kernel).

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
import functools
import math

from ..backend import device_of, to_device
from ..kernels.in_backward import PendingUpdate, offered
from ..nn.parameter import ComputedParameter, Parameter, is_lazy
from .flat import FlatParameters

_required = object()


class Optimizer:
    """Base class: parameter groups, lazy per-parameter state, one update op.

    Subclasses set ``_op`` (their update in ``minimlp.kernels.ops``) and ``_arguments`` (the names of the
    state arrays that update takes after the parameter and its gradient, in order; a missing one is passed
    as None), and define ``_state_names(group)`` (the arrays each parameter needs) and
    ``_hyper(group, step)`` (the update's keyword arguments at that step). ``fused=False`` runs the
    formula (``minimlp.formulas``) whatever kernels exist; None or True, the compiled kernel where one exists.

    ``_scalars`` names the numbers a parameter keeps beside its ``step`` (NAdam's ``mu_product``, ASGD's
    ``eta`` and ``mu``): a subclass's ``_init_state`` sets them, the update takes them by name and returns their
    new values (a dict), and one update call covers only neighbours whose step and scalars agree.
    """

    _op = None
    _arguments = ()
    _scalars = ()

    _saves_step = True   # False: the state_dict leaves the step count out (torch's SGD keeps none)

    def __init__(self, params, defaults, fused=None):
        self.defaults = dict(defaults)
        self.fused = fused is not False
        self.param_groups = []
        self._params = []
        self._flat = None
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
        if math.prod(getattr(lr, "shape", ())) != 1:
            raise ValueError("Tensor lr must be 1-element")
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
        named = [isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str) for p in params]
        if any(named):   # torch's named parameters, [(name, parameter), ...]: the names kept as "param_names"
            if not all(named):
                raise ValueError("all optimizer params should be with/without names. Some param names are missing")
            group = {**group, "param_names": [name for name, _ in params]}
            params = [p for _, p in params]
        if self.param_groups and ("param_names" in group) != ("param_names" in self.param_groups[0]):
            raise ValueError("all optimizer param groups should be with/without names.")
        for p in params:
            if not isinstance(p, Parameter):
                raise TypeError(f"optimizer can only optimize Parameters, got {type(p).__name__}")
            if isinstance(p, ComputedParameter):
                raise ValueError("can't optimize a non-leaf Tensor: a parametrization's computed value (module.weight "
                                 "under weight_norm, orthogonal, ...); optimize module.parameters(), which hold its "
                                 "originals")
            if is_lazy(p):
                raise RuntimeError("optimizer got an uninitialized parameter (of a lazy module such as LazyLinear): "
                                   "run one forward pass first, so that its shape is known, then build the optimizer")
        known = {id(p) for p in self._params}
        if len({id(p) for p in params}) != len(params) or any(id(p) in known for p in params):
            raise ValueError("some parameters appear more than once (in one or more parameter groups)")
        full = {**self.defaults, **{k: v for k, v in group.items() if k != "params"}}
        for key, value in full.items():
            if value is _required:
                raise ValueError(f"parameter group didn't specify a value of required option {key!r}")
        self._validate(full)
        full["params"] = params
        saved = self.state_dict() if self._flat is not None else None
        self.param_groups.append(full)
        self._params.extend(params)
        self._flatten()
        if saved is not None:
            saved["param_groups"].append(self._group_state(full, len(self._params) - len(params)))
            self.load_state_dict(saved)

    # ---------------------------------------------------------- flat buffers
    def _flatten(self):
        """Re-home every parameter into the flat buffers; the state starts empty."""
        self._flat = FlatParameters(self._params, self.param_groups)
        self.state = [{} for _ in self._params]
        self._group_of = [gi for gi, group in enumerate(self.param_groups) for _ in group["params"]]

    def _check_views(self):
        """Notice parameters whose ``data`` was rebound since the last step; re-flatten where needed."""
        if not self._flat.sync():
            saved = self.state_dict()
            self._flatten()
            self.load_state_dict(saved)

    # ------------------------------------------------------------------ step
    def zero_grad(self, set_to_none=True):
        """Forget every gradient (``set_to_none=False`` writes zeros instead)."""
        for p in self._params:
            p.zero_grad(set_to_none=set_to_none)

    def _init_state(self, i, group):
        state = {"step": 0}
        for name in self._state_names(group):
            view = self._flat.state_view(i, name)
            view.fill(0)
            state[name] = view
        self.state[i] = state
        return state

    def _add_state(self, i, names):
        """The arrays a flag switched on since parameter i's state was made (momentum, amsgrad, centered) start
        at zero; one switched off is kept, unused, as torch keeps it."""
        for name in names:
            if name not in self.state[i]:
                view = self._flat.state_view(i, name)
                view.fill(0)
                self.state[i][name] = view
                self._started(self.state[i], name)

    def _started(self, state, name):
        """A state array ``name`` just added mid-run (SGD: its momentum buffer starts from the gradient)."""

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
        """Update every parameter with a gradient, except those at the indices in ``skip``: one update call per
        run of neighbours in a flat buffer, all to be updated and at the same step count."""
        params, states = self._params, self.state
        for gi, bucket, idx in self._flat.segments:
            group = self.param_groups[gi]
            names = self._state_names(group)
            runs, run = [], []
            for i in idx:
                if not (params[i].has_grad and params[i].requires_grad) or i in skip:
                    if run:
                        runs.append(run)
                    run = []
                    continue
                self._flat.reclaim_gradient(i)
                if not states[i]:
                    self._init_state(i, group)
                else:
                    self._add_state(i, names)
                if run and self._counters(states[i]) != self._counters(states[run[0]]):
                    runs.append(run)
                    run = []
                run.append(i)
            if run:
                runs.append(run)
            update = (self._op.pick("update", bucket.data) if self.fused else self._op.formula).update
            for run in runs:
                bucket, lo, hi = self._flat.span(run)
                step = states[run[0]]["step"] + 1
                arrays = [bucket.state[name][lo:hi] if name in names else None for name in self._arguments]
                scalars = {name: states[run[0]][name] for name in self._scalars}
                scalars = update(bucket.data[lo:hi], bucket.grad[lo:hi], *arrays, **self._hyper(group, step),
                                 **scalars) or {}
                for i in run:
                    states[i]["step"] = step
                    states[i].update(scalars)

    def _counters(self, state):
        """What one update call shares across its parameters: the step count and the ``_scalars``."""
        return (state["step"],) + tuple(state[name] for name in self._scalars)

    def can_step_in_backward(self):
        """True unless a subclass overrides ``step`` (clipping, say), which a step inside backward would skip."""
        return type(self).step is Optimizer.step

    @contextlib.contextmanager
    def step_in_backward(self):
        """Context: the optimizer step taken inside backward; leaving it updates the remaining parameters.

        ::

            opt.zero_grad()
            loss = loss_fn(model(x), y)
            with opt.step_in_backward():
                model.backward(loss_fn.backward(), input_grad=False)

        is the same step as ``model.backward(...); opt.step()`` (to rounding), but a kernel that computes a
        parameter's gradient may apply its update on the spot, while it is in cache (``Linear``'s weight with
        Adam or AdamW on the CPU). Each parameter is updated at most once per block; a weight used twice in
        one block (shared between layers) raises RuntimeError. ``p.grad`` holds the gradients afterwards. If
        backward raises inside the block, the parameters updated so far stay updated and the others are not
        stepped. The rest go through the base class's update, not an overridden ``step()``.
        """
        self._check_views()
        offers = {}
        if self.fused and not self._scalars:   # an update that keeps scalars is never taken in backward
            offers = {id(p): PendingUpdate(self._op.name, functools.partial(self._arguments_in_backward, i))
                      for i, p in enumerate(self._params) if p.requires_grad}
        with offered(offers):
            yield self
        self._step(skip={i for i, p in enumerate(self._params) if offers and offers[id(p)].done})

    def _arguments_in_backward(self, i):
        """Count this step for parameter i; its state arrays and hyper-parameters, as the update takes them."""
        group = self.param_groups[self._group_of[i]]
        names = self._state_names(group)
        if self.state[i]:
            self._add_state(i, names)
        state = self.state[i] or self._init_state(i, group)
        state["step"] += 1
        arrays = tuple(state[name] if name in names else None for name in self._arguments)
        return arrays, self._hyper(group, state["step"])

    # ----------------------------------------------------------------- state
    def _group_state(self, group, first):
        saved = {k: v for k, v in group.items() if k != "params"}
        saved["params"] = list(range(first, first + len(group["params"])))
        return saved

    def state_dict(self):
        """The full state, keyed by parameter position, arrays copied; in torch's layout (SGD keeps no ``step``,
        so a parameter without a momentum buffer has no entry)."""
        state = {}
        for i, s in enumerate(self.state):
            saved = {k: (v if k == "step" or k in self._scalars else v.copy()) for k, v in s.items()
                     if k != "step" or self._saves_step}
            if saved:
                state[i] = saved
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
                    group[key] = tuple(value) if key in ("betas", "etas", "step_sizes") else value
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
            if "step" not in entries:   # torch's SGD: a momentum buffer means the first step is past
                state["step"] = int(any(value is not None for value in entries.values()))
            for name, value in entries.items():
                if name == "step":
                    state["step"] = int(value)
                    continue
                if name in self._scalars:   # torch keeps them as 0-d tensors
                    state[name] = float(value)
                    continue
                if value is None:
                    continue
                if name not in state:
                    state[name] = self._flat.state_view(i, name)
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


def check_nonnegative(name, value):
    if not value >= 0.0:
        raise ValueError(f"Invalid {name}: {value} (must be >= 0)")


def check_betas(group):
    """A group's ``betas``, made a tuple: a pair, each in [0, 1), as torch's Adam family checks."""
    betas = group["betas"] = tuple(group["betas"])
    if len(betas) != 2:
        raise ValueError(f"Invalid betas: {betas} (must be a pair)")
    for i, beta in enumerate(betas):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {beta} (must be in [0, 1))")


def implementation_flags(foreach=None, capturable=False, differentiable=False):
    """torch's implementation switches, kept in each group as torch keeps them: ``foreach`` changes nothing here
    (every update is one pass over flat buffers); ``capturable`` (CUDA graphs) and ``differentiable`` (autograd
    through the step) are not supported."""
    if capturable:
        raise ValueError("capturable=True is not supported: minimlp has no CUDA graphs; leave it False")
    if differentiable:
        raise ValueError("differentiable=True is not supported: minimlp has no autograd to differentiate the step "
                         "through; leave it False")
    return dict(foreach=foreach, capturable=bool(capturable), differentiable=bool(differentiable))

"""Parametrizations (torch.nn.utils.parametrize): a module's parameter computed from other parameters.

``register_parametrization(module, "weight", p)`` replaces the parameter ``weight`` by ``p(original)``: the
trained parameters become ``module.parametrizations.weight.original`` (or ``original0``, ``original1``, … where
``p.right_inverse`` splits the weight into several, as weight normalisation's magnitude and direction), and
``module.weight`` is the value computed from them. Several parametrizations of one tensor chain in the order
registered: weight = p_k(… p_1(p_0(originals)) …).

Without autograd, the chain rule is written out: a parametrization is a minimlp ``Module`` whose
``forward(original)`` (or ``forward(original0, original1, …)``) computes the value and whose
``backward(∂L/∂value)`` returns ∂L/∂original (a tuple for several). The module computes each parametrized value
once at the start of every forward; its backward collects ∂L/∂value from the layer and runs the chain's
backwards, adding ∂L/∂original to the originals' ``grad``. Read outside a forward or backward,
``module.weight`` is computed afresh from the originals (a spectral norm's training-mode power iteration runs
then too, as torch's does on each access); inside them it is the value the forward computed.
"""
import contextlib
import contextvars

from ...backend import get_array_module
from ..container import ModuleDict, ModuleList
from ..module import Module
from ..parameter import _UNINITIALIZED, ComputedParameter, Parameter, is_lazy

_cache = contextvars.ContextVar("minimlp_parametrize_cache", default=None)


class ParametrizationList(ModuleList):
    """The parametrizations of one tensor, in order, and the originals they start from: value =
    p_k(… p_0(original) …), with p_0 taking ``original0``, ``original1``, … where its ``right_inverse`` returned
    several. ``forward()`` computes the value; ``backward(G)`` runs the backwards in reverse and adds
    ∂L/∂original to each original's ``grad``; ``right_inverse(value)`` writes originals that give ``value``."""

    def __init__(self, modules, original, unsafe=False):
        super().__init__(modules)
        self.unsafe = unsafe
        new = original.data
        if hasattr(self[0], "right_inverse"):
            try:
                new = self[0].right_inverse(original.data)
            except NotImplementedError:   # torch's rule: then the original is the value itself
                pass
        if isinstance(new, (tuple, list)):
            self.is_tensor, self.ntensors = False, len(new)
            for k, value in enumerate(new):
                setattr(self, f"original{k}", Parameter(_copy(value), requires_grad=original.requires_grad))
        else:
            self.is_tensor, self.ntensors = True, 1
            _write(original, new)   # the same Parameter object, as torch's set_: an optimizer holding it still works
            self.original = original

    def originals(self, module=None):
        """The trained parameters this tensor is computed from."""
        return (self.original,) if self.is_tensor else tuple(getattr(self, f"original{k}")
                                                            for k in range(self.ntensors))

    def forward(self):
        value = self[0](*(p.data for p in self.originals()))
        for parametrization in list(self)[1:]:
            value = parametrization(value)
        return value

    def backward(self, grad):
        """Adds ∂L/∂original to the originals for G = ∂L/∂value; returns None."""
        for parametrization in reversed(list(self)[1:]):
            grad = parametrization.backward(grad)
        grads = self[0].backward(grad)
        for original, g in zip(self.originals(), grads if isinstance(grads, tuple) else (grads,)):
            if original.requires_grad:
                original.accumulate(g)

    def compute(self, module):
        """The value, for ``module`` (a computed parameter's protocol, shared with the older hooks)."""
        return self()

    def carry(self, module, grad):
        """∂L/∂value into the originals (the protocol's backward)."""
        self.backward(grad)

    def right_inverse(self, value):
        """Write into the originals what makes the chain give ``value`` (each ``right_inverse`` in reverse)."""
        for parametrization in reversed(list(self)):
            if not hasattr(parametrization, "right_inverse"):
                raise RuntimeError(f"parametrization {type(parametrization).__name__} does not implement "
                                   f"right_inverse.")
            value = parametrization.right_inverse(value)
        values = value if isinstance(value, (tuple, list)) else (value,)
        if len(values) != self.ntensors:
            raise ValueError(f"'right_inverse' must return {self.ntensors} arrays, got {len(values)}")
        for original, v in zip(self.originals(), values):
            _write(original, v)


def register_parametrization(module, tensor_name, parametrization, *, unsafe=False):
    """Replace ``module``'s parameter ``tensor_name`` by ``parametrization`` of it (module docstring); a second
    registration on the same name chains after the first. Returns ``module``, whose class becomes
    ``Parametrized<Class>`` (a subclass, as torch's)."""
    if not isinstance(parametrization, Module):
        raise TypeError(f"register_parametrization: the parametrization must be a minimlp Module with forward and "
                        f"backward, got {type(parametrization).__name__}")
    if is_parametrized(module, tensor_name):
        if not unsafe:   # checked before it joins the chain, as torch's
            before = refresh(module, tensor_name).data
            _check_same(tensor_name, before, parametrization(before))
        module.parametrizations[tensor_name].append(parametrization)
        return module
    if tensor_name in module._buffers:
        raise ValueError(f"register_parametrization: '{tensor_name}' of {type(module).__name__} is a buffer; "
                         f"minimlp parametrizes parameters only")
    if tensor_name not in module._parameters or module._parameters[tensor_name] is None:
        raise ValueError(f"Module '{module}' does not have a parameter, a buffer, or a parametrized element with "
                         f"name '{tensor_name}'")
    original = module._parameters[tensor_name]
    if is_lazy(original):
        raise RuntimeError(_UNINITIALIZED)
    if not unsafe:   # checked before the module changes, as torch's
        _check_same(tensor_name, original.data, parametrization(*_originals_for(parametrization, original.data)))
    delattr(module, tensor_name)
    chain = ParametrizationList([parametrization], original, unsafe=unsafe)
    attach_computed(module, tensor_name, chain, f"Parametrized{type_before_parametrizations(module).__name__}")
    if "parametrizations" not in module._modules:
        module.parametrizations = ModuleDict()
    module.parametrizations[tensor_name] = chain
    return module


def _originals_for(parametrization, value):
    """What a first parametrization starts from for ``value``: its right inverse's arrays (a tuple), or ``value``
    (no right inverse, or one that raises NotImplementedError, as at registration)."""
    if hasattr(parametrization, "right_inverse"):
        try:
            new = parametrization.right_inverse(value)
            return tuple(new) if isinstance(new, (tuple, list)) else (new,)
        except NotImplementedError:
            pass
    return (value,)


def is_parametrized(module, tensor_name=None):
    """Whether ``module`` has a parametrization (on ``tensor_name``, when given)."""
    chains = module._modules.get("parametrizations") if "_parametrized_base" in type(module).__dict__ else None
    if chains is None:
        return False
    return len(chains) > 0 if tensor_name is None else tensor_name in chains._modules


def type_before_parametrizations(module):
    """The module's class before parametrizations were registered (its class, where there are none)."""
    return type(module).__dict__.get("_parametrized_base", type(module))


def remove_parametrizations(module, tensor_name, leave_parametrized=True):
    """Make ``tensor_name`` a plain parameter again: its current value (``leave_parametrized``) or its original
    (possible only where there is one). The last removal restores the module's class. Returns ``module``."""
    if not is_parametrized(module, tensor_name):
        raise ValueError(f"Module {module} does not have a parametrization on {tensor_name}")
    chain = module.parametrizations[tensor_name]
    if chain.is_tensor:
        original = chain.original
        if leave_parametrized:
            _write(original, refresh(module, tensor_name).data)
    elif leave_parametrized:
        value = refresh(module, tensor_name).data
        original = Parameter(_copy(value), requires_grad=any(p.requires_grad for p in chain.originals()))
    else:
        raise ValueError("Cannot leave unparametrized (`leave_parametrized=False`) a tensor that is parametrized in "
                         "terms of a sequence of tensors.")
    del module.parametrizations[tensor_name]
    if len(module.parametrizations) == 0:
        del module.parametrizations
    detach_computed(module, tensor_name)
    setattr(module, tensor_name, original)
    return module


def attach_computed(module, name, chain, class_name, initial=None):
    """Make ``module``'s attribute ``name`` a value computed by ``chain`` (``compute(module)``, ``carry(module,
    ∂L/∂value)``) at each forward, its gradient carried back after each backward: ``module`` gets its own subclass
    (named ``class_name``) with that forward, backward and a property ``name``, whose value until the first forward
    is ``initial`` (None: computed now). The parameter ``name`` must be gone. A chain whose ``recompute_on_read`` is
    False (torch's older hooks) is read as the value of the last forward."""
    _make_parametrized(module)
    type(module).__name__ = type(module).__qualname__ = class_name
    value = chain.compute(module) if initial is None else initial
    module.__dict__.setdefault("_computed", {})[name] = (chain, ComputedParameter(value))
    setattr(type(module), name, _value_property(name))


def detach_computed(module, name):
    """Undo ``attach_computed`` for ``name``; the last one gives the module its class back."""
    delattr(type(module), name)
    del module.__dict__["_computed"][name]
    base = type(module).__dict__["_parametrized_base"]
    if module.__dict__["_computed"]:
        type(module).__name__ = type(module).__qualname__ = (f"Parametrized{base.__name__}" if is_parametrized(module)
                                                              else base.__name__)
    else:
        module.__class__ = base


def _make_parametrized(module):
    """Give ``module`` its own subclass whose forward computes the parametrized values first and whose backward
    carries their gradients to the originals."""
    cls = type(module)
    if "_parametrized_base" in cls.__dict__:
        return

    def forward(self, *args, **kwargs):
        for name in self.__dict__["_computed"]:
            refresh(self, name)
        return cls.forward(self, *args, **kwargs)

    def backward(self, *args, **kwargs):
        return _through_parametrizations(self, cls.backward, args, kwargs)

    def backward_parameters(self, *args, **kwargs):
        return _through_parametrizations(self, cls.backward_parameters, args, kwargs)

    def __setattr__(self, name, value):
        if name in self.__dict__.get("_computed", ()):
            if not is_parametrized(self, name):
                raise AttributeError(f"'{name}' of {cls.__name__} is computed at each forward from its originals "
                                     f"(weight_norm, spectral_norm): change those, or remove the hook first")
            self.parametrizations[name].right_inverse(value.data if isinstance(value, Parameter) else value)
            return
        cls.__setattr__(self, name, value)

    def __reduce_ex__(self, protocol):
        return _rebuild, (cls, self.__dict__, type(self).__name__)

    forward.__doc__, backward.__doc__ = cls.forward.__doc__, cls.backward.__doc__
    module.__class__ = type(f"Parametrized{cls.__name__}", (cls,), {
        "forward": forward, "backward": backward, "backward_parameters": backward_parameters,
        "__setattr__": __setattr__, "__reduce_ex__": __reduce_ex__, "_parametrized_base": cls,
        "__module__": cls.__module__,
        "__doc__": f"{cls.__name__} with parametrized parameters (minimlp.nn.utils.parametrize).\n\n{cls.__doc__}"})


def _rebuild(base, state, name):
    """A parametrized module from its class before parametrizations, its attributes and its class's name (pickle,
    deepcopy)."""
    module = base.__new__(base)
    module.__dict__.update(state)
    _make_parametrized(module)
    type(module).__name__ = type(module).__qualname__ = name
    for computed in module.__dict__["_computed"]:
        setattr(type(module), computed, _value_property(computed))
    return module


def _through_parametrizations(module, backward, args, kwargs):
    """The layer's backward with each parametrized value's gradient collected, then carried to the originals."""
    computed = module.__dict__["_computed"]
    for _, value in computed.values():
        value.grad = None
    result = backward(module, *args, **kwargs)
    for chain, value in computed.values():
        grad = value.grad
        if grad is not None:
            chain.carry(module, grad)
            value.grad = None
    return result


def _value_property(name):
    def get(self):
        inside = self.__dict__.get("_forward_depth", 0) or self.__dict__.get("_backward_depth", 0)
        return self.__dict__["_computed"][name][1] if inside else read(self, name)

    return property(get, doc=f"``{name}`` computed by its parametrizations (``parametrizations.{name}``).")


def refresh(module, name):
    """Compute ``name`` from its originals into the module's value parameter, and return that parameter; inside
    ``cached()``, computed once per module and name for the whole block."""
    chain, value = module.__dict__["_computed"][name]
    cache = _cache.get()
    if cache is not None and (id(module), name) in cache:
        value.data = cache[(id(module), name)]
        return value
    value.data = chain.compute(module)
    value.requires_grad = any(p.requires_grad for p in chain.originals(module))
    if cache is not None:
        cache[(id(module), name)] = value.data
    return value


def read(module, name):
    """``module.<name>`` read outside its forward and backward: computed afresh from the originals as a new
    Parameter (a spectral norm's power iteration advances u and v, as torch's read does), while what the last
    forward computed and cached for its backward is kept, so that a read between a forward and its backward does
    not change that backward's gradient (torch's graph keeps the forward's values too)."""
    chain, value = module.__dict__["_computed"][name]
    cache = _cache.get()
    if cache is not None and (id(module), name) in cache:
        return ComputedParameter(cache[(id(module), name)], requires_grad=value.requires_grad)
    if not getattr(chain, "recompute_on_read", True):   # torch's older hooks: the value of the last forward
        return value
    holders = list(chain.modules()) if isinstance(chain, Module) else [chain]
    kept = [(holder, dict(holder.__dict__)) for holder in holders]
    try:
        data = chain.compute(module)
    finally:
        for holder, attributes in kept:
            holder.__dict__.update({k: v for k, v in attributes.items()
                                    if k not in ("_parameters", "_buffers", "_modules")})
    if cache is not None:
        cache[(id(module), name)] = data
    return ComputedParameter(data, requires_grad=any(p.requires_grad for p in chain.originals(module)))


@contextlib.contextmanager
def cached():
    """Inside the block each parametrized value is computed once, at its first use (a forward or a read), and
    reused by every later forward and read, as torch's ``parametrize.cached()`` (a spectral norm's power
    iteration runs once for the block). Blocks nest; the cache goes with the outermost."""
    outer = _cache.get()
    token = _cache.set({} if outer is None else outer)
    try:
        yield
    finally:
        _cache.reset(token)


def _check_same(name, before, after):
    """Unless ``unsafe``, the parametrized value must keep the tensor's shape and dtype (torch's check)."""
    if tuple(after.shape) != tuple(before.shape) or after.dtype != before.dtype:
        raise ValueError(f"Registering a parametrization may not change the shape or dtype of the tensor, unless "
                         f"`unsafe` flag is enabled: '{name}' was {tuple(before.shape)} {before.dtype}, the "
                         f"parametrization gives {tuple(after.shape)} {after.dtype}")


def _copy(value):
    return get_array_module(value).array(value, copy=True)


def _write(parameter, value):
    """Put ``value`` into ``parameter``, in place where shape and dtype allow (keeping optimizer views)."""
    if tuple(value.shape) == tuple(parameter.data.shape) and value.dtype == parameter.data.dtype:
        parameter.data[...] = value
    else:
        parameter.data = _copy(value)

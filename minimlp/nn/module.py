"""Module: the base class of every layer, activation and container."""
from collections import OrderedDict

import numpy as np

from ..backend import device_of, get_array_module, resolve_device, to_device
from .parameter import Parameter


class Module:
    """Base class: a computation with a hand-written ``forward`` and ``backward``.

    Subclasses implement

    - ``forward(x)``: compute the output and cache what backward needs;
    - ``backward(dout)``: given dL/d(output) of the last forward, add dL/dθ
      into each parameter's ``grad`` (accumulating, as torch does) and return
      dL/d(input).

    Attributes that are ``Parameter`` or ``Module`` instances are registered
    automatically (as in torch); buffers (running statistics) are registered
    with ``register_buffer``. ``state_dict()`` uses torch's key names
    ("0.weight", "1.running_mean", ...) and shapes.
    """

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # registration ---------------------------------------------------------
    def __setattr__(self, name, value):
        d = self.__dict__
        if "_parameters" not in d:
            raise AttributeError(f"{type(self).__name__}.__init__ must call super().__init__() first")
        if not isinstance(value, (Parameter, Module)) and name not in d["_parameters"] \
                and name not in d["_modules"] and name not in d["_buffers"]:
            object.__setattr__(self, name, value)
            return
        for table in (self._parameters, self._modules, self._buffers):
            table.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def register_buffer(self, name, array):
        """Register a non-trainable array (saved in state_dict, moved by ``to``)."""
        self.__dict__.pop(name, None)
        self._buffers[name] = array

    def __getattr__(self, name):
        buffers = self.__dict__.get("_buffers")
        if buffers is not None and name in buffers:
            return buffers[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # calling --------------------------------------------------------------
    def __call__(self, x):
        return self.forward(x)

    def forward(self, x):
        raise NotImplementedError(f"{type(self).__name__} does not implement forward")

    def backward(self, dout):
        raise NotImplementedError(f"{type(self).__name__} does not implement backward")

    def backward_parameters(self, dout):
        """The backward pass for the parameters only: accumulate ∂L/∂θ, skip ∂L/∂x, return None.

        What a model's first layer needs (its input needs no gradient, as
        in torch when the input does not require grad). The default runs
        ``backward`` and drops its result; layers override it to skip work.
        """
        self.backward(dout)

    # traversal ------------------------------------------------------------
    def children(self):
        return list(self._modules.values())

    def named_modules(self, prefix=""):
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self):
        return [m for _, m in self.named_modules()]

    def named_parameters(self, prefix=""):
        for mod_name, module in self.named_modules(prefix):
            for name, p in module._parameters.items():
                yield (f"{mod_name}.{name}" if mod_name else name), p

    def parameters(self):
        """The trainable parameters, in registration order (torch's order)."""
        return [p for _, p in self.named_parameters()]

    def named_buffers(self, prefix=""):
        for mod_name, module in self.named_modules(prefix):
            for name, b in module._buffers.items():
                if b is not None:
                    yield (f"{mod_name}.{name}" if mod_name else name), b

    def zero_grad(self, set_to_none=True):
        """Clear every parameter's gradient (to None by default, as torch)."""
        for p in self.parameters():
            p.zero_grad(set_to_none)

    # modes ----------------------------------------------------------------
    def train(self, mode=True):
        """Training mode: BatchNorm uses batch statistics, Dropout drops."""
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self):
        """Evaluation mode: BatchNorm uses running statistics, Dropout is the identity."""
        return self.train(False)

    # device and dtype -----------------------------------------------------
    @property
    def device(self):
        """'cpu' or 'gpu': where the first parameter or buffer lives."""
        for _, p in self.named_parameters():
            return device_of(p.data)
        for _, b in self.named_buffers():
            return device_of(b)
        return "cpu"

    @property
    def dtype(self):
        for _, p in self.named_parameters():
            return p.data.dtype
        return None

    def to(self, device=None, dtype=None):
        """Move parameters and buffers to ``device`` ('cpu', 'gpu', 'auto') and/or cast to ``dtype``.

        Floating arrays take the new dtype; integer buffers (num_batches_tracked)
        keep theirs. Gradients are dropped. Build the optimizer afterwards.
        """
        if device is not None:
            device = resolve_device(device, announce=True)
        if dtype is not None:
            dtype = np.dtype(dtype)
            if dtype.kind != "f":
                raise TypeError(f"Module.to: dtype must be a floating type, got {dtype}")

        def convert(a):
            if device is not None and device_of(a) != device:
                a = to_device(a, device)
            if dtype is not None and a.dtype.kind == "f" and a.dtype != dtype:
                a = a.astype(dtype)
            return a

        for m in self.modules():
            for p in m._parameters.values():
                new = convert(p.data)
                if new is not p.data:
                    p.data = new
                    p._grad = None
                    p.has_grad = False
            for name, b in list(m._buffers.items()):
                if b is not None:
                    m._buffers[name] = convert(b)
            m._on_moved()
        return self

    def _on_moved(self):
        """Hook for modules holding cached scratch arrays: drop them after ``to``."""

    # state ----------------------------------------------------------------
    def state_dict(self):
        """Copies of all parameters and buffers under torch's key names."""
        sd = OrderedDict()
        for mod_name, module in self.named_modules():
            for name, p in module._parameters.items():
                sd[f"{mod_name}.{name}" if mod_name else name] = p.data.copy()
            for name, b in module._buffers.items():
                if b is not None:
                    sd[f"{mod_name}.{name}" if mod_name else name] = b.copy()
        return sd

    def load_state_dict(self, state_dict, strict=True):
        """Copy arrays from ``state_dict`` into this module's parameters and buffers, in place.

        Accepts NumPy or CuPy arrays (and anything ``numpy.asarray`` takes, such
        as CPU torch tensors). Missing or unexpected keys (with ``strict``) and
        shape mismatches raise a KeyError/ValueError naming every offender.
        """
        targets = OrderedDict()
        for mod_name, module in self.named_modules():
            for name in module._parameters:
                targets[f"{mod_name}.{name}" if mod_name else name] = (module, name, True)
            for name, b in module._buffers.items():
                if b is not None:
                    targets[f"{mod_name}.{name}" if mod_name else name] = (module, name, False)
        missing = [k for k in targets if k not in state_dict]
        unexpected = [k for k in state_dict if k not in targets]
        if strict and (missing or unexpected):
            raise KeyError(f"Error(s) in loading state_dict for {type(self).__name__}: "
                           f"missing keys {missing}, unexpected keys {unexpected}")
        wrong = []
        for key, (module, name, _) in targets.items():
            if key in state_dict:
                current = module._parameters[name].data if name in module._parameters else module._buffers[name]
                shape = tuple(getattr(state_dict[key], "shape", np.shape(state_dict[key])))
                if shape != tuple(current.shape):
                    wrong.append(f"{key}: checkpoint {shape}, model {tuple(current.shape)}")
        if wrong:
            raise ValueError(f"size mismatch in loading state_dict for {type(self).__name__}: " + "; ".join(wrong))
        for key, (module, name, is_param) in targets.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            if is_param:
                dst = module._parameters[name].data
            else:
                dst = module._buffers[name]
            xp = get_array_module(dst)
            src = value if device_of(value) == device_of(dst) else to_device(_as_array(value), device_of(dst))
            dst[...] = xp.asarray(src, dtype=dst.dtype)
        return self

    # display --------------------------------------------------------------
    def extra_repr(self):
        return ""

    def __repr__(self):
        if not self._modules:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"  ({name}): " + repr(m).replace("\n", "\n  ") for name, m in self._modules.items()]
        return f"{type(self).__name__}(\n" + "\n".join(lines) + "\n)"


def _as_array(value):
    if hasattr(value, "detach") and hasattr(value, "numpy"):
        return value.detach().cpu().numpy()
    return np.asarray(value)

"""Module: the base class of every layer, activation and container."""
import functools
import warnings
from collections import OrderedDict, namedtuple

import numpy as np

from ..backend import device_of, get_array_module, resolve_device, to_device, xp_for
from .parameter import ComputedParameter, Parameter, is_lazy


class Module:
    """Base class: a computation with a hand-written ``forward`` and ``backward``.

    Subclasses implement

    - ``forward(x)``: compute the output and cache what backward needs;
    - ``backward(dout)``: given dL/d(output) of the last forward, add dL/dθ
      into each parameter's ``grad`` (accumulating, as torch does) and return
      dL/d(input). A floating gradient of another dtype is cast to the dtype
      of the last forward's output first, as torch's autograd casts it.

    Attributes that are ``Parameter`` or ``Module`` instances are registered
    automatically (as in torch); buffers (running statistics) are registered
    with ``register_buffer``. ``state_dict()`` uses torch's key names
    ("0.weight", "1.running_mean", ...) and shapes.
    """

    def __init_subclass__(cls, **kwargs):
        """Each subclass's own ``forward`` notes that a backward is due, and its ``backward`` and
        ``backward_parameters`` claim it (``claim_backward``): a second backward since the last forward, through
        a container or called by hand, is refused instead of running through a stale cache."""
        super().__init_subclass__(**kwargs)
        for name, wrap in (("forward", _marking), ("backward", _claiming), ("backward_parameters", _claiming)):
            method = cls.__dict__.get(name)
            if callable(method) and not getattr(method, "_wrapped", False):
                setattr(cls, name, wrap(method, name == "backward_parameters") if wrap is _claiming else wrap(method))


    _optional_state = ()   # buffer names ``load_state_dict`` leaves as they are when the state_dict lacks them

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "_grad_hooks", OrderedDict())   # backward pre-hooks and hooks: (hook, is_pre)
        for table in _STATE_HOOK_TABLES:
            object.__setattr__(self, table, OrderedDict())

    # registration ---------------------------------------------------------
    def __setattr__(self, name, value):
        d = self.__dict__
        if "_parameters" not in d:
            if isinstance(value, (Parameter, Module)):
                raise AttributeError(f"cannot assign a {type(value).__name__} before {type(self).__name__}.__init__() "
                                     "calls super().__init__()")
            object.__setattr__(self, name, value)
            return
        if isinstance(value, ComputedParameter):
            raise TypeError(f"cannot assign a parametrization's computed value as parameter '{name}' (it is not a "
                            f"leaf, as torch's); share the original instead (its Parameter under "
                            f"parametrizations.<name>.original)")
        if isinstance(value, Parameter):   # a name already in the table keeps its place, as torch
            self._forget(name, keep=self._parameters)
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._forget(name, keep=self._modules)
            self._modules[name] = value
        elif name in d["_parameters"]:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as parameter '{name}' (a Parameter or None "
                                f"expected; to change its values, write into {name}.data)")
            self._forget(name)
        elif name in d["_buffers"]:
            if value is not None and not _is_array(value):
                raise TypeError(f"cannot assign '{type(value).__name__}' as buffer '{name}' (an array or None "
                                "expected)")
            self._buffers[name] = value
            return
        elif name in d["_modules"]:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as child module '{name}' (a Module or None "
                                "expected)")
            self._forget(name)
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        registered = name in self._parameters or name in self._buffers or name in self._modules
        if registered:
            self._forget(name)
            self._non_persistent_buffers.discard(name)
        if name in self.__dict__:
            object.__delattr__(self, name)
        elif not registered:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _forget(self, name, keep=None):
        for table in (self._parameters, self._modules, self._buffers):
            if table is not keep:
                table.pop(name, None)

    def _check_new_name(self, kind, name):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign a {kind} before {type(self).__name__}.__init__() calls "
                                 "super().__init__()")
        if not isinstance(name, str):
            raise TypeError(f"{kind} name should be a string, got {type(name).__name__}")
        if "." in name:
            raise KeyError(f'{kind} name can\'t contain ".", got {name!r}')
        if name == "":
            raise KeyError(f'{kind} name can\'t be empty string ""')

    def register_buffer(self, name, tensor, persistent=True):
        """Register a non-trainable array (running statistics): moved by ``to``, saved in ``state_dict`` unless
        ``persistent=False``; ``None`` registers the name without an array (as torch)."""
        self._check_new_name("buffer", name)
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute '{name}' already exists")
        if tensor is not None and not _is_array(tensor):
            raise TypeError(f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' (an array or None "
                            "required)")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)

    def register_parameter(self, name, param):
        """Register ``param`` (a Parameter, or None for no parameter) under ``name``."""
        self._check_new_name("parameter", name)
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError(f"attribute '{name}' already exists")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{type(param).__name__}' object to parameter '{name}' (a Parameter or "
                            "None required)")
        if param is None:
            self._forget(name)
            object.__setattr__(self, name, None)
        else:
            setattr(self, name, param)

    def add_module(self, name, module):
        """Register ``module`` (or None) as a child under ``name``."""
        self._check_new_name("module", name)
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute '{name}' already exists")
        if module is None:
            self._forget(name)
            object.__setattr__(self, name, None)
        else:
            setattr(self, name, module)

    register_module = add_module

    def __getattr__(self, name):
        buffers = self.__dict__.get("_buffers")
        if buffers is not None and name in buffers:
            return buffers[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def get_submodule(self, target):
        """The module at the dotted path ``target`` ("" is this one)."""
        module = self
        for part in target.split(".") if target else ():
            if part not in module._modules:
                raise AttributeError(f"{type(module).__name__} has no attribute `{part}`")
            module = module._modules[part]
        return module

    def set_submodule(self, target, module, strict=False):
        """Put ``module`` at the dotted path ``target``: replace the child there or, unless ``strict``, add it to
        the existing parent (torch's). ValueError for an empty target or a non-Module; AttributeError where the
        parent path does not exist, where ``strict`` and there is no child to replace, or where the name is an
        attribute that is not a module."""
        if target == "":
            raise ValueError("Cannot set the submodule without a target name!")
        if not isinstance(module, Module):
            raise ValueError(f"`module` is not an nn.Module, found {type(module)}")
        path, _, name = target.rpartition(".")
        parent = self.get_submodule(path)
        if strict and not hasattr(parent, name):
            raise AttributeError(f"{type(parent).__name__} has no attribute `{name}`")
        if hasattr(parent, name) and not isinstance(getattr(parent, name), Module):
            raise AttributeError(f"`{name}` is not an nn.Module")
        setattr(parent, name, module)

    def get_parameter(self, target):
        """The parameter at the dotted path ``target``."""
        return self._member(target, "_parameters", "parameter")

    def get_buffer(self, target):
        """The buffer at the dotted path ``target``."""
        return self._member(target, "_buffers", "buffer")

    def _member(self, target, table, kind):
        path, _, name = target.rpartition(".")
        module = self.get_submodule(path)
        if name not in getattr(module, table):
            raise AttributeError(f"{type(module).__name__} has no {kind} `{name}`")
        return getattr(module, table)[name]

    # calling --------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        """``forward(*args, **kwargs)`` between the forward hooks, as torch's; the input may be passed as
        ``input=``, torch's name for it."""
        if not args and "input" in kwargs:
            args = (kwargs.pop("input"),)
        mark_forward(self)
        pre, post = self.__dict__.get("_forward_pre_hooks"), self.__dict__.get("_forward_hooks")
        if not pre and not post:
            return self.forward(*args, **kwargs)
        for hook, with_kwargs in list(pre.values()):
            if with_kwargs:
                result = hook(self, args, kwargs)
                if result is not None:
                    args, kwargs = result
                continue
            result = hook(self, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
        output = self.forward(*args, **kwargs)
        for hook, with_kwargs in list(post.values()):
            result = hook(self, args, kwargs, output) if with_kwargs else hook(self, args, output)
            if result is not None:
                output = result
        return output

    def register_forward_pre_hook(self, hook, *, prepend=False, with_kwargs=False):
        """``hook(module, args)`` (``with_kwargs``: ``hook(module, args, kwargs)``) before each call's forward; what
        it returns, if not None, replaces the arguments. Returns a handle whose ``remove()`` takes it away."""
        return _add_hook(self._forward_pre_hooks, (hook, bool(with_kwargs)), prepend)

    def register_forward_hook(self, hook, *, prepend=False, with_kwargs=False, always_call=False):
        """``hook(module, args, output)`` (``with_kwargs``: ``hook(module, args, kwargs, output)``) after each call's
        forward; what it returns, if not None, replaces the output. Returns a handle with ``remove()``. Backward
        hooks: ``register_full_backward_pre_hook``, ``register_full_backward_hook``."""
        return _add_hook(self._forward_hooks, (hook, bool(with_kwargs)), prepend)

    def register_full_backward_pre_hook(self, hook, prepend=False):
        """``hook(module, grad_output)`` at the start of each outermost ``backward``/``backward_parameters`` call on
        this module, before its children's hooks (backward runs from the output): ``grad_output`` is the tuple of
        the gradients backward was given (one array for most modules; ``(grad_output, grad_h_n, grad_c_n)`` for an
        LSTM given three; ``(None,)``-like entries as given). A tuple it returns, of the same length, replaces
        ``grad_output``. Returns a handle whose ``remove()`` takes the hook away."""
        return _add_hook(_table(self, "_grad_hooks"), (hook, True), prepend)

    def register_full_backward_hook(self, hook, prepend=False):
        """``hook(module, grad_input, grad_output)`` when this module's outermost ``backward`` has returned, after
        its children's hooks: ``grad_input`` is the tuple of what backward returns (``(dx,)``, or e.g.
        MultiheadAttention's ``(dq, dk, dv)``); a tuple it returns, of the same length, replaces it (what backward
        returns). For ``backward_parameters``, which computes no ∂L/∂input (torch's input that does not require
        grad), the hook runs as torch's then does: right after the pre-hooks, before the children's, with
        ``grad_input = (None,)``, and may return None only. Returns a handle with ``remove()``."""
        return _add_hook(_table(self, "_grad_hooks"), (hook, False), prepend)

    def register_backward_hook(self, hook):
        """torch's deprecated non-full backward hook: minimlp runs it as ``register_full_backward_hook`` (torch's
        documented meaning), with a FutureWarning saying so."""
        warnings.warn("register_backward_hook is deprecated (as in torch); minimlp runs the hook as "
                      "register_full_backward_hook does: call that instead", FutureWarning, stacklevel=2)
        return self.register_full_backward_hook(hook)

    def _has_forward_hooks(self):
        return bool(self.__dict__.get("_forward_pre_hooks") or self.__dict__.get("_forward_hooks"))

    def _has_hooks(self):
        """Whether forward or backward hooks are registered (a Sequential then runs the module unfused)."""
        return self._has_forward_hooks() or bool(self.__dict__.get("_grad_hooks"))

    def forward(self, x):
        raise NotImplementedError(f"{type(self).__name__} does not implement forward")

    def backward(self, dout):
        raise NotImplementedError(
            f"{type(self).__name__} does not implement backward: minimlp has no autograd, so a module of your own "
            f"writes backward(dout), returning ∂L/∂input and adding each parameter's gradient "
            f"(parameter.accumulate(...)), or is built from layers that have one (Sequential, Residual, Concat); "
            f"see examples/custom_module.py")

    def backward_parameters(self, dout):
        """The backward pass for the parameters only: accumulate ∂L/∂θ, skip ∂L/∂x, return None.

        What a model's first layer needs (its input needs no gradient, as
        in torch when the input does not require grad). The default runs
        ``backward`` and drops its result; layers override it to skip work.
        """
        self.backward(dout)

    # traversal ------------------------------------------------------------
    def named_children(self):
        """(name, module) of the direct children, each module once."""
        seen = set()
        for name, child in self._modules.items():
            if child is not None and id(child) not in seen:
                seen.add(id(child))
                yield name, child

    def children(self):
        """The direct children, each once (an iterator, as torch)."""
        for _, child in self.named_children():
            yield child

    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        """(dotted name, module) of this module and every descendant; a module reached twice is given once
        unless ``remove_duplicate=False``."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is not None:
                yield from child.named_modules(memo, f"{prefix}.{name}" if prefix else name, remove_duplicate)

    def modules(self):
        """This module and every descendant, each once (an iterator)."""
        for _, module in self.named_modules():
            yield module

    def _named_members(self, table, prefix, recurse, remove_duplicate):
        seen = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for mod_name, module in modules:
            for name, value in getattr(module, table).items():
                if value is None:
                    continue
                if remove_duplicate:
                    if id(value) in seen:
                        continue
                    seen.add(id(value))
                yield (f"{mod_name}.{name}" if mod_name else name), value

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        """(dotted name, parameter) in registration order (torch's); a shared parameter is given once."""
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse=True):
        """The trainable parameters, in registration order (torch's), each once: an iterator."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
        """(dotted name, array) of the registered buffers (running statistics), each once."""
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse=True):
        """The registered buffers, each once: an iterator."""
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn):
        """``fn(m)`` for every child's subtree, then for this module (torch's order); returns self."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    def requires_grad_(self, requires_grad=True):
        """Freeze (``False``) or unfreeze every parameter: a frozen one has no ``grad`` and no optimizer moves
        it. Returns self."""
        for p in self.parameters():
            p.requires_grad = bool(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        """Clear every parameter's gradient (to None by default, as torch)."""
        for p in self.parameters():
            p.zero_grad(set_to_none)

    # modes ----------------------------------------------------------------
    def train(self, mode=True):
        """Training mode (``mode=True``) for this module and, through their own ``train``, its children:
        BatchNorm uses batch statistics, Dropout drops. Returns self."""
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        object.__setattr__(self, "training", mode)
        for child in self.children():
            child.train(mode)
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
            return device_of(b.data if is_lazy(b) else b)
        return "cpu"

    @property
    def dtype(self):
        for _, p in self.named_parameters():
            return p.data.dtype
        return None

    def to(self, *args, device=None, dtype=None):
        """Move parameters and buffers to ``device`` ('cpu', 'gpu', 'auto') and/or cast to ``dtype``, given by
        name or in torch's order (``to("gpu")``, ``to(np.float64)``, ``to("cpu", np.float64)``).

        Floating arrays take the new dtype; integer buffers (num_batches_tracked)
        keep theirs. Gradients are dropped. Build the optimizer afterwards.
        """
        for arg in args:
            if isinstance(arg, str) and device is None and arg not in _DTYPE_NAMES:
                device = arg
            elif dtype is None:
                dtype = arg
            else:
                raise TypeError(f"Module.to: unexpected argument {arg!r} (give a device, a dtype or both)")
        if device is not None:
            device = resolve_device(device, announce=True)
        if dtype is not None:
            dtype = np.dtype(dtype)
            if dtype.kind != "f":
                raise TypeError(f"Module.to: dtype must be a floating type, got {dtype}")
            if dtype not in (np.float32, np.float64):
                raise TypeError(f"Module.to: minimlp computes in float32 and float64 only, got {dtype}")

        def convert(a):
            if device is not None and device_of(a) != device:
                a = to_device(a, device)
            if dtype is not None and a.dtype.kind == "f" and a.dtype != dtype:
                a = a.astype(dtype)
            return a

        for m in self.modules():
            for p in m._parameters.values():
                if p is None:
                    continue
                new = convert(p.data)
                if new is not p.data:
                    p.data = new
                    p._grad = None
                    p.has_grad = False
            for name, b in list(m._buffers.items()):
                if b is not None:
                    m._buffers[name] = b.converted(convert) if is_lazy(b) else convert(b)
            m._on_moved()
        return self

    def float(self):
        """Cast floating parameters and buffers to float32 (``to(dtype=np.float32)``)."""
        return self.to(dtype=np.float32)

    def double(self):
        """Cast floating parameters and buffers to float64."""
        return self.to(dtype=np.float64)

    def cpu(self):
        """Move to the CPU (``to("cpu")``)."""
        return self.to(device="cpu")

    def cuda(self, device=None):
        """Move to the GPU (``to("gpu")``; ``device`` may be None, 0, "cuda" or "cuda:0": minimlp uses one GPU).
        Where no GPU works, the DeviceError says why."""
        if device not in (None, 0) and str(device).lower() not in ("cuda", "cuda:0", "gpu", "gpu:0"):
            raise ValueError(f"Module.cuda: minimlp uses one GPU (device None, 0 or 'cuda'), got {device!r}")
        return self.to(device="gpu")

    def half(self):
        """Refused: minimlp computes in float32 and float64 only."""
        raise TypeError("Module.half: minimlp computes in float32 and float64 only (no float16); use float() or "
                        "double()")

    def bfloat16(self):
        """Refused: minimlp computes in float32 and float64 only."""
        raise TypeError("Module.bfloat16: minimlp computes in float32 and float64 only (no bfloat16); use float() "
                        "or double()")

    def type(self, dst_type):
        """Cast floating parameters and buffers to ``dst_type``, float32 or float64 (``np.float32``, "float64",
        torch's ``torch.float64`` or "torch.DoubleTensor"), as ``to(dtype=...)``: integer buffers keep their
        dtype (torch casts them too). Another dtype is refused: minimlp computes in float32 and float64 only."""
        name = str(dst_type).replace("torch.", "")
        name = {"FloatTensor": "float32", "DoubleTensor": "float64", "float": "float32",
                "double": "float64"}.get(name, name)
        try:
            dtype = np.dtype(dst_type if isinstance(dst_type, (type, np.dtype)) else name)
        except TypeError:
            dtype = None
        if dtype is None or dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise TypeError(f"Module.type: minimlp computes in float32 and float64 only, got {dst_type!r} (a device: "
                            f"model.to('gpu'))")
        return self.to(dtype=dtype)

    def to_empty(self, *, device, recurse=True):
        """Give every parameter and buffer (this module's own only, unless ``recurse``) a fresh uninitialised array
        of its shape and dtype on ``device`` ('cpu', 'gpu'; None: where each is), as torch's ``empty_like``:
        the values are garbage until written (``reset_parameters()``, ``load_state_dict``). Gradients are dropped;
        an uninitialised (lazy) parameter stays lazy, moved to ``device``. Returns self."""
        target = None if device is None else resolve_device(device, announce=True)

        def fresh(a):
            xp = xp_for(target or device_of(a))
            return xp.empty(a.shape, dtype=a.dtype)

        for m in (self.modules() if recurse else (self,)):
            for p in m._parameters.values():
                if p is None:
                    continue
                if is_lazy(p):
                    if target is not None:
                        p.data = to_device(p.data, target)
                    continue
                p.data = fresh(p.data)
                p._grad = None
                p.has_grad = False
            for name, b in list(m._buffers.items()):
                if b is not None:
                    m._buffers[name] = (b.converted(lambda a: a if target is None else to_device(a, target))
                                        if is_lazy(b) else fresh(b))
            m._on_moved()
        return self

    def share_memory(self):
        """A no-op returning self: NumPy and CuPy arrays are process-local (torch moves its tensors to shared
        memory for ``torch.multiprocessing``; a minimlp module sent to another process is pickled, a copy)."""
        return self

    def compile(self, *args, **kwargs):
        """A no-op with a UserWarning, returning None as torch's: minimlp has no compiler, the module runs as it
        is (its arguments are ignored)."""
        warnings.warn(f"{type(self).__name__}.compile: minimlp has no compiler; the module runs as it is",
                      UserWarning, stacklevel=2)

    def _on_moved(self):
        """Hook for modules holding cached scratch arrays: drop them after ``to``."""

    # state ----------------------------------------------------------------
    def state_dict(self, *, destination=None, prefix="", keep_vars=False):
        """Copies of all parameters and persistent buffers under torch's key names, in torch's order (with
        ``keep_vars``, the Parameters and buffer arrays themselves), and ``prefix + "_extra_state"`` for each module
        whose class defines ``get_extra_state``; ``destination`` is filled and returned (a new OrderedDict by
        default). Each module's state-dict pre-hooks run before it adds its entries, its post hooks after its
        children's, as torch's."""
        if destination is None:
            destination = OrderedDict()
        self._save_state(destination, prefix, keep_vars)
        return destination

    def _save_state(self, destination, prefix, keep_vars):
        """This module's entries, then its children's (under every name a shared module has), between its
        state-dict hooks."""
        d = self.__dict__
        for hook in list(d.get("_state_dict_pre_hooks", {}).values()):
            hook(self, prefix, keep_vars)
        for name, p in self._parameters.items():
            if p is not None:
                destination[prefix + name] = p if keep_vars else (p if is_lazy(p) else p.data).copy()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers:
                destination[prefix + name] = b if keep_vars else b.copy()   # a lazy one: a new one
        if type(self).get_extra_state is not Module.get_extra_state:
            destination[prefix + _EXTRA_STATE_KEY] = self.get_extra_state()
        for name, child in self._modules.items():
            if child is not None:
                child._save_state(destination, f"{prefix}{name}.", keep_vars)
        for hook in list(d.get("_state_dict_hooks", {}).values()):
            if hook(self, destination, prefix, {"version": getattr(self, "_version", 1)}) is not None:
                raise RuntimeError("state_dict post-hook must return None")

    def get_extra_state(self):
        """What a subclass stores in its state_dict besides parameters and buffers (under ``"_extra_state"``): a
        subclass that has some defines this and ``set_extra_state``; ``minimlp.save`` stores numbers, strings,
        arrays and dicts, lists and tuples of them. The base class has none (RuntimeError, as torch's)."""
        raise RuntimeError(f"{type(self).__name__}.get_extra_state: this module defines no extra state (a "
                           "subclass that has some defines get_extra_state and set_extra_state)")

    def set_extra_state(self, state):
        """Take back what ``get_extra_state`` returned (``load_state_dict`` calls it with the ``"_extra_state"``
        entry); the base class has none (RuntimeError, as torch's)."""
        raise RuntimeError(f"{type(self).__name__}.set_extra_state: this module defines no extra state (a "
                           "subclass that has some defines get_extra_state and set_extra_state)")

    def register_state_dict_pre_hook(self, hook):
        """``hook(module, prefix, keep_vars)`` before ``state_dict`` adds this module's entries. Returns a handle
        with ``remove()``."""
        return _add_hook(_table(self, "_state_dict_pre_hooks"), hook, False)

    def register_state_dict_post_hook(self, hook):
        """``hook(module, state_dict, prefix, local_metadata)`` after ``state_dict`` added this module's entries
        and its children's; it may edit ``state_dict`` in place and must return None. Returns a handle."""
        return _add_hook(_table(self, "_state_dict_hooks"), hook, False)

    def register_load_state_dict_pre_hook(self, hook):
        """``hook(module, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs)``
        before ``load_state_dict`` reads this module's entries: it may edit ``state_dict`` (a copy: the whole
        one at the model it was called on, the entries under ``prefix`` at a child) and append to the lists.
        Returns a handle with ``remove()``."""
        return _add_hook(_table(self, "_load_state_dict_pre_hooks"), hook, False)

    def register_load_state_dict_post_hook(self, hook):
        """``hook(module, incompatible_keys)`` after ``load_state_dict`` went through this module and its
        children, before the strict check: ``incompatible_keys`` holds the ``missing_keys`` and
        ``unexpected_keys`` lists found so far, which it may edit in place (clearing them avoids the error); it
        must return None. Returns a handle with ``remove()``."""
        return _add_hook(_table(self, "_load_state_dict_post_hooks"), hook, False)

    def load_state_dict(self, state_dict, strict=True):
        """Copy arrays from ``state_dict`` into this module's parameters and buffers, in place; returns
        ``(missing_keys, unexpected_keys)`` as torch's ``_IncompatibleKeys``.

        Accepts NumPy or CuPy arrays (and CPU torch tensors). Missing or unexpected keys (with ``strict``) and
        shape mismatches raise a RuntimeError naming every offender, in torch's words, before anything is loaded
        (where a load post-hook is registered, the strict check waits for it: the arrays are loaded first, as
        torch's). ``"_extra_state"`` entries go to ``set_extra_state``. The load hooks run as torch's.
        """
        if not hasattr(state_dict, "keys") or not hasattr(state_dict, "__getitem__"):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        missing, unexpected, errors, plan, extras, posts = [], [], [], [], [], []
        self._plan_load(OrderedDict((k, state_dict[k]) for k in state_dict.keys()), "", missing, unexpected,
                        errors, plan, extras, posts)
        for key, module, name, is_param, value in plan:
            if not _both_lazy(module, name, value):
                current = module._parameters[name].data if is_param else module._buffers[name]
                shape = tuple(getattr(value, "shape", np.shape(value)))
                if shape != tuple(current.shape):
                    errors.append(f"size mismatch for {key}: copying a param with shape {shape} from checkpoint, "
                                  f"the shape in current model is {tuple(current.shape)}.")
        if posts and not errors:
            _load_planned(plan, extras)
            incompatible = IncompatibleKeys(missing, unexpected)
            for module in posts:
                for hook in list(module.__dict__["_load_state_dict_post_hooks"].values()):
                    if hook(module, incompatible) is not None:
                        raise AssertionError("Hooks registered with ``register_load_state_dict_post_hook`` are not "
                                             "expected to return new values, if incompatible_keys need to be "
                                             "modified, it should be done inplace.")
        head = []
        if strict and missing:
            head.append("Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ". ")
        if strict and unexpected:
            head.append("Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ". ")
        if head or errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                               + "\n\t".join(head + errors))
        if not posts:
            _load_planned(plan, extras)
        return IncompatibleKeys(missing, unexpected)

    def _plan_load(self, local, prefix, missing, unexpected, errors, plan, extras, posts):
        """torch's walk of ``load_state_dict`` without the copying: this module's load pre-hooks on ``local`` (its
        entries), then (key, module, name, is_parameter, value) of each of its arrays into ``plan``, its extra
        state into ``extras``, the keys it lacks or does not know into ``missing``/``unexpected``, then its
        children's (each given a copy of its own entries); ``posts`` lists the modules with load post-hooks, in
        the order torch runs them."""
        for hook in list(self.__dict__.get("_load_state_dict_pre_hooks", {}).values()):
            hook(self, local, prefix, {}, True, missing, unexpected, errors)
        own = set()
        for table, is_param in ((self._parameters, True), (self._buffers, False)):
            for name, value in table.items():
                if value is None or (not is_param and name in self._non_persistent_buffers):
                    continue
                own.add(name)
                key = prefix + name
                if key in local:
                    self._before_loading(name, local[key])
                    plan.append((key, self, name, is_param, local[key]))
                elif name not in self._optional_state:
                    missing.append(key)
        extra_key = prefix + _EXTRA_STATE_KEY
        if type(self).set_extra_state is not Module.set_extra_state:
            if extra_key in local:
                extras.append((self, local[extra_key]))
            else:
                missing.append(extra_key)
        elif extra_key in local:
            unexpected.append(extra_key)
        for key in local:
            if key.startswith(prefix) and key != extra_key:
                first, dot, _ = key[len(prefix):].partition(".")
                if (first not in self._modules) if dot else (first not in own):
                    unexpected.append(key)
        for name, child in self._modules.items():
            if child is not None:
                child_prefix = f"{prefix}{name}."
                child._plan_load(OrderedDict((k, v) for k, v in local.items() if k.startswith(child_prefix)),
                                 child_prefix, missing, unexpected, errors, plan, extras, posts)
        if self.__dict__.get("_load_state_dict_post_hooks"):
            posts.append(self)

    def _before_loading(self, name, value):
        """Called by ``load_state_dict`` with each array it is about to load into this module's ``name``: a lazy
        module materialises an uninitialised parameter or buffer to the shape of ``value`` (torch's load hook)."""

    # display --------------------------------------------------------------
    def extra_repr(self):
        return ""

    def __repr__(self):
        extra = self.extra_repr()
        lines = extra.split("\n") if extra else []
        if not self._modules and len(lines) <= 1:
            return f"{type(self).__name__}({extra})"
        lines += [f"({name}): " + repr(m).replace("\n", "\n  ") for name, m in self._modules.items()]
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"


class RemovableHandle:
    """What registering a hook returns: ``remove()`` takes the hook away (again: nothing); usable as a context
    manager that removes it on exit, as torch's."""

    _next_id = 0

    def __init__(self, hooks):
        self.hooks = hooks
        self.id = RemovableHandle._next_id
        RemovableHandle._next_id += 1

    def remove(self):
        self.hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def _add_hook(hooks, entry, prepend):
    handle = RemovableHandle(hooks)
    hooks[handle.id] = entry
    if prepend:
        hooks.move_to_end(handle.id, last=False)
    return handle


class IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    """What ``load_state_dict`` returns: the keys the model has and the state_dict lacked, and the reverse."""

    def __repr__(self):
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()


_DTYPE_NAMES = ("float16", "float32", "float64", "half", "single", "double", "float")


def _load_planned(plan, extras):
    """Copy each planned value into its parameter or buffer, in place, then hand each extra state to its module."""
    for _, module, name, is_param, value in plan:
        if _both_lazy(module, name, value):
            continue
        dst = module._parameters[name].data if is_param else module._buffers[name]
        xp = get_array_module(dst)
        src = value if device_of(value) == device_of(dst) else to_device(_as_array(value), device_of(dst))
        dst[...] = xp.asarray(_as_array(src) if _is_torch(src) else src, dtype=dst.dtype)
    for module, state in extras:
        module.set_extra_state(state)


def _is_array(value):
    return hasattr(value, "shape") and hasattr(value, "dtype")


def _both_lazy(module, name, value):
    """Whether an uninitialised ``value`` meets an uninitialised ``name`` of ``module``: nothing to load (torch's)."""
    current = module._parameters[name] if name in module._parameters else module._buffers.get(name)
    return is_lazy(value) and is_lazy(current)


def _is_torch(value):
    return hasattr(value, "detach") and hasattr(value, "numpy")


def _as_array(value):
    if _is_torch(value):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def mark_forward(module):
    """Note that ``module`` ran forward: its next backward is due (``claim_backward``)."""
    module.__dict__["_backward_due"] = True


def backward_of(module, dout, want_dx=True):
    """A container's call of ``module.backward(dout)`` (``backward_parameters`` unless ``want_dx``), which claims
    the backward due since the module's last forward (``claim_backward``)."""
    return module.backward(dout) if want_dx else module.backward_parameters(dout)


def claim_backward(module):
    """Note that ``module``'s backward runs for its last call; RuntimeError where it already ran since that call:
    a module object used at two places of one forward pass keeps the cache of its last call only, so the other
    place's gradient would be silently wrong (torch, with a graph per call, gets it right)."""
    if module.__dict__.get("_backward_due") is False:
        text = repr(module)
        name = text if "\n" not in text else type(module).__name__
        raise RuntimeError(
            f"{name}: backward reached this module a second time since its last forward. Run forward again before "
            f"another backward; and a module object used at two places in one forward pass keeps only its last "
            f"call's cache, so minimlp cannot backpropagate through it: give each place its own instance (to share "
            f"weights, share the Parameter: second.weight = first.weight)")
    module.__dict__["_backward_due"] = False


def _marking(forward):
    """``forward``, noting at the outermost call on the instance that its backward is due (``mark_forward``)."""
    @functools.wraps(forward)
    def run(self, *args, **kwargs):
        depth = self.__dict__.get("_forward_depth", 0)
        if depth == 0:
            mark_forward(self)
        self.__dict__["_forward_depth"] = depth + 1
        try:
            output = forward(self, *args, **kwargs)
        finally:
            self.__dict__["_forward_depth"] = depth
        if depth == 0:
            self.__dict__["_output_dtype"] = getattr(output, "dtype", None)
        return output
    run._wrapped = True
    return run


def _as_output_dtype(module, args, kwargs):
    """(args, kwargs) with the gradient (the first argument, given by position or by name) cast to the dtype of
    the module's last floating output, as torch's autograd casts an incoming gradient to its tensor's dtype (a
    float64 or integer gradient into a float32 layer gives float32 gradients)."""
    expected = module.__dict__.get("_output_dtype")
    if expected is None or expected.kind != "f":
        return args, kwargs
    if args:
        grad = args[0]
        if _needs_cast(grad, expected):
            args = (grad.astype(expected),) + tuple(args[1:])
    elif len(kwargs) == 1:
        (name, grad), = kwargs.items()
        if _needs_cast(grad, expected):
            kwargs = {name: grad.astype(expected)}
    return args, kwargs


def _needs_cast(grad, expected):
    kind = getattr(getattr(grad, "dtype", None), "kind", None)
    return hasattr(grad, "astype") and kind is not None and kind in "biuf" and grad.dtype != expected


def _claiming(backward, parameters_only=False):
    """``backward`` (or ``backward_parameters``), refused where the module's backward already ran since its last
    forward; the outermost call on the instance claims the backward when it succeeds (a gradient of the wrong
    shape, refused, can be given again), and runs the module's backward hooks where it has any."""
    @functools.wraps(backward)
    def run(self, *args, **kwargs):
        d = self.__dict__
        depth = d.get("_backward_depth", 0)
        if depth == 0:
            if d.get("_backward_due") is False:
                claim_backward(self)   # raises, naming the module
            if d.get("_grad_hooks"):
                return _hooked_backward(self, backward, parameters_only, args, kwargs)
        d["_backward_depth"] = depth + 1
        if depth == 0 and getattr(args[0] if args else None, "dtype", None) is not d.get("_output_dtype"):
            args, kwargs = _as_output_dtype(self, args, kwargs)
        try:
            result = backward(self, *args, **kwargs)
        finally:
            d["_backward_depth"] = depth
        if depth == 0:
            d["_backward_due"] = False
        return result
    run._wrapped = True
    return run


def _hooked_backward(module, backward, parameters_only, args, kwargs):
    """The outermost ``backward`` (``backward_parameters``) of a module with backward hooks, in torch's order: the
    pre-hooks on grad_output (the gradients given, positional then keyword; a keyword flag such as Sequential's
    ``input_grad`` is not one), the backward, then the hooks on grad_input (what it returns); with
    ``parameters_only`` the hooks run before the backward with ``(None,)``, as torch's for an input that does not
    require grad."""
    d = module.__dict__
    hooks = list(d["_grad_hooks"].values())
    d["_backward_depth"] = 1
    try:
        args, kwargs = _as_output_dtype(module, args, kwargs)
        options = {k: v for k, v in kwargs.items() if isinstance(v, bool)}   # Sequential's input_grad=False
        names = tuple(k for k in kwargs if k not in options)
        grad_output = tuple(args) + tuple(kwargs[k] for k in names)
        replaced = False
        for hook, is_pre in hooks:
            if is_pre:
                out = hook(module, grad_output)
                if out is not None:
                    grad_output, replaced = _hook_tuple(out, len(grad_output), "Backward pre hook", "grad_output"), True
        if replaced:
            cut = len(grad_output) - len(names)
            args, kwargs = _as_output_dtype(module, grad_output[:cut], dict(zip(names, grad_output[cut:])))
            kwargs.update(options)
        if parameters_only:
            for hook, is_pre in hooks:
                if not is_pre:
                    out = hook(module, (None,), grad_output)
                    if out is not None and not (isinstance(out, tuple) and all(el is None for el in out)):
                        raise RuntimeError("Backward hook for Modules where no input requires gradient should always "
                                           "return None or None for all gradients (backward_parameters computes no "
                                           "gradient for the input).")
            result = backward(module, *args, **kwargs)
        else:
            result = backward(module, *args, **kwargs)
            several = isinstance(result, tuple)
            grad_input = result if several else (result,)
            for hook, is_pre in hooks:
                if not is_pre:
                    out = hook(module, grad_input, grad_output)
                    if out is not None:
                        grad_input = _hook_tuple(out, len(grad_input), "Backward hook", "grad_input")
            result = grad_input if several else grad_input[0]
    finally:
        d["_backward_depth"] = 0
    d["_backward_due"] = False
    return result


def _hook_tuple(out, expected, who, what):
    """A backward hook's replacement as a tuple of ``expected`` entries (a single array for one), else torch's
    RuntimeError."""
    if not isinstance(out, (tuple, list)):
        out = (out,) if expected == 1 and _is_array(out) else out
    if not isinstance(out, (tuple, list)) or len(out) != expected:
        got = len(out) if isinstance(out, (tuple, list)) else type(out).__name__
        raise RuntimeError(f"{who} returned an invalid number of {what}, got {got}, but expected {expected}")
    return tuple(out)


def _table(module, name):
    """The hook table ``name`` of ``module``, created where it lacks one (an object unpickled from an older
    minimlp)."""
    return module.__dict__.setdefault(name, OrderedDict())


_STATE_HOOK_TABLES = ("_state_dict_pre_hooks", "_state_dict_hooks", "_load_state_dict_pre_hooks",
                      "_load_state_dict_post_hooks")
_EXTRA_STATE_KEY = "_extra_state"

Module.backward_parameters = _claiming(Module.backward_parameters, True)   # the default runs backward, hooks once

"""Sequential: modules applied one after another; ModuleList and ModuleDict: modules held by position or name."""
import operator
from collections import OrderedDict

from . import fusion
from .module import Module, backward_of


class Sequential(Module):
    """y = fₖ(…f₂(f₁(x))); backward runs the modules' backward passes in reverse.

    ``backward(dout)`` returns ∂L/∂x; ``backward(dout, input_grad=False)``
    (the same as ``backward_parameters``) runs the first module's
    ``backward_parameters`` instead and returns None, skipping the work only
    ∂L/∂x needs (for a first Linear, a matrix product).

    Children are named "0", "1", … so that ``state_dict`` keys match torch's
    ``nn.Sequential`` ("0.weight", "1.running_mean", …). A BatchNorm then a ReLU
    in training run as one pass each way (``nn.fusion``), with the same values.
    """

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, m in modules[0].items():
                self.add_module(name, _module(m, f"Sequential: entry {name!r}"))
            return
        for i, m in enumerate(modules):
            self.add_module(str(i), _module(m, f"Sequential: argument {i}"))

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def _key(self, index):
        """The name of the child at ``index`` (negative from the end), IndexError outside."""
        index = operator.index(index)
        size = len(self)
        if not -size <= index < size:
            raise IndexError(f"index {index} is out of range")
        return list(self._modules)[index % size]

    def __getitem__(self, index):
        if isinstance(index, slice):   # the children keep their names, as torch
            return type(self)(OrderedDict(list(self._modules.items())[index]))
        return self._modules[self._key(index)]

    def __setitem__(self, index, module):
        setattr(self, self._key(index), _module(module, "Sequential item"))

    def __delitem__(self, index):
        keys = list(self._modules)[index] if isinstance(index, slice) else [self._key(index)]
        for key in keys:
            delattr(self, key)
        self._renumber()

    def _renumber(self, modules=None):
        """Children ``modules`` (default: the current ones) named "0", "1", … in their order (torch's, after a
        deletion or an insertion)."""
        modules = list(self._modules.values()) if modules is None else modules
        for key in list(self._modules):
            delattr(self, key)
        for i, m in enumerate(modules):
            self.add_module(str(i), m)

    def append(self, module):
        """Add ``module`` at the end (named by its position); returns self."""
        self.add_module(str(len(self)), _module(module, "Sequential.append"))
        return self

    def insert(self, index, module):
        """Put ``module`` before position ``index`` (torch's bounds: −len ≤ index ≤ len); returns self."""
        module = _module(module, "Sequential.insert")
        size = len(self)
        if not -size <= index <= size:
            raise IndexError(f"Index out of range: {index}")
        modules = list(self._modules.values())
        modules.insert(index + size if index < 0 else index, module)
        self._renumber(modules)
        return self

    def extend(self, modules):
        """Append each of ``modules``; returns self."""
        for m in modules:
            self.append(m)
        return self

    def pop(self, index):
        """Remove the child at ``index`` and return it."""
        module = self[index]
        del self[index]
        return module

    def forward(self, x):
        modules = list(self._modules.values())
        fused, i, shift = [], 0, None
        while i < len(modules):
            m = modules[i]
            try:
                if i + 1 < len(modules) and fusion.folds_bias(m, modules[i + 1], x):
                    x, shift = fusion.forward_unbiased(m, x), m.bias.data    # the next layer adds the bias
                    i += 1
                    continue
                if i + 1 < len(modules) and fusion.fuses(m, modules[i + 1], x):
                    x = fusion.forward(m, modules[i + 1], x, shift)
                    fused.append(i)
                    i += 1                                               # the pair's second layer ran too
                else:
                    x = m(x) if shift is None else fusion.forward_shifted(m, x, shift)
                shift = None
                i += 1
            except (ValueError, TypeError) as exc:
                _note(exc, f"(in layer {i} of the Sequential: {m!r})")
                raise
        self._fused = frozenset(fused)
        return x

    def backward(self, dout, input_grad=True):
        modules = list(self._modules.values())
        fused = self.__dict__.get("_fused", frozenset())
        i = len(modules) - 1
        while i >= 0:
            first = i - 1 if i - 1 in fused else i      # a fused pair (``nn.fusion``) runs backward as one
            want_dx = first > 0 or input_grad
            try:
                if first != i:
                    dout = fusion.backward(modules[first], modules[i], dout, want_dx)
                else:
                    dout = backward_of(modules[i], dout, want_dx)
            except (ValueError, TypeError, RuntimeError) as exc:
                _note(exc, f"(in the backward of layer {first} of the Sequential: {modules[first]!r})")
                raise
            i = first - 1
        return dout if input_grad else None

    def backward_parameters(self, dout):
        self.backward(dout, input_grad=False)


class ModuleList(Module):
    """A list of modules, registered under their positions "0", "1", … (so their parameters are the model's);
    no forward of its own: the model that holds it calls them. Indexing, slicing, ``append``, ``extend``,
    ``insert``, ``pop``, ``del`` and ``len`` as a list, as torch's."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    __len__ = Sequential.__len__
    __iter__ = Sequential.__iter__
    _key = Sequential._key
    __setitem__ = Sequential.__setitem__
    __delitem__ = Sequential.__delitem__
    _renumber = Sequential._renumber
    append = Sequential.append
    insert = Sequential.insert
    extend = Sequential.extend
    pop = Sequential.pop

    def __getitem__(self, index):
        if isinstance(index, slice):
            return type(self)(list(self._modules.values())[index])
        return self._modules[self._key(index)]

    def __iadd__(self, modules):
        return self.extend(modules)

    def forward(self, x):
        raise NotImplementedError("ModuleList has no forward: call its modules from the model that holds it")

    def __repr__(self):
        """torch's: a run of equal entries shown once, as "(0-5): 6 x Layer(...)"."""
        runs = []                                         # [first, last, repr]
        for i, m in enumerate(self):
            text = repr(m)
            if runs and runs[-1][2] == text:
                runs[-1][1] = i
            else:
                runs.append([i, i, text])
        if not runs:
            return f"{type(self).__name__}()"
        lines = [(f"({a}): " if a == b else f"({a}-{b}): {b - a + 1} x ") + text.replace("\n", "\n  ")
                 for a, b, text in runs]
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"


class ModuleDict(Module):
    """Modules by name, in insertion order (registered, so their parameters are the model's); no forward of its
    own. ``d[name]``, ``d[name] = m``, ``del d[name]``, ``in``, ``len``, ``keys``, ``values``, ``items``,
    ``update``, ``pop`` and ``clear``, as torch's."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key):
        return self._modules[key]

    def __setitem__(self, key, module):
        self.add_module(key, _module(module, f"ModuleDict[{key!r}]"))

    def __delitem__(self, key):
        delattr(self, key)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key):
        return key in self._modules

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()

    def update(self, modules):
        """Add each (name, module) of a mapping or of an iterable of pairs."""
        pairs = modules.items() if hasattr(modules, "items") else modules
        for pair in pairs:
            name, module = pair
            self[name] = module

    def pop(self, key):
        module = self._modules[key]
        del self[key]
        return module

    def clear(self):
        for key in list(self._modules):
            del self[key]

    def forward(self, x):
        raise NotImplementedError("ModuleDict has no forward: call its modules from the model that holds it")


def _module(value, where):
    if not isinstance(value, Module):
        raise TypeError(f"{where}: {type(value).__name__} is not a minimlp Module")
    return value


def _note(exc, text):
    if hasattr(exc, "add_note"):
        exc.add_note(text)

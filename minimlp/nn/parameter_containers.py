"""ParameterList and ParameterDict: parameters held by position or by name, registered with the module that
holds the container (so ``parameters()``, ``state_dict()`` and the optimizers see them), as torch's."""
import operator

from .module import Module
from .parameter import Parameter


def _as_parameter(value):
    """A Parameter stays one; an array becomes one (torch wraps a plain tensor); None is kept as None."""
    if value is None or isinstance(value, Parameter):
        return value
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return Parameter(value)
    raise TypeError(f"cannot hold a {type(value).__name__} as a parameter (a Parameter or an array expected)")


def _describe(p):
    """torch's line for a held parameter: "Parameter containing: [float32 of size 2x3]"."""
    if p is None:
        return "None"
    return f"Parameter containing: [{p.data.dtype} of size {'x'.join(map(str, p.data.shape))}]"


class ParameterList(Module):
    """Parameters in a list, registered under "0", "1", …: indexing (slices give a ParameterList), assignment,
    ``append``, ``extend``, ``+=``, ``len`` and iteration as torch's; an array is wrapped into a Parameter."""

    def __init__(self, values=None):
        super().__init__()
        self._size = 0
        if values is not None:
            self.extend(values)

    def _index(self, index):
        index = operator.index(index)
        if not -self._size <= index < self._size:
            raise IndexError(f"index {index} is out of range")
        return index % self._size

    def __getitem__(self, index):
        if isinstance(index, slice):
            return type(self)([self[i] for i in range(self._size)[index]])
        return getattr(self, str(self._index(index)))

    def __setitem__(self, index, value):
        setattr(self, str(self._index(index)), _as_parameter(value))

    def __len__(self):
        return self._size

    def __iter__(self):
        return (self[i] for i in range(self._size))

    def __iadd__(self, values):
        return self.extend(values)

    def append(self, value):
        """Add ``value`` at the end; returns self."""
        self._size += 1
        setattr(self, str(self._size - 1), _as_parameter(value))
        return self

    def extend(self, values):
        """Append each of ``values``; returns self."""
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
            raise TypeError(f"ParameterList.extend should be called with an iterable, but got "
                            f"{type(values).__name__}")
        for value in values:
            self.append(value)
        return self

    def extra_repr(self):
        return "\n".join(f"  ({i}): {_describe(p)}" for i, p in enumerate(self))


class ParameterDict(Module):
    """Parameters by name, in insertion order: ``d[name]``, ``d[name] = p``, ``del``, ``in``, ``len``, iteration
    over the names, ``keys``, ``values``, ``items``, ``get``, ``update``, ``pop``, ``setdefault`` and ``clear`` as
    torch's; an array is wrapped into a Parameter."""

    def __init__(self, parameters=None):
        super().__init__()
        self._names = []
        if parameters is not None:
            self.update(parameters)

    def __getitem__(self, key):
        if key not in self._names:
            raise KeyError(key)
        return getattr(self, key)

    def __setitem__(self, key, value):
        if not isinstance(key, str):
            raise TypeError(f"parameter name should be a string, got {type(key).__name__}")
        if key not in self._names:
            self._names.append(key)
        setattr(self, key, _as_parameter(value))

    def __delitem__(self, key):
        self._names.remove(key)
        delattr(self, key)

    def __len__(self):
        return len(self._names)

    def __iter__(self):
        return iter(list(self._names))

    def __contains__(self, key):
        return key in self._names

    def keys(self):
        return list(self._names)

    def values(self):
        return [self[k] for k in self._names]

    def items(self):
        return [(k, self[k]) for k in self._names]

    def get(self, key, default=None):
        return self[key] if key in self else default

    def pop(self, key):
        """Remove ``key`` and return its parameter."""
        value = self[key]
        del self[key]
        return value

    def setdefault(self, key, default=None):
        if key not in self:
            self[key] = default
        return self[key]

    def clear(self):
        for key in list(self._names):
            del self[key]

    def update(self, parameters):
        """Add each (name, parameter) of a mapping or of an iterable of pairs."""
        pairs = parameters.items() if hasattr(parameters, "items") else parameters
        for pair in pairs:
            key, value = pair
            self[key] = value

    def extra_repr(self):
        return "\n".join(f"  ({k}): {_describe(p)}" for k, p in self.items())

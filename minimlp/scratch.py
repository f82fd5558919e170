"""Scratch: arrays a layer reuses from one step to the next instead of allocating them again."""
from .backend import get_array_module


class Scratch:
    """Arrays kept by name, reused while their shape, dtype and backend stay the same (no allocation in steady state).

    ``get(name, shape, like, zero=False, fill=None, dtype=None)`` returns the array ``name``, allocated (like
    ``like``: its dtype unless ``dtype`` is given, its backend) when it is missing or its shape or dtype changed;
    ``zero``/``fill`` fill it only when it is (re)allocated (for padded buffers whose border is never written).
    """

    def __init__(self):
        self._arrays = {}

    def get(self, name, shape, like, zero=False, fill=None, dtype=None):
        shape = tuple(int(s) for s in shape)
        dtype = like.dtype if dtype is None else dtype
        a = self._arrays.get(name)
        if a is None or a.shape != shape or a.dtype != dtype or type(a) is not type(like):
            a = get_array_module(like).empty(shape, dtype=dtype)
            if zero or fill is not None:
                a.fill(0 if fill is None else fill)
            self._arrays[name] = a
        return a

    def clear(self):
        self._arrays.clear()

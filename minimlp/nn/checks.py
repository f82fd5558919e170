"""Input validation shared by the layers: clear errors instead of silent wrong answers."""
import operator

from ..backend import device_of


class InputError(ValueError, RuntimeError):
    """An input the layer cannot take (its shape, its channels): a ValueError, minimlp's convention, that is also
    the RuntimeError torch raises for it, so code written for either catches it."""


class InputTypeError(TypeError, ValueError, RuntimeError):
    """An input of the wrong dtype or device: a TypeError that is also torch's RuntimeError for it (and the
    ValueError its recurrent layers raise)."""


class TargetIndexError(ValueError, IndexError):
    """A class index out of range: a ValueError that is also torch's IndexError for it."""


class ArgumentAssertionError(ValueError, AssertionError):
    """An argument torch checks with ``assert`` (Embedding's padding_idx): a ValueError that is also its
    AssertionError."""


class UnsupportedModeError(ValueError, NotImplementedError):
    """A mode torch or minimlp does not implement (Upsample's): a ValueError that is also torch's
    NotImplementedError for it."""


def whole(value, name="value"):
    """``value`` as an int (a Python or NumPy integer); TypeError for a float or anything else, as torch, which
    never truncates a size."""
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int, got {value!r} ({type(value).__name__})") from None


def pair(value, name="value"):
    """An int or a pair of ints as a tuple (a, b), as torch's ``_pair``."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
        return whole(value[0], name), whole(value[1], name)
    return whole(value, name), whole(value, name)


def single(value, name="value"):
    """An int or a 1-tuple of ints as a 1-tuple (a,), as torch's ``_single``."""
    if isinstance(value, (tuple, list)):
        if len(value) != 1:
            raise ValueError(f"{name} must be an int or a 1-tuple, got {value!r}")
        value = value[0]
    return (whole(value, name),)


def check_array(module, x, what="input"):
    """Reject what is not a NumPy or CuPy array (a torch tensor named as such, a list), naming ``what``."""
    if type(x).__module__.startswith("torch"):
        raise TypeError(f"{module!r}: the {what} is a torch {type(x).__name__}; minimlp takes NumPy or CuPy "
                        f"arrays (tensor.detach().cpu().numpy())")
    if not hasattr(getattr(x, "dtype", None), "kind") or not hasattr(x, "shape"):
        raise TypeError(f"{module!r}: expected a NumPy or CuPy array as the {what}, got {type(x).__name__}")


def check_floating(module, x, what="input"):
    """Reject non-arrays (a torch tensor named as such) and non-floating dtypes, naming the module and ``what``."""
    check_array(module, x, what)
    dtype = x.dtype
    if dtype.kind != "f":
        raise InputTypeError(f"{module!r}: expected a floating-point {what} (float32 or float64), got dtype {dtype}")


def check_image(module, x, channels, reference, unbatched=False):
    """x must be a floating (N, C, H, W) batch with C = ``channels`` (None: any), matching ``reference``; with
    ``unbatched``, one image (C, H, W) too, as torch takes it."""
    check_floating(module, x)
    if unbatched and x.ndim not in (3, 4):
        raise InputError(f"{module!r}: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input with C = {channels}, got "
                         f"a {x.ndim}-D input of shape {tuple(x.shape)}")
    if not unbatched and x.ndim != 4:
        raise InputError(f"{module!r}: expected a 4-D input (N, C, H, W) with C = {channels}, got a {x.ndim}-D "
                         f"input of shape {tuple(x.shape)} (add a batch axis with x[None] for one image)")
    if channels is not None and x.shape[-3] != channels:
        raise InputError(f"{module!r}: expected {channels} input channels, got input of shape {tuple(x.shape)} "
                         f"with {x.shape[-3]} channels")
    check_like(module, x, reference)


def with_batch_axis(x, ndim):
    """(x, False) for a batched input of ``ndim`` axes; (x[None], True) for torch's unbatched input (one axis fewer)."""
    return (x[None], True) if x.ndim == ndim - 1 else (x, False)


def check_like(module, x, reference):
    """x must have the dtype and device of ``reference`` (a parameter array; None: no check)."""
    if reference is None:
        return
    if x.dtype != reference.dtype:
        raise InputTypeError(f"{module!r}: input dtype {x.dtype} does not match the layer's {reference.dtype}; "
                        f"cast the input (x.astype(...)) or the model (model.to(dtype=...))")
    if device_of(x) != device_of(reference):
        raise InputTypeError(f"{module!r}: input is on the {device_of(x)} but the layer's parameters are on the "
                        f"{device_of(reference)}; move one of them (minimlp.backend.to_device or model.to)")


def check_grad_like(module, dout, expected_shape):
    """The upstream gradient must match the shape of the last forward's output."""
    if expected_shape is None:
        raise RuntimeError(f"{module!r}: backward called before forward")
    if isinstance(dout, (tuple, list)):
        raise TypeError(f"{module!r}: backward takes one array, the gradient of this layer's output, got a "
                        f"{type(dout).__name__} of {len(dout)} (a backward of several inputs, such as "
                        f"MultiheadAttention's (dq, dk, dv) or a loss's, returns a tuple: pass its part for this "
                        f"layer, or the sum of the parts that came from one array)")
    if type(dout).__module__.startswith("torch"):
        raise TypeError(f"{module!r}: the gradient is a torch {type(dout).__name__}; minimlp takes NumPy or CuPy "
                        f"arrays (tensor.detach().cpu().numpy())")
    if not hasattr(dout, "shape"):
        raise TypeError(f"{module!r}: backward takes an array, got {type(dout).__name__}")
    if tuple(dout.shape) != tuple(expected_shape):
        raise ValueError(f"{module!r}: backward expected a gradient of shape {tuple(expected_shape)}, got "
                         f"{tuple(dout.shape)} (the shape of its last forward's output: backward runs through each "
                         f"module's most recent forward call, so run again the forward you differentiate)")

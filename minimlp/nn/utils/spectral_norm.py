"""torch.nn.utils.spectral_norm, the older form of ``parametrizations.spectral_norm``: the parameter
``<name>_orig`` and the buffers ``<name>_u``, ``<name>_v`` sit on the module itself, and power iteration updates v
first."""
import numbers

from ...backend import get_array_module
from ...formulas.spectral_norm import normalize, to_matrix
from ...kernels import ops
from ...random import numpy_rng
from ..parameter import is_lazy
from . import parametrize


class SpectralNorm:
    """W / σ(W) from the module's parameter ``<name>_orig`` (W as a matrix, axis ``dim`` first), σ = uᵀWv with the
    buffers u, v advanced ``n_power_iterations`` times per forward in training (v ← normalize(Wᵀu), then
    u ← normalize(Wv)); backward holds u, v constant: formulas.spectral_norm."""

    recompute_on_read = False   # module.weight is the last forward's value, as torch's hook sets it

    def __init__(self, name, n_power_iterations, dim, eps):
        self.name, self.n_power_iterations, self.dim, self.eps = name, n_power_iterations, dim, eps
        self._saved = None

    def originals(self, module):
        return (getattr(module, self.name + "_orig"),)

    def compute(self, module):
        weight = getattr(module, self.name + "_orig").data
        matrix = to_matrix(weight, self.dim)
        u, v = module._buffers[self.name + "_u"], module._buffers[self.name + "_v"]
        if module.training:
            ops.spectral_norm.run("power_iteration_v_first", matrix, u, v, self.n_power_iterations, self.eps)
        u, v = u.copy(), v.copy()
        as_matrix = weight if weight.ndim > 1 else weight[:, None]   # a vector is a one-column matrix here
        out, sigma = ops.spectral_norm.run("forward", as_matrix, u, v, 0 if weight.ndim == 1 else self.dim,
                                           self.eps)
        self._saved = (as_matrix, u, v, sigma)
        return out.reshape(weight.shape)

    def carry(self, module, grad):
        (original,) = self.originals(module)
        if original.requires_grad:
            as_matrix = self._saved[0]
            dim = 0 if original.data.ndim == 1 else self.dim
            d = ops.spectral_norm.run("backward", grad.reshape(as_matrix.shape), *self._saved, dim, self.eps)
            original.accumulate(d.reshape(original.data.shape))


def spectral_norm(module, name="weight", n_power_iterations=1, eps=1e-12, dim=None):
    """W / σ(W) for ``module``'s parameter ``name`` as torch's older hook: the parameter ``<name>_orig`` (the same
    Parameter object) and the buffers ``<name>_u``, ``<name>_v`` (drawn from minimlp's generator, normalised);
    ``dim`` None: 1 for a transposed convolution, else 0. Returns ``module``."""
    computed = module.__dict__.get("_computed", {})
    if isinstance(computed.get(name, (None,))[0], SpectralNorm):
        raise RuntimeError(f"Cannot register two spectral_norm hooks on the same parameter {name}")
    weight = module._parameters.get(name)
    if weight is None:
        raise ValueError(f"`SpectralNorm` cannot be applied as parameter `{name}` is None")
    if is_lazy(weight):
        raise ValueError("The module passed to `SpectralNorm` can't have uninitialized parameters. Make sure to run "
                         "the dummy forward before applying spectral normalization")
    if not isinstance(n_power_iterations, numbers.Integral) or n_power_iterations <= 0:
        raise ValueError(f"Expected n_power_iterations to be positive, but got "
                         f"n_power_iterations={n_power_iterations}")
    if dim is None:
        dim = 1 if type(module).__name__.startswith("ConvTranspose") else 0
    hook = SpectralNorm(name, int(n_power_iterations), dim % max(weight.data.ndim, 1), eps)
    h, w = to_matrix(weight.data, hook.dim).shape if weight.data.ndim > 1 else (weight.data.shape[0], 1)
    xp = get_array_module(weight.data)
    u, v = (normalize(xp.asarray(numpy_rng().standard_normal(n), weight.data.dtype), eps) for n in (h, w))
    delattr(module, name)
    setattr(module, name + "_orig", weight)
    module.register_buffer(name + "_u", u)
    module.register_buffer(name + "_v", v)
    parametrize.attach_computed(module, name, hook, parametrize.type_before_parametrizations(module).__name__,
                                initial=weight.data)   # torch's: weight_orig's own array until the first forward
    return module


def remove_spectral_norm(module, name="weight"):
    """The parameter ``name`` back (the ``<name>_orig`` Parameter holding the current W/σ), its buffers gone.
    Returns ``module``."""
    hook = module.__dict__.get("_computed", {}).get(name, (None,))[0]
    if not isinstance(hook, SpectralNorm):
        raise ValueError(f"spectral_norm of '{name}' not found in {module}")
    original = getattr(module, name + "_orig")
    was_training = module.training
    module.training = False          # the value without another power iteration, as torch's remove
    original.data[...] = parametrize.refresh(module, name).data
    module.training = was_training
    for attribute in (name + "_orig", name + "_u", name + "_v"):
        delattr(module, attribute)
    parametrize.detach_computed(module, name)
    setattr(module, name, original)
    return module



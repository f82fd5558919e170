"""torch.nn.utils.weight_norm (deprecated in torch for ``parametrizations.weight_norm``): the older form, whose
parameters ``weight_g`` and ``weight_v`` sit on the module itself."""
import warnings

from ...formulas.weight_norm import check_dim, norm_except_dim
from ...kernels import ops
from ..parameter import Parameter, is_lazy
from . import parametrize


class WeightNorm:
    """w = g · v/‖v‖ from the module's parameters ``<name>_g`` and ``<name>_v`` (formulas.weight_norm), computed
    at each forward; backward adds ∂L/∂g and ∂L/∂v."""

    recompute_on_read = False   # module.weight is the last forward's value, as torch's hook sets it

    def __init__(self, name, dim):
        self.name, self.dim = name, -1 if dim is None else dim
        self._saved = None

    def originals(self, module):
        return getattr(module, self.name + "_g"), getattr(module, self.name + "_v")

    def compute(self, module):
        g, v = (p.data for p in self.originals(module))
        weight, norm = ops.weight_norm.run("forward", g, v, self.dim)
        self._saved = (g, v, norm)
        return weight

    def carry(self, module, grad):
        for p, d in zip(self.originals(module), ops.weight_norm.run("backward", grad, *self._saved, self.dim)):
            if p.requires_grad:
                p.accumulate(d)


def weight_norm(module, name="weight", dim=0):
    """w = g · v/‖v‖ for ``module``'s parameter ``name``, as the parameters ``<name>_g`` (‖w‖ over every axis but
    ``dim``; None: the whole array) and ``<name>_v`` of the module, torch's older hook and its FutureWarning.
    Returns ``module``."""
    warnings.warn("`torch.nn.utils.weight_norm` is deprecated in favor of "
                  "`torch.nn.utils.parametrizations.weight_norm`.", FutureWarning, stacklevel=2)
    computed = module.__dict__.get("_computed", {})
    if isinstance(computed.get(name, (None,))[0], WeightNorm):
        raise RuntimeError(f"Cannot register two weight_norm hooks on the same parameter {name}")
    weight = module._parameters.get(name)
    if weight is None:
        raise ValueError(f"Module '{module}' has no parameter named '{name}'")
    if is_lazy(weight):
        raise ValueError("The module passed to `WeightNorm` can't have uninitialized parameters. Make sure to run "
                         "the dummy forward before applying weight normalization")
    check_dim(weight.data.ndim, dim)
    hook = WeightNorm(name, dim)
    delattr(module, name)
    setattr(module, name + "_g", Parameter(norm_except_dim(weight.data, hook.dim), weight.requires_grad))
    setattr(module, name + "_v", Parameter(weight.data, weight.requires_grad))
    parametrize.attach_computed(module, name, hook, parametrize.type_before_parametrizations(module).__name__)
    return module


def remove_weight_norm(module, name="weight"):
    """The parameter ``name`` back, with its current value; ``<name>_g`` and ``<name>_v`` gone. Returns ``module``."""
    hook = module.__dict__.get("_computed", {}).get(name, (None,))[0]
    if not isinstance(hook, WeightNorm):
        raise ValueError(f"weight_norm of '{name}' not found in {module}")
    weight = parametrize.refresh(module, name).data.copy()
    delattr(module, name + "_g")
    delattr(module, name + "_v")
    parametrize.detach_computed(module, name)
    setattr(module, name, Parameter(weight))
    return module

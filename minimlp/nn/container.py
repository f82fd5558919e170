"""Sequential: modules applied one after another."""
from .module import Module


class Sequential(Module):
    """y = fₖ(…f₂(f₁(x))); backward runs the modules' backward passes in reverse.

    ``backward(dout)`` returns ∂L/∂x; ``backward(dout, input_grad=False)``
    (the same as ``backward_parameters``) runs the first module's
    ``backward_parameters`` instead and returns None, skipping the work only
    ∂L/∂x needs (for a first Linear, a matrix product).

    Children are named "0", "1", … so that ``state_dict`` keys match torch's
    ``nn.Sequential`` ("0.weight", "1.running_mean", …).
    """

    def __init__(self, *modules):
        super().__init__()
        for i, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError(f"Sequential: argument {i} is a {type(m).__name__}, not a minimlp Module")
            setattr(self, str(i), m)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, index):
        modules = list(self._modules.values())
        if isinstance(index, slice):
            return Sequential(*modules[index])
        return modules[index]

    def append(self, module):
        setattr(self, str(len(self)), module)
        return self

    def forward(self, x):
        for i, m in enumerate(self._modules.values()):
            try:
                x = m.forward(x)
            except (ValueError, TypeError) as exc:
                _note(exc, f"(in layer {i} of the Sequential: {m!r})")
                raise
        return x

    def backward(self, dout, input_grad=True):
        modules = list(self._modules.values())
        for i in range(len(modules) - 1, -1, -1):
            try:
                if i == 0 and not input_grad:
                    modules[0].backward_parameters(dout)
                    return None
                dout = modules[i].backward(dout)
            except (ValueError, TypeError, RuntimeError) as exc:
                _note(exc, f"(in the backward of layer {i} of the Sequential: {modules[i]!r})")
                raise
        return dout if input_grad else None

    def backward_parameters(self, dout):
        self.backward(dout, input_grad=False)


def _note(exc, text):
    if hasattr(exc, "add_note"):
        exc.add_note(text)

"""Sequential: modules applied one after another."""
from .module import Module


class Sequential(Module):
    """y = fₖ(…f₂(f₁(x))); backward runs the modules' backward passes in reverse.

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

    def backward(self, dout):
        modules = list(self._modules.values())
        for i in range(len(modules) - 1, -1, -1):
            try:
                dout = modules[i].backward(dout)
            except (ValueError, TypeError, RuntimeError) as exc:
                _note(exc, f"(in the backward of layer {i} of the Sequential: {modules[i]!r})")
                raise
        return dout


def _note(exc, text):
    if hasattr(exc, "add_note"):
        exc.add_note(text)

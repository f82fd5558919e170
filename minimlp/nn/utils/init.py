"""torch.nn.utils.init's name: ``skip_init``, a module built without its initialisation."""
import inspect

from ..module import Module


def _skip(*args, **kwargs):
    """Stands in for ``reset_parameters`` while ``skip_init`` builds a module."""


def skip_init(module_cls, *args, **kwargs):
    """``module_cls(*args, **kwargs)`` with its parameters and buffers left uninitialised: the arrays are
    allocated (``np.empty``: any values) but ``reset_parameters`` is not run, so no random numbers are drawn
    (minimlp's generator is left where it was) and no time is spent filling what will be overwritten (a
    checkpoint loaded, a custom initialisation). ``device=`` places the module there.

    torch builds on its "meta" device and so needs classes that take ``device``; minimlp has no meta device and
    skips the ``reset_parameters`` call of the constructor instead, so any minimlp Module class qualifies
    (``device`` is passed on where the class takes it, else the module is moved with ``to``). What a
    constructor fills outside ``reset_parameters`` (BatchNorm's γ = 1, its running statistics) keeps its values,
    which are as good as any for an uninitialised module. A class that is not a Module: torch's RuntimeError.
    """
    if not (isinstance(module_cls, type) and issubclass(module_cls, Module)):
        raise RuntimeError(f"Expected a Module; got {module_cls}")
    device = None
    if "device" not in inspect.signature(module_cls).parameters:
        device = kwargs.pop("device", None)
    module = module_cls.__new__(module_cls)
    object.__setattr__(module, "reset_parameters", _skip)   # the instance's, found before the class's
    try:
        module.__init__(*args, **kwargs)
    finally:
        module.__dict__.pop("reset_parameters", None)
    if device is not None:
        module.to(device=device)
    return module


__all__ = ["skip_init"]

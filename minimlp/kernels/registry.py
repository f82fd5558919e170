"""The selector: each op's formula and the kernels registered beside it, and the one place that picks.

An ``Op`` has roles (``forward``, ``backward``, ``update``, …), each a function of its formula; a kernel
implements some of them ("module:function" under ``minimlp.kernels``, imported at first use).
``pick(role, *args, **context)`` returns the first kernel chosen for these arguments, else the formula; a
layer whose backward must be its forward's twin keeps what its forward picked. ``use(...)`` forces an
implementation wherever it can take the inputs; ``record()`` collects every pick.
"""
import contextlib
import contextvars
import functools
import importlib
import importlib.util

from .. import settings

FORMULA = "formula"
_forced = contextvars.ContextVar("minimlp_forced_kernels", default=None)
_log = contextvars.ContextVar("minimlp_kernel_log", default=None)


@functools.lru_cache(maxsize=None)
def numba_installed():
    """Whether Numba can be imported (looked up, not imported)."""
    return importlib.util.find_spec("numba") is not None


class Implementation:
    """One implementation of an op: its name and its functions by role (``impl.forward(...)``)."""

    def __init__(self, op, name, roles, needs=None, when=None, compiled=False):
        self.op, self.name, self.needs, self.when, self.compiled = op, name, needs, when, compiled
        self._roles = dict(roles)

    def takes(self, args, context):
        """Whether this kernel can run on these arguments (asked even where it is forced)."""
        return self.needs is None or self.needs(*args, **context)

    def chosen_for(self, args, context):
        """Whether the selector takes it: it can run, it is the better choice here, and if it is compiled
        code, compiled kernels are on (``MINIMLP_CPU_KERNELS``, Numba installed)."""
        return ((not self.compiled or (settings.cpu_kernels() == "numba" and numba_installed()))
                and (self.when is None or self.when(*args, **context)) and self.takes(args, context))

    def provides(self, role):
        return role in self._roles

    def __getattr__(self, role):
        roles = self.__dict__.get("_roles", {})
        if role not in roles:
            raise AttributeError(f"{self!r} has no {role!r}")
        target = roles[role]
        if isinstance(target, str):   # "cpu.linear:forward", imported at first use
            module, _, function = target.partition(":")
            target = roles[role] = getattr(importlib.import_module(f"minimlp.kernels.{module}"), function)
        return target

    def __repr__(self):   # from __dict__: a copy being unpickled has no attributes yet (__getattr__ would recurse)
        return f"<{self.__dict__.get('op')} implementation {self.__dict__.get('name')!r}>"


class Op:
    """An operation: its formula, then its kernels in the order they are tried."""

    def __init__(self, name, **formula):
        self.name = name
        self.formula = Implementation(name, FORMULA, formula)
        self.kernels = []

    def register(self, name, needs=None, when=None, compiled=False, **roles):
        """Register kernel ``name`` for ``roles`` (role="module:function"); see ``Implementation.chosen_for``.

        ``needs(*args, **context)``: what it cannot run without (NumPy arrays, say); ``when(*args, **context)``:
        where it is the better choice (the mode, the sizes); ``compiled``: Numba code.
        """
        unknown = set(roles) - set(self.formula._roles)
        if unknown or name == FORMULA or any(k.name == name for k in self.kernels):
            raise ValueError(f"{self.name}: cannot register {name!r} for roles {sorted(roles)}")
        self.kernels.append(Implementation(self.name, name, roles, needs, when, compiled))

    def implementations(self):
        return [self.formula] + self.kernels

    def named(self, name):
        found = {impl.name: impl for impl in self.implementations()}
        if name not in found:
            raise KeyError(f"{self.name} has no implementation {name!r}; it has {list(found)}")
        return found[name]

    def pick(self, role, *args, **context):
        """The implementation of ``role`` for these arguments: forced, else the first kernel that applies."""
        chosen, forced = None, _forced.get() or {}
        names = [forced[key] for key in (self.name, "*") if key in forced]
        impl = self.named(names[0]) if self.name in forced else next(
            (i for i in self.implementations() if names and i.name == names[0]), None)
        if impl is not None and impl.provides(role) and impl.takes(args, context):
            chosen = impl
        if chosen is None:
            chosen = self._first_kernel(role, args, context) or self.formula
        log = _log.get()
        if log is not None:
            log.append((self.name, role, chosen.name))
        return chosen

    def has_kernel(self, role, *args, **context):
        """Whether a kernel (not the formula) would be picked for ``role`` on these arguments, unforced."""
        return self._first_kernel(role, args, context) is not None

    def _first_kernel(self, role, args, context):
        """The first registered kernel the selector takes for ``role`` here, or None."""
        return next((k for k in self.kernels if k.provides(role) and k.chosen_for(args, context)), None)

    def run(self, role, *args, **context):
        """``pick(role, ...)`` then call it with ``args`` (``context`` only informs the pick)."""
        return getattr(self.pick(role, *args, **context), role)(*args)

    def run_on_saved(self, impl, role, saved, *args):
        """``role`` on the values ``saved`` by ``impl``'s forward: by ``impl`` itself where it is a kernel with
        that role (what a kernel saves may be its own), else by ``run`` (what the formula saves, every
        implementation reads)."""
        if impl is not self.formula and impl.provides(role):
            return getattr(impl, role)(saved, *args)
        return self.run(role, saved, *args)

    def __repr__(self):
        return f"Op({self.name!r}: {', '.join(i.name for i in self.implementations())})"


@contextlib.contextmanager
def use(everywhere=None, **per_op):
    """Force implementations inside the block: ``use("formula")`` for every op, ``use(linear="cpu-split")`` for one."""
    table = dict(_forced.get() or {})
    if everywhere is not None:
        table["*"] = everywhere
    table.update(per_op)
    token = _forced.set(table)
    try:
        yield
    finally:
        _forced.reset(token)


@contextlib.contextmanager
def record():
    """Collect (op, role, implementation) for every pick inside the block, in a list yielded to the caller."""
    log = []
    token = _log.set(log)
    try:
        yield log
    finally:
        _log.reset(token)

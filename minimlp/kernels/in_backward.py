"""Updates taken inside backward: what ``Optimizer.step_in_backward()`` offers the kernels for one block.

For the length of the block the optimizer lists, per parameter, a ``PendingUpdate``: the name of its
update rule and a function returning the update's arguments (counting the step). A kernel that computes
that parameter's gradient may apply the update on the spot (``kernels.cpu.linear_adam``) and mark it done;
the optimizer steps the others when the block ends. Parameters carry nothing of this: the table is the
optimizer's, held here for the block (as torch's post-accumulate-grad hooks are registered and removed).
"""
import contextlib
import contextvars

_table = contextvars.ContextVar("minimlp_updates_in_backward", default=None)


class PendingUpdate:
    """One parameter's optimizer step, offered to the kernel that computes its gradient; applied at most once.

    ``rule``: the op whose ``update`` it is ("adam"); ``arguments()``: counts the step and returns the update's
    arguments after the parameter and its gradient (state arrays, then hyper-parameters by name).
    """

    __slots__ = ("rule", "arguments", "done")

    def __init__(self, rule, arguments):
        self.rule, self.arguments, self.done = rule, arguments, False


@contextlib.contextmanager
def offered(updates):
    """Offer ``updates`` ({id(parameter): PendingUpdate}) to the kernels inside the block."""
    token = _table.set(updates)
    try:
        yield
    finally:
        _table.reset(token)


def pending(parameter):
    """The update offered for ``parameter``, or None; an error if it was already applied in this block."""
    table = _table.get()
    update = None if table is None else table.get(id(parameter))
    if update is not None and update.done:
        raise RuntimeError(
            "a weight was already updated inside this Optimizer.step_in_backward() block, and a second backward "
            "through it (a weight shared between layers, or two backward calls in one block) would use the updated "
            "weight; call backward() then optimizer.step() instead")
    return update

"""Fast implementations of the ops in ``minimlp.formulas``, and the one place that picks between them.

``ops`` lists every op and its kernels (``cpu/``, ``gpu/``), one line each with its condition; ``registry`` is
the selector, with ``use(...)`` to force an implementation and ``record()`` to list what ran. A kernel takes
its formula's arguments and is tested against it (tests/test_kernels.py; notes in docs/kernels.md).
"""
from . import ops
from .registry import record, use

__all__ = ["ops", "use", "record"]

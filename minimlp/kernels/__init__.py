"""Fast implementations of the ops in ``minimlp.formulas``, and the one place that picks between them.

- ``ops``: every op, its formula and its kernels, one ``register`` line each with its condition;
- ``registry``: ``Op`` and the selector; ``use(...)`` forces implementations (for tests and for reading),
  ``record()`` lists what ran;
- ``cpu/``: Numba loops, the BLAS products split over minimlp's threads, the convolutions image by image,
  the optimizers' one-pass updates, Linear's backward with Adam's step inside;
- ``gpu/``: CuPy kernels (the optimizers' element-wise updates, Linear's backward into the gradients);
- ``in_backward``: what ``Optimizer.step_in_backward()`` offers the kernels.

A kernel takes the same arguments as its formula and is tested against it (tests/test_kernels.py).
"""
from . import ops
from .registry import record, use

__all__ = ["ops", "use", "record"]

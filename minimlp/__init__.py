"""minimlp: a small neural-network library on NumPy/CuPy with hand-written backward passes."""
from . import allocator, backend, nn, optim, threads
from .backend import (
    DeviceError,
    get_float32_matmul_precision,
    gpu_available,
    resolve_device,
    set_float32_matmul_precision,
)
from .gradcheck import GradcheckError, gradcheck
from .interop import from_torch_state_dict, to_torch_state_dict
from .random import get_rng_state, manual_seed, set_rng_state
from .serialization import load, save

__version__ = "0.1.0"

__all__ = ["nn", "optim", "backend", "manual_seed", "get_rng_state", "set_rng_state", "save", "load", "gradcheck",
           "GradcheckError", "DeviceError", "gpu_available", "resolve_device", "from_torch_state_dict",
           "to_torch_state_dict", "threads", "allocator", "get_float32_matmul_precision",
           "set_float32_matmul_precision"]

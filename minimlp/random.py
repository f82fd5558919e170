"""Seeding: one generator per backend, seeded together by ``manual_seed``.

Initialisation always draws on the CPU (NumPy's PCG64), so a seed gives the
same initial weights on both backends; Dropout draws its masks on the device
holding the data.
"""
import numpy as np

_state = {"seed": None, "numpy": np.random.default_rng(), "cupy": None}


def manual_seed(seed):
    """Seed minimlp's generators (initialisation, dropout, shuffling defaults); returns the seed. A negative seed
    counts as its 64-bit two's complement, as torch's; one outside [−2⁶³, 2⁶⁴) is refused, as torch."""
    seed = int(seed)
    if not -(1 << 63) <= seed < (1 << 64):
        raise ValueError(f"Overflow when unpacking long long: seed {seed} is outside [-2**63, 2**64)")
    seed &= (1 << 64) - 1
    _state["seed"] = seed
    _state["numpy"] = np.random.default_rng(seed)
    _state["cupy"] = None
    return seed


def numpy_rng():
    """The NumPy Generator used for initialisation and CPU dropout masks."""
    return _state["numpy"]


def rng_for(xp):
    """The generator for array module ``xp`` (NumPy or CuPy)."""
    if xp is np:
        return _state["numpy"]
    if _state["cupy"] is None:
        seed = _state["seed"] if _state["seed"] is not None else int(_state["numpy"].integers(2**63))
        _state["cupy"] = xp.random.default_rng(seed)
    return _state["cupy"]


def get_rng_state():
    """A picklable snapshot of the CPU generator (for checkpoints)."""
    return {"seed": _state["seed"], "numpy": _state["numpy"].bit_generator.state}


def set_rng_state(state):
    """Restore a snapshot taken by ``get_rng_state``."""
    rng = np.random.default_rng()
    rng.bit_generator.state = state["numpy"]
    _state["numpy"] = rng
    _state["seed"] = state.get("seed")
    _state["cupy"] = None

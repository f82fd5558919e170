"""Seeding: one generator per backend, seeded together by ``manual_seed``.

Initialisation always draws on the CPU (NumPy's PCG64), so a seed gives the
same initial weights on both backends; Dropout draws its masks on the device
holding the data. CuPy's generator state cannot be saved (its API has no
state to read or set), so ``minimlp.train.fit`` starts it afresh at each epoch
from the seed and the epoch number (``start_epoch``): a run resumed from a
checkpoint draws the same GPU masks as one never interrupted.
"""
import numpy as np

_state = {"seed": None, "numpy": np.random.default_rng(), "cupy": None, "device_seed": None, "epoch": None}


def manual_seed(seed):
    """Seed minimlp's generators (initialisation, dropout, shuffling defaults); returns the seed. A negative seed
    counts as its 64-bit two's complement, as torch's; one outside [−2⁶³, 2⁶⁴) is refused, as torch."""
    seed = int(seed)
    if not -(1 << 63) <= seed < (1 << 64):
        raise ValueError(f"Overflow when unpacking long long: seed {seed} is outside [-2**63, 2**64)")
    seed &= (1 << 64) - 1
    _state["seed"] = seed
    _state["numpy"] = np.random.default_rng(seed)
    _state["cupy"] = _state["device_seed"] = _state["epoch"] = None
    return seed


def numpy_rng():
    """The NumPy Generator used for initialisation and CPU dropout masks."""
    return _state["numpy"]


def rng_for(xp):
    """The generator for array module ``xp`` (NumPy or CuPy)."""
    if xp is np:
        return _state["numpy"]
    if _state["cupy"] is None:
        if _state["seed"] is None and _state["device_seed"] is None:
            _state["device_seed"] = int(_state["numpy"].integers(2**63))
        seed = _state["seed"] if _state["seed"] is not None else _state["device_seed"]
        if _state["epoch"] is not None:
            seed = int(np.random.SeedSequence([seed, _state["epoch"]]).generate_state(1, np.uint64)[0])
        _state["cupy"] = xp.random.default_rng(seed)
    return _state["cupy"]


def start_epoch(epoch):
    """From here the GPU generator is the one of epoch ``epoch``: seeded by (seed, epoch), created at its first
    use. The CPU generator is untouched (its state is in every checkpoint)."""
    _state["epoch"] = int(epoch)
    _state["cupy"] = None


def get_rng_state():
    """A picklable snapshot for checkpoints: the CPU generator, and the seeds the GPU generator starts from."""
    return {"seed": _state["seed"], "numpy": _state["numpy"].bit_generator.state,
            "device_seed": _state["device_seed"]}


def set_rng_state(state):
    """Restore a snapshot taken by ``get_rng_state``."""
    rng = np.random.default_rng()
    rng.bit_generator.state = state["numpy"]
    _state["numpy"] = rng
    _state["seed"] = state.get("seed")
    _state["device_seed"] = state.get("device_seed")
    _state["cupy"] = _state["epoch"] = None

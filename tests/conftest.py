"""Shared test options: ``--device gpu`` runs the device-aware tests on CuPy; ``--device fake-gpu`` runs them on
``tests/fake_cupy`` (NumPy with CuPy's rules: the GPU paths, no GPU needed)."""
import os

import pytest

from minimlp import backend
from torch_reference import WORST_RELATIVE_ERROR


def pytest_addoption(parser):
    parser.addoption("--device", default=os.environ.get("MINIMLP_TEST_DEVICE", "cpu"),
                     choices=["cpu", "gpu", "fake-gpu"],
                     help="backend for device-aware tests (default cpu; gpu needs CuPy and a GPU; fake-gpu runs the "
                          "GPU paths on tests/fake_cupy)")


def pytest_configure(config):
    if config.getoption("--device") == "fake-gpu":
        import fake_cupy
        fake_cupy.install()
    config.addinivalue_line("markers", "device: a device-aware test (takes the device or xp fixture)")


def pytest_collection_modifyitems(config, items):
    """Mark the device-aware tests, so that ``-m device --device gpu`` runs just those on the GPU; on the CPU,
    leave out the runs that force a GPU kernel (it cannot take NumPy arrays: they would repeat the default run)."""
    kept, dropped = [], []
    for item in items:
        if {"device", "xp"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.device)
        forced = getattr(getattr(item, "callspec", None), "params", {}).get("implementation", "")
        (dropped if forced.startswith("gpu-") and config.getoption("--device") == "cpu" else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture
def split_products():
    """The CPU's split products (NumPy's OpenBLAS gemm called from minimlp's pool). They exist wherever NumPy
    ships OpenBLAS (its wheels, and so CI): there a missing gemm fails; elsewhere the test is skipped, saying so."""
    import numpy as np
    from threadpoolctl import threadpool_info
    from minimlp.kernels.cpu import blas
    openblas = any(d["user_api"] == "blas" and d["internal_api"] == "openblas" and "numpy" in d["filepath"]
                   for d in threadpool_info())
    found = blas.gemm_address(np.float32) is not None and blas.gemm_address(np.float64) is not None
    assert found == openblas, "NumPy's OpenBLAS is loaded but its cblas_?gemm was not found"
    if not found:
        pytest.skip("NumPy's BLAS is not OpenBLAS: numpy.matmul runs instead of the split products")


def _layer_implementations():
    """The formula and every layer kernel's name in the registry (the in-backward update needs an optimizer)."""
    from minimlp.kernels import ops
    names = {impl.name for op in ops.ALL if not op.formula.provides("update") for impl in op.kernels}
    return ["formula"] + sorted(names - {"cpu-adam-in-backward"})


@pytest.fixture(params=_layer_implementations())
def implementation(request):
    """Run the test once per registered implementation, forced wherever it can take the inputs (as Chainer
    injects backends); the ops without it pick as usual."""
    from minimlp import kernels
    with kernels.use(request.param):
        yield request.param


@pytest.fixture
def device(request):
    name = request.config.getoption("--device")
    if name == "fake-gpu":
        return "gpu"
    if name == "gpu" and not backend.gpu_available():
        pytest.skip(f"--device gpu asked for, but {backend.gpu_unavailable_reason()}")
    return name


@pytest.fixture
def xp(device):
    return backend.xp_for(device)


def pytest_terminal_summary(terminalreporter):
    if WORST_RELATIVE_ERROR["where"]:
        terminalreporter.write_line(
            f"minimlp: worst relative error against torch in this run: {WORST_RELATIVE_ERROR['value']:.3g} "
            f"({WORST_RELATIVE_ERROR['where']})")

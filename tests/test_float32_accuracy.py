"""float32 gradients of the chroma network at batch 1000 are as accurate as torch's float32 (issues 18 and 19).

Against float64 with the same ReLU activation pattern, minimlp's error is below 1e-5 (its BatchNorm sums
accumulate in float64: measured 1.4-4e-6, torch's float32 1.5-2.2e-5) and within 10x of torch's, on the compiled
kernels and on the readable NumPy code. The plain comparison can show errors of a few percent in one weight row
where a pre-activation lies within float32 rounding of 0 and falls on the other side of ReLU's kink than in
float64; torch's float32 shows the same (benchmarks/float32_accuracy.py prints the table).
"""
import importlib.util
import os

import pytest

pytest.importorskip("torch")

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location(
    "float32_accuracy", os.path.join(HERE, "..", "benchmarks", "float32_accuracy.py"))
accuracy = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(accuracy)


@pytest.mark.parametrize("kernels", ["numba", "numpy"])
def test_chroma_network_gradients_at_batch_1000(kernels, monkeypatch):
    monkeypatch.setenv("MINIMLP_CPU_KERNELS", kernels)
    result = accuracy.gradient_errors(seed=0, batch=1000)
    ours, torch32 = result["minimlp"], result["torch"]
    assert ours["same_mask"][0] <= 1e-5, result
    assert ours["same_mask"][0] <= 10 * torch32["same_mask"][0], result

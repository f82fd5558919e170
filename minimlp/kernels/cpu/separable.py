"""The separable maps' backward (adaptive average pooling, nearest and bilinear resampling) in training, on one
BLAS thread: ``formulas.resample``'s two products, unchanged. Their products are small, and NumPy's OpenBLAS,
run on two threads, leaves its second thread spinning for a while after each call, on the core the next
compiled layer's threads need: a global average pooling before a 1x1 convolution made that convolution 10x
slower (4.9 instead of 0.3 ms at batch 64, 2-core AMD EPYC)."""
from ...formulas import resample as formula
from .blas import one_blas_thread


def separable_map_backward(g, a_h, a_w):
    with one_blas_thread():
        return formula.separable_map_backward(g, a_h, a_w)

"""Every op, its formula, and each kernel registered for it with the condition under which it runs.

A ``register`` line reads: kernel NAME needs this (asked even when forced), is chosen when that (the mode,
the sizes), is or is not compiled code, and implements these roles. Kernels are tried in order; the formula
runs where none is chosen, on any backend. A kernel is imported when it first runs, so evaluation, which
takes no compiled kernel, never waits for Numba. A new kernel: a file in ``kernels/cpu`` (or ``gpu``) with
its formula's arguments, and one line here.
"""
import numpy as np

from .. import formulas as f
from . import in_backward
from .cpu import blas
from .registry import Op

WINOGRAD_MIN_CHANNELS = 16
GPU_POOL_MAX_WINDOW = 64
WINOGRAD_MAX_IMAGE = 1 << 24  # 64 MB of float32 buffers per thread: 128x128 images of 64 channels in and out


def numpy_float(x, *args, **context):
    """NumPy float32/float64 data."""
    return type(x) is np.ndarray and (x.dtype == np.float32 or x.dtype == np.float64)


def numpy_gemm(x, *args, **context):
    """``numpy_float``, and NumPy's OpenBLAS gemm found (the kernel calls it)."""
    return numpy_float(x) and blas.gemm_address(x.dtype) is not None


def conv_gemm(x, weight, bias, geometry, *args, **context):
    """``numpy_gemm``, and zeros or reflect padding (the compiled gather's two modes)."""
    return geometry.padding_mode in ("zeros", "reflect") and numpy_gemm(x)


def with_affine(x, weight, *args, **context):
    """``numpy_float``, and BatchNorm's γ and β (applied in the same pass)."""
    return weight is not None and numpy_float(x)


def matrix(prediction, *args, **context):
    """``numpy_float`` and 2-d (rows)."""
    return prediction.ndim == 2 and numpy_float(prediction)


def flat(x, *args, **context):
    """``numpy_float`` and C-contiguous (the loops run on flat views)."""
    return numpy_float(x) and x.flags.c_contiguous


def flat_pair(g, y, *args, **context):
    """``flat`` G, and the output the forward kept alike."""
    return flat(g) and y.dtype == g.dtype and y.flags.c_contiguous


def adam_offered(g, x, weight, *args, **context):
    """Inside ``Optimizer.step_in_backward()``, an Adam update offered for this weight, on a call the kernel fits."""
    update = in_backward.pending(weight) if numpy_float(g) else None
    if update is None or update.rule != "adam":
        return False
    from .cpu import linear_adam
    return linear_adam.fits(g, x, weight)


def winograd_fits(x, weight, bias, geometry, *args, **context):
    """``numpy_gemm``, and a convolution Winograd F(2x2, 3x3) computes (3x3, stride 1, one group, zero padding)."""
    return f.winograd.takes(geometry) and numpy_gemm(x)


def winograd_wins(x, weight, *args, training=True, **context):
    """Training, with 16 or more input and output channels (fewer: the 16 products are too small to gain), on
    images whose transformed tiles fit ``WINOGRAD_MAX_IMAGE`` elements (a run holds at least one image)."""
    tiles = -(-x.shape[2] // 2) * -(-x.shape[3] // 2)
    return (training and min(x.shape[1], weight.shape[0]) >= WINOGRAD_MIN_CHANNELS
            and 16 * (x.shape[1] + weight.shape[0]) * tiles <= WINOGRAD_MAX_IMAGE)


def flat_saved(g, saved, *args, **context):
    """``flat`` G, and the x̂ the forward kept alike (a normalisation's backward)."""
    return flat_pair(g, saved[0])


def exact_gelu(x, approximate, *args, **context):
    """``flat``, and GELU's exact form (erf; the tanh form stays the formula's)."""
    return approximate == "none" and flat(x)


def exact_gelu_pair(g, x, approximate, *args, **context):
    """``flat_pair``, and GELU's exact form."""
    return approximate == "none" and flat_pair(g, x)


def last_axis_pair(g, y, dim, *args, **context):
    """``flat_pair``, along the last axis (the kernel's rows)."""
    return dim == g.ndim - 1 and flat_pair(g, y)


def training(*args, training=True, **context):
    return training


def evaluation(*args, training=True, **context):
    return not training


def on_gpu(x, *args, **context):
    """A CuPy array."""
    return type(x).__module__.startswith("cupy")


def gpu_pair(x, y=None, *args, **context):
    """``on_gpu``, and for a backward (G, the kept output) both of one dtype (one kernel type)."""
    return on_gpu(x) and (y is None or getattr(y, "dtype", None) == x.dtype)


def gpu_prediction_target(prediction, target=None, *args, **context):
    """A loss's prediction and target, CuPy arrays of one dtype (never the difference a formula kept: a kernel
    whose backward reads what its own forward saved is picked for the forward only)."""
    return on_gpu(prediction) and on_gpu(target) and target.dtype == prediction.dtype


def gpu_with_affine(x, weight, *args, **context):
    """``on_gpu``, and BatchNorm's γ (the fused passes apply γ and β)."""
    return weight is not None and on_gpu(x)


def gpu_pool_window(x, geometry, *args, **context):
    """``on_gpu``, and a window of at most ``GPU_POOL_MAX_WINDOW`` offsets (the kernel unrolls them)."""
    return on_gpu(x) and geometry.kernel[0] * geometry.kernel[1] <= GPU_POOL_MAX_WINDOW


linear = Op("linear", forward=f.linear.forward, backward=f.linear.backward)
linear.register("cpu-adam-in-backward", adam_offered, compiled=True, backward="cpu.linear_adam:backward")
linear.register("cpu-split", numpy_gemm, training, compiled=True, forward="cpu.linear:forward",
                backward="cpu.linear:backward")
linear.register("cpu-blas", numpy_float, evaluation, forward="cpu.linear:forward_plain")
linear.register("gpu-cublas", when=on_gpu, backward="gpu.linear:backward")

sigmoid = Op("sigmoid", forward=f.activation.sigmoid, backward=f.activation.sigmoid_backward)
sigmoid.register("cpu-compiled", flat_pair, compiled=True, backward="cpu.elementwise:sigmoid_backward")
sigmoid.register("gpu-fused", gpu_pair, forward="gpu.elementwise:sigmoid", backward="gpu.elementwise:sigmoid_backward")
tanh = Op("tanh", forward=f.activation.tanh, backward=f.activation.tanh_backward)
tanh.register("cpu-compiled", flat_pair, compiled=True, backward="cpu.elementwise:tanh_backward")
tanh.register("gpu-fused", gpu_pair, backward="gpu.elementwise:tanh_backward")
relu = Op("relu", forward=f.activation.relu, backward=f.activation.relu_backward)
relu.register("cpu-compiled", flat, training, compiled=True, forward="cpu.elementwise:relu")
relu.register("cpu-compiled-gradient", flat_pair, compiled=True, backward="cpu.elementwise:relu_backward")
identity = Op("identity", forward=f.activation.identity, backward=f.activation.identity_backward)
leaky_relu = Op("leaky_relu", forward=f.activation.leaky_relu, backward=f.activation.leaky_relu_backward)
silu = Op("silu", forward=f.activation.silu, backward=f.activation.silu_backward)
elu = Op("elu", forward=f.activation.elu, backward=f.activation.elu_backward)
softplus = Op("softplus", forward=f.activation.softplus, backward=f.activation.softplus_backward)
hardtanh = Op("hardtanh", forward=f.activation.hardtanh, backward=f.activation.hardtanh_backward)
selu = Op("selu", forward=f.smooth_activation.selu, backward=f.smooth_activation.selu_backward)
celu = Op("celu", forward=f.smooth_activation.celu, backward=f.smooth_activation.celu_backward)
mish = Op("mish", forward=f.smooth_activation.mish, backward=f.smooth_activation.mish_backward)
log_sigmoid = Op("log_sigmoid", forward=f.smooth_activation.log_sigmoid,
                 backward=f.smooth_activation.log_sigmoid_backward)
softsign = Op("softsign", forward=f.smooth_activation.softsign, backward=f.smooth_activation.softsign_backward)
tanhshrink = Op("tanhshrink", forward=f.smooth_activation.tanhshrink,
                backward=f.smooth_activation.tanhshrink_backward)
hardswish = Op("hardswish", forward=f.piecewise_activation.hardswish,
               backward=f.piecewise_activation.hardswish_backward)
hardsigmoid = Op("hardsigmoid", forward=f.piecewise_activation.hardsigmoid,
                 backward=f.piecewise_activation.hardsigmoid_backward)
threshold = Op("threshold", forward=f.piecewise_activation.threshold,
               backward=f.piecewise_activation.threshold_backward)
prelu = Op("prelu", forward=f.piecewise_activation.prelu, backward=f.piecewise_activation.prelu_backward)
hardshrink = Op("hardshrink", forward=f.piecewise_activation.hardshrink,
                backward=f.piecewise_activation.hardshrink_backward)
softshrink = Op("softshrink", forward=f.piecewise_activation.softshrink,
                backward=f.piecewise_activation.softshrink_backward)
rrelu = Op("rrelu", forward=f.piecewise_activation.rrelu, backward=f.piecewise_activation.rrelu_backward)
adaptive_max_pool = Op("adaptive_max_pool", bins=f.adaptive_max.bins, forward=f.adaptive_max.forward,
                       backward=f.adaptive_max.backward)
gelu = Op("gelu", forward=f.gelu.gelu, backward=f.gelu.gelu_backward)
gelu.register("cpu-compiled", exact_gelu, training, compiled=True, forward="cpu.gelu:gelu")
gelu.register("cpu-compiled-gradient", exact_gelu_pair, compiled=True, backward="cpu.gelu:gelu_backward")
softmax = Op("softmax", forward=f.softmax.softmax, backward=f.softmax.softmax_backward)
softmax.register("cpu-compiled-gradient", last_axis_pair, compiled=True, backward="cpu.softmax:softmax_backward")
pixel_shuffle = Op("pixel_shuffle", forward=f.shuffle.pixel_shuffle, backward=f.shuffle.pixel_unshuffle)
pixel_unshuffle = Op("pixel_unshuffle", forward=f.shuffle.pixel_unshuffle, backward=f.shuffle.pixel_shuffle)
channel_shuffle = Op("channel_shuffle", forward=f.shuffle.channel_shuffle, backward=f.shuffle.channel_unshuffle)
bilinear = Op("bilinear", forward=f.bilinear.forward, backward=f.bilinear.backward)
unfold = Op("unfold", forward=f.fold.unfold, backward=f.fold.fold)
fold = Op("fold", forward=f.fold.fold, backward=f.fold.unfold)
local_response_norm = Op("local_response_norm", forward=f.local_response_norm.forward,
                         backward=f.local_response_norm.backward)
cross_map_lrn = Op("cross_map_lrn", forward=f.cross_map_lrn.forward, backward=f.cross_map_lrn.backward)
multi_margin = Op("multi_margin", forward=f.margin.multi_margin, backward=f.margin.multi_margin_backward)
softmin = Op("softmin", forward=f.softmax.softmin, backward=f.softmax.softmin_backward)
glu = Op("glu", forward=f.glu.glu, backward=f.glu.glu_backward)
log_softmax = Op("log_softmax", forward=f.softmax.log_softmax, backward=f.softmax.log_softmax_backward)
dropout = Op("dropout", mask=f.dropout.scaled_mask, forward=f.dropout.apply, backward=f.dropout.apply)
alpha_dropout = Op("alpha_dropout", scale_and_shift=f.dropout.alpha_scale_and_shift)
attention = Op("attention", forward=f.attention.scaled_dot_product,
                 backward=f.attention.scaled_dot_product_backward, project=f.attention.in_projection,
                 project_backward=f.attention.in_projection_backward)

batch_norm = Op("batch_norm", forward_train=f.batch_norm.forward_train, backward_train=f.batch_norm.backward_train,
                forward_eval=f.batch_norm.forward_eval, backward_eval=f.batch_norm.backward_eval)
batch_norm.register("cpu-compiled", with_affine, compiled=True, forward_train="cpu.batch_norm:forward_train",
                    backward_train="cpu.batch_norm:backward_train")
batch_norm.register("gpu-fused", gpu_with_affine, forward_train="gpu.batch_norm:forward_train",
                    backward_train="gpu.batch_norm:backward_train")
batch_norm_relu = Op("batch_norm_relu", forward_train=f.batch_norm.forward_train_relu,
                     backward_train=f.batch_norm.backward_train_relu)
batch_norm_relu.register("cpu-compiled", with_affine, compiled=True, forward_train="cpu.batch_norm:forward_train_relu",
                         backward_train="cpu.batch_norm:backward_train_relu")
batch_norm_relu.register("gpu-fused", gpu_with_affine, forward_train="gpu.batch_norm:forward_train_relu",
                         backward_train="gpu.batch_norm:backward_train_relu")
batch_norm_sigmoid = Op("batch_norm_sigmoid", forward_train=f.batch_norm.forward_train_sigmoid,
                        backward_train=f.batch_norm.backward_train_sigmoid)
batch_norm_sigmoid.register("gpu-fused", gpu_with_affine, forward_train="gpu.batch_norm:forward_train_sigmoid",
                            backward_train="gpu.batch_norm:backward_train_sigmoid")
batch_norm_tanh = Op("batch_norm_tanh", forward_train=f.batch_norm.forward_train_tanh,
                     backward_train=f.batch_norm.backward_train_tanh)
batch_norm_tanh.register("gpu-fused", gpu_with_affine, forward_train="gpu.batch_norm:forward_train_tanh",
                         backward_train="gpu.batch_norm:backward_train_tanh")

layer_norm = Op("layer_norm", forward=f.norm.layer_norm, backward=f.norm.layer_norm_backward)
layer_norm.register("cpu-compiled", flat, training, compiled=True, forward="cpu.layer_norm:layer_norm")
layer_norm.register("cpu-compiled-gradient", flat_saved, compiled=True, backward="cpu.layer_norm:layer_norm_backward")
group_norm = Op("group_norm", forward=f.norm.group_norm, backward=f.norm.group_norm_backward)
group_norm.register("cpu-compiled", flat, training, compiled=True, forward="cpu.group_norm:group_norm")
group_norm.register("cpu-compiled-gradient", flat_saved, training, compiled=True,
                    backward="cpu.group_norm:group_norm_backward")
rms_norm = Op("rms_norm", forward=f.norm.rms_norm, backward=f.norm.rms_norm_backward)
instance_norm = Op("instance_norm", forward_eval=f.norm.channel_norm_eval,
                   backward_eval=f.norm.channel_norm_eval_backward, update_running_stats=f.norm.update_running_stats)

embedding = Op("embedding", forward=f.embedding.lookup, backward=f.embedding.lookup_backward)
embedding_bag = Op("embedding_bag", forward=f.embedding_bag.forward, backward=f.embedding_bag.backward)

rnn = Op("rnn", forward=f.rnn_cell.forward, backward=f.rnn_cell.backward)
lstm = Op("lstm", forward=f.lstm_cell.forward, backward=f.lstm_cell.backward)
gru = Op("gru", forward=f.gru_cell.forward, backward=f.gru_cell.backward)

squared_error = Op("squared_error", forward=f.loss.squared_error, backward=f.loss.squared_error_backward,
                   elements=f.loss.squared_error_elements)
squared_error.register("cpu-compiled", matrix, compiled=True, forward="cpu.loss:squared_error")
squared_error.register("cpu-compiled-gradient", flat, compiled=True, backward="cpu.loss:squared_error_backward")
squared_error.register("gpu-fused", gpu_prediction_target, forward="gpu.loss:squared_error",
                       backward="gpu.loss:squared_error_backward", elements="gpu.loss:squared_error_elements")
absolute_error = Op("absolute_error", forward=f.loss.absolute_error, backward=f.loss.absolute_error_backward,
                    elements=f.loss.absolute_error_elements)
huber = Op("huber", forward=f.pointwise_loss.huber, backward=f.pointwise_loss.huber_backward)
smooth_l1 = Op("smooth_l1", forward=f.pointwise_loss.smooth_l1, backward=f.pointwise_loss.smooth_l1_backward)
bce = Op("bce", forward=f.pointwise_loss.bce, backward=f.pointwise_loss.bce_backward)
bce_with_logits = Op("bce_with_logits", forward=f.pointwise_loss.bce_with_logits,
                     backward=f.pointwise_loss.bce_with_logits_backward)
soft_margin = Op("soft_margin", forward=f.pointwise_loss.soft_margin, backward=f.pointwise_loss.soft_margin_backward)
poisson_nll = Op("poisson_nll", forward=f.pointwise_loss.poisson_nll, backward=f.pointwise_loss.poisson_nll_backward)
hinge_embedding = Op("hinge_embedding", forward=f.pointwise_loss.hinge_embedding,
                     backward=f.pointwise_loss.hinge_embedding_backward)
kl_div = Op("kl_div", forward=f.pointwise_loss.kl_div, backward=f.pointwise_loss.kl_div_backward)
nll = Op("nll", forward=f.nll.nll, backward=f.nll.nll_backward)
pairwise_distance = Op("pairwise_distance", forward=f.distance.pairwise_distance,
                       backward=f.distance.pairwise_distance_backward)
cosine_similarity = Op("cosine_similarity", forward=f.distance.cosine_similarity,
                       backward=f.distance.cosine_similarity_backward)
margin_ranking = Op("margin_ranking", forward=f.ranking.margin_ranking, backward=f.ranking.margin_ranking_backward)
cosine_embedding = Op("cosine_embedding", forward=f.ranking.cosine_embedding,
                      backward=f.ranking.cosine_embedding_backward)
triplet_hinge = Op("triplet_hinge", forward=f.ranking.triplet_hinge, backward=f.ranking.triplet_hinge_backward)
gaussian_nll = Op("gaussian_nll", forward=f.gaussian_nll.gaussian_nll, backward=f.gaussian_nll.gaussian_nll_backward)
multilabel_soft_margin = Op("multilabel_soft_margin", forward=f.multilabel.multilabel_soft_margin,
                            backward=f.multilabel.multilabel_soft_margin_backward)
multilabel_margin = Op("multilabel_margin", forward=f.multilabel.multilabel_margin,
                       backward=f.multilabel.multilabel_margin_backward)
cross_entropy = Op("cross_entropy", forward=f.cross_entropy.forward, backward=f.cross_entropy.backward)
adaptive_log_softmax = Op("adaptive_log_softmax", forward=f.adaptive_log_softmax.forward,
                          backward=f.adaptive_log_softmax.backward, log_prob=f.adaptive_log_softmax.log_prob,
                          predict=f.adaptive_log_softmax.predict)
ctc = Op("ctc", forward=f.ctc.forward, backward=f.ctc.backward)

conv2d = Op("conv2d", forward=f.conv.conv2d, backward=f.conv.conv2d_backward)
conv2d.register("cpu-winograd", winograd_fits, winograd_wins, compiled=True, forward="cpu.winograd:conv2d",
                backward="cpu.winograd:conv2d_backward")
conv2d.register("cpu-compiled", conv_gemm, training, compiled=True, forward="cpu.conv:conv2d",
                backward="cpu.conv:conv2d_backward")
conv2d.register("gpu-fused", on_gpu, forward="gpu.conv:conv2d", backward="gpu.conv:conv2d_backward")
conv_transpose2d = Op("conv_transpose2d", forward=f.conv.conv_transpose2d, backward=f.conv.conv_transpose2d_backward)
conv_transpose2d.register("cpu-compiled", conv_gemm, training, compiled=True, forward="cpu.conv:conv_transpose2d",
                          backward="cpu.conv:conv_transpose2d_backward")
conv_transpose2d.register("gpu-fused", on_gpu, forward="gpu.conv:conv_transpose2d",
                          backward="gpu.conv:conv_transpose2d_backward")
max_pool2d = Op("max_pool2d", forward=f.pooling.max_pool2d, backward=f.pooling.max_pool2d_backward,
                indices=f.pooling.max_pool2d_indices)
max_pool2d.register("cpu-compiled", flat, training, compiled=True, forward="cpu.max_pool:max_pool2d",
                    backward="cpu.max_pool:max_pool2d_backward")
max_pool2d.register("gpu-fused", gpu_pool_window, forward="gpu.max_pool:max_pool2d",
                    backward="gpu.max_pool:max_pool2d_backward", indices="gpu.max_pool:max_pool2d_indices")
fractional_max_pool = Op("fractional_max_pool", forward=f.fractional_max_pool.forward,
                         backward=f.fractional_max_pool.backward)
max_unpool2d = Op("max_unpool2d", forward=f.pooling.max_unpool2d, backward=f.pooling.max_unpool2d_backward)
avg_pool2d = Op("avg_pool2d", inverse_divisor=f.pooling.avg_pool_inverse_divisor, forward=f.pooling.avg_pool2d,
                backward=f.pooling.avg_pool2d_backward)
lp_pool = Op("lp_pool", power=f.lp_pool.power, power_backward=f.lp_pool.power_backward,
             magnitude=f.lp_pool.magnitude, magnitude_backward=f.lp_pool.magnitude_backward, root=f.lp_pool.root,
             root_backward=f.lp_pool.root_backward)
separable_map = Op("separable_map", adaptive_average=f.resample.adaptive_average, nearest=f.resample.nearest,
                   nearest_exact=f.resample.nearest_exact, bilinear=f.resample.bilinear, bicubic=f.resample.bicubic,
                   pad=f.resample.pad, scaled_size=f.resample.upsample_size, forward=f.resample.separable_map,
                   backward=f.resample.separable_map_backward)
separable_map.register("cpu-one-blas-thread", numpy_float, training, backward="cpu.separable:separable_map_backward")
axis_map = Op("axis_map", forward=f.axis_map.gather, backward=f.axis_map.gather_backward)
pool3d = Op("pool3d", pooling_windows=f.pooling3d.pooling_windows, adaptive_windows=f.pooling3d.adaptive_windows,
            volume_windows=f.pooling3d.volume_windows, inverse_divisor=f.pooling3d.inverse_divisor,
            max_forward=f.pooling3d.max_pool, max_backward=f.pooling3d.max_pool_backward,
            avg_forward=f.pooling3d.avg_pool, avg_backward=f.pooling3d.avg_pool_backward,
            unpool_forward=f.pooling3d.max_unpool, unpool_backward=f.pooling3d.max_unpool_backward)

conv3d = Op("conv3d", axis=f.conv3d.conv_axis, windows=f.conv3d.windows, forward=f.conv3d.forward,
            backward=f.conv3d.backward)
conv_transpose3d = Op("conv_transpose3d", axis=f.conv3d.conv_axis, windows=f.conv3d.windows,
                      forward=f.conv3d.transpose_forward, backward=f.conv3d.transpose_backward)

weight_norm = Op("weight_norm", forward=f.weight_norm.forward, backward=f.weight_norm.backward)
spectral_norm = Op("spectral_norm", power_iteration=f.spectral_norm.power_iteration,
                   power_iteration_v_first=f.spectral_norm.power_iteration_v_first, forward=f.spectral_norm.forward,
                   backward=f.spectral_norm.backward)
orthogonal = Op("orthogonal", forward=f.orthogonal.forward, backward=f.orthogonal.backward,
                 right_inverse=f.orthogonal.right_inverse, expm=f.orthogonal.expm)

soft_encode = Op("soft_encode", forward=f.soft_encoding.soft_encode)
soft_encode.register("cpu-compiled", numpy_float, compiled=True, forward="cpu.soft_encoding:soft_encode")
soft_cross_entropy = Op("soft_cross_entropy", forward=f.soft_cross_entropy.soft_cross_entropy,
                        backward=f.soft_cross_entropy.soft_cross_entropy_backward)
soft_cross_entropy.register("cpu-compiled", flat, compiled=True, forward="cpu.soft_cross_entropy:soft_cross_entropy",
                            backward="cpu.soft_cross_entropy:soft_cross_entropy_backward")

sgd = Op("sgd", update=f.sgd.update)
sgd.register("cpu-compiled", numpy_float, compiled=True, update="cpu.optimizers:sgd")
sgd.register("gpu-elementwise", on_gpu, update="gpu.optimizers:sgd")
rmsprop = Op("rmsprop", update=f.rmsprop.update)
rmsprop.register("cpu-compiled", numpy_float, compiled=True, update="cpu.optimizers:rmsprop")
rmsprop.register("gpu-elementwise", on_gpu, update="gpu.optimizers:rmsprop")
adam = Op("adam", update=f.adam.update)
adam.register("cpu-compiled", numpy_float, compiled=True, update="cpu.optimizers:adam")
adam.register("gpu-elementwise", on_gpu, update="gpu.optimizers:adam")
adagrad = Op("adagrad", update=f.adagrad.update)
adadelta = Op("adadelta", update=f.adadelta.update)
adamax = Op("adamax", update=f.adamax.update)
nadam = Op("nadam", update=f.nadam.update)
radam = Op("radam", update=f.radam.update)
asgd = Op("asgd", update=f.asgd.update)
rprop = Op("rprop", update=f.rprop.update)
muon = Op("muon", update=f.muon.update)

ALL = [value for value in list(globals().values()) if isinstance(value, Op)]

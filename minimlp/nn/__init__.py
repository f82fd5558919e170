"""minimlp.nn: layers, activations, containers and losses with hand-written backward passes."""
from . import init, utils
from .activation import (
           ELU,
           GELU,
           Hardtanh,
           Identity,
           LeakyReLU,
           ReLU,
           Sigmoid,
           SiLU,
           Softplus,
           Tanh,
)
from .adaptive_log_softmax import AdaptiveLogSoftmaxWithLoss
from .adaptive_max_pool import AdaptiveMaxPool2d
from .adaptive_pool3d import AdaptiveAvgPool3d, AdaptiveMaxPool3d
from .alpha_dropout import AlphaDropout, FeatureAlphaDropout
from .attention import MultiheadAttention
from .batchnorm import BatchNorm1d
from .batchnorm2d import BatchNorm2d
from .batchnorm3d import BatchNorm3d
from .bilinear import Bilinear
from .container import ModuleDict, ModuleList, Sequential
from .conv import Conv2d, ConvTranspose2d
from .conv1d import Conv1d, ConvTranspose1d
from .conv3d import Conv3d, ConvTranspose3d
from .cross_entropy import CrossEntropyLoss
from .cross_map_lrn import CrossMapLRN2d
from .ctc_loss import CTCLoss
from .distance import CosineSimilarity, PairwiseDistance
from .dropout import Dropout, Dropout1d, Dropout2d, Dropout3d
from .embedding import Embedding
from .embedding_bag import EmbeddingBag
from .fold import Fold, Unfold
from .fractional_max_pool import FractionalMaxPool2d, FractionalMaxPool3d
from .gaussian_nll import GaussianNLLLoss
from .groupnorm import GroupNorm
from .instancenorm import InstanceNorm1d, InstanceNorm2d, InstanceNorm3d
from .layernorm import LayerNorm
from .lazy import (
           LazyBatchNorm1d,
           LazyBatchNorm2d,
           LazyBatchNorm3d,
           LazyConv1d,
           LazyConv2d,
           LazyConv3d,
           LazyConvTranspose1d,
           LazyConvTranspose2d,
           LazyConvTranspose3d,
           LazyInstanceNorm1d,
           LazyInstanceNorm2d,
           LazyInstanceNorm3d,
           LazyLinear,
)
from .linear import Linear
from .linear_cross_entropy import LinearCrossEntropyLoss, LinearCrossEntropyOptions
from .local_response_norm import LocalResponseNorm
from .loss import L1Loss, MSELoss
from .lp_pool import LPPool1d, LPPool2d, LPPool3d
from .margin_loss import MultiMarginLoss
from .module import Module
from .multilabel_loss import MultiLabelMarginLoss, MultiLabelSoftMarginLoss
from .nll import NLLLoss, NLLLoss2d
from .padding import CircularPad2d, ConstantPad2d, ReflectionPad2d, ReplicationPad2d, ZeroPad2d
from .padding1d import CircularPad1d, ConstantPad1d, ReflectionPad1d, ReplicationPad1d, ZeroPad1d
from .padding3d import CircularPad3d, ConstantPad3d, ReflectionPad3d, ReplicationPad3d, ZeroPad3d
from .parameter import Parameter, UninitializedBuffer, UninitializedParameter
from .parameter_containers import ParameterDict, ParameterList
from .piecewise_activation import Hardshrink, Hardsigmoid, Hardswish, PReLU, ReLU6, RReLU, Softshrink, Threshold
from .pointwise_loss import (
           BCELoss,
           BCEWithLogitsLoss,
           HingeEmbeddingLoss,
           HuberLoss,
           KLDivLoss,
           PoissonNLLLoss,
           SmoothL1Loss,
           SoftMarginLoss,
)
from .pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d, MaxUnpool2d
from .pooling1d import AdaptiveAvgPool1d, AdaptiveMaxPool1d, AvgPool1d, MaxPool1d, MaxUnpool1d
from .pooling3d import AvgPool3d, MaxPool3d, MaxUnpool3d
from .ranking_loss import CosineEmbeddingLoss, MarginRankingLoss
from .rmsnorm import RMSNorm
from .rnn import GRU, LSTM, RNN
from .rnn_cell import GRUCell, LSTMCell, RNNCell
from .shape import Flatten, Unflatten
from .shuffle import ChannelShuffle, PixelShuffle, PixelUnshuffle
from .skip import Concat, GlobalFusion, Residual
from .smooth_activation import CELU, SELU, LogSigmoid, Mish, Softsign, Tanhshrink
from .softmax import GLU, LogSoftmax, Softmax, Softmax2d, Softmin
from .transformer import TransformerEncoder, TransformerEncoderLayer
from .transformer_decoder import Transformer, TransformerDecoder, TransformerDecoderLayer
from .triplet_loss import TripletMarginLoss, TripletMarginWithDistanceLoss
from .upsample import Upsample, UpsamplingBilinear2d, UpsamplingNearest2d

__all__ = [
           "ELU",
           "GELU",
           "AdaptiveAvgPool2d",
           "AvgPool2d",
           "BCELoss",
           "BCEWithLogitsLoss",
           "BatchNorm1d",
           "BatchNorm2d",
           "Concat",
           "Conv2d",
           "ConvTranspose2d",
           "CrossEntropyLoss",
           "CTCLoss",
           "Dropout",
           "Dropout2d",
           "Embedding",
           "EmbeddingBag",
           "Flatten",
           "GlobalFusion",
           "GroupNorm",
           "Hardtanh",
           "HuberLoss",
           "Identity",
           "InstanceNorm1d",
           "InstanceNorm2d",
           "InstanceNorm3d",
           "KLDivLoss",
           "L1Loss",
           "LayerNorm",
           "LeakyReLU",
           "Linear",
           "LogSoftmax",
           "MSELoss",
           "MaxPool2d",
           "MaxUnpool2d",
           "Module",
           "NLLLoss",
           "NLLLoss2d",
           "Parameter",
           "ParameterDict",
           "ParameterList",
           "ReLU",
           "Residual",
           "ModuleDict",
           "ModuleList",
           "Sequential",
           "SiLU",
           "Sigmoid",
           "SmoothL1Loss",
           "Softmax",
           "Softplus",
           "Tanh",
           "Unflatten",
           "Upsample",
           "CELU",
           "SELU",
           "LogSigmoid",
           "Mish",
           "Softsign",
           "Tanhshrink",
           "Hardsigmoid",
           "Hardswish",
           "PReLU",
           "Hardshrink",
           "Softshrink",
           "RReLU",
           "ReLU6",
           "Threshold",
           "RMSNorm",
           "GLU",
           "Conv1d",
           "SoftMarginLoss",
           "PoissonNLLLoss",
           "HingeEmbeddingLoss",
           "Dropout1d",
           "MultiMarginLoss",
           "MaxPool1d",
           "AvgPool1d",
           "LPPool1d",
           "LPPool2d",
           "AdaptiveAvgPool1d",
           "ZeroPad2d",
           "ConstantPad2d",
           "ReflectionPad2d",
           "ReplicationPad2d",
           "CircularPad2d",
           "ZeroPad1d",
           "ConstantPad1d",
           "ReflectionPad1d",
           "ReplicationPad1d",
           "CircularPad1d",
           "AdaptiveMaxPool1d",
           "AdaptiveMaxPool2d",
           "BatchNorm3d",
           "Dropout3d",
           "AlphaDropout",
           "FeatureAlphaDropout",
           "LocalResponseNorm",
           "ChannelShuffle",
           "UpsamplingNearest2d",
           "UpsamplingBilinear2d",
           "Unfold",
           "Fold",
           "ConvTranspose1d",
           "Conv3d",
           "ConvTranspose3d",
           "Bilinear",
           "MaxUnpool1d",
           "PixelShuffle",
           "PixelUnshuffle",
           "Softmax2d",
           "Softmin",
           "RNNCell",
           "LSTMCell",
           "GRUCell",
           "RNN",
           "LSTM",
           "GRU",
           "MultiLabelSoftMarginLoss",
           "MultiLabelMarginLoss",
           "MarginRankingLoss",
           "CosineEmbeddingLoss",
           "TripletMarginLoss",
           "TripletMarginWithDistanceLoss",
           "GaussianNLLLoss",
           "PairwiseDistance",
           "CosineSimilarity",
           "MultiheadAttention",
           "TransformerEncoderLayer",
           "TransformerEncoder",
           "TransformerDecoderLayer",
           "TransformerDecoder",
           "Transformer",
           "ZeroPad3d",
           "ConstantPad3d",
           "ReflectionPad3d",
           "ReplicationPad3d",
           "CircularPad3d",
           "MaxPool3d",
           "AvgPool3d",
           "AdaptiveAvgPool3d",
           "AdaptiveMaxPool3d",
           "MaxUnpool3d",
           "LPPool3d",
           "FractionalMaxPool2d",
           "FractionalMaxPool3d",
           "CrossMapLRN2d",
           "AdaptiveLogSoftmaxWithLoss",
           "LazyLinear",
           "LazyConv1d",
           "LazyConv2d",
           "LazyConv3d",
           "LazyConvTranspose1d",
           "LazyConvTranspose2d",
           "LazyConvTranspose3d",
           "LazyBatchNorm1d",
           "LazyBatchNorm2d",
           "LazyBatchNorm3d",
           "LazyInstanceNorm1d",
           "LazyInstanceNorm2d",
           "LazyInstanceNorm3d",
           "UninitializedParameter",
           "UninitializedBuffer",
           "LinearCrossEntropyLoss",
           "LinearCrossEntropyOptions",
           "init",
           "utils",
]

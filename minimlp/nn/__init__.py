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
from .batchnorm import BatchNorm1d
from .batchnorm2d import BatchNorm2d
from .container import Sequential
from .conv import Conv2d, ConvTranspose2d
from .cross_entropy import CrossEntropyLoss
from .dropout import Dropout
from .linear import Linear
from .loss import L1Loss, MSELoss
from .module import Module
from .parameter import Parameter
from .pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d, MaxUnpool2d
from .shape import Flatten, Unflatten
from .skip import Concat, Residual
from .softmax import LogSoftmax, Softmax
from .upsample import Upsample

__all__ = ["Module", "Parameter", "Linear", "BatchNorm1d", "Dropout", "Identity", "Sigmoid", "ReLU", "Tanh",
           "LeakyReLU", "Sequential", "MSELoss", "L1Loss", "init", "utils", "Conv2d", "ConvTranspose2d",
           "BatchNorm2d", "MaxPool2d", "MaxUnpool2d", "AvgPool2d", "AdaptiveAvgPool2d", "Upsample", "Flatten", "Unflatten",
           "Residual", "Concat", "CrossEntropyLoss", "GELU", "SiLU", "ELU", "Softplus", "Hardtanh", "Softmax",
           "LogSoftmax"]

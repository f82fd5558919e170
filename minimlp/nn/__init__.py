"""minimlp.nn: layers, activations, containers and losses with hand-written backward passes."""
from . import init, utils
from .activation import Identity, LeakyReLU, ReLU, Sigmoid, Tanh
from .batchnorm import BatchNorm1d
from .container import Sequential
from .dropout import Dropout
from .linear import Linear
from .loss import L1Loss, MSELoss
from .module import Module
from .parameter import Parameter

__all__ = ["Module", "Parameter", "Linear", "BatchNorm1d", "Dropout", "Identity", "Sigmoid", "ReLU", "Tanh",
           "LeakyReLU", "Sequential", "MSELoss", "L1Loss", "init", "utils"]

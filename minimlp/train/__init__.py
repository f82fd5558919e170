"""minimlp.train: a general training loop with history, checkpoints and resume."""
from .checkpoint import CheckpointError, read_checkpoint, save_model
from .fit import StopTraining, TrainingDiverged, evaluate_loss, fit, train_one_epoch
from .history import History

__all__ = ["fit", "evaluate_loss", "train_one_epoch", "History", "TrainingDiverged", "StopTraining",
           "CheckpointError", "read_checkpoint", "save_model"]

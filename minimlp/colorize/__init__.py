"""The grayscale-to-colour colorizer built on minimlp: the paper's MLPs and autoencoders, the chroma MLP, the
U-Nets (MSE and vivid), photos of any size, the paper's studies, the ``minimlp-colorize`` command line and its
page in the browser (``serve``).

Its floors, lowest first: ``task`` (arrays, chroma bins, losses, metrics) → ``models`` (architectures,
presets, the pretrained store) → ``running`` (training, prediction, photos, figures) → ``experiments`` (one
run, the studies, reproduce, report, sweep, baselines, provenance, executors) → ``web`` (the ``serve`` page;
Starlette, imported only when it runs) → ``cli``.
"""
from .models.architectures import autoencoder, build_model, mlp
from .models.presets import PRESETS
from .models.store import load_colorizer
from .running.photo import colorize_photo
from .running.prediction import evaluate_images, predict_rgb
from .task.arrays import gray_input, make_arrays, output_to_rgb
from .task.data import load_split

__all__ = ["mlp", "autoencoder", "build_model", "PRESETS", "make_arrays", "gray_input", "output_to_rgb",
           "predict_rgb", "evaluate_images", "load_colorizer", "load_split", "colorize_photo"]

"""The grayscale-to-colour colorizer (Xia & Salhi's MLPs and autoencoders, and a chroma MLP) built on minimlp."""
from .evaluate import evaluate_images, predict_rgb
from .loading import load_colorizer, load_split
from .models import PRESETS, autoencoder, build_model, mlp
from .photo import colorize_photo
from .tasks import gray_input, make_arrays, output_to_rgb

__all__ = ["mlp", "autoencoder", "build_model", "PRESETS", "make_arrays", "gray_input", "output_to_rgb",
           "predict_rgb", "evaluate_images", "load_colorizer", "load_split", "colorize_photo"]

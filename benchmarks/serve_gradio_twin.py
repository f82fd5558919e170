"""The colorizer page as Gradio would build it, for ``serve_frameworks.py`` to measure beside ``serve``: the same
models loaded once, a photo in, the result out beside the gray input on Gradio's before/after slider.

    python benchmarks/serve_gradio_twin.py --port 7860      # in a virtualenv with gradio installed

Not shipped and not tested: it exists to be timed (start-up, page load, install size).
"""
import argparse
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")   # no calls home (this machine has no internet)

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from minimlp.colorize.running.photo import colorize_luma  # noqa: E402
from minimlp.colorize.running.photo_luma import photo_luma  # noqa: E402
from minimlp.colorize.web.choices import load_choices  # noqa: E402


def build(choices):
    labels = {c.label: c for c in choices.values()}

    def colorize(image, label, temperature):
        choice = labels[label]
        luma = photo_luma(image)
        result = colorize_luma(choice.model, choice.task, luma, temperature=temperature if choice.vivid else None)
        return Image.fromarray(np.clip(np.rint(luma), 0, 255).astype(np.uint8)).convert("RGB"), result

    def slider_pair(image, label, temperature):
        gray, result = colorize(image, label, temperature)
        return (gray, result), result

    return gr.Interface(
        fn=slider_pair,
        inputs=[gr.Image(type="pil", label="photo"), gr.Dropdown(list(labels), value=next(iter(labels)), label="model"),
                gr.Slider(0, 2, value=1.0, step=0.05, label="temperature (vivid)")],
        outputs=[gr.ImageSlider(label="gray input | result"), gr.Image(type="pil", format="png", label="result")],
        title="minimlp colorizer", flagging_mode="never")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=7860)
    args = parser.parse_args()
    demo = build(load_choices())
    print(f"gradio twin: http://127.0.0.1:{args.port}/", flush=True)
    demo.launch(server_name="127.0.0.1", server_port=args.port, quiet=True)


if __name__ == "__main__":
    main()

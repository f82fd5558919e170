"""Search for a better colorizer recipe on the paper's 5,000-image split (issue 29), scored on its 500
validation images, every idea against the current recipe in the same invocation.

    python examples/recipe_search.py --out /tmp/search [--epochs 15] [--seeds 1] [--ideas base,levels4,...]
                                     [--seeds-for base=2,context=2] [--ablation results/ABLATION.md]

Each idea changes one thing of the shipped ``unet`` recipe (U-Net 32-64-128, MSE on chroma, AdamW one-cycle
max lr 2e-3, batch 64, h-flips). Every run also measures, at no training cost, two evaluation-only ideas: an
exponential moving average of the weights (decay 0.995 per step, BatchNorm statistics from the live model)
and flip averaging at test time (the mean of the chroma predicted for the image and its mirror image).

Numbers are the validation RGB MSE in [-1, 1] (the metric), mean PSNR and colourfulness ratio of the final
weights. Finished runs are kept in ``OUT/<idea>-e<epochs>-s<seed>.json`` and not retrained. Nothing here
looks at the test images.
"""
import argparse
import json
import os
import platform
import sys
import time

import numpy as np

from minimlp import manual_seed, nn, optim
from minimlp.atomic import write_json
from minimlp.colorize.experiments.report import replace_section
from minimlp.colorize.models.architectures import flat_unet
from minimlp.colorize.running.prediction import evaluate_images
from minimlp.colorize.task.arrays import FlippedBatches, chroma_target, gray_input
from minimlp.colorize.task.data import load_split
from minimlp.colorize.task.metrics import colorfulness_ratio, scores
from minimlp.colorize.task.arrays import output_to_rgb, rgb_target
from minimlp.data import Batches
from minimlp.train import fit
from minimlp.train.fit import _backward_and_step

CLASSES = 10

# idea -> (what changed, model options, loss, auxiliary class-loss weight)
IDEAS = {
    "base": ("the shipped recipe: U-Net 32-64-128, MSE on chroma", {}, "mse", 0.0),
    "levels4": ("a fourth level: widths 32-64-128-256 (bottleneck 4x4, receptive field past 32 pixels)",
                {"widths": (32, 64, 128, 256)}, "mse", 0.0),
    "dilated": ("dilated bottleneck: the 8x8 level's two convolutions at dilation 2",
                {"bottleneck_dilation": 2}, "mse", 0.0),
    "residual": ("residual blocks: y = ReLU(h + BN(conv(h))) at every level", {"residual": True}, "mse", 0.0),
    "context": ("a global-context branch fused into the bottleneck (Iizuka et al. 2016)", {"context": True},
                "mse", 0.0),
    "context-class": ("the global-context branch also classifies the image (CIFAR-10 class, cross-entropy "
                      "weight 0.003, training labels only)", {"context": True}, "mse", 0.003),
    "huber": ("Huber loss on chroma (delta 0.1) instead of MSE", {}, "huber", 0.0),
    "l1": ("L1 loss on chroma instead of MSE", {}, "l1", 0.0),
    "levels4-context": ("a fourth level and the global-context branch", {"widths": (32, 64, 128, 256),
                                                                          "context": True}, "mse", 0.0),
    "levels4-context-class": ("a fourth level, and the global-context branch classifying the image",
                              {"widths": (32, 64, 128, 256), "context": True}, "mse", 0.003),
    "rgb-loss": ("the metric as the loss: MSE of the RGB image composed from the predicted chroma (U errors "
                 "weigh 2.6x V errors there; plain chroma MSE weighs them alike)", {}, "rgb", 0.0),
    "psnr-loss": ("mean PSNR's own loss: the mean over images of log(RGB MSE of the image + 1e-4)", {}, "psnr", 0.0),
}

class RGBLoss:
    """L = mean over images of ℓ(m_i), m_i = the image's RGB MSE: (1/3072) Σ_pixels dᵀ W d, d = (ΔU, ΔV) the
    chroma error and W = M_cᵀ M_c (M_c: YUV → RGB's chroma columns); ℓ(m) = m (``log=False``: the metric's
    MSE) or log(m + ε) (mean PSNR's own). ∂L/∂d = ℓ'(m_i) · 2 W d / (3072·N)."""

    def __init__(self, log=False, eps=1e-4):
        from minimlp.data.color import _YUV_TO_RGB
        chroma = np.asarray(_YUV_TO_RGB)[:, 1:]
        self.w = (chroma.T @ chroma).astype(np.float32)
        self.log, self.eps = log, eps

    def __call__(self, output, target):
        n = len(output)
        d = (output - target).reshape(n, 2, -1)
        wd = np.einsum("ab,nbp->nap", self.w, d)
        m = (d * wd).sum(axis=(1, 2)) / 3072
        scale = 1.0 / (m + self.eps) if self.log else np.ones_like(m)
        self._grad = (2.0 / (3072 * n)) * scale[:, None, None] * wd
        return float(np.mean(np.log(m + self.eps)) if self.log else np.mean(m))

    def backward(self):
        return self._grad.reshape(len(self._grad), -1).astype(np.float32)


LOSSES = {"mse": nn.MSELoss, "l1": nn.L1Loss, "huber": lambda: nn.HuberLoss(delta=0.1),
          "rgb": RGBLoss, "psnr": lambda: RGBLoss(log=True)}


class WeightAverage:
    """An exponential moving average of a model's parameters: a ← d·a + (1 − d)·p after each step."""

    def __init__(self, model, decay):
        self.decay = decay
        self.params = list(model.parameters())
        self.average = [p.data.copy() for p in self.params]

    def update(self):
        for a, p in zip(self.average, self.params):
            a *= self.decay
            a += (1.0 - self.decay) * p.data

    def swapped(self):
        """Swap the averages into the model (call again to swap back)."""
        for a, p in zip(self.average, self.params):
            live = p.data.copy()
            p.data[...] = a
            a[...] = live


class ClassHead(nn.Module):
    """Passes the global feature g (N, C, 1, 1) through unchanged; in training it also scores the image's class,
    logits = W g + b, and adds the gradient of weight · CrossEntropy(logits, labels) to g's."""

    def __init__(self, channels, weight):
        super().__init__()
        self.head = nn.Conv2d(channels, CLASSES, 1)
        self.weight = weight
        self.criterion = nn.CrossEntropyLoss()
        self.labels = None
        self._logits = None

    def forward(self, g):
        self._logits = self.head(g) if self.training else None
        return g

    def backward(self, dout):
        if self._logits is None or self.labels is None:
            return dout
        n = self._logits.shape[0]
        self.criterion(self._logits.reshape(n, CLASSES), self.labels)
        dlogits = self.weight * self.criterion.backward().reshape(n, CLASSES, 1, 1)
        return dout + self.head.backward(dlogits)

    def backward_parameters(self, dout):
        self.backward(dout)


class ChromaAndClassLoss:
    """The chroma loss on the first 2048 target columns; the class label (a constant third plane) goes to the
    ``ClassHead`` for its own loss in backward."""

    def __init__(self, loss, head):
        self.loss = loss
        self.head = head

    def __call__(self, output, target):
        self.head.labels = target[:, 2048].astype(np.int64)
        return self.loss(output, target[:, :2048])

    def backward(self):
        return self.loss.backward()


def attach_class_head(model, weight):
    """Insert a ``ClassHead`` after the global-context branch's ReLU; return it."""
    fusion = next(m for m in model.modules() if isinstance(m, nn.GlobalFusion))
    channels = fusion.block[1].out_channels
    head = ClassHead(channels, weight)
    fusion.block = nn.Sequential(*fusion.block, head)
    return head


def flip_averaged(model, images):
    """RGB of the mean chroma predicted for the images and their mirror images."""
    gray = gray_input(images)
    mirrored = gray.reshape(-1, 32, 32)[:, :, ::-1].reshape(len(gray), -1).copy()
    model.eval()
    chroma = []
    for start in range(0, len(gray), 100):
        a = model(gray[start:start + 100])
        b = model(mirrored[start:start + 100]).reshape(-1, 2, 32, 32)[..., ::-1].reshape(len(a), -1)
        chroma.append((a + b) / 2)
    return output_to_rgb(np.concatenate(chroma), gray, "chroma")


def run(idea, epochs, seed, split, out):
    path = os.path.join(out, f"{idea}-e{epochs}-s{seed}.json")
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    what, options, loss_name, class_weight = IDEAS[idea]
    manual_seed(seed)
    model = flat_unet(**options)
    x_train, y_train = gray_input(split.train.images), chroma_target(split.train.images)
    loss = LOSSES[loss_name]()
    valid_loss = nn.MSELoss()
    head = attach_class_head(model, class_weight) if class_weight else None
    if head is not None:
        labels = np.repeat(np.asarray(split.train.labels, np.float32)[:, None], 1024, axis=1)
        y_train = np.concatenate([y_train, labels], axis=1)
        loss = ChromaAndClassLoss(loss, head)
    optimizer = optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-2)
    batches = FlippedBatches(Batches(x_train, y_train, 64, shuffle=True, seed=seed), seed=seed)
    scheduler = optim.lr_scheduler.OneCycleLR(optimizer, max_lr=2e-3, total_steps=epochs * len(batches))
    average = WeightAverage(model, 0.995)

    def step(xb, yb):
        optimizer.zero_grad()
        value = loss(model(xb), yb)
        _backward_and_step(model, loss.backward(), optimizer)
        average.update()
        return value

    valid = Batches(gray_input(split.valid.images), chroma_target(split.valid.images), 100, shuffle=False)
    started = time.perf_counter()
    history = fit(model, valid_loss if head is None else _ValidOnly(valid_loss), optimizer, batches, valid,
                  epochs, scheduler=scheduler, scheduler_interval="step", step_fn=step, quiet=True,
                  log=lambda text: print(f"  {idea} s{seed}: {text}", file=sys.stderr, flush=True))
    seconds = time.perf_counter() - started
    final = evaluate_images(model, "chroma", split.valid.images)
    flipped = flip_averaged(model, split.valid.images)
    flip_mse, flip_psnr = scores(flipped, split.valid.images)
    average.swapped()
    ema = evaluate_images(model, "chroma", split.valid.images)
    result = {"idea": idea, "what": what, "epochs": epochs, "seed": seed, "seconds": seconds,
              "parameters": int(sum(p.size for p in model.parameters())),
              "valid_mse": final["test_mse"], "valid_psnr": final["psnr"],
              "colorfulness": final["colorfulness_ratio"], "ema_mse": ema["test_mse"], "ema_psnr": ema["psnr"],
              "flip_mse": flip_mse, "flip_psnr": flip_psnr,
              "flip_colorfulness": colorfulness_ratio(flipped, rgb_target(split.valid.images)),
              "gray_mse": final["baseline_gray_mse"], "gray_psnr": final["baseline_gray_psnr"],
              "valid_curve": [row["valid_loss"] for row in history]}
    write_json(result, path)
    return result


class _ValidOnly:
    """The validation loss for ``fit`` when training targets carry the class plane: MSE on the first 2048."""

    def __init__(self, loss):
        self.loss = loss

    def __call__(self, output, target):
        return self.loss(output, target[:, :2048])


def table(results, epochs):
    base = results["base"]
    base_mse = np.mean([r["valid_mse"] for r in base])
    lines = ["| idea | what changed | seeds | valid MSE | vs base | PSNR (dB) | colourfulness | with EMA | "
             "flip-averaged | train time per seed |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    gray = base[0]
    lines.append(f"| gray-copy | luma copied into R, G, B | - | {gray['gray_mse']:.5f} | "
                 f"{(gray['gray_mse'] / base_mse - 1) * 100:+.1f}% | {gray['gray_psnr']:.2f} | 0.000 | - | - | 0 |")
    for idea, runs in results.items():
        mse = [r["valid_mse"] for r in runs]
        lines.append(f"| {idea} | {runs[0]['what']} | {len(runs)} | {_fmt(mse)} | "
                     f"{(np.mean(mse) / base_mse - 1) * 100:+.1f}% | {np.mean([r['valid_psnr'] for r in runs]):.2f} | "
                     f"{np.mean([r['colorfulness'] for r in runs]):.3f} | {_fmt([r['ema_mse'] for r in runs])} | "
                     f"{_fmt([r['flip_mse'] for r in runs])} | "
                     f"{np.mean([r['seconds'] for r in runs]) / 60:.1f} min |")
    return "\n".join(lines)


def _fmt(values):
    if len(values) == 1:
        return f"{values[0]:.5f}"
    return f"{np.mean(values):.5f} ± {np.std(values, ddof=1):.5f}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="folder for each run's JSON")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--seeds-for", default="", help="IDEA=N overrides, e.g. base=2,context=2")
    parser.add_argument("--ideas", default=",".join(IDEAS))
    parser.add_argument("--ablation", help="write the table into this markdown file's 'recipe-search' section "
                                           "(results/ABLATION.md; the rest of the file is left as it is)")
    args = parser.parse_args(argv)
    ideas = [i for i in args.ideas.split(",") if i]
    unknown = [i for i in ideas if i not in IDEAS]
    if unknown:
        sys.exit(f"--ideas: unknown {', '.join(unknown)}; choose from {', '.join(IDEAS)}")
    seeds = {i: args.seeds for i in ideas}
    for item in filter(None, args.seeds_for.split(",")):
        key, _, value = item.partition("=")
        if key not in IDEAS or not value.isdigit():
            sys.exit(f"--seeds-for: expected IDEA=N, got {item!r}")
        seeds[key] = int(value)
    os.makedirs(args.out, exist_ok=True)
    split = load_split("default", "paper")
    results = {}
    for idea in ["base"] + [i for i in ideas if i != "base"]:
        results[idea] = [run(idea, args.epochs, seed, split, args.out) for seed in range(seeds.get(idea, 1))]
        print(f"{idea}: valid MSE {np.mean([r['valid_mse'] for r in results[idea]]):.5f}", flush=True)
    text = (f"{args.epochs} epochs on the paper's 5,000 training images, scored on its 500 validation images; "
            f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores\n\n{table(results, args.epochs)}\n")
    print(text)
    if args.ablation:
        replace_section(args.ablation, "recipe-search", f"## The recipe search (issue 29)\n\n"
                        f"`python examples/recipe_search.py --out OUT --epochs {args.epochs} --seeds {args.seeds}"
                        f"{' --seeds-for ' + args.seeds_for if args.seeds_for else ''}`: {text}")


if __name__ == "__main__":
    main()

"""minimlp-colorize: train, evaluate and apply the grayscale-to-colour models.

    minimlp-colorize train [--model paper-mlp1] [--data default|shared|PATH] --out DIR [--resume] [--drop-last]
    minimlp-colorize evaluate --checkpoint DIR|FILE|pretrained[:NAME] [--json]
    minimlp-colorize colorize [--checkpoint DIR|pretrained[:NAME] | --vivid] [--resolution native|N] PHOTO... -o OUTDIR
    minimlp-colorize models
    minimlp-colorize reproduce --out results/ [--quick] [--executor local|ray [--address ADDRESS]]
    minimlp-colorize sweep --out DIR --models paper-mlp1 --grid lr=1e-3,2e-4 batch_size=16,64 --seeds 0,1
    minimlp-colorize ship RUN_FOLDER NAME [--temperature T]
    minimlp-colorize serve [--port 8000] [--host 127.0.0.1] [--checkpoint DIR ...]
"""
import argparse
import os
import shlex
import sys

from ... import settings
from ...allocator import keep_freed_memory
from ...kernels.cpu.interrupts import hold_interrupts_while_loading
from ..experiments.executors import add_executor_options
from ..experiments.ship import add_ship_parser
from ..experiments.sweep import add_sweep_parser
from ..models.presets import PRESETS
from ..running.photo_files import MAX_PIXELS


def _device_default():
    return settings.device("auto")


def _default_help(key):
    """'default 80 (chroma-mlp: 20)': the paper presets' value of a training setting, and the presets that differ."""
    paper = PRESETS["paper-mlp1"]["training"]
    others = ", ".join(f"{name}: {p['training'][key]:g}" if isinstance(p["training"][key], float)
                       else f"{name}: {p['training'][key]}"
                       for name, p in PRESETS.items() if p["training"][key] != paper[key])
    value = paper[key]
    shown = f"{value:g}" if isinstance(value, float) else str(value)
    return f"default {shown}" + (f" ({others})" if others else "")


def _resolution(text):
    """--resolution: 'native' or a positive whole number of pixels."""
    if text == "native":
        return text
    if text.isdigit() and int(text) >= 1:
        return int(text)
    raise argparse.ArgumentTypeError(f"{text!r}: give 'native' or a short side in pixels (e.g. 32)")


def build_parser():
    parser = argparse.ArgumentParser(prog="minimlp-colorize", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a colorizer (defaults: the paper's best setting, Table 3)")
    t.add_argument("--model", help="a preset (default paper-mlp1; see `minimlp-colorize models`)")
    t.add_argument("--data", default="default",
                   help="'default' (embedded 6,500 images), 'shared' (../shared/data/cifar10-jpeg.tar.gz) "
                        "or a CIFAR-10 source: cifar-10-batches-py, cifar-10-python.tar.gz, an image tree or tar")
    t.add_argument("--split", choices=["paper", "full"], help="paper 5000/500/1000 or full 45000/5000/10000")
    t.add_argument("--epochs", type=int, help=_default_help("epochs"))
    t.add_argument("--batch-size", type=int, help=_default_help("batch_size"))
    t.add_argument("--optimizer", choices=["sgd", "momentum", "rmsprop", "adam", "adamw"],
                   help=_default_help("optimizer"))
    t.add_argument("--lr", type=float, help=_default_help("lr"))
    t.add_argument("--weight-decay", type=float, help=_default_help("weight_decay"))
    t.add_argument("--schedule", choices=["none", "onecycle", "cosine"], help=_default_help("schedule"))
    t.add_argument("--hflip", action=argparse.BooleanOptionalAction, default=None,
                   help="mirror a random half of each batch (augmentation)")
    t.add_argument("--train-size", type=int, help="use only the first N training images (quick runs; N ≥ 2)")
    t.add_argument("--drop-last", action="store_true",
                   help="drop each epoch's last batch when it is short (a last batch of 1 is always dropped)")
    t.add_argument("--seed", type=int, default=0, help="default 0")
    t.add_argument("--device", default=_device_default(), help="cpu, gpu or auto (default: $MINIMLP_DEVICE or auto)")
    t.add_argument("--out", required=True, help="run folder: checkpoints, history.csv, config.json, figures")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    t.add_argument("--quiet", action="store_true", help="no progress bars or per-epoch lines")

    e = sub.add_parser("evaluate", help="test MSE and PSNR of a checkpoint beside the gray-copy baseline")
    e.add_argument("--checkpoint", required=True,
                   help="run folder, .npz file, 'pretrained' (the default pretrained model) or 'pretrained:NAME' "
                        "(see `minimlp-colorize models`)")
    e.add_argument("--data", default="default")
    e.add_argument("--split", default="test", choices=["train", "valid", "test"])
    e.add_argument("--data-split", default="paper", choices=["paper", "full"],
                   help="which split of --data: paper (1000 test images) or full (test = all 10,000 CIFAR-10 test "
                        "images: --data shared --data-split full)")
    e.add_argument("--device", default=_device_default())
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.add_argument("--flip-average", action="store_true",
                   help="U-Net models: average each prediction with the mirror image's (test-time flip averaging)")

    c = sub.add_parser("colorize", help="colorize photos of any size (colour photos are turned to gray first)")
    c.add_argument("--checkpoint", help="run folder, .npz file, 'pretrained' or 'pretrained:NAME' "
                                         "(default: pretrained)")
    c.add_argument("--vivid", action="store_true",
                   help="use the pretrained vivid model (the first installed of unet4-vivid, unet-vivid, "
                        "unet-vivid-small)")
    c.add_argument("--resolution", type=_resolution,
                   help="U-Net models only: predict the chroma at the photo's native resolution ('native') or with "
                        "its short side shrunk to N pixels and upsampled (default 32); MLPs always run at 32x32")
    c.add_argument("--flip-average", action="store_true",
                   help="U-Net models: average the chroma with that predicted for the mirrored photo")
    c.add_argument("inputs", nargs="+", help="image files")
    c.add_argument("-o", "--out", required=True, help="folder for the PNGs (NAME_color.png per input)")
    c.add_argument("--overwrite", action="store_true", help="replace outputs left by an earlier call")
    c.add_argument("--max-pixels", type=int, default=MAX_PIXELS,
                   help=f"refuse (one line each, the others still done) photos of more pixels than this "
                        f"(default {MAX_PIXELS:,}); memory grows about 10 bytes per pixel")
    c.add_argument("--device", default=_device_default(), help="cpu, gpu or auto (default: $MINIMLP_DEVICE or auto)")

    sub.add_parser("models", help="list the model presets and the pretrained models")

    r = sub.add_parser("reproduce", help="rerun the paper's studies and write RESULTS.md")
    r.add_argument("--out", default="results")
    r.add_argument("--epochs", type=int, default=80)
    r.add_argument("--seeds", type=int, default=3, help="seeds for the headline rows")
    r.add_argument("--quick", action="store_true", help="2 epochs, 2 configurations (a smoke test)")
    r.add_argument("--device", default=_device_default())
    r.add_argument("--only", help="comma-separated study names to run")
    r.add_argument("--report-only", action="store_true",
                   help="rewrite OUT/RESULTS.md from OUT/runs.json (the stored runs' scores); train nothing")
    r.add_argument("--force", action="store_true",
                   help="replace the report of a study with other settings that --out holds (refused otherwise)")
    add_executor_options(r)

    add_sweep_parser(sub)
    add_ship_parser(sub)

    s = sub.add_parser("serve", help="a page to colorize photos in the browser (needs the web extra: "
                                     "pip install -e '.[web]')")
    s.add_argument("--port", type=int, default=8000, help="default 8000; 0 takes any free port")
    s.add_argument("--host", default="127.0.0.1",
                   help="default 127.0.0.1 (this machine only); 0.0.0.0 lets anyone on the network use the page")
    s.add_argument("--checkpoint", action="append", metavar="DIR",
                   help="a run folder, .npz or pretrained:NAME to offer beside the shipped models (repeatable)")
    s.add_argument("--device", default=_device_default(), help="cpu, gpu or auto (default: $MINIMLP_DEVICE or auto)")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    args.command_line = shlex.join(["minimlp-colorize", *(sys.argv[1:] if argv is None else argv)])
    keep_freed_memory()  # this program's choice of allocator settings (minimlp.allocator): faster training steps
    try:
        settings.check()   # a wrong MINIMLP_* value is refused before the command writes anything
        with hold_interrupts_while_loading():   # a Ctrl-C waits for an import or a compile to end
            return _command(args.command)(args)
    except KeyboardInterrupt:
        print(f"minimlp-colorize {args.command}: interrupted; {interrupted(args)}", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"minimlp-colorize {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return 0


def interrupted(args):
    """What a Ctrl-C left behind and how to go on, for the command that was interrupted."""
    if args.command == "train":
        if os.path.exists(os.path.join(args.out, "last.npz")):
            return "rerun with --resume to continue from the last finished epoch"
        return "no epoch had finished, so nothing was kept; run the command again to start over"
    if args.command in ("reproduce", "sweep"):
        return ("rerun the same command to continue: finished runs are reused, an interrupted one resumes from "
                "its last finished epoch")
    if args.command == "colorize":
        return "the outputs listed above are complete; no other file was written"
    if args.command == "ship":
        return "run the same command again to ship the run (its files are replaced whole)"
    return "nothing was written"


def _command(name):
    """The function running command ``name`` (imported when it runs: ``minimlp-colorize models`` loads no NumPy
    training code)."""
    if name in ("train", "evaluate", "colorize", "models"):
        from . import commands
        return getattr(commands, name)
    if name == "reproduce":
        from ..experiments.reproduce import reproduce
        return reproduce
    if name == "sweep":
        from ..experiments.sweep import sweep
        return sweep
    if name == "serve":
        from ..web.server import serve
        return serve
    from ..experiments.ship import ship_command
    return ship_command


if __name__ == "__main__":
    sys.exit(main())

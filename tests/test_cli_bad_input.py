"""Issue 13: every bad input to ``minimlp-colorize`` gets one clear line, and nothing is silently wrong.

Every test runs the command line in a subprocess, as a user does, and checks
the exit code, that stderr is one line naming the problem (no traceback), and
that nothing was created, lost or overwritten. The numbered comments are the
issue's items. Work that takes seconds (training, colorizing) is done once per
module by the fixtures and shared by the tests that read its results.
"""
import os
import stat
import subprocess
import sys
import tarfile

import numpy as np
import pytest
from PIL import Image

import minimlp
from minimlp import backend
from minimlp.colorize.running.training import across_classes
from minimlp.colorize.running.figures import loss_figure
from minimlp.data import load_default, rgb_to_gray
from minimlp.train.history import History
from photo_samples import gradient_rgb, png_header

HERE = os.path.dirname(os.path.abspath(__file__))
UMASK = 0o027   # the runs below use it, so a file mode of 0600 (or 0644) is wrong
TINY = ["--epochs", 1, "--train-size", 32]   # if a check were missing, the run it lets through is short


def cli(*args, umask=None, runner=None, env=None):
    """Run ``minimlp-colorize ARGS`` (or ``python RUNNER ARGS``) on the CPU; the CompletedProcess."""
    command = [sys.executable, runner] if runner else [sys.executable, "-m", "minimlp.colorize"]
    full_env = {**os.environ, "MINIMLP_DEVICE": "cpu", **(env or {})}
    return subprocess.run(command + [str(a) for a in args], capture_output=True, text=True, env=full_env,
                          timeout=600, preexec_fn=(lambda: os.umask(umask)) if umask is not None else None)


def one_error_line(result, *needles, code=2):
    """The single stderr line of a failed command, after checking the exit code and that each needle is in it."""
    assert result.returncode == code, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def snapshot(folder):
    """{relative path: (size, mtime_ns, bytes' hash)} of every file and folder under ``folder``."""
    out = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = os.path.join(root, name)
            info = os.stat(path)
            digest = hash(open(path, "rb").read()) if name in files else None
            out[os.path.relpath(path, folder)] = (info.st_size, info.st_mtime_ns, digest)
    return out


def luma_of(path):
    with Image.open(path) as img:
        return rgb_to_gray(np.asarray(img.convert("RGB"), dtype=np.float32))


# ---------------------------------------------------------------- shared runs

@pytest.fixture(scope="module")
def run17(tmp_path_factory):
    """One tiny training run whose last batch holds one image (17 = 16 + 1), with --quiet and a 1-epoch curve."""
    out = tmp_path_factory.mktemp("train") / "run17"
    result = cli("train", "--train-size", 17, "--epochs", 1, "--quiet", "--out", out, umask=UMASK)
    assert result.returncode == 0, result.stderr
    return out, result


def _photos(folder):
    """{name: (file, expected luma)}: one photo per mode Pillow opens, and what its luma must be."""
    rgb = gradient_rgb()
    luma = rgb_to_gray(rgb.astype(np.float32))
    alpha = np.full(luma.shape, 255, np.uint8)
    alpha[:, :12] = 0                 # transparent: the hidden colour underneath is black
    alpha[:, 12:20] = 128
    hidden = rgb.copy()
    hidden[:, :12] = 0
    a = alpha.astype(np.float32)[..., None] / 255
    on_white = rgb_to_gray(hidden.astype(np.float32) * a + 255 * (1 - a))
    l8 = np.rint(luma).astype(np.uint8)
    la_on_white = l8 * a[..., 0] + 255 * (1 - a[..., 0])
    made = {
        "L.png": (Image.fromarray(l8), l8.astype(np.float32)),
        "1.png": (Image.fromarray(l8 > 128), np.where(l8 > 128, 255.0, 0.0)),
        "RGB.png": (Image.fromarray(rgb), luma),
        "CMYK.tif": (Image.fromarray(rgb).convert("CMYK"), luma),
        "YCbCr.tif": (Image.fromarray(rgb).convert("YCbCr"), luma),
        "LAB.tif": (Image.fromarray(rgb).convert("LAB"), luma),
        "hopper_16bit.png": (Image.fromarray(np.rint(luma * 257).astype(np.uint16)), luma),
        "I32.tif": (Image.fromarray(np.rint(luma * 257).astype(np.int32)), luma),
        "F.tif": (Image.fromarray(luma / 255), luma),
        "RGBA.png": (Image.fromarray(np.dstack([hidden, alpha])), on_white),
        "LA.png": (Image.fromarray(np.dstack([np.where(alpha == 0, 0, l8), alpha]).astype(np.uint8), "LA"),
                   la_on_white),
        "PA.tif": (Image.fromarray(np.dstack([hidden, alpha])).convert("PA"), None),
    }
    photos = {}
    for name, (image, expected) in made.items():
        path = folder / name
        image.save(path)
        if expected is None:   # a palette's colours are Pillow's choice: the luma of its RGBA on white
            with Image.open(path) as img:
                rgba = np.asarray(img.convert("RGBA"), dtype=np.float32)
            w = rgba[..., 3:] / 255
            expected = rgb_to_gray(rgba[..., :3] * w + 255 * (1 - w))
        photos[name] = (path, expected)
    return photos


@pytest.fixture(scope="module")
def colorized(tmp_path_factory):
    """One `colorize` call with the pretrained model on every photo mode, two inputs named x, and three bad inputs."""
    folder = tmp_path_factory.mktemp("photos")
    photos = _photos(folder)
    (folder / "a").mkdir()
    (folder / "b").mkdir()
    Image.fromarray(gradient_rgb()).save(folder / "a" / "x.png")
    Image.fromarray(gradient_rgb()[::-1, ::-1].copy()).save(folder / "b" / "x.jpg")
    (folder / "notes.txt").write_text("not a photo\n")
    (folder / "huge.png").write_bytes(png_header(10_000, 6_000))
    inputs = ([p for p, _ in photos.values()] + [folder / "a" / "x.png", folder / "notes.txt",
                                                  folder / "b" / "x.jpg", folder / "missing.png", folder / "huge.png"])
    out = folder / "colored"
    result = cli("colorize", *inputs, "-o", out)
    return photos, folder, out, result


# ---------------------------------------------------------------- silently wrong output

@pytest.mark.parametrize("name", ["L.png", "1.png", "RGB.png", "CMYK.tif", "YCbCr.tif", "LAB.tif",
                                  "hopper_16bit.png", "I32.tif", "F.tif", "RGBA.png", "LA.png", "PA.tif"])
def test_1_every_mode_pillow_opens_is_read_to_its_luma(colorized, name):
    photos, _, out, _ = colorized
    path, expected = photos[name]
    got = luma_of(out / (os.path.splitext(name)[0] + "_color.png"))
    assert got.shape == expected.shape
    # the output keeps the input's luma up to rounding and clipping; LAB goes through Pillow's 8-bit a*, b*
    tolerance = 3.0 if name == "LAB.tif" else 1.0
    error = np.abs(got - expected)
    mid = (expected >= 30) & (expected <= 220)
    assert not mid.any() or error[mid].mean() < tolerance
    assert error.mean() < 8.0   # near 0 and 255 colour is clipped, and the luma with it
    if name in ("RGBA.png", "LA.png", "PA.tif"):   # transparent on white, not the hidden black under it
        assert got[:, :12].mean() > 240


def test_2_inputs_with_one_name_get_distinct_outputs(colorized):
    _, folder, out, result = colorized
    assert str(out / "x_color.png") in result.stdout.split() and str(out / "x_color_2.png") in result.stdout.split()
    np.testing.assert_allclose(luma_of(out / "x_color.png"), luma_of(folder / "a" / "x.png"), atol=2.5)
    assert np.abs(luma_of(out / "x_color_2.png") - luma_of(folder / "b" / "x.jpg")).mean() < 1.0


def test_2_an_output_of_an_earlier_call_is_replaced_only_with_overwrite(colorized):
    _, folder, out, _ = colorized
    before = snapshot(out)
    result = cli("colorize", folder / "a" / "x.png", folder / "RGB.png", "-o", out)
    one_error_line(result, "x_color.png", "already exists", "--overwrite")
    assert snapshot(out) == before
    (out / "RGB_color.png").write_bytes(b"stale")
    result = cli("colorize", folder / "RGB.png", "-o", out, "--overwrite")
    assert result.returncode == 0 and result.stderr == ""
    with Image.open(out / "RGB_color.png") as img:
        assert img.size == (48, 40)


@pytest.mark.parametrize("size", [0, -5, 1])
def test_3_and_7_train_size_below_two_is_refused(tmp_path, size):
    result = cli("train", *TINY, "--train-size", size, "--out", tmp_path / "run")
    one_error_line(result, f"--train-size {size}", "at least 2")
    assert os.listdir(tmp_path) == []


def test_4_quiet_prints_no_training_or_epoch_lines(run17):
    _, result = run17
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("note: 17 images in batches of 16 leave a last batch of 1")
    assert "epoch" not in result.stderr.replace("each epoch", "") and "training" not in result.stderr
    assert len(result.stdout.strip().splitlines()) == 2   # the result lines are results, not progress


# ---------------------------------------------------------------- crashes and tracebacks

def test_5_an_output_folder_that_is_a_file_is_refused(tmp_path):
    existing = tmp_path / "existing"
    existing.write_text("keep me\n")
    one_error_line(cli("train", *TINY, "--out", existing), "--out", "is a file, not a folder")
    one_error_line(cli("colorize", existing, "-o", existing), "-o", "is a file, not a folder")
    assert existing.read_text() == "keep me\n" and os.listdir(tmp_path) == ["existing"]


@pytest.fixture
def readonly(tmp_path):
    """(folder, how to run the CLI in it): a read-only file system, or a chmod 555 folder where we are not root."""
    folder = tmp_path / "ro"
    folder.mkdir()
    (folder / "done").mkdir()
    minimlp.save({"format": "minimlp-train-1"}, folder / "done" / "last.npz")
    if os.geteuid() == 0:
        yield folder, lambda *args: cli(*args, runner=os.path.join(HERE, "readonly_cli.py"),
                                        env={"READONLY_ROOT": str(folder)})
    else:
        for path in (folder / "done", folder):
            os.chmod(path, 0o555)
        yield folder, cli
        for path in (folder, folder / "done"):
            os.chmod(path, 0o755)


@pytest.mark.parametrize("args", [["train", "--epochs", "1", "--train-size", "32", "--out", "{ro}/run"],
                                  ["train", "--out", "{ro}/done", "--resume", "--epochs", "2"],
                                  ["colorize", "{photo}", "-o", "{ro}/colored"]])
def test_6_a_read_only_output_folder_is_refused_before_any_work(readonly, tmp_path, args):
    folder, run = readonly
    photo = tmp_path / "photo.png"
    Image.fromarray(gradient_rgb()).save(photo)
    before = snapshot(folder)
    result = run(*[a.format(ro=folder, photo=photo) for a in args])
    one_error_line(result, "cannot write in", str(folder))
    assert snapshot(folder) == before


@pytest.mark.parametrize("flag, value, needle", [
    ("--epochs", 0, "at least 1"), ("--epochs", -3, "at least 1"), ("--batch-size", 0, "at least 1"),
    ("--lr", 0, "greater than 0"), ("--lr", -0.1, "greater than 0"), ("--lr", "nan", "greater than 0"),
    ("--weight-decay", -0.01, "0 or more"), ("--batch-size", 1, "BatchNorm, which needs at least 2 images")])
def test_7_every_numeric_option_is_checked_before_anything_is_created(tmp_path, flag, value, needle):
    result = cli("train", *TINY, flag, value, "--out", tmp_path / "run")
    one_error_line(result, f"{flag} {value}", needle)
    assert os.listdir(tmp_path) == []


def test_8_a_last_batch_of_one_is_dropped_and_said_once(run17):
    out, result = run17
    assert result.stderr.count("last batch of 1") == 1
    state = minimlp.load(out / "last.npz")
    assert {s["step"] for s in state["optimizer"]["state"].values()} == {1}   # 16 + 1 images: one step


def test_8_drop_last_drops_every_short_last_batch(tmp_path):
    out = tmp_path / "run"
    result = cli("train", "--train-size", 18, "--epochs", 1, "--drop-last", "--quiet", "--out", out)
    assert result.returncode == 0 and result.stderr == ""
    state = minimlp.load(out / "last.npz")
    assert {s["step"] for s in state["optimizer"]["state"].values()} == {1}   # 16 + 2 images: the 2 dropped
    assert state["config"]["training"]["drop_last"] is True


def test_9_every_input_is_tried_and_each_failure_is_one_line(colorized):
    photos, folder, out, result = colorized
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 3 and "Traceback" not in result.stderr
    assert "notes.txt: not an image format Pillow can open" in lines[0]
    assert "missing.png: no such file" in lines[1]
    assert "huge.png: 10000x6000 is 60,000,000 pixels, more than the 50,000,000 a photo may have" in lines[2]
    written = sorted(os.listdir(out))
    assert len(written) == len(photos) + 2 and "x_color_2.png" in written   # b/x.jpg came after notes.txt


# ---------------------------------------------------------------- misleading messages

@pytest.mark.parametrize("content, needle", [(b"hello, this is text\n", "not a zip archive"),
                                             (None, "no format tag")])
def test_10_a_file_that_is_not_a_checkpoint_says_so_and_what_one_is(tmp_path, content, needle):
    path = tmp_path / "model.npz"
    if content is None:
        np.savez(path, weights=np.zeros(3))
    else:
        path.write_bytes(content)
    line = one_error_line(cli("evaluate", "--checkpoint", path), "not a minimlp checkpoint", needle,
                          "best.npz or last.npz")
    assert "pickle" not in line


def test_10_a_file_cut_short_is_called_truncated_or_damaged(tmp_path):
    """A file that begins as a .npz archive but lost its end (a copy that stopped): truncated, not 'not a zip'."""
    path = tmp_path / "model.npz"
    path.write_bytes(b"PK\x03\x04 truncated")
    line = one_error_line(cli("evaluate", "--checkpoint", path), f"{path} is truncated or damaged")
    assert "not a zip archive" not in line and "pickle" not in line


def test_11_a_truncated_archive_is_named_once(tmp_path):
    tree = tmp_path / "cifar10-jpeg" / "train" / "airplane"
    tree.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for k in range(20):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(tree / f"{k:04d}.png")
    archive = tmp_path / "truncated.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(tmp_path / "cifar10-jpeg", arcname="cifar10-jpeg")
    archive.write_bytes(archive.read_bytes()[:20000])
    line = one_error_line(cli("evaluate", "--checkpoint", "pretrained", "--data", archive),
                          "truncated or corrupt archive")
    assert line.count("truncated.tar.gz") == 1


def test_11_evaluate_names_its_own_split_flag():
    one_error_line(cli("evaluate", "--checkpoint", "pretrained", "--data-split", "full"), "--data-split full")


def test_12_the_loss_curve_names_split_and_unit_and_marks_a_single_epoch(run17):
    out, result = run17
    assert "test MSE (RGB, pixels in [-1, 1])" in result.stdout
    with Image.open(out / "loss_curve.png") as img:
        assert img.size[0] > 300
    history = History.from_csv(out / "history.csv")
    assert len(history) == 1
    for task, unit in (("rgb", "RGB image"), ("chroma", "U and V chroma")):
        fig = loss_figure(history, baseline=0.02, task=task)
        ax = fig.axes[0]
        assert unit in ax.get_ylabel()
        labels = [line.get_label() for line in ax.get_lines()]
        assert all("split" in label for label in labels) and any("gray-copy on the valid" in x for x in labels)
        curves = [line for line in ax.get_lines() if len(line.get_xdata()) == 1]
        assert len(curves) == 3 and all(line.get_marker() not in (None, "None", "") for line in curves)


def test_13_run_files_follow_the_umask(run17):
    out, _ = run17
    for name in ("best.npz", "last.npz", "config.json", "metrics.json", "history.csv", "loss_curve.png"):
        assert stat.S_IMODE(os.stat(out / name).st_mode) == 0o666 & ~UMASK, name


def test_13_samples_show_test_images_across_classes(run17):
    out, _ = run17
    labels = np.repeat(np.arange(10), 5)   # a test set sorted by class, as the full split's is
    picked = across_classes(labels, 12)
    assert len(picked) == 12 and len(set(picked)) == 12 and set(labels[picked]) == set(range(10))
    test = load_default().test
    expected = test.images[across_classes(test.labels, 12)]
    for tile, image in zip(_first_grid_row(out / "samples_test.png"), expected):
        np.testing.assert_array_equal(tile, image)


def _first_grid_row(path, count=12):
    """The ground-truth tiles of a samples_test.png (figures.image_grid's layout: scale 3, gap 2, labels 110 px)."""
    with Image.open(path) as img:
        grid = np.asarray(img.convert("RGB"))
    side, gap, left = 32 * 3, 2, 110
    return [grid[gap:gap + side:3, left + c * (side + gap):left + c * (side + gap) + side:3] for c in range(count)]


def test_13_the_full_splits_samples_span_the_classes(tmp_path):
    from _shared_data import require_shared_archive
    from minimlp.colorize.task.data import load_split
    require_shared_archive()
    out = tmp_path / "full"
    result = cli("train", "--data", "shared", "--split", "full", "--train-size", 32, "--epochs", 1, "--quiet",
                 "--out", out)
    assert result.returncode == 0, result.stderr
    test = load_split("shared", "full").test
    tiles = _first_grid_row(out / "samples_test.png")
    shown = [int(np.flatnonzero((test.images == tile).all(axis=(1, 2, 3)))[0]) for tile in tiles]
    assert len(set(test.labels[shown])) == 10


@pytest.mark.skipif(backend.gpu_available(), reason="this machine has a working GPU")
def test_13_colorize_reads_minimlp_device(tmp_path):
    Image.fromarray(gradient_rgb()).save(tmp_path / "photo.png")
    result = cli("colorize", tmp_path / "photo.png", "-o", tmp_path / "out", env={"MINIMLP_DEVICE": "gpu"})
    one_error_line(result, "device 'gpu' was requested but CuPy is not installed")
    assert sorted(os.listdir(tmp_path)) == ["photo.png"]


def test_14_train_help_shows_the_defaults_and_models_the_recipes():
    text = cli("train", "--help").stdout
    for flag, default in (("--epochs", "80"), ("--batch-size", "16"), ("--optimizer", "adam"),
                          ("--lr", "0.0002"), ("--weight-decay", "0"), ("--schedule", "none")):
        assert f"default {default}" in text.split(flag, 2)[-1].split("--", 1)[0].replace("\n", " "), flag
    assert "chroma-mlp: 20" in text
    listed = cli("models").stdout
    assert ("training: --optimizer adamw --lr 0.001 --batch-size 128 --epochs 20 --weight-decay 0.01 "
            "--schedule onecycle --split full --hflip") in listed
    assert listed.count("training: --optimizer adam --lr 0.0002 --batch-size 16 --epochs 80") == 7

"""Issue 31: ``minimlp-colorize colorize`` on the photos a new user has: very large ones, phone JPEGs stored
sideways, animations, an output named like an input, Ctrl-C, inputs that all fail.

Each test runs the command in a subprocess and checks the exit code, the messages and that nothing was
written or lost. The numbers in the test names are the issue's items.
"""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from photo_samples import gradient_rgb
from PIL import Image
from test_cli_bad_input import cli, luma_of, one_error_line, snapshot

from minimlp.data import rgb_to_gray


def _photo(path, height=40, width=48):
    Image.fromarray(gradient_rgb(height, width)).save(path)
    return path


def test_3_a_photo_over_the_pixel_limit_is_one_line_and_the_others_are_done(tmp_path):
    """A 16000x12000 PNG (1-bit, so 23 kB on disk) is refused from its header, before decoding; the next input
    is colorized, and --max-pixels N reads a photo of N pixels."""
    bomb = tmp_path / "bomb.png"
    Image.new("1", (16000, 12000)).save(bomb)
    photo = _photo(tmp_path / "photo.png")
    out = tmp_path / "out"
    started = time.perf_counter()
    result = cli("colorize", bomb, photo, "-o", out)
    line = one_error_line(result, code=1)
    assert line == (f"minimlp-colorize colorize: error: cannot read image {bomb}: 192,000,000 pixels, more than the "
                    f"50,000,000 a photo may have; pass --max-pixels 192000000 to colorize it")
    assert "DecompressionBomb" not in result.stderr and time.perf_counter() - started < 60
    assert result.stdout.split() == [str(out / "photo_color.png")]
    small = cli("colorize", photo, "-o", tmp_path / "small", "--max-pixels", 40 * 48 - 1)
    one_error_line(small, "48x40 is 1,920 pixels, more than the 1,919 a photo may have; pass --max-pixels 1920",
                   code=1)
    assert not (tmp_path / "small").exists()
    assert cli("colorize", photo, "-o", tmp_path / "small", "--max-pixels", 40 * 48).returncode == 0


def _peak_rss_mb(*args):
    """Peak resident memory (MB) of ``minimlp-colorize ARGS`` in a fresh process, and its result. (Not
    ``ru_maxrss``: Linux carries it over from the forking parent, here the test process.)"""
    code = ("import sys; from minimlp.colorize import cli; code = cli.main(sys.argv[1:]); "   # VmHWM: this process's
            "print(open('/proc/self/status').read().split('VmHWM:')[1].split()[0], file=sys.stderr); "  # peak alone
            "sys.exit(code)")
    result = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                            env={**os.environ, "MINIMLP_DEVICE": "cpu"}, timeout=600, check=False)
    assert result.returncode == 0, result.stderr
    return int(result.stderr.strip().splitlines()[-1]) / 1024, result


def test_3_a_large_photo_is_colorized_in_bounded_memory(tmp_path):
    """A 6000x4000 photo (24 million pixels) takes about 10 bytes a pixel beyond what a 40x48 one takes (the
    whole-image float copies took 57); the strips give the same image as one pass would, to rounding."""
    yy, xx = np.mgrid[0:4000, 0:6000]
    rgb = np.stack([(xx // 24) % 256, (yy // 16) % 256, (xx + yy) // 40 % 256], axis=-1).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "big.png", compress_level=1)
    del rgb, yy, xx
    small_mb, _ = _peak_rss_mb("colorize", _photo(tmp_path / "small.png"), "-o", tmp_path / "out")
    big_mb, result = _peak_rss_mb("colorize", tmp_path / "big.png", "-o", tmp_path / "out")
    print(f"peak memory: {small_mb:.0f} MB for 40x48, {big_mb:.0f} MB for 6000x4000")
    assert (big_mb - small_mb) * 2 ** 20 / 24e6 < 14, (small_mb, big_mb)
    assert result.stderr.strip().splitlines()[:-1] == []   # no Pillow warning, no note
    with Image.open(tmp_path / "out" / "big_color.png") as img:
        assert img.size == (6000, 4000)
        corner = np.asarray(img.crop((0, 0, 480, 320)).convert("RGB"), dtype=np.float32)
    with Image.open(tmp_path / "big.png") as img:
        truth = rgb_to_gray(np.asarray(img.crop((0, 0, 480, 320)), dtype=np.float32))
    assert np.abs(rgb_to_gray(corner) - truth).mean() < 1.0   # the photo's own luma, strip after strip


def test_5_a_sideways_phone_photo_is_turned_upright_first(tmp_path):
    """EXIF Orientation 6 (the camera held on its side): stored 48 wide and 40 high, shown 40 wide and 48 high."""
    stored = gradient_rgb(40, 48)
    image = Image.fromarray(stored)
    exif = image.getexif()
    exif[0x0112] = 6
    image.save(tmp_path / "phone.jpg", exif=exif, quality=95)
    result = cli("colorize", tmp_path / "phone.jpg", "-o", tmp_path / "out")
    assert result.returncode == 0 and result.stderr == "", result.stderr
    upright = np.rot90(stored, k=-1)   # what a viewer shows: rotated 90° clockwise
    got = luma_of(tmp_path / "out" / "phone_color.png")
    assert got.shape == (48, 40)
    assert np.abs(got - rgb_to_gray(upright.astype(np.float32))).mean() < 2.0


def test_13_an_animation_is_colorized_from_its_first_frame_and_says_so(tmp_path):
    frames = [Image.fromarray(gradient_rgb()), Image.fromarray(gradient_rgb()[::-1].copy())]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    result = cli("colorize", tmp_path / "anim.gif", "-o", tmp_path / "out")
    assert result.returncode == 0
    assert result.stderr == (f"minimlp-colorize colorize: note: {tmp_path / 'anim.gif'} has 2 frames (an "
                             f"animation); its first frame is colorized\n")
    with Image.open(tmp_path / "anim.gif") as gif:
        first = rgb_to_gray(np.asarray(gif.convert("RGB"), dtype=np.float32))
    assert np.abs(luma_of(tmp_path / "out" / "anim_color.png") - first).mean() < 1.0


def test_8_an_output_that_would_write_over_an_input_of_the_same_call_is_refused(tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    _photo(folder / "x.png")
    _photo(folder / "x_color.png", 30, 30)   # the user's own photo, named like an output
    os.symlink(folder / "x.png", folder / "link.png")
    before = snapshot(folder)
    for inputs in ([folder / "x.png", folder / "x_color.png"], [folder / "x_color.png", folder / "x.png"]):
        result = cli("colorize", *inputs, "-o", folder, "--overwrite")
        one_error_line(result, f"the output of {folder / 'x.png'} would be {folder / 'x_color.png'}, which is also "
                               f"an input of this call", "choose another -o")
        assert snapshot(folder) == before
    (folder / "link_color.png").symlink_to(folder / "x.png")   # an output name that is a link to an input
    result = cli("colorize", folder / "x.png", folder / "link.png", "-o", folder, "--overwrite")
    one_error_line(result, "also an input of this call")
    assert snapshot(folder) == {**before, **{k: v for k, v in snapshot(folder).items() if k == "link_color.png"}}


def test_11_colorize_creates_no_output_folder_when_every_input_fails(tmp_path):
    (tmp_path / "notes.txt").write_text("not a photo\n")
    result = cli("colorize", tmp_path / "notes.txt", tmp_path / "missing.png", "-o", tmp_path / "a" / "b")
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 2
    assert sorted(os.listdir(tmp_path)) == ["notes.txt"]


def test_13_a_long_native_colorization_says_so_and_ctrl_c_leaves_no_empty_folder(tmp_path):
    """A 2400x1600 photo at native resolution is 54 tiles of 288 pixels (4 margins of the default unet4): one note
    says so (a progress bar follows on a terminal). Ctrl-C during it: exit 130, one line saying what was written, and no empty -o folder."""
    yy, xx = np.mgrid[0:1600, 0:2400]
    Image.fromarray(np.stack([xx % 256, yy % 256, (xx + yy) % 256], -1).astype(np.uint8)).save(tmp_path / "wide.png")
    out = tmp_path / "out"
    run = subprocess.Popen([sys.executable, "-m", "minimlp.colorize", "colorize", "--resolution", "native",
                            str(tmp_path / "wide.png"), "-o", str(out)], env={**os.environ, "MINIMLP_DEVICE": "cpu"},
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = run.stderr.readline()
    assert first == (f"minimlp-colorize colorize: note: {tmp_path / 'wide.png'}: 2400x1600 at native resolution, "
                     f"54 tiles of 288x288\n")
    time.sleep(0.5)
    run.send_signal(signal.SIGINT)
    stdout, rest = run.communicate(timeout=120)
    assert run.returncode == 130 and stdout == ""
    assert rest == ("minimlp-colorize colorize: interrupted; the outputs listed above are complete; no other file "
                    "was written\n")
    assert sorted(os.listdir(tmp_path)) == ["wide.png"]


@pytest.mark.parametrize("name", ["unet-vivid-huge", "unet-vivid"])
def test_13_an_unknown_or_missing_pretrained_model_offers_only_installed_ones(tmp_path, name):
    from minimlp.colorize.models.store import installed_pretrained
    if name in installed_pretrained():
        pytest.skip(f"{name} is installed here")
    line = one_error_line(cli("colorize", _photo(tmp_path / "p.png"), "-o", tmp_path / "out", "--checkpoint",
                              f"pretrained:{name}"), f"'{name}'")
    offered = line.split("the installed ones are: ")[1].split(" (")[0].split(")")[0]
    assert offered.split(", ") == installed_pretrained()
    assert sorted(os.listdir(tmp_path)) == ["p.png"]


def test_13_the_models_listing_is_aligned_at_its_longest_name():
    """Each preset's description and each pretrained file start in one column, ``unet-vivid-small`` included."""
    from minimlp.colorize.models.presets import PRESETS
    from minimlp.colorize.models.store import PRETRAINED
    result = cli("models")
    assert result.returncode == 0 and result.stderr == ""
    lines = result.stdout.splitlines()
    presets = [line for line in lines if line.split(" ", 1)[0] in PRESETS and "[" in line]
    assert len(presets) == len(PRESETS)
    assert len({line.index("[") for line in presets}) == 1
    training = [line for line in lines if line.strip().startswith("training: ")]
    assert {line.index("training") for line in training} == {presets[0].index("[")}
    stored = lines[next(i for i, x in enumerate(lines) if x.startswith("pretrained models")) + 1:]
    assert [line.split()[0] for line in stored] == list(PRETRAINED)
    assert len({line.index(".npz") - len(PRETRAINED[line.split()[0]]) for line in stored}) == 1   # files in a column
    assert len({line.index("(") for line in stored}) == 1

"""Reading photos for ``colorize`` and ``serve``: upright by their EXIF orientation, refused past the pixel limit
before any decoding, and one line saying why a file is not a photo."""
import io
import time

import numpy as np
import pytest

from minimlp.colorize.running.photo_files import (MAX_PIXELS, READ_ERRORS, output_names, read_error,
                                                  read_photo)
from photo_samples import UPRIGHT, gradient_rgb, png_header, save_with_orientation


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("format", ["PNG", "TIFF"])   # Pillow turns a TIFF upright itself: not turned twice
def test_a_photo_is_turned_upright_as_its_exif_orientation_says(tmp_path, orientation, format):
    rgb = gradient_rgb()
    path = tmp_path / f"photo.{format.lower()}"
    save_with_orientation(path, rgb, orientation, format=format)
    np.testing.assert_array_equal(np.asarray(read_photo(path)), UPRIGHT[orientation](rgb))


def test_a_jpeg_from_a_camera_held_upright_comes_out_upright():
    rgb = gradient_rgb(40, 48)
    stored = io.BytesIO()
    save_with_orientation(stored, np.rot90(rgb, 1), 6, format="JPEG")   # the sensor's landscape, tagged "turn 90°"
    stored.seek(0)
    upright = np.asarray(read_photo(stored), dtype=np.float32)
    assert upright.shape == rgb.shape
    assert np.abs(upright - rgb).mean() < 4   # JPEG's loss only


@pytest.mark.parametrize("width, height", [(10_000, MAX_PIXELS // 10_000 + 1), (20_000, 10_000)])
def test_a_photo_past_the_pixel_limit_is_refused_before_decoding(width, height):
    started = time.perf_counter()
    with pytest.raises(ValueError) as caught:
        read_photo(io.BytesIO(png_header(width, height)))   # no pixel data: decoding it would fail otherwise
    assert time.perf_counter() - started < 1.0
    message = read_error("huge.png", caught.value)
    assert message.startswith("cannot read image huge.png: ") and "\n" not in message
    assert f"more than the {MAX_PIXELS:,} a photo may have" in message
    if width * height < 89_000_000:   # under Pillow's own guard the size is named
        assert f"{width}x{height} is {width * height:,} pixels" in message


def test_a_photo_at_the_pixel_limit_is_read(tmp_path):
    from PIL import Image
    path = tmp_path / "at_limit.png"
    Image.new("1", (10_000, MAX_PIXELS // 10_000)).save(path)
    assert read_photo(path).size == (10_000, MAX_PIXELS // 10_000)


def test_a_file_that_is_not_a_photo_gets_one_line():
    with pytest.raises(READ_ERRORS) as caught:
        read_photo(io.BytesIO(b"not a photo\n"))
    assert read_error("notes.txt", caught.value) == "cannot read image notes.txt: not an image format Pillow can open"


def test_inputs_sharing_a_name_get_distinct_output_names():
    assert output_names(["a/x.jpg", "b/x.png", "x", "y.tif", "c/x.jpeg"]) == [
        "x_color.png", "x_color_2.png", "x_color_3.png", "y_color.png", "x_color_4.png"]

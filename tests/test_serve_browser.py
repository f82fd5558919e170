"""The page of ``minimlp-colorize serve`` in a real browser: Debian's Chromium driven by Playwright.

Two photos and a text file are picked at once: the photos' results show at the photos' own size (one turned upright
by its EXIF orientation; the colour one beside its original, the gray one without), the text file gets the
``colorize`` command's one line, a result downloads as a valid PNG and all as a zip; a file past the upload limit
gets the server's own line without being sent. The screenshot goes to the
test's folder, and to docs/serve.png with MINIMLP_UPDATE_SCREENSHOT=1. Playwright is in the test extra and
``.ci/run`` installs Chromium: missing, the test skips here and fails under ``CI=true``.
"""
import io
import os
import shutil
import zipfile

import numpy as np
import pytest
from PIL import Image, ImageDraw

from photo_samples import save_with_orientation
from serve_process import require, serving, vivid_temperature

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BROWSERS = ("chromium", "chromium-browser")
WAIT_MS = 90_000   # generous: the machine may be busy
# an image's colour as the page shows it: mean over its pixels of max(R, G, B) - min(R, G, B) (0 for gray)
COLOUR_SHOWN = """i => { const c = document.createElement('canvas'); c.width = i.naturalWidth; c.height = i.naturalHeight;
    const g = c.getContext('2d'); g.drawImage(i, 0, 0); const d = g.getImageData(0, 0, c.width, c.height).data;
    let sum = 0; for (let k = 0; k < d.length; k += 4) sum += Math.max(d[k], d[k+1], d[k+2]) - Math.min(d[k], d[k+1], d[k+2]);
    return sum / (d.length / 4); }"""


def _chromium():
    path = next((p for p in map(shutil.which, BROWSERS) if p), None)
    if path is None:
        reason = "Chromium is not installed (apt-get install chromium; .ci/run does it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason + "; CI=true requires it")
        pytest.skip(reason)
    return path


def _photos(folder):
    """{file name: upright (width, height)}: a colour portrait stored on its side with EXIF orientation 6, a gray
    drawing, and a text file."""
    import matplotlib.cbook
    with Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg")) as hopper:
        upright = np.asarray(hopper.convert("RGB").resize((256, 300), Image.LANCZOS))
    save_with_orientation(folder / "hopper.jpg", np.ascontiguousarray(np.rot90(upright, 1)), 6, format="JPEG")
    scene = Image.new("L", (320, 240), 200)
    draw = ImageDraw.Draw(scene)
    draw.rectangle([0, 160, 320, 240], fill=110)
    draw.ellipse([240, 20, 290, 70], fill=235)
    draw.rectangle([70, 100, 170, 180], fill=80)
    draw.polygon([(60, 100), (120, 55), (180, 100)], fill=60)
    scene.save(folder / "house.png")
    (folder / "notes.txt").write_text("not a photo\n")
    return {"hopper.jpg": (256, 300), "house.png": (320, 240), "notes.txt": None}


def _png_size(data):
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image.format, image.size


def test_the_page_colorizes_photos_picked_in_chromium(tmp_path):
    require("playwright", why="the test extra: pip install -e '.[test]'")
    chromium = _chromium()
    from playwright.sync_api import sync_playwright
    photos = _photos(tmp_path)
    with serving(cwd=tmp_path) as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900}, accept_downloads=True)
            page.goto(server.url + "/")
            page.wait_for_selector("body[data-ready=true]", timeout=WAIT_MS)
            page.select_option("#model", "vivid")
            assert page.is_visible("#temperature-field") and page.input_value("#temperature") == f"{vivid_temperature():g}"
            # every text each .stage element was given, from the mutation records themselves: two stages that
            # arrive in one chunk of the answer replace each other before an observer could read the page
            page.evaluate("""() => { window.stagesShown = new Set();
                new MutationObserver(records => records.forEach(r => {
                    if (!(r.target.classList && r.target.classList.contains('stage'))) return;
                    r.addedNodes.forEach(n => window.stagesShown.add(
                        n.textContent.split('…')[0].replace(/\\d+%$/, '').trim()));
                })).observe(document.body, {subtree: true, childList: true}); }""")
            page.set_input_files("#files", [str(tmp_path / name) for name in photos])
            page.wait_for_function("document.querySelectorAll('.photo[data-state=done], .photo[data-state=error]')"
                                   ".length === 3", timeout=WAIT_MS)
            page.wait_for_function("[...document.querySelectorAll('.photo[data-state=done] img')]"
                                   ".every(i => i.closest('[hidden]') || (i.complete && i.naturalWidth > 0))",
                                   timeout=WAIT_MS)
            cards = {page.inner_text(f".photo:nth-child({k}) .name"): page.locator(f".photo:nth-child({k})")
                     for k in range(1, 4)}
            assert list(cards) == list(photos)
            assert {"uploading", "reading", "colorizing", "writing the PNGs"} <= set(
                page.evaluate("[...window.stagesShown]"))

            for name, size in photos.items():
                card = cards[name]
                if size is None:
                    assert card.get_attribute("data-state") == "error"
                    assert card.locator(".error").inner_text() == ("cannot read image notes.txt: not an image "
                                                                   "format Pillow can open")
                    assert not card.locator(".views").is_visible()
                    continue
                assert card.get_attribute("data-state") == "done"
                for view in (".compare .under", ".result img", ".gray img"):
                    shown = card.locator(view).evaluate("i => [i.naturalWidth, i.naturalHeight]")
                    assert tuple(shown) == size, (name, view, shown)
                assert card.locator(".original").is_visible() == (name == "hopper.jpg")
                colour = {view: card.locator(view).evaluate(COLOUR_SHOWN)
                          for view in (".compare .under", ".compare .over img", ".result img", ".gray img")}
                assert colour[".gray img"] == colour[".compare .over img"] == 0   # before: the gray input
                assert colour[".result img"] == colour[".compare .under"] > 1     # after: the result, in colour
                if name == "hopper.jpg":
                    assert card.locator(".original img").evaluate(COLOUR_SHOWN) > colour[".result img"]

            hopper = cards["hopper.jpg"]
            hopper.locator(".slider").evaluate("s => { s.value = 30; s.dispatchEvent(new Event('input')); }")
            assert hopper.locator(".over").evaluate("o => o.style.clipPath") == "inset(0px 70% 0px 0px)"
            with page.expect_download(timeout=WAIT_MS) as one:
                hopper.locator(".download").click()
            assert one.value.suggested_filename == "hopper_color.png"
            assert _png_size(open(one.value.path(), "rb").read()) == ("PNG", photos["hopper.jpg"])
            with page.expect_download(timeout=WAIT_MS) as everything:
                page.click("#zip")
            with zipfile.ZipFile(everything.value.path()) as archive:
                assert archive.namelist() == ["hopper_color.png", "house_color.png"]
                assert _png_size(archive.read("house_color.png")) == ("PNG", photos["house.png"])

            page.evaluate("window.scrollTo(0, 0)")
            shot = tmp_path / "serve.png"
            page.screenshot(path=str(shot))
            assert _png_size(shot.read_bytes()) == ("PNG", (1100, 900))
            if os.environ.get("MINIMLP_UPDATE_SCREENSHOT") == "1":
                shutil.copy(shot, os.path.join(ROOT, "docs", "serve.png"))
            page.select_option("#model", "shipped")
            assert not page.is_visible("#temperature-field")

            from minimlp.colorize.web.upload import MAX_UPLOAD_BYTES, too_large
            with open(tmp_path / "huge.tif", "wb") as huge:   # sparse: refused by the page before it is sent
                huge.truncate(MAX_UPLOAD_BYTES + 2 ** 20)
            sent = []
            page.on("request", lambda request: sent.append(request.url))
            page.set_input_files("#files", str(tmp_path / "huge.tif"))
            refused = page.locator(".photo:nth-child(4)")
            refused.locator(".error").wait_for(state="visible", timeout=WAIT_MS)
            assert refused.locator(".error").inner_text() == str(too_large("huge.tif", MAX_UPLOAD_BYTES + 2 ** 20))
            assert not [url for url in sent if "huge.tif" in url]
        finally:
            browser.close()
    assert server.returncode == 0 and server.stderr == "", server.stderr

"""``minimlp-colorize serve``'s own tests, over HTTP to the real server in a subprocess: four uploads at once all
answered with their own photo's colours, the ``colorize`` command's one-line messages and limits, results and
their zip, bad requests, Ctrl-C, and nothing left on disk."""
import concurrent.futures
import io
import json
import os
import socket
import urllib.error
import urllib.parse
import urllib.request
import zipfile

import numpy as np
import pytest
from PIL import Image

from minimlp.colorize.web.upload import STAGES
from photo_samples import gradient_rgb, png_header, save_with_orientation
from serve_process import serving, vivid_temperature

TIMEOUT = 120


def _post(url, data, **query):
    """(status, [JSON messages]) of a POST to /api/colorize."""
    request = urllib.request.Request(f"{url}/api/colorize?{urllib.parse.urlencode(query)}", data=data,
                                     headers={"Content-Type": "application/octet-stream"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:
            return answer.status, [json.loads(line) for line in answer.read().decode().splitlines()]
    except urllib.error.HTTPError as error:
        return error.code, [json.loads(error.read())]


def _get(url):
    with urllib.request.urlopen(url, timeout=TIMEOUT) as answer:
        return answer.status, answer.headers, answer.read()


def _png(array, **save):
    out = io.BytesIO()
    Image.fromarray(array).save(out, format="PNG", **save)
    return out.getvalue()


def _photo(height, width, seed):
    """An RGB photo with colour of its own (a gradient shifted by ``seed``)."""
    return np.roll(np.asarray(Image.fromarray(gradient_rgb()).resize((width, height))), seed * 7, axis=1)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The server, offering beside the shipped models a run folder (holding the small U-Net as its best.npz)."""
    import shutil
    from minimlp.colorize.models.store import pretrained_file
    run = tmp_path_factory.mktemp("run")
    shutil.copy(pretrained_file("unet-small"), run / "best.npz")
    with serving("--checkpoint", run, cwd=tmp_path_factory.mktemp("cwd")) as running:
        running.run_folder = run
        yield running


@pytest.fixture(scope="module")
def shipped():
    from minimlp.colorize.models.store import load_colorizer
    return load_colorizer("pretrained")


def test_the_page_and_its_models(server):
    status, headers, page = _get(server.url + "/")
    assert status == 200 and b"/static/page.js" in page and headers["content-type"].startswith("text/html")
    assert _get(server.url + "/static/page.js")[0] == 200
    models = json.loads(_get(server.url + "/api/models")[2])
    assert [m["id"] for m in models["models"]] == ["shipped", "vivid", "checkpoint-1"]
    assert models["models"][1]["vivid"] and models["models"][1]["temperature"] == vivid_temperature()
    assert models["models"][2]["label"] == f"{server.run_folder} (unet-small)" and not models["models"][2]["vivid"]
    assert models["max_pixels"] == 50_000_000


def test_a_run_folder_given_with_checkpoint_colorizes_as_the_command_does(server, tmp_path, monkeypatch):
    from minimlp.colorize import cli
    photo = _png(_photo(70, 50, 4))
    (tmp_path / "photo.png").write_bytes(photo)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["colorize", "--checkpoint", str(server.run_folder), "photo.png", "-o", "out"]) == 0
    done = _post(server.url, photo, name="photo.png", model="checkpoint-1")[1][-1]["done"]
    with Image.open(io.BytesIO(_get(f"{server.url}/api/results/{done['id']}/result.png")[2])) as served, \
            Image.open(tmp_path / "out" / "photo_color.png") as written:
        np.testing.assert_array_equal(np.asarray(served), np.asarray(written))


def test_four_uploads_at_once_are_all_answered_each_with_its_own_photo(server, shipped):
    from minimlp.colorize.running.photo import colorize_photo
    photos = [_photo(300 + 40 * k, 420 - 30 * k, k) for k in range(4)]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda k: _post(server.url, _png(photos[k]), name=f"p{k}.png"), range(4)))
    model, config = shipped
    for photo, (status, messages) in zip(photos, answers):
        assert status == 200 and "done" in messages[-1], messages
        assert {m["stage"] for m in messages[:-1]} <= set(STAGES)
        done = messages[-1]["done"]
        assert (done["width"], done["height"], done["colour"]) == (photo.shape[1], photo.shape[0], True)
        with Image.open(io.BytesIO(_get(f"{server.url}/api/results/{done['id']}/result.png")[2])) as result:
            expected = colorize_photo(model, config["task"], Image.fromarray(photo))
            np.testing.assert_array_equal(np.asarray(result), np.asarray(expected))


def test_a_file_that_is_not_a_photo_gets_the_colorize_commands_line(server, tmp_path, monkeypatch, capsys):
    from minimlp.colorize import cli
    (tmp_path / "notes.txt").write_text("not a photo\n")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["colorize", "notes.txt", "-o", "out", "--device", "cpu"]) == 1
    command_line = capsys.readouterr().err.strip()
    status, messages = _post(server.url, b"not a photo\n", name="notes.txt")
    assert status == 200 and messages[-1] == {"error": "cannot read image notes.txt: not an image format Pillow "
                                                       "can open"}
    assert command_line == f"minimlp-colorize colorize: error: {messages[-1]['error']}"


def test_an_image_past_the_pixel_limit_is_refused_with_the_commands_message(server):
    status, messages = _post(server.url, png_header(10_000, 6_000), name="huge.png")
    assert status == 200 and messages[-1] == {"error": "cannot read image huge.png: 10000x6000 is 60,000,000 "
                                                       "pixels, more than the 50,000,000 a photo may have"}


def test_an_upload_past_the_byte_limit_is_refused_before_it_is_read(server):
    from minimlp.colorize.web.upload import MAX_UPLOAD_BYTES
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=TIMEOUT) as sock:   # says the size, sends nothing
        sock.sendall(f"POST /api/colorize?name=big.tif HTTP/1.1\r\nHost: {host}\r\nContent-Length: "
                     f"{MAX_UPLOAD_BYTES + 1}\r\n\r\n".encode())
        answer = sock.makefile("rb").read().decode()
    assert answer.startswith("HTTP/1.1 413")
    assert json.loads(answer.split("\r\n\r\n", 1)[1]) == {
        "error": "cannot read image big.tif: 160.0 MiB, more than the 160 MiB an upload may have"}


def test_a_photo_is_upright_and_a_gray_one_has_no_original(server, tmp_path):
    rgb = _photo(60, 90, 1)
    save_with_orientation(tmp_path / "turned.jpg", rgb, 6, format="JPEG")
    _, messages = _post(server.url, (tmp_path / "turned.jpg").read_bytes(), name="turned.jpg")
    done = messages[-1]["done"]
    assert (done["width"], done["height"], done["colour"]) == (60, 90, True)
    for kind, mode in (("result", "RGB"), ("gray", "L"), ("original", "RGB")):
        with Image.open(io.BytesIO(_get(f"{server.url}/api/results/{done['id']}/{kind}.png")[2])) as image:
            assert (image.format, image.mode, image.size) == ("PNG", mode, (60, 90))
    gray = np.asarray(Image.fromarray(rgb).convert("L"))
    _, messages = _post(server.url, _png(gray), name="gray.png")
    assert messages[-1]["done"]["colour"] is False
    with pytest.raises(urllib.error.HTTPError) as missing:
        _get(f"{server.url}/api/results/{messages[-1]['done']['id']}/original.png")
    assert missing.value.code == 404


def test_the_zip_holds_each_result_named_as_the_command_names_its_outputs(server):
    ids = [_post(server.url, _png(_photo(40, 50, k)), name=name)[1][-1]["done"]["id"]
           for k, name in enumerate(["a/x.png", "x.jpg", "y.tif"])]
    status, headers, data = _get(f"{server.url}/api/zip?ids={','.join(ids)}")
    assert status == 200 and headers["content-disposition"] == 'attachment; filename="colorized.zip"'
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.namelist() == ["x_color.png", "x_color_2.png", "y_color.png"]
        for name, key in zip(archive.namelist(), ids):
            assert archive.read(name) == _get(f"{server.url}/api/results/{key}/result.png")[2]


def test_the_vivid_model_takes_a_temperature_and_the_mse_model_none(server):
    photo = _png(_photo(48, 64, 2))
    vivid = [_post(server.url, photo, name="v.png", model="vivid", temperature=t)[1][-1]["done"]["id"]
             for t in ("0.4", "2")]
    chroma = [np.asarray(Image.open(io.BytesIO(_get(f"{server.url}/api/results/{k}/result.png")[2])), np.float32)
              for k in vivid]
    assert np.ptp(chroma[0], axis=-1).mean() > np.ptp(chroma[1], axis=-1).mean()   # lower: more colour
    for query, needle in ((dict(model="vivid", temperature="3"), "temperature 3: give a number from 0 to 2"),
                          (dict(model="vivid", temperature="warm"), "temperature warm: give a number"),
                          (dict(model="shipped", temperature="1"), "is not a vivid model and takes no temperature"),
                          (dict(model="best"), "unknown model 'best'; choose from: shipped, vivid")):
        status, messages = _post(server.url, photo, name="v.png", **query)
        assert status == 400 and needle in messages[0]["error"] and "\n" not in messages[0]["error"]


def test_a_request_naming_another_host_is_refused(server):
    """A page elsewhere cannot reach the local server by pointing a name of its own at 127.0.0.1."""
    request = urllib.request.Request(server.url + "/api/models", headers={"Host": "attacker.example"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=TIMEOUT)
    assert refused.value.code == 400


def test_ctrl_c_stops_it_cleanly_and_nothing_is_left_on_disk(tmp_path):
    folders = {name: tmp_path / name for name in ("cwd", "tmp", "home")}
    for folder in folders.values():
        folder.mkdir()
    env = {"TMPDIR": str(folders["tmp"]), "HOME": str(folders["home"])}
    with serving(cwd=folders["cwd"], env=env) as running:
        photo = _png(_photo(200, 300, 3))
        assert "done" in _post(running.url, photo, name="photo.png")[1][-1]
        assert "error" in _post(running.url, b"text", name="notes.txt")[1][-1]
        assert "error" in _post(running.url, png_header(10_000, 6_000), name="huge.png")[1][-1]
    running.stop()
    assert running.returncode == 0, running.stderr
    assert running.stdout.strip().endswith("minimlp-colorize serve: stopped") and running.stderr == ""
    assert {name: sorted(os.listdir(folder)) for name, folder in folders.items()} == {"cwd": [], "tmp": [],
                                                                                     "home": []}


def test_serve_without_the_web_extra_says_how_to_install_it(monkeypatch, capsys):
    import importlib.util
    from minimlp.colorize import cli
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "starlette" else real(name, *a))
    assert cli.main(["serve"]) == 2
    err = capsys.readouterr().err
    assert err == ("minimlp-colorize serve: error: serve needs starlette (the web extra): install it with "
                   "pip install -e '.[web]'\n")


def test_the_address_is_said_and_a_network_host_is_warned_about(capsys):
    from minimlp.colorize.web.server import announce, bind
    for host in ("127.0.0.1", "0.0.0.0"):
        with bind(host, 0) as sock:
            announce(host, sock)
            port = sock.getsockname()[1]
        out, err = capsys.readouterr()
        assert out.startswith(f"minimlp-colorize serve: open http://127.0.0.1:{port}/ in a browser")
        assert len(out.splitlines()) == 1 and (err == "") == (host == "127.0.0.1")
    assert "network address on port" in out
    assert "anyone who can reach this machine can use this page" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("args, needle", [
    (["--checkpoint", "no/such/run"], "serve: error: no checkpoint at no/such/run"),
    (["--port", "70000"], "serve: error: --port 70000: give a port from 1 to 65535, or 0 for any free one"),
    (["--host", "no.such.host.invalid"], "serve: error: --host no.such.host.invalid: not an address of this machine")])
def test_a_bad_option_is_one_line(args, needle, capsys):
    from minimlp.colorize import cli
    assert cli.main(["serve", "--device", "cpu", *args]) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.splitlines()) == 1


def test_a_port_in_use_is_one_line(capsys):
    from minimlp.colorize import cli
    from minimlp.colorize.web.server import bind
    with bind("127.0.0.1", 0) as taken:
        port = taken.getsockname()[1]
        assert cli.main(["serve", "--port", str(port), "--device", "cpu"]) == 2
    assert capsys.readouterr().err == (f"minimlp-colorize serve: error: --host 127.0.0.1 --port {port}: cannot "
                                       f"listen there (in use: choose another with --port)\n")


def test_the_library_and_the_command_line_do_not_import_the_web_framework():
    import subprocess
    import sys
    code = ("import sys, minimlp, minimlp.colorize; from minimlp.colorize import cli; cli.app.build_parser(); "
            "cli.main(['models']); print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('starlette', 'uvicorn', 'anyio')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT,
                            env={**os.environ, "MINIMLP_DEVICE": "cpu"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_held_results_let_the_oldest_go_past_their_budget_and_keep_the_newest():
    from minimlp.colorize.web.held import HeldResults
    from minimlp.colorize.web.upload import Colorized
    held = HeldResults(max_bytes=250)
    keys = [held.add(Colorized(f"p{k}.png", (1, 1), b"r" * 60, b"g" * 40, None, 0.1)) for k in range(3)]
    assert [held.get(k) is not None for k in keys] == [False, True, True] and len(held) == 2
    big = held.add(Colorized("big.png", (1, 1), b"r" * 400, b"g", None, 0.1))
    assert [held.get(k) is not None for k in keys + [big]] == [False, False, False, True]
    data, missing = held.zip_of(keys + [big])
    assert missing == 3 and zipfile.ZipFile(io.BytesIO(data)).namelist() == ["big_color.png"]

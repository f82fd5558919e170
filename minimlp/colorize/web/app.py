"""The page's web application (Starlette): the page and its static files, and the API the page calls.

    GET  /                                   the page (static/index.html; its script and style under /static/)
    GET  /api/models                         the models offered and the upload limits
    POST /api/colorize?name=N&model=M[&temperature=T]   the photo's bytes as the body; answers lines of JSON as
                                             the work goes: {"stage": ...}, then {"done": {...}} or {"error": "..."}
    GET  /api/results/ID/KIND.png            KIND: result, gray or original (colour photos)
    GET  /api/zip?ids=ID,ID,...              the results as NAME_color.png files in one zip
"""
import asyncio
import json
import sys
import threading
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..running.photo_files import MAX_PIXELS, output_names
from .held import HeldResults
from .upload import MAX_UPLOAD_BYTES, PhotoError, colorize_upload, too_large, upload_name

STATIC = Path(__file__).resolve().parent / "static"
NO_STORE = {"Cache-Control": "no-store"}


def _error(status, message):
    return JSONResponse({"error": message}, status_code=status, headers=NO_STORE)


def _line(message):
    return json.dumps(message) + "\n"


class ColorizeService:
    """The API's work: one photo colorized at a time (the others wait their turn, saying so), the results held in
    memory."""

    def __init__(self, held=None):
        self.held = held or HeldResults()
        self._one_at_a_time = threading.Lock()

    def work(self, data, name, choice, temperature, report):
        """Colorize one upload (in a worker thread) once no other photo is being colorized."""
        if not self._one_at_a_time.acquire(blocking=False):
            report("waiting")
            self._one_at_a_time.acquire()
        try:
            return colorize_upload(data, name, choice, temperature, report)
        finally:
            self._one_at_a_time.release()

    def outcome(self, future, name):
        """The last line for the page: the result held (its id, size, file name) or why there is none."""
        try:
            colorized = future.result()
        except PhotoError as exc:
            return {"error": str(exc)}
        except Exception as exc:   # the server goes on; the page and the server's log get one line
            message = f"could not colorize {name}: {type(exc).__name__}: {exc}"
            print(f"minimlp-colorize serve: error: {message}", file=sys.stderr, flush=True)
            return {"error": message}
        width, height = colorized.size
        return {"done": {"id": self.held.add(colorized), "name": name, "download": output_names([name])[0],
                         "width": width, "height": height, "colour": "original" in colorized.pngs,
                         "seconds": round(colorized.seconds, 3)}}

    async def progress(self, data, name, choice, temperature):
        """The lines of a colorize answer: each stage as it begins, then the outcome."""
        loop = asyncio.get_running_loop()
        queue = asyncio.Queue()

        def report(stage):
            loop.call_soon_threadsafe(queue.put_nowait, {"stage": stage})

        future = loop.run_in_executor(None, self.work, data, name, choice, temperature, report)
        future.add_done_callback(lambda _: queue.put_nowait(None))
        while (message := await queue.get()) is not None:
            yield _line(message)
        yield _line(self.outcome(future, name))


def build_app(choices, allowed_hosts=("*",), held=None):
    """The application serving ``choices`` (``{id: ModelChoice}``, the first the default). ``allowed_hosts``: the
    Host headers answered (127.0.0.1 and localhost for a local server, so that no other site can reach it by
    rebinding a name of its own to 127.0.0.1)."""
    service = ColorizeService(held)

    async def page(request):
        return FileResponse(STATIC / "index.html", headers=NO_STORE)

    async def models(request):
        return JSONResponse({"models": [c.describe() for c in choices.values()], "max_pixels": MAX_PIXELS,
                             "max_upload_bytes": MAX_UPLOAD_BYTES}, headers=NO_STORE)

    async def colorize(request):
        name = upload_name(request.query_params.get("name"))
        key = request.query_params.get("model") or next(iter(choices))
        if key not in choices:
            return _error(400, f"unknown model {key!r}; choose from: {', '.join(choices)}")
        try:
            temperature = choices[key].check_temperature(request.query_params.get("temperature"))
        except ValueError as exc:
            return _error(400, str(exc))
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_UPLOAD_BYTES:
            return _error(413, str(too_large(name, int(declared))))
        data = bytearray()
        async for chunk in request.stream():
            data += chunk
            if len(data) > MAX_UPLOAD_BYTES:
                return _error(413, str(too_large(name, len(data))))
        return StreamingResponse(service.progress(bytes(data), name, choices[key], temperature),
                                 media_type="application/x-ndjson", headers=NO_STORE)

    async def result_png(request):
        colorized = service.held.get(request.path_params["key"])
        png = None if colorized is None else colorized.pngs.get(request.path_params["kind"])
        if png is None:
            return _error(404, "no such result: colorize the photo again (the server holds the latest "
                               f"{service.held.max_bytes >> 20} MiB of results, in memory, until it stops)")
        return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=86400"})

    async def zip_file(request):
        keys = [k for k in request.query_params.get("ids", "").split(",") if k]
        data, missing = service.held.zip_of(keys)
        if missing == len(keys):
            return _error(404, "none of these results is held any more: colorize the photos again")
        return Response(data, media_type="application/zip", headers={
            **NO_STORE, "Content-Disposition": 'attachment; filename="colorized.zip"'})

    routes = [Route("/", page), Route("/api/models", models), Route("/api/colorize", colorize, methods=["POST"]),
              Route("/api/results/{key}/{kind}.png", result_png), Route("/api/zip", zip_file),
              Mount("/static", StaticFiles(directory=STATIC), name="static")]
    return Starlette(routes=routes, middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))])

"""Gradio against Starlette for ``minimlp-colorize serve``: install size, start-up time and page load, measured.

Three virtualenvs under ``--venvs``: ``base`` (minimlp's own dependencies), ``starlette`` (those and the web extra,
Starlette and uvicorn) and ``gradio`` (those and Gradio); ``--create`` makes them with pip. Then, in rounds with
the order alternated, each page is served from its virtualenv with this checkout on PYTHONPATH — ``serve`` itself,
and ``serve_gradio_twin.py`` (the same models behind Gradio's Interface) — and measured:

- install size: the bytes and distributions its virtualenv's site-packages holds beyond ``base``'s;
- import: ``python -c "import <framework>"`` in a fresh process;
- start-up: from starting the server process to the first 200 answer to ``GET /`` (both load the same two
  shipped models first);
- page load, in Chromium (a fresh browser context each time, so nothing is cached): the time to the load event,
  to the page being usable (its file input there and the network idle), the requests it made and the bytes they
  carried; the server's resident memory after it.

This interpreter drives Chromium with Playwright (``pip install playwright``; ``apt-get install chromium``).

    python benchmarks/serve_frameworks.py --venvs /tmp/fw --create --rounds 5 --json benchmarks/serve_frameworks.json
"""
import argparse
import ast
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FRAMEWORKS = {
    "starlette": {"imports": "import starlette.applications, uvicorn",
                  "serve": lambda port: ["-m", "minimlp.colorize", "serve", "--port", str(port)],
                  "ready": "body[data-ready=true] #files"},
    "gradio": {"imports": "import gradio",
               "serve": lambda port: [os.path.join(ROOT, "benchmarks", "serve_gradio_twin.py"), "--port", str(port)],
               "ready": "input[type=file]"},
}


def setup_lists():
    """(minimlp's install_requires, the web extra) as setup.py lists them."""
    tree = ast.parse(open(os.path.join(ROOT, "setup.py"), encoding="utf-8").read())
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "install_requires":
            found["base"] = ast.literal_eval(node.value)
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "WEB":
            found["web"] = ast.literal_eval(node.value)
    return found["base"], found["web"]


def python_of(venvs, name):
    return os.path.join(venvs, name, "bin", "python")


def create(venvs):
    base, web = setup_lists()
    extra = {"base": [], "starlette": web, "gradio": ["gradio"]}
    for name, packages in extra.items():
        folder = os.path.join(venvs, name)
        if not os.path.exists(folder):
            subprocess.run([sys.executable, "-m", "venv", folder], check=True)
        pip = [python_of(venvs, name), "-m", "pip", "install", "-q"]
        subprocess.run(pip + ["--upgrade", "pip"], check=True)
        subprocess.run(pip + base + packages, check=True)


def site_packages(venvs, name):
    out = subprocess.run([python_of(venvs, name), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def installed(venvs, name):
    """(bytes under site-packages, the distributions installed there)."""
    folder = site_packages(venvs, name)
    total = sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(folder) for f in files
                if not os.path.islink(os.path.join(root, f)))
    return total, sorted(d[:-len(".dist-info")] for d in os.listdir(folder) if d.endswith(".dist-info"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def environment():
    return {**os.environ, "PYTHONPATH": ROOT, "MINIMLP_DEVICE": "cpu", "GRADIO_ANALYTICS_ENABLED": "False"}


def import_seconds(venvs, name):
    started = time.perf_counter()
    subprocess.run([python_of(venvs, name), "-c", FRAMEWORKS[name]["imports"]], check=True, env=environment())
    return time.perf_counter() - started


def start(venvs, name):
    """(process, url, seconds from the start of the process to the first 200 on GET /)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    started = time.perf_counter()
    process = subprocess.Popen([python_of(venvs, name), *FRAMEWORKS[name]["serve"](port)], env=environment(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    while time.perf_counter() - started < 180:
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                if answer.status == 200:
                    return process, url, time.perf_counter() - started
        except OSError:
            time.sleep(0.02)
    process.kill()
    raise RuntimeError(f"{name} did not answer on {url}")


def resident_mib(pid):
    with open(f"/proc/{pid}/status") as status:
        kib = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return kib / 1024


def page_load(browser, url, ready):
    """{load_s, usable_s, requests, transfer_kib, body_kib} of one cold visit."""
    context = browser.new_context()
    try:
        page = context.new_page()
        started = time.perf_counter()
        page.goto(url, wait_until="load")
        load = time.perf_counter() - started
        page.wait_for_selector(ready, state="attached")
        page.wait_for_load_state("networkidle")
        usable = time.perf_counter() - started - 0.5   # networkidle: no request for 500 ms
        entries = page.evaluate("""() => [...performance.getEntriesByType('navigation'),
                                          ...performance.getEntriesByType('resource')]
                                         .map(e => [e.transferSize, e.decodedBodySize])""")
        return {"load_s": load, "usable_s": usable, "requests": len(entries),
                "transfer_kib": sum(e[0] for e in entries) / 1024, "body_kib": sum(e[1] for e in entries) / 1024}
    finally:
        context.close()


def stop(process):
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def measure(venvs, rounds, chromium):
    from playwright.sync_api import sync_playwright
    runs = {name: [] for name in FRAMEWORKS}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium)
        for r in range(rounds):
            for name in (list(FRAMEWORKS) if r % 2 == 0 else list(FRAMEWORKS)[::-1]):
                imported = import_seconds(venvs, name)
                process, url, startup = start(venvs, name)
                try:
                    page_load(browser, url, FRAMEWORKS[name]["ready"])   # the server's own first-visit work
                    visit = page_load(browser, url, FRAMEWORKS[name]["ready"])
                    rss = resident_mib(process.pid)
                finally:
                    stop(process)
                runs[name].append({"import_s": imported, "startup_s": startup, "rss_mib": rss, **visit})
                print(name, {k: round(v, 3) for k, v in runs[name][-1].items()}, flush=True)
        browser.close()
    return runs


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--venvs", required=True, help="folder holding (or to hold) base/, starlette/, gradio/")
    parser.add_argument("--create", action="store_true", help="make the virtualenvs first (pip; needs PyPI)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    parser.add_argument("--json", help="write everything measured here")
    args = parser.parse_args()
    if args.create:
        create(args.venvs)
    base_bytes, base_dists = installed(args.venvs, "base")
    result = {"sizes": {}, "runs": measure(args.venvs, args.rounds, args.chromium)}
    for name in FRAMEWORKS:
        size, dists = installed(args.venvs, name)
        result["sizes"][name] = {"added_mb": (size - base_bytes) / 1e6,
                                 "added_distributions": sorted(set(dists) - set(base_dists))}
    print(f"\n| | {' | '.join(FRAMEWORKS)} |\n|---|{'---|' * len(FRAMEWORKS)}")
    sizes = result["sizes"]
    print("| installed beyond minimlp's dependencies | "
          + " | ".join(f"{sizes[n]['added_mb']:.1f} MB, {len(sizes[n]['added_distributions'])} distributions"
                       for n in FRAMEWORKS) + " |")
    for key, what, unit in (("import_s", "import the framework", "s"), ("startup_s", "start-up to the first page", "s"),
                            ("load_s", "page load event (cold)", "s"), ("usable_s", "page usable (cold)", "s"),
                            ("requests", "requests for the page", ""), ("transfer_kib", "bytes over the wire", "KiB"),
                            ("body_kib", "bytes decoded", "KiB"), ("rss_mib", "server memory after a visit", "MiB")):
        values = [statistics.median(run[key] for run in result["runs"][n]) for n in FRAMEWORKS]
        shown = [f"{v:.0f}" if unit in ("", "KiB", "MiB") else f"{v:.2f}" for v in values]
        print(f"| {what} | " + " | ".join(f"{s} {unit}".strip() for s in shown) + " |")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(result, out, indent=1)


if __name__ == "__main__":
    main()

"""``minimlp-colorize serve``: load the models, bind the address, say where the page is, serve until Ctrl-C."""
import errno
import importlib.util
import ipaddress
import socket
import sys

from ...backend import resolve_device
from .choices import load_choices

EXTRA = "pip install -e '.[web]'"
LOOPBACK_NAMES = ("127.0.0.1", "localhost")


def require_web_extra():
    """A one-line error naming the install command when Starlette or uvicorn is missing."""
    missing = [name for name in ("starlette", "uvicorn") if importlib.util.find_spec(name) is None]
    if missing:
        raise RuntimeError(f"serve needs {' and '.join(missing)} (the web extra): install it with {EXTRA}")


def is_loopback(host):
    """Whether ``host`` (a name or an address) serves this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind(host, port):
    """A listening socket on ``host``:``port`` (0: any free port); a one-line error if it cannot be had."""
    if not 0 <= port <= 65535:
        raise ValueError(f"--port {port}: give a port from 1 to 65535, or 0 for any free one")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise ValueError(f"--host {host}: not an address of this machine ({exc})") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(64)
    except OSError as exc:
        sock.close()
        why = (exc.strerror or str(exc)).lower()
        if exc.errno == errno.EADDRINUSE:
            why = "in use: choose another with --port"
        raise ValueError(f"--host {host} --port {port}: cannot listen there ({why})") from None
    return sock


def announce(host, sock):
    """Print where the page is (stdout) and, for a host other than loopback, who else can use it (stderr)."""
    port = sock.getsockname()[1]
    every_interface = host in ("0.0.0.0", "::", "")
    shown = "127.0.0.1" if every_interface else f"[{host}]" if ":" in host else host
    elsewhere = f", or this machine's network address on port {port} from elsewhere" if every_interface else ""
    print(f"minimlp-colorize serve: open http://{shown}:{port}/ in a browser{elsewhere} (Ctrl-C stops)", flush=True)
    if not is_loopback(host):
        print(f"warning: --host {host} serves the network: anyone who can reach this machine can use this page, "
              f"upload photos to it and use its CPU; the default, 127.0.0.1, serves this machine only",
              file=sys.stderr, flush=True)


def serve(args):
    """Run the page until Ctrl-C; 0 when stopped."""
    require_web_extra()
    import uvicorn
    from .app import build_app
    try:
        choices = load_choices(args.checkpoint or (), device=resolve_device(args.device))
        sock = bind(args.host, args.port)
        app = build_app(choices, allowed_hosts=LOOPBACK_NAMES if args.host in LOOPBACK_NAMES else ("*",))
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                                               timeout_graceful_shutdown=3))
        announce(args.host, sock)
        server.run(sockets=[sock])
    except KeyboardInterrupt:   # uvicorn shuts down on Ctrl-C, then raises it again
        pass
    print("minimlp-colorize serve: stopped", flush=True)
    return 0

"""`textcnn serve --workers N`: N server processes on one port, so a machine's cores all serve requests.

One process runs the models on one core's worth of Python (tokenizing, JSON, HTTP hold the GIL), so a
second core only helps a second process. Each worker opens its own listening socket on the port with
SO_REUSEPORT and the kernel spreads new connections across them: unlike one socket shared by every
worker, a burst of connections cannot all land on whichever worker woke first (keep-alive clients then
stay on that one worker for good). Each worker loads its own copy of the models.

The supervisor (this process) first checks that nothing else holds the port, restarts a worker that
dies after it has loaded its models, stops everything if one dies before that, and on SIGTERM or
SIGINT passes SIGTERM on and waits: each worker's uvicorn finishes its in-flight requests first.

Linux only (SO_REUSEPORT balances connections there); elsewhere `serve` falls back to uvicorn's own
supervisor with one shared socket.

Not here: the app (app.py).
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import sys
import threading
import time
from typing import Any

from textcnn.errors import ServeError, TextcnnError

log = logging.getLogger("uvicorn.error")

STOP_TIMEOUT_S = 40.0
"""How long a worker may take to finish its requests after SIGTERM (uvicorn's graceful timeout is 30 s)."""


def balanced() -> bool:
    """Whether this platform spreads connections over sockets sharing a port (Linux's SO_REUSEPORT)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def listen(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    """A listening TCP socket on host:port (ServeError when the port is taken)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET  # as uvicorn binds: "localhost" is 127.0.0.1
    try:
        found = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM, 0, socket.AI_PASSIVE)
    except socket.gaierror as e:
        raise ServeError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    family, kind, proto, _, address = found[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as e:
        sock.close()
        raise ServeError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    return sock


def run(settings: dict[str, Any], workers: int, uvicorn_options: dict[str, Any]) -> int:
    """Serve with `workers` processes until SIGTERM or SIGINT; the exit code (1 if a worker could not start)."""
    host, port = uvicorn_options["host"], uvicorn_options["port"]
    listen(host, port, reuse_port=False).close()  # another server already there: say so now, never share its port
    ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: no threads or tokenizer state forked
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}

    def start() -> tuple[Any, Any]:
        ready = ctx.Event()  # set by the worker once its models are loaded
        p = ctx.Process(target=_worker, args=(settings, uvicorn_options, ready), daemon=False)
        p.start()
        return p, ready

    procs = [start() for _ in range(workers)]
    code = 0
    try:
        while not stop.wait(0.2):
            for i, (p, ready) in enumerate(procs):
                if p.is_alive():
                    continue
                if not ready.is_set():  # a broken start would only repeat itself
                    log.error("worker %s exited with code %s before it was ready; stopping", p.pid, p.exitcode)
                    stop.set()
                    code = 1
                    break
                log.warning("worker %s exited with code %s; starting another", p.pid, p.exitcode)
                procs[i] = start()
    finally:
        for p, _ in procs:
            if p.is_alive():
                p.terminate()  # SIGTERM: uvicorn drains its in-flight requests
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for p, _ in procs:
            p.join(max(0.0, deadline - time.monotonic()))
            if p.is_alive():
                p.kill()
                p.join()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return code


def _worker(settings: dict[str, Any], uvicorn_options: dict[str, Any], ready: Any) -> None:
    """One worker process: listen first (the kernel starts spreading connections at once), then load and serve."""
    import uvicorn

    from textcnn.serve.app import app_from_settings

    try:
        sock = listen(uvicorn_options["host"], uvicorn_options["port"], reuse_port=True)
        app = app_from_settings(settings)
    except TextcnnError as e:  # one line, as from the command itself; the supervisor then stops
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    server = uvicorn.Server(uvicorn.Config(app, **uvicorn_options))
    ready.set()
    server.run(sockets=[sock])

# pyright: basic
"""The HTTP side of `proto3d view`: the standard library's threading server, bound to 127.0.0.1.

Routes: `/` and `/static/NAME` (the page's own files, read once into memory: no path from a
request ever reaches the file system), `/state` (JSON), `/events` (server-sent events: the
session's version on every change), `/frame` (PNG, or JPEG mid-drag; facts in the `X-Frame` header), `/pick`
(JSON) and `POST /params`. Everything else is 404; a Host other than 127.0.0.1 or localhost on
our port is 403 (DNS rebinding), and so is a POST from another origin.
"""

from __future__ import annotations

import json
import math
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import parse_qsl, urlsplit

from proto3d.cli_conventions import Echo
from proto3d.errors import Proto3dError
from proto3d.view.session import Session, Superseded, frame_request

STATIC = {"index.html": "text/html", "view.js": "text/javascript", "view.css": "text/css"}
KEEPALIVE = 15.0  # seconds between comments on an idle event stream, so a closed page is noticed
MAX_BODY = 64 * 1024
HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; frame-ancestors 'none'",
    "Cross-Origin-Resource-Policy": "same-origin",  # no other site may even embed a frame
}


class ViewServer(ThreadingHTTPServer):
    daemon_threads = True  # an open event stream must not keep Ctrl-C waiting

    def __init__(self, session: Session, port: int, say: Echo):
        self.session, self.say = session, say
        package = resources.files("proto3d.view") / "static"
        self.assets = {name: (package / name).read_bytes() for name in STATIC}
        super().__init__(("127.0.0.1", port), Handler)
        self.hosts = {f"127.0.0.1:{self.server_port}", f"localhost:{self.server_port}"}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}/"

    def handle_error(self, request, client_address) -> None:
        """A page that goes away mid-answer is normal; anything else is a bug worth one line, not a traceback."""
        error = sys.exc_info()[1]
        if not isinstance(error, ConnectionError):
            self.say.status(f"proto3d view: {type(error).__name__}: {error}")


class Handler(BaseHTTPRequestHandler):
    server: ViewServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's name
        self.server.say.detail(f"{self.address_string()} {format % args}")

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = dict(parse_qsl(url.query))
        if not self._allowed():
            return
        if url.path == "/":
            self._asset("index.html")
        elif url.path.startswith("/static/") and url.path[len("/static/") :] in STATIC:
            self._asset(url.path[len("/static/") :])
        elif url.path == "/state":
            self._json(200, self.server.session.state())
        elif url.path == "/events":
            self._events()
        elif url.path == "/frame":
            self._frame(query)
        elif url.path == "/pick":
            self._pick(query)
        else:
            self._send(404, b"not found", "text/plain")

    def do_POST(self) -> None:
        self.close_connection = True  # a body left unread must never be taken for the next request
        if not self._allowed():
            return
        origin = self.headers.get("Origin")
        if origin is not None and origin.removeprefix("http://") not in self.server.hosts:
            return self._send(403, b"other origins may not change the view", "text/plain")
        if urlsplit(self.path).path != "/params":
            return self._send(404, b"not found", "text/plain")
        try:
            length = int(self.headers.get("Content-Length") or 0)
            if not 0 < length <= MAX_BODY:
                raise ValueError
            values = json.loads(self.rfile.read(length))
            if not isinstance(values, dict) or not all(
                isinstance(k, str)
                and isinstance(v, (int, float))
                and not isinstance(v, bool)
                and math.isfinite(v)
                for k, v in values.items()
            ):
                raise ValueError
        except ValueError:
            return self._send(400, b"expected a JSON object of param values", "text/plain")
        self.server.session.set_params({k: float(v) for k, v in values.items()})
        self._json(200, {"version": self.server.session.version})

    def do_HEAD(self) -> None:
        self._send(405, b"", "text/plain")

    # ------------------------------------------------------------------ answers

    def _allowed(self) -> bool:
        if self.headers.get("Host") in self.server.hosts:
            return True
        self._send(403, b"this server answers only to 127.0.0.1 and localhost", "text/plain")
        return False

    def _asset(self, name: str) -> None:
        self._send(200, self.server.assets[name], STATIC[name] + "; charset=utf-8")

    def _frame(self, query: dict[str, str]) -> None:
        try:
            request = frame_request(query)
        except ValueError as error:
            return self._send(400, str(error).encode(), "text/plain")
        try:
            image, facts = self.server.session.frame(query.get("client", ""), request)
        except Superseded:
            return self._send(204, b"", "text/plain")
        except Proto3dError as error:
            return self._json(409, {"error": "; ".join(d.message for d in error.diagnostics)})
        self._send(200, image, facts["type"], {"X-Frame": json.dumps(facts)})

    def _pick(self, query: dict[str, str]) -> None:
        try:
            frame, x, y = (int(query[k]) for k in ("frame", "x", "y"))
        except (KeyError, ValueError):
            return self._send(400, b"expected integers frame, x and y", "text/plain")
        self._json(200, self.server.session.pick(frame, x, y))

    def _events(self) -> None:
        """Server-sent events: the session's version now and after every change, until the page goes."""
        session = self.server.session
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        for key, value in HEADERS.items():
            self.send_header(key, value)
        self.end_headers()
        self.close_connection = True
        seen = None
        while not session.closed:
            with session.changed:
                if seen == session.version:
                    session.changed.wait(KEEPALIVE)
                version = session.version
            message = f"data: {version}\n\n" if version != seen else ": idle\n\n"
            self.wfile.write(message.encode())
            self.wfile.flush()
            seen = version

    def _json(self, status: int, value) -> None:
        self._send(status, json.dumps(value).encode(), "application/json")

    def _send(self, status: int, body: bytes, kind: str, extra: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for key, value in {**HEADERS, **(extra or {})}.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

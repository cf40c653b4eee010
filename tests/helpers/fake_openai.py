"""A local server speaking the OpenAI chat-completions protocol, with scripted replies.

    with FakeOpenAI(["first reply", Status(429), "second reply"]) as server:
        client = OpenAIBackend(LLMConfig(base_url=server.base_url))

Each request takes the next script entry: a string (the reply text; ending in `<cut>`: the
reply was cut at the token limit, finish_reason "length"), `Status(code)` (an
OpenAI-style error body), `Slow(seconds, entry)`, or a callable `(request_json) -> entry`
that answers from the request; `default` (same kinds) answers once the script is used up.
Every request is recorded in `server.requests`.

Hostile entries, for what a broken or malicious server may send: `Raw(body, status,
content_type)` sends the body verbatim (a dict as JSON; `completion(text, usage=...)` builds a
reply with any usage; `declared_length` makes the connection close before the declared
Content-Length), `EchoHeaders(status)` repeats the request's headers (the API key among
them) in an error's message, or with status 200 as the reply text, and `Drip(seconds, entry)`
sends the whole response, status line and headers included, one byte every `seconds`.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Status:
    code: int
    message: str = "scripted error"
    retry_after: str | None = None


@dataclass
class Slow:
    seconds: float
    entry: object


@dataclass
class Raw:
    body: object  # bytes, str or a JSON value
    status: int = 200
    content_type: str = "application/json"
    declared_length: int | None = None  # the Content-Length sent, if not the body's


@dataclass
class EchoHeaders:
    status: int = 400


@dataclass
class Drip:
    seconds: float  # between two bytes
    entry: object


def completion(text: str, usage=None, **fields) -> dict:
    """A chat-completion body; `usage` as given (None: omitted), `fields` override top-level keys."""
    body = {
        "id": "chatcmpl-x",
        "object": "chat.completion",
        "created": 0,
        "model": "fake",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
    }
    if usage is not None:
        body["usage"] = usage
    return {**body, **fields}


class FakeOpenAI:
    def __init__(self, script=(), default=None):
        self.script = deque(script)
        self.default = default
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def add(self, *entries) -> None:
        with self._lock:
            self.script.extend(entries)

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()

    def _next(self, request: dict):
        with self._lock:
            self.requests.append(request)
            if self.script:
                entry = self.script.popleft()
            else:
                entry = (
                    self.default if self.default is not None else Status(500, "fake server: script exhausted")
                )
        while True:
            if callable(entry) and not isinstance(entry, (Status, Slow, Raw, EchoHeaders, Drip)):
                entry = entry(request)
            elif isinstance(entry, Slow):
                if self._stop.wait(entry.seconds):
                    return Status(503, "shutting down")
                entry = entry.entry
            else:
                return entry

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                request = json.loads(body or b"{}")
                headers = {k.lower(): v for k, v in self.headers.items()}
                fake.headers.append(headers)
                if not self.path.endswith("/chat/completions"):
                    return self._send(Raw({"error": {"message": f"no route {self.path}"}}, 404))
                entry, drip = fake._next(request), None
                if isinstance(entry, Drip):
                    drip, entry = entry.seconds, entry.entry
                if isinstance(entry, EchoHeaders):
                    echo = f"you sent: {json.dumps(headers)}"
                    entry = echo if entry.status == 200 else Status(entry.status, f"bad request; {echo}")
                if isinstance(entry, Status):
                    error = {"message": entry.message, "type": "error", "code": entry.code}
                    headers = {"retry-after": entry.retry_after} if entry.retry_after else {}
                    return self._send(Raw({"error": error}, entry.code), headers, drip)
                if isinstance(entry, Raw):
                    return self._send(entry, drip=drip)
                text = str(entry)
                finish = "length" if text.endswith("<cut>") else "stop"
                text = text.removesuffix("<cut>")
                prompt_words = sum(len(_text(m).split()) for m in request.get("messages", []))
                reply = completion(
                    text,
                    usage={
                        "prompt_tokens": prompt_words,
                        "completion_tokens": len(text.split()),
                        "total_tokens": prompt_words + len(text.split()),
                    },
                    id=f"chatcmpl-{len(fake.requests)}",
                    model=request.get("model", ""),
                )
                reply["choices"][0]["finish_reason"] = finish
                self._send(Raw(reply), drip=drip)

            def _send(self, raw: Raw, headers=None, drip=None):
                data = (
                    raw.body
                    if isinstance(raw.body, bytes)
                    else (raw.body.encode() if isinstance(raw.body, str) else json.dumps(raw.body).encode())
                )
                head = [
                    f"{self.protocol_version} {raw.status} {self.responses.get(raw.status, ('',))[0]}",
                    f"Content-Type: {raw.content_type}",
                    f"Content-Length: {len(data) if raw.declared_length is None else raw.declared_length}",
                    "Connection: close",
                ]
                head += [f"{k}: {v}" for k, v in (headers or {}).items()]
                response = ("\r\n".join(head) + "\r\n\r\n").encode() + data
                self.close_connection = True
                try:
                    if drip is None:
                        self.wfile.write(response)
                        return
                    for i in range(len(response)):
                        if fake._stop.wait(drip):
                            return
                        self.wfile.write(response[i : i + 1])
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests)

        return Handler


def _text(message: dict) -> str:
    content = message.get("content", "")
    if isinstance(content, str):
        return content
    return " ".join(p.get("text", "") for p in content if p.get("type") == "text")


def images_in(request: dict) -> list[str]:
    """The image URLs of a recorded request."""
    return [
        p["image_url"]["url"]
        for m in request["messages"]
        if isinstance(m["content"], list)
        for p in m["content"]
        if p.get("type") == "image_url"
    ]


def prompt_of(request: dict) -> str:
    """All the text a recorded request sent."""
    return "\n".join(_text(m) for m in request["messages"])

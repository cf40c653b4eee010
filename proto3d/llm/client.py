"""LLM access: one small interface, three backends (OpenAI-compatible HTTP, manual, replay).

The agent only ever calls `backend.complete(role, messages)` and gets a `Reply`. Messages are
plain OpenAI chat dicts; images travel as base64 data URLs inside them, which every
OpenAI-compatible server (OpenAI, vLLM, Ollama, LM Studio, llama.cpp) accepts.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import random
import re
import sys
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from proto3d.files import slug  # noqa: F401  # re-exported: the agent names run folders with it

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

# Roles and the role group whose model they use unless named themselves in [llm.roles].
ROLE_GROUPS = {
    "metricizer": "designer",
    "decomposer": "designer",
    "arranger": "designer",
    "coder": "coder",
    "refiner": "coder",
    "repair": "coder",
    "lint-fix": "coder",
    "inspector": "inspector",
}


class LLMError(Exception):
    """A model call that cannot succeed: bad credentials, unknown model, server down after retries."""


@dataclass(frozen=True)
class Budget:
    """Limits of one run; 0 means unlimited."""

    iterations: int = 6  # inspector rounds
    tokens: int = 0
    cost: float = 0.0  # in the price table's currency (USD by default)
    seconds: float = 0.0
    repairs: int = 3  # repair attempts after each coder answer that does not compile
    lint_rounds: int = 2  # lint-fix rounds before each inspection


@dataclass(frozen=True)
class LLMConfig:
    base_url: str | None = None  # None: the openai package default (api.openai.com)
    model: str = "gpt-4o"
    api_key_env: str = "OPENAI_API_KEY"
    roles: dict = field(default_factory=dict)  # role or role group -> model
    timeout: float = 120.0  # seconds per request
    max_retries: int = 4  # on 429, 5xx, timeouts and connection errors
    backoff: float = 1.0  # first wait in seconds; doubles each retry (with jitter)
    temperature: float | None = None  # None: the server's default (some models accept no other)
    max_tokens: int | None = None  # per completion; None: the server's default
    prices: dict = field(default_factory=dict)  # model -> {"input": $/1M tokens, "output": $/1M tokens}
    budget: Budget = field(default_factory=Budget)
    structured: bool = True  # send JSON answers' schemas as response_format (dropped if the server refuses)
    constrain: str = "none"  # "grammar": coder-family requests carry the language's grammar (vLLM)

    def model_for(self, role: str) -> str:
        return self.roles.get(role) or self.roles.get(ROLE_GROUPS.get(role, role)) or self.model

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
        """Cost of one call, or None when the price table has no entry for the model."""
        price = self.prices.get(model)
        if price is None:
            return None
        return (prompt_tokens * price.get("input", 0.0) + completion_tokens * price.get("output", 0.0)) / 1e6


_NUMBER = (int, float)
_LLM_TYPES = {
    "base_url": str,
    "model": str,
    "api_key_env": str,
    "roles": dict,
    "timeout": _NUMBER,
    "max_retries": int,
    "backoff": _NUMBER,
    "temperature": _NUMBER,
    "max_tokens": int,
    "structured": bool,
    "constrain": str,
}
CONSTRAINTS = ("none", "grammar")
_BUDGET_TYPES = {
    "iterations": int,
    "tokens": int,
    "cost": _NUMBER,
    "seconds": _NUMBER,
    "repairs": int,
    "lint_rounds": int,
}


def _checked(table, types: dict, section: str, path) -> dict:
    """A config table with known keys of the right types, or an LLMError naming the key."""
    if not isinstance(table, dict):
        raise LLMError(f"{section} in {path} must be a table")
    for key, value in table.items():
        if key not in types:
            raise LLMError(f"unknown key {key!r} in {section} of {path}; known: {', '.join(types)}")
        if isinstance(value, bool) != (types[key] is bool) or not isinstance(value, types[key]):
            raise LLMError(f"{section} {key} in {path} has the wrong type: {value!r}")
    if table.get("constrain", "none") not in CONSTRAINTS:
        raise LLMError(f"{section} constrain in {path} must be one of {', '.join(CONSTRAINTS)}")
    return dict(table)


def load_config(path: str | Path | None = None, **overrides) -> LLMConfig:
    """Read a TOML config (sections [llm], [llm.roles], [budget], [prices.MODEL]) then apply overrides.

    Overrides that are None are ignored, so CLI options can be passed straight through.
    """
    data: dict = {}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise LLMError(f"cannot read config {path}: {getattr(exc, 'strerror', None) or exc}") from None
    llm = _checked(data.get("llm", {}), _LLM_TYPES, "[llm]", path)
    budget_data = _checked(data.get("budget", {}), _BUDGET_TYPES, "[budget]", path)
    prices = data.get("prices", {})
    for model, price in prices.items():
        _checked(price, {"input": _NUMBER, "output": _NUMBER}, f'[prices."{model}"]', path)
    config = LLMConfig(**llm, prices=dict(prices), budget=Budget(**budget_data))
    roles = overrides.pop("roles", None)
    budget = {k: overrides.pop(k) for k in list(overrides) if k in Budget.__dataclass_fields__}
    config = replace(config, **{k: v for k, v in overrides.items() if v is not None})
    if roles:
        config = replace(config, roles={**config.roles, **roles})
    budget = {k: v for k, v in budget.items() if v is not None}
    if budget:
        config = replace(config, budget=replace(config.budget, **budget))
    return config


@dataclass
class Reply:
    text: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None
    latency: float = 0.0  # seconds, including retries
    retries: int = 0
    truncated: bool = False  # the answer hit the completion token limit
    cached_tokens: int = 0  # prompt tokens the server read from its prefix cache
    counted: bool = True  # False when no one counted the tokens (a person answered: --llm manual)

    @classmethod
    def from_json(cls, data) -> Reply:
        """A stored reply, or ValueError when a field is unknown, missing or of the wrong type
        (fields with a default may be missing: recordings of older versions lack some)."""
        if not (isinstance(data, dict) and {"text", "model"} <= set(data) <= set(cls.__dataclass_fields__)):
            raise ValueError("not a stored reply")
        reply = cls(**data)
        number = (int, float)
        for value, kinds in [
            (reply.text, str),
            (reply.model, str),
            (reply.prompt_tokens, int),
            (reply.completion_tokens, int),
            (reply.latency, number),
            (reply.retries, int),
            (reply.truncated, bool),
            (reply.cached_tokens, int),
            (reply.counted, bool),
            (reply.cost, (*number, type(None))),
        ]:
            if not isinstance(value, kinds) or (isinstance(value, bool) and kinds is not bool):
                raise ValueError(f"stored reply has {value!r} where a {kinds} belongs")
        if min(reply.prompt_tokens, reply.completion_tokens) < 0:
            raise ValueError("stored reply has a negative token count")
        return reply


REDACTED = "[redacted]"
_secrets: set[str] = set()  # the API keys read in this process
_CREDENTIALS = [  # (pattern, replacement): credentials in any text, known to this process or not
    (
        re.compile(
            r"""(?i)(\b(?:proxy-)?authorization["']?\s*[:=]\s*["']?(?:(?:bearer|basic|token)\s+)?)[^\s"'\\,;&<>]+"""
        ),
        r"\1" + REDACTED,
    ),
    (re.compile(r"""(?i)(\b(?:x-)?api[-_]?key["']?\s*[:=]\s*["']?)[^\s"'\\,;&<>]+"""), r"\1" + REDACTED),
    (re.compile(r"(?i)(\bbearer\s+)[\w.~+/=-]{8,}"), r"\1" + REDACTED),
    (re.compile(r"(?i)([?&](?:key|token|access_token)=)[^\s\"'\\&<>]+"), r"\1" + REDACTED),
    (re.compile(r"(://)[^/\s@\"'<>]+@"), r"\1" + REDACTED + "@"),  # user:password@host
    (re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"), REDACTED),  # OpenAI-style keys
]


def add_secret(secret: str) -> None:
    """Have `redact` remove this value wherever it appears (values under 8 characters are too
    common to replace blindly; the patterns still catch them in headers)."""
    if len(secret) >= 8:
        _secrets.add(secret)


def redact(text: str) -> str:
    """`text` without the API keys this process read and without anything shaped like a credential
    (Authorization values, api-key fields, bearer tokens, key= in URLs, URL passwords, sk-… keys).

    Applied to everything proto3d writes or prints that a server or a key could have reached."""
    for secret in _secrets:
        text = text.replace(secret, REDACTED)
    for pattern, replacement in _CREDENTIALS:
        text = pattern.sub(replacement, text)
    return text


@dataclass(frozen=True)
class Constraint:
    """The form an answer must take, for servers that enforce it while decoding: a JSON schema
    (sent as `response_format`) or a Lark grammar of the whole answer (sent as vLLM's
    `structured_outputs`). Servers that refuse it get the request without it; the loop's checks
    and corrective retries stay in force either way."""

    name: str
    json_schema: dict | None = None
    grammar: str | None = None


class Backend(Protocol):
    def complete(self, role: str, messages: list[dict], constraint: Constraint | None = None) -> Reply: ...


def image_part(png: bytes | str | Path) -> dict:
    """A chat content part carrying a PNG as a base64 data URL."""
    data = png if isinstance(png, bytes) else Path(png).read_bytes()
    url = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    return {"type": "image_url", "image_url": {"url": url}}


def text_part(text: str) -> dict:
    return {"type": "text", "text": text}


def message_text(message: dict) -> str:
    content = message["content"]
    if isinstance(content, str):
        return content
    return "\n".join(p["text"] for p in content if p.get("type") == "text")


def message_images(message: dict) -> list[bytes]:
    content = message["content"]
    if isinstance(content, str):
        return []
    urls = [p["image_url"]["url"] for p in content if p.get("type") == "image_url"]
    return [base64.b64decode(u.split(",", 1)[1]) for u in urls]


def request_key(role: str, messages: list[dict]) -> str:
    """A digest of what the model was asked: role, texts and the bytes of every image."""
    h = hashlib.sha256(role.encode())
    for message in messages:
        h.update(message["role"].encode() + b"\0" + message_text(message).encode() + b"\0")
        for png in message_images(message):
            h.update(hashlib.sha256(png).digest())
    return h.hexdigest()


MAX_REPLY_BYTES = 16 * 2**20  # a chat completion is at most a few hundred kB of text


class _Refused(Exception):
    """A server's 400 or 422 to a request carrying a constraint: it may not support that kind."""


class BadReply(Exception):
    """A reply with status 200 that is not a chat completion: retried like a server error, never recorded."""


class OpenAIBackend:
    """Chat completions on any OpenAI-compatible server, with our own retry loop.

    The openai client's built-in retries are switched off so that every retry, its reason and
    its wait are ours to bound and print (`notify`); auth and unknown-model errors never retry.
    Each request runs on the async client under `asyncio.wait_for`, because httpx's timeouts
    bound each read, not the request: a server sending a byte a second would never time out.
    The async client runs on the backend's own event loop thread, so `complete` stays a plain
    blocking call from any thread (batch workers, a notebook that runs a loop of its own).
    Every reply is checked (`parse_completion`) before anyone sees it, and what leaves the
    backend (reply text, errors, notices) has passed through `redact`.
    """

    def __init__(
        self,
        config: LLMConfig,
        sleep: Callable[[float], None] = time.sleep,
        notify: Callable[[str], None] = lambda message: print(message, file=sys.stderr),
    ):
        import openai

        self.config = config
        self._openai = openai
        self._sleep = sleep
        self._notify = notify
        api_key = os.environ.get(config.api_key_env) or ("none" if config.base_url else None)
        if api_key is None:
            raise LLMError(
                f"no API key: set {config.api_key_env} (or pass --base-url for a local server that needs none)"
            )
        if os.environ.get(config.api_key_env):
            add_secret(api_key)
        self._client = openai.AsyncOpenAI(
            api_key=api_key, base_url=config.base_url, timeout=config.timeout, max_retries=0
        )
        # The requests run on an event loop of our own, in a thread that lives as long as the backend.
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=_serve, args=(self._loop,), name="proto3d-llm", daemon=True).start()
        weakref.finalize(self, _shut_down, self._loop, self._client)
        self._refused: set[tuple[str, str]] = set()  # (model, kind of constraint) the server refused

    def complete(self, role: str, messages: list[dict], constraint: Constraint | None = None) -> Reply:
        """One answer; with a `constraint` the configuration asks for (and the server has not
        refused before), sent with it. A server that answers 400 or 422 to the constraint is asked
        again without it, and is not sent that kind of constraint for this model again."""
        config = self.config
        model = config.model_for(role)
        kwargs: dict = {"model": model, "messages": messages}
        if config.temperature is not None:
            kwargs["temperature"] = config.temperature
        if config.max_tokens:
            kwargs["max_tokens"] = config.max_tokens
        fields, kind = self._constraint_fields(model, constraint)
        if kind is not None:
            try:
                return self._complete(role, model, {**kwargs, **fields}, constrained=True)
            except _Refused as exc:
                self._refused.add((model, kind))
                where = config.base_url or "api.openai.com"
                self._notify(
                    redact(f"{role}: {model!r} at {where} refused the {kind} ({exc}); asking without it")
                )
        return self._complete(role, model, kwargs, constrained=False)

    def _constraint_fields(self, model: str, constraint: Constraint | None) -> tuple[dict, str | None]:
        """The request fields that carry `constraint`, and their kind; ({}, None) when none is sent."""
        config = self.config
        if constraint is None:
            return {}, None
        if constraint.json_schema is not None and config.structured:
            if (model, "response_format") not in self._refused:
                schema = {"name": constraint.name, "schema": constraint.json_schema, "strict": True}
                return {"response_format": {"type": "json_schema", "json_schema": schema}}, "response_format"
        if constraint.grammar is not None and config.constrain == "grammar":
            if (model, "grammar") not in self._refused:
                return {"extra_body": {"structured_outputs": {"grammar": constraint.grammar}}}, "grammar"
        return {}, None

    def _complete(self, role: str, model: str, kwargs: dict, constrained: bool) -> Reply:
        openai, config = self._openai, self.config
        where = config.base_url or "api.openai.com"
        start = time.monotonic()
        for attempt in range(config.max_retries + 1):
            try:
                text, prompt_tokens, completion_tokens, truncated, cached = parse_completion(
                    *self._post(kwargs)
                )
                break
            except openai.AuthenticationError:
                raise LLMError(
                    f"authentication failed at {redact(where)}: check {config.api_key_env}"
                ) from None
            except openai.PermissionDeniedError as exc:
                raise LLMError(
                    redact(f"permission denied for model {model!r} at {where}: {_detail(exc)}")
                ) from None
            except openai.NotFoundError as exc:
                raise LLMError(
                    redact(
                        f"model {model!r} not found at {where} ({_detail(exc)}); check --model and --base-url"
                    )
                ) from None
            except (
                openai.RateLimitError,
                openai.InternalServerError,
                openai.APIConnectionError,
                asyncio.TimeoutError,
                BadReply,
            ) as exc:
                # APITimeoutError is an APIConnectionError.
                if isinstance(exc, (asyncio.TimeoutError, openai.APITimeoutError)):
                    reason = f"timed out after {config.timeout:g} s"
                elif isinstance(exc, openai.APIConnectionError):
                    reason = f"cannot connect ({exc.__cause__ or exc})"
                elif isinstance(exc, BadReply):
                    reason = f"invalid reply: {exc}"
                else:
                    reason = f"HTTP {exc.status_code}: {_detail(exc)}"
                if attempt == config.max_retries:
                    tries = f"{attempt + 1} attempt" + ("s" if attempt else "")
                    raise LLMError(
                        redact(f"{role}: {model!r} at {where} failed after {tries}: {reason}")
                    ) from None
                wait = _retry_after(exc)
                wait = config.backoff * 2**attempt * (0.5 + random.random()) if wait is None else wait
                self._notify(
                    redact(
                        f"{role}: {model!r} at {where}: {reason}; "
                        f"retry {attempt + 1} of {config.max_retries} in {wait:.1f} s"
                    )
                )
                self._sleep(wait)
            except openai.APIStatusError as exc:
                if constrained and exc.status_code in (400, 422):
                    raise _Refused(f"HTTP {exc.status_code}: {_detail(exc)}") from None
                message = f"{role}: {model!r} at {where}: HTTP {exc.status_code}: {_detail(exc)}"
                raise LLMError(redact(message)) from None
        return Reply(
            text=redact(text),
            model=model,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost=config.cost(model, prompt_tokens, completion_tokens),
            latency=time.monotonic() - start,
            retries=attempt,
            truncated=truncated,
            cached_tokens=cached,
        )

    def _post(self, kwargs: dict) -> tuple[str, bytes]:
        """One request, bounded as a whole by the timeout: (content type, body) of a 200 reply."""

        async def request():
            async with self._client.chat.completions.with_streaming_response.create(**kwargs) as response:
                body = bytearray()
                try:
                    async for chunk in response.iter_bytes():
                        body += chunk
                        if len(body) > MAX_REPLY_BYTES:
                            raise BadReply(f"longer than {MAX_REPLY_BYTES // 2**20} MB")
                except BadReply:
                    raise
                except Exception as exc:  # the transport's error (httpx's own class): the connection broke
                    raise BadReply(f"cut off after {len(body)} bytes ({type(exc).__name__}: {exc})") from None
                return response.headers.get("content-type", ""), bytes(body)

        future = asyncio.run_coroutine_threadsafe(
            asyncio.wait_for(request(), self.config.timeout), self._loop
        )
        try:
            return future.result()
        finally:
            future.cancel()  # interrupted while waiting (Ctrl-C): the request stops too


def _serve(loop: asyncio.AbstractEventLoop) -> None:
    loop.run_forever()
    loop.close()


def _shut_down(loop: asyncio.AbstractEventLoop, client) -> None:
    closing = asyncio.run_coroutine_threadsafe(client.close(), loop)
    closing.add_done_callback(lambda _: loop.call_soon_threadsafe(loop.stop))


def parse_completion(content_type: str, body: bytes) -> tuple[str, int, int, bool, int]:
    """(text, prompt tokens, completion tokens, cut at the token limit, cached prompt tokens) of a
    chat-completion body, or BadReply saying what is wrong. Token counts that are absent or null
    count as 0; so does a cached count that is not a count (only some servers report it)."""
    try:
        data = json.loads(body)
    except ValueError:
        start = _shortened(body.decode("utf-8", "replace"))
        raise BadReply(f"not JSON ({content_type or 'no content type'}): {start!r}") from None
    if not isinstance(data, dict):
        raise BadReply(f"expected a JSON object, got {type(data).__name__}")
    choices = data.get("choices")
    if not (
        isinstance(choices, list)
        and choices
        and isinstance(choices[0], dict)
        and isinstance(choices[0].get("message"), dict)
    ):
        if data.get("error"):
            raise BadReply(f"an error with status 200: {_message_of(data)}")
        raise BadReply("no choices[0].message")
    choice = choices[0]
    text = choice["message"].get("content")
    if not isinstance(text, (str, type(None))):
        raise BadReply(f"choices[0].message.content is a {type(text).__name__}, not text")
    usage = data.get("usage") or {}
    if not isinstance(usage, dict):
        raise BadReply(f"usage is a {type(usage).__name__}, not an object")
    tokens = []
    for name in ("prompt_tokens", "completion_tokens"):
        value = usage.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise BadReply(f"usage.{name} is {value!r}, not a count")
        tokens.append(value or 0)
    details = usage.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    cached = cached if isinstance(cached, int) and not isinstance(cached, bool) and cached >= 0 else 0
    return text or "", tokens[0], tokens[1], choice.get("finish_reason") == "length", cached


def _detail(exc) -> str:
    body = getattr(exc, "body", None)
    return _message_of(body) if isinstance(body, dict) else _shortened(str(exc))


def _message_of(body: dict) -> str:
    """The message of an error body, in any of the shapes servers send."""
    error = body.get("error")
    message = body.get("message") or (error.get("message") if isinstance(error, dict) else error) or body
    return _shortened(str(message))


def _shortened(text: str, limit: int = 300) -> str:
    """A server's text fit for one line of a message: redacted first, so no key is cut in half."""
    text = redact(text)
    return text if len(text) <= limit else text[:limit] + "…"


def _retry_after(exc) -> float | None:
    """Honour a short Retry-After header; ignore long or malformed ones (our own backoff applies)."""
    response = getattr(exc, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if 0 <= seconds <= 60 else None


class ManualBackend:
    """A person plays the model: each request becomes a Markdown file (images beside it), and the
    loop waits until the answer file appears.

    Files in `folder`: `NNN-role.request.md`, `NNN-role-K.png`, and the answer the person writes,
    `NNN-role.answer.md` (it is read once it has stopped changing). A request that is already in
    the folder (the loop was interrupted while waiting) is not written again: its answer is used.
    """

    def __init__(
        self,
        folder: str | Path,
        poll: float = 0.5,
        notify: Callable[[str], None] = print,
        timeout: float | None = None,
    ):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.poll = poll
        self.notify = notify
        self.timeout = timeout
        self._used: set[str] = set()

    def complete(self, role: str, messages: list[dict], constraint: Constraint | None = None) -> Reply:
        """The person's answer; `constraint` is for servers (the request's text asks for the form)."""
        key = request_key(role, messages)
        stem = self._pending(key) or self._write_request(role, messages, key)
        self._used.add(stem)
        answer = self.folder / f"{stem}.answer.md"
        self.notify(f"waiting for {answer} (request: {self.folder / (stem + '.request.md')})")
        start = time.monotonic()
        last = None
        while True:
            if answer.exists():
                stat = answer.stat()
                if last == (stat.st_size, stat.st_mtime_ns):
                    break
                last = (stat.st_size, stat.st_mtime_ns)
            if self.timeout is not None and time.monotonic() - start > self.timeout:
                raise LLMError(f"no answer in {answer} after {self.timeout:g} s")
            time.sleep(self.poll)
        return Reply(
            text=answer.read_text(encoding="utf-8"),
            model="manual",
            latency=time.monotonic() - start,
            counted=False,
        )

    def _pending(self, key: str) -> str | None:
        for request in sorted(self.folder.glob("*.request.md")):
            stem = request.name.removesuffix(".request.md")
            if stem not in self._used and request.read_text(encoding="utf-8").startswith(f"<!-- {key} -->"):
                return stem
        return None

    def _write_request(self, role: str, messages: list[dict], key: str) -> str:
        from proto3d.files import write_atomic

        number = 1 + max(
            (int(p.name[:3]) for p in self.folder.glob("[0-9][0-9][0-9]-*.request.md")), default=0
        )
        stem = f"{number:03d}-{role}"
        lines = [f"<!-- {key} -->", f"# Request {number}: {role}", ""]
        n_images = 0
        for message in messages:
            lines += [f"## {message['role']}", "", message_text(message), ""]
            for png in message_images(message):
                n_images += 1
                name = f"{stem}-{n_images}.png"
                write_atomic(self.folder / name, png, parents=True)
                lines += [f"![image {n_images}]({name})", ""]
        lines += ["---", f"Write the model's answer into `{stem}.answer.md` in this folder."]
        write_atomic(self.folder / f"{stem}.request.md", "\n".join(lines) + "\n", parents=True)
        return stem

"""LLM access: one small interface, three backends (OpenAI-compatible HTTP, manual, replay).

The agent only ever calls `backend.complete(role, messages)` and gets a `Reply`. Messages are
plain OpenAI chat dicts; images travel as base64 data URLs inside them, which every
OpenAI-compatible server (OpenAI, vLLM, Ollama, LM Studio, llama.cpp) accepts.
"""
from __future__ import annotations

import base64
import hashlib
import os
import random
import re
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Protocol

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

    def model_for(self, role: str) -> str:
        return self.roles.get(role) or self.roles.get(ROLE_GROUPS.get(role, role)) or self.model

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
        """Cost of one call, or None when the price table has no entry for the model."""
        price = self.prices.get(model)
        if price is None:
            return None
        return (prompt_tokens * price.get("input", 0.0) + completion_tokens * price.get("output", 0.0)) / 1e6


_NUMBER = (int, float)
_LLM_TYPES = {"base_url": str, "model": str, "api_key_env": str, "roles": dict, "timeout": _NUMBER,
              "max_retries": int, "backoff": _NUMBER, "temperature": _NUMBER, "max_tokens": int}
_BUDGET_TYPES = {"iterations": int, "tokens": int, "cost": _NUMBER, "seconds": _NUMBER, "repairs": int,
                 "lint_rounds": int}


def _checked(table, types: dict, section: str, path) -> dict:
    """A config table with known keys of the right types, or an LLMError naming the key."""
    if not isinstance(table, dict):
        raise LLMError(f"{section} in {path} must be a table")
    for key, value in table.items():
        if key not in types:
            raise LLMError(f"unknown key {key!r} in {section} of {path}; known: {', '.join(types)}")
        if isinstance(value, bool) or not isinstance(value, types[key]):
            raise LLMError(f"{section} {key} in {path} has the wrong type: {value!r}")
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


class Backend(Protocol):
    def complete(self, role: str, messages: list[dict]) -> Reply: ...


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


class OpenAIBackend:
    """Chat completions on any OpenAI-compatible server, with our own retry loop.

    The openai client's built-in retries are switched off so that every retry, its reason and
    its wait are ours to bound and report; auth and unknown-model errors never retry.
    """

    def __init__(self, config: LLMConfig, sleep: Callable[[float], None] = time.sleep):
        import openai

        self.config = config
        self._openai = openai
        self._sleep = sleep
        api_key = os.environ.get(config.api_key_env) or ("none" if config.base_url else None)
        if api_key is None:
            raise LLMError(
                f"no API key: set {config.api_key_env} (or pass --base-url for a local server that needs none)"
            )
        self._client = openai.OpenAI(
            api_key=api_key, base_url=config.base_url, timeout=config.timeout, max_retries=0
        )

    def complete(self, role: str, messages: list[dict]) -> Reply:
        openai, config = self._openai, self.config
        model = config.model_for(role)
        kwargs: dict = {"model": model, "messages": messages}
        if config.temperature is not None:
            kwargs["temperature"] = config.temperature
        if config.max_tokens:
            kwargs["max_tokens"] = config.max_tokens
        where = config.base_url or "api.openai.com"
        start = time.monotonic()
        for attempt in range(config.max_retries + 1):
            try:
                response = self._client.chat.completions.create(**kwargs)
                break
            except openai.AuthenticationError:
                raise LLMError(f"authentication failed at {where}: check {config.api_key_env}") from None
            except openai.PermissionDeniedError as exc:
                raise LLMError(f"permission denied for model {model!r} at {where}: {_detail(exc)}") from None
            except openai.NotFoundError as exc:
                raise LLMError(
                    f"model {model!r} not found at {where} ({_detail(exc)}); check --model and --base-url"
                ) from None
            except (openai.RateLimitError, openai.InternalServerError, openai.APIConnectionError) as exc:
                # APITimeoutError is an APIConnectionError.
                if attempt == config.max_retries:
                    if isinstance(exc, openai.APITimeoutError):
                        reason = f"timed out after {config.timeout:g} s"
                    elif isinstance(exc, openai.APIConnectionError):
                        reason = f"cannot connect ({exc.__cause__ or exc})"
                    else:
                        reason = f"HTTP {exc.status_code}: {_detail(exc)}"
                    tries = f"{attempt + 1} attempt" + ("s" if attempt else "")
                    raise LLMError(f"{role}: {model!r} at {where} failed after {tries}: {reason}") from None
                wait = _retry_after(exc)
                self._sleep(config.backoff * 2**attempt * (0.5 + random.random()) if wait is None else wait)
            except openai.APIStatusError as exc:
                raise LLMError(f"{role}: {model!r} at {where}: HTTP {exc.status_code}: {_detail(exc)}") from None
        choice = response.choices[0] if response.choices else None
        text = (choice.message.content or "") if choice else ""
        usage = response.usage
        prompt_tokens = usage.prompt_tokens if usage else 0
        completion_tokens = usage.completion_tokens if usage else 0
        return Reply(
            text=text,
            model=model,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost=config.cost(model, prompt_tokens, completion_tokens),
            latency=time.monotonic() - start,
            retries=attempt,
            truncated=bool(choice and choice.finish_reason == "length"),
        )


def _detail(exc) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        return str(body.get("message") or body.get("error", {}).get("message") or body)
    return str(exc)


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

    def __init__(self, folder: str | Path, poll: float = 0.5, notify: Callable[[str], None] = print,
                 timeout: float | None = None):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.poll = poll
        self.notify = notify
        self.timeout = timeout
        self._used: set[str] = set()

    def complete(self, role: str, messages: list[dict]) -> Reply:
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
        return Reply(text=answer.read_text(encoding="utf-8"), model="manual", latency=time.monotonic() - start)

    def _pending(self, key: str) -> str | None:
        for request in sorted(self.folder.glob("*.request.md")):
            stem = request.name.removesuffix(".request.md")
            if stem not in self._used and request.read_text(encoding="utf-8").startswith(f"<!-- {key} -->"):
                return stem
        return None

    def _write_request(self, role: str, messages: list[dict], key: str) -> str:
        from proto3d.compiler.files import write_atomic

        number = 1 + max((int(p.name[:3]) for p in self.folder.glob("[0-9][0-9][0-9]-*.request.md")), default=0)
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


def slug(text: str) -> str:
    """A file-name-safe form of a category name ("Office chair!" -> "office-chair")."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "object"

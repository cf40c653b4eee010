"""Record, replay and resume: every model call is a file in the run folder.

`Recorder` wraps a live backend. Call N is stored as `calls/NNNN-role.json` (request, reply,
tokens, cost, latency) plus `calls/NNNN-role.md`, the exact prompt as a person reads it, with
the images beside it. When the file for call N already exists and its request is the same, the
stored reply is returned instead of asking the model: that one mechanism gives

* resume: a re-started run replays its recorded prefix (compiling and rendering are
  deterministic and take milliseconds) and goes live at the first call not yet made;
* replay (`live=None`): a finished run re-runs fully offline.

A record that cannot be read back as a valid reply (a damaged file, or one written by an older
version that recorded a broken reply) counts as absent: a resumed run makes that call live.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from proto3d.agent.run import write_text
from proto3d.files import write_atomic
from proto3d.llm.client import (
    Backend,
    Constraint,
    LLMError,
    Reply,
    message_images,
    message_text,
    request_key,
)


class ReplayExhausted(LLMError):
    """Replay reached a call the recording does not have."""


@dataclass
class Usage:
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0  # of prompt_tokens, read from the server's prefix cache (where it says so)
    uncounted_calls: int = 0  # calls whose tokens no one counted (answered by a person)
    cost: float = 0.0
    unpriced_calls: int = 0  # calls whose model has no entry in the price table
    latency: float = 0.0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add(self, reply: Reply) -> None:
        self.calls += 1
        self.prompt_tokens += reply.prompt_tokens
        self.completion_tokens += reply.completion_tokens
        self.cached_tokens += reply.cached_tokens
        self.uncounted_calls += not reply.counted
        if reply.cost is None:
            self.unpriced_calls += 1
        else:
            self.cost += reply.cost
        self.latency += reply.latency

    def to_json(self) -> dict:
        return {
            **asdict(self),
            "tokens": self.tokens,
            "cost": round(self.cost, 6),
            "latency": round(self.latency, 3),
        }


class Recorder:
    def __init__(self, folder: str | Path, live: Backend | None):
        self.folder = Path(folder)
        self.live = live
        self.index = 0
        self.total = Usage()
        self.by_role: dict[str, Usage] = {}
        self.replayed = 0
        self.mismatches: list[int] = []  # replay only: calls whose request differed from the recording

    def complete(self, role: str, messages: list[dict], constraint: Constraint | None = None) -> Reply:
        """Call N from the recording when its request matches (the constraint is how the server
        decodes, not what is asked, so it is not part of the match), else from the live backend."""
        self.index += 1
        stem = f"{self.index:04d}-{role}"
        key = request_key(role, messages)
        recorded = self._load(self.index)
        if recorded is not None and (recorded[0] == key or self.live is None):
            if recorded[0] != key:
                self.mismatches.append(self.index)
            reply = recorded[1]
            self.replayed += 1
        elif self.live is None:
            raise ReplayExhausted(f"the recording has no call {self.index} ({role}) in {self.folder}")
        else:
            self._drop_from(
                self.index
            )  # anything recorded from here on is stale (the run diverged) or damaged
            reply = self.live.complete(role, messages, constraint)
            self._save(stem, role, key, messages, reply)
        self.total.add(reply)
        self.by_role.setdefault(role, Usage()).add(reply)
        return reply

    def _load(self, index: int) -> tuple[str, Reply] | None:
        """(request key, reply) of recorded call `index`, or None when it is absent or damaged."""
        for path in self.folder.glob(f"{index:04d}-*.json"):
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
                return str(record["key"]), Reply.from_json(record["reply"])
            except (OSError, ValueError, TypeError, KeyError):
                return None
        return None

    def _drop_from(self, index: int) -> None:
        for path in sorted(self.folder.glob("[0-9][0-9][0-9][0-9]-*")):
            if int(path.name[:4]) >= index:
                path.unlink()

    def _save(self, stem: str, role: str, key: str, messages: list[dict], reply: Reply) -> None:
        stored, md = [], [f"# Call {self.index}: {role} ({reply.model})", ""]
        n = 0
        for message in messages:
            images = []
            for png in message_images(message):
                n += 1
                name = f"{stem}-{n}.png"
                write_atomic(self.folder / name, png, parents=True)
                images.append(name)
            text = message_text(message)
            stored.append({"role": message["role"], "text": text, "images": images})
            md += [f"## {message['role']}", "", text, ""] + [f"![{name}]({name})" for name in images] + [""]
        md += [
            "## reply",
            "",
            reply.text,
            "",
            (
                f"_tokens: {reply.prompt_tokens} in ({reply.cached_tokens} cached), {reply.completion_tokens} out; "
                if reply.counted
                else "_tokens: n/a (answered by a person); "
            )
            + f"latency {reply.latency:.2f} s; retries {reply.retries}_",
        ]
        # The .md first: a .json on disk means the call is complete.
        write_text(self.folder / f"{stem}.md", "\n".join(md) + "\n")
        record = {"index": self.index, "role": role, "key": key, "messages": stored, "reply": asdict(reply)}
        write_text(self.folder / f"{stem}.json", json.dumps(record, indent=1))

"""The LLM client against a real local HTTP server speaking the OpenAI protocol."""

from __future__ import annotations

import base64
import io
import json
import threading

import pytest
from PIL import Image

from proto3d.llm.client import (
    LLMConfig,
    LLMError,
    ManualBackend,
    OpenAIBackend,
    image_part,
    load_config,
    text_part,
)
from proto3d.llm.record import Recorder, ReplayExhausted
from tests.helpers.fake_openai import FakeOpenAI, Slow, Status, images_in, prompt_of


def config(server, **kw) -> LLMConfig:
    return LLMConfig(base_url=server.base_url, model="fake-vl", backoff=0.001, **kw)


def png(color=(255, 0, 0)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (4, 3), color).save(buf, format="PNG")
    return buf.getvalue()


def test_reply_usage_cost_and_vision_message():
    prices = {"fake-vl": {"input": 2.0, "output": 10.0}}
    with FakeOpenAI(["a chair"]) as server:
        backend = OpenAIBackend(config(server, prices=prices))
        messages = [{"role": "user", "content": [text_part("what is this"), image_part(png())]}]
        reply = backend.complete("inspector", messages)
    assert reply.text == "a chair"
    assert reply.model == "fake-vl"
    assert (reply.prompt_tokens, reply.completion_tokens) == (3, 2)  # the fake counts words
    assert reply.cost == pytest.approx((3 * 2.0 + 2 * 10.0) / 1e6)
    request = server.requests[0]
    assert request["model"] == "fake-vl"
    assert prompt_of(request) == "what is this"
    (url,) = images_in(request)
    assert url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == png()


def test_per_role_models_and_unpriced_cost():
    with FakeOpenAI(["x", "y", "z"]) as server:
        backend = OpenAIBackend(config(server, roles={"designer": "small", "repair": "coder-xl"}))
        for role in ("metricizer", "repair", "inspector"):
            assert backend.complete(role, [{"role": "user", "content": "hi"}]).cost is None
    assert [r["model"] for r in server.requests] == ["small", "coder-xl", "fake-vl"]


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_retries_on_rate_limit_and_server_errors(status):
    with FakeOpenAI([Status(status), Status(status, retry_after="0"), "done"]) as server:
        reply = OpenAIBackend(config(server, max_retries=3)).complete(
            "coder", [{"role": "user", "content": "go"}]
        )
    assert reply.text == "done"
    assert reply.retries == 2
    assert len(server.requests) == 3


def test_gives_up_after_max_retries_with_clear_error():
    with FakeOpenAI([Status(500, "boom")] * 3) as server:
        with pytest.raises(LLMError, match=r"failed after 3 attempts: HTTP 500"):
            OpenAIBackend(config(server, max_retries=2)).complete(
                "coder", [{"role": "user", "content": "go"}]
            )
    assert len(server.requests) == 3


def test_timeouts_exhausting_the_retries_say_so():
    with FakeOpenAI([Slow(5.0, "late"), Slow(5.0, "late")]) as server:
        with pytest.raises(LLMError, match="failed after 2 attempts: timed out after 0.2 s"):
            OpenAIBackend(config(server, timeout=0.2, max_retries=1)).complete(
                "coder", [{"role": "user", "content": "go"}]
            )


def test_connection_refused_is_a_clear_error():
    with FakeOpenAI() as server:
        url = server.base_url
    with pytest.raises(LLMError, match="failed after 1 attempt: cannot connect"):
        OpenAIBackend(LLMConfig(base_url=url, max_retries=0)).complete(
            "coder", [{"role": "user", "content": "go"}]
        )


def test_timeout_is_retried():
    with FakeOpenAI([Slow(5.0, "too late"), "in time"]) as server:
        reply = OpenAIBackend(config(server, timeout=0.3)).complete(
            "coder", [{"role": "user", "content": "go"}]
        )
    assert reply.text == "in time"
    assert reply.retries == 1


def test_auth_error_is_not_retried():
    with FakeOpenAI([Status(401, "invalid api key"), "never"]) as server:
        with pytest.raises(LLMError, match="authentication failed .* check OPENAI_API_KEY"):
            OpenAIBackend(config(server)).complete("coder", [{"role": "user", "content": "go"}])
    assert len(server.requests) == 1


def test_unknown_model_names_the_model():
    with FakeOpenAI([Status(404, "The model `nope` does not exist")]) as server:
        with pytest.raises(LLMError, match=r"model 'nope' not found .*does not exist.*--model"):
            OpenAIBackend(LLMConfig(base_url=server.base_url, model="nope")).complete(
                "coder", [{"role": "user", "content": "go"}]
            )


def test_missing_api_key_without_base_url(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(LLMError, match="no API key: set OPENAI_API_KEY"):
        OpenAIBackend(LLMConfig())


def test_api_key_is_sent(monkeypatch):
    monkeypatch.setenv("MY_KEY", "sk-test-123")
    with FakeOpenAI(["ok"]) as server:
        OpenAIBackend(config(server, api_key_env="MY_KEY")).complete(
            "coder", [{"role": "user", "content": "go"}]
        )
    assert server.headers[0]["authorization"] == "Bearer sk-test-123"


def test_toml_config_and_overrides(tmp_path):
    path = tmp_path / "proto3d.toml"
    path.write_text(
        '[llm]\nbase_url = "http://localhost:11434/v1"\nmodel = "qwen2.5vl"\ntimeout = 30\n'
        '[llm.roles]\ninspector = "gpt-4o"\n'
        "[budget]\niterations = 3\ncost = 0.5\n"
        '[prices."gpt-4o"]\ninput = 2.5\noutput = 10.0\n'
    )
    c = load_config(path, model=None, iterations=5, roles={"coder": "big"})
    assert c.base_url == "http://localhost:11434/v1"
    assert c.model == "qwen2.5vl"
    assert c.timeout == 30
    assert c.budget.iterations == 5 and c.budget.cost == 0.5
    assert c.model_for("inspector") == "gpt-4o"
    assert c.model_for("refiner") == "big"  # role group "coder"
    assert c.model_for("arranger") == "qwen2.5vl"
    assert c.cost("gpt-4o", 1_000_000, 100_000) == pytest.approx(3.5)


def test_toml_config_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[llm]\nmodle = 'x'\n")
    with pytest.raises(LLMError, match="unknown key 'modle' in \\[llm\\]"):
        load_config(bad)
    bad.write_text("[budget]\niterations = 'many'\n")
    with pytest.raises(LLMError, match="\\[budget\\] iterations .* wrong type: 'many'"):
        load_config(bad)
    bad.write_text('[prices."m"]\ninput = "cheap"\n')
    with pytest.raises(LLMError, match="wrong type"):
        load_config(bad)
    broken = tmp_path / "broken.toml"
    broken.write_text("[llm\n")
    with pytest.raises(LLMError, match="cannot read config"):
        load_config(broken)


def test_manual_backend_writes_request_and_waits_for_answer(tmp_path):
    folder = tmp_path / "manual"
    backend = ManualBackend(folder, poll=0.01, notify=lambda m: None)
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [text_part("look at this"), image_part(png())]},
    ]
    answer = folder / "001-inspector.answer.md"

    def person():
        while not (folder / "001-inspector.request.md").exists():
            threading.Event().wait(0.01)
        answer.write_text('{"accept": true}')

    threading.Thread(target=person).start()
    reply = backend.complete("inspector", messages)
    assert reply.text == '{"accept": true}'
    request = (folder / "001-inspector.request.md").read_text()
    assert "be brief" in request and "look at this" in request
    assert "![image 1](001-inspector-1.png)" in request
    assert (folder / "001-inspector-1.png").read_bytes() == png()


def test_manual_backend_timeout(tmp_path):
    backend = ManualBackend(tmp_path, poll=0.01, notify=lambda m: None, timeout=0.05)
    with pytest.raises(LLMError, match="no answer"):
        backend.complete("coder", [{"role": "user", "content": "x"}])


def test_recorder_records_then_replays_offline(tmp_path):
    messages = [{"role": "user", "content": [text_part("hello"), image_part(png())]}]
    with FakeOpenAI(["one", "two"]) as server:
        rec = Recorder(tmp_path / "calls", OpenAIBackend(config(server)))
        assert rec.complete("coder", messages).text == "one"
        assert rec.complete("inspector", messages).text == "two"
    stored = json.loads((tmp_path / "calls" / "0001-coder.json").read_text())
    assert stored["messages"][0] == {"role": "user", "text": "hello", "images": ["0001-coder-1.png"]}
    assert "hello" in (tmp_path / "calls" / "0002-inspector.md").read_text()
    assert rec.by_role["coder"].calls == 1 and rec.total.calls == 2

    replay = Recorder(tmp_path / "calls", None)
    assert replay.complete("coder", messages).text == "one"
    assert replay.complete("inspector", messages).text == "two"
    assert replay.replayed == 2 and replay.mismatches == []
    assert replay.total.tokens == rec.total.tokens
    with pytest.raises(ReplayExhausted):
        replay.complete("coder", messages)


def test_recorder_resume_goes_live_where_the_request_changes(tmp_path):
    a = [{"role": "user", "content": "a"}]
    b = [{"role": "user", "content": "b"}]
    with FakeOpenAI(["one", "two", "three"]) as server:
        live = OpenAIBackend(config(server))
        first = Recorder(tmp_path, live)
        first.complete("coder", a)
        first.complete("coder", a)
        resumed = Recorder(tmp_path, live)
        assert resumed.complete("coder", a).text == "one"  # cached
        assert resumed.complete("repair", b).text == "three"  # diverged: live, stale record dropped
    assert len(server.requests) == 3
    assert sorted(p.name for p in tmp_path.glob("*.json")) == ["0001-coder.json", "0002-repair.json"]


def test_manual_backend_reuses_a_pending_request_after_an_interruption(tmp_path):
    messages = [{"role": "user", "content": "write a program"}]
    first = ManualBackend(tmp_path, poll=0.01, notify=lambda m: None, timeout=0.02)
    with pytest.raises(LLMError):
        first.complete("coder", messages)  # the loop stopped while waiting
    (tmp_path / "001-coder.answer.md").write_text("answered while the loop was down")
    again = ManualBackend(tmp_path, poll=0.01, notify=lambda m: None, timeout=5)
    assert again.complete("coder", messages).text == "answered while the loop was down"
    with pytest.raises(LLMError):  # a different request is a new file, 002
        ManualBackend(tmp_path, poll=0.01, notify=lambda m: None, timeout=0.02).complete(
            "coder", [{"role": "user", "content": "something else"}]
        )
    assert sorted(p.name for p in tmp_path.glob("*.request.md")) == [
        "001-coder.request.md",
        "002-coder.request.md",
    ]

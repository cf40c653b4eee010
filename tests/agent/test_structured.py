"""Structured answers on the wire: JSON schemas as response_format, the pdsl grammar as a decoding
constraint, and the fallback to corrective retries when a server refuses them."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest

from proto3d.agent.loop import Agent, Toolchain
from proto3d.agent.schema import Arrangement, Bounds, response_schema
from proto3d.grammar.constraint import answer_grammar
from proto3d.llm.client import Constraint, LLMConfig, LLMError, OpenAIBackend, load_config
from tests.helpers.agent_script import (
    ACCEPT,
    BOUNDS,
    COARSE,
    DESIGN,
    PARTS,
    REFINED,
    config,
    fake_inspect,
    fenced,
    responder,
)
from tests.helpers.fake_openai import FakeOpenAI, Status, prompt_of

MESSAGES = [{"role": "user", "content": "the bounds, please"}]
BOUNDS_SCHEMA = Constraint("bounds", json_schema=response_schema(Bounds))
GRAMMAR = Constraint("pdsl", grammar="start: /x+/")


def test_a_schema_travels_as_response_format():
    with FakeOpenAI([BOUNDS]) as server:
        reply = OpenAIBackend(config(server)).complete("metricizer", MESSAGES, BOUNDS_SCHEMA)
    assert reply.text == BOUNDS
    assert server.requests[0]["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "bounds", "schema": response_schema(Bounds), "strict": True},
    }
    assert "structured_outputs" not in server.requests[0]


def test_no_response_format_when_switched_off_or_not_asked():
    with FakeOpenAI([BOUNDS, BOUNDS]) as server:
        OpenAIBackend(replace(config(server), structured=False)).complete(
            "metricizer", MESSAGES, BOUNDS_SCHEMA
        )
        OpenAIBackend(config(server)).complete("metricizer", MESSAGES)
    assert ["response_format" in r for r in server.requests] == [False, False]


@pytest.mark.parametrize("status", [400, 422])
def test_a_server_refusing_response_format_is_asked_again_without_it(status):
    """The fallback costs one request, once per model: later calls go without the schema."""

    def answer(request):
        if "response_format" in request:
            return Status(status, "Unrecognized request argument supplied: response_format")
        return BOUNDS

    notices = []
    with FakeOpenAI(default=answer) as server:
        backend = OpenAIBackend(config(server), notify=notices.append)
        first = backend.complete("metricizer", MESSAGES, BOUNDS_SCHEMA)
        second = backend.complete("decomposer", MESSAGES, BOUNDS_SCHEMA)
    assert first.text == second.text == BOUNDS and first.retries == 0
    assert ["response_format" in r for r in server.requests] == [True, False, False]
    assert notices == [
        f"metricizer: 'fake-vl' at {server.base_url} refused the response_format (HTTP {status}: "
        "Unrecognized request argument supplied: response_format); asking without it"
    ]


def test_a_400_without_a_constraint_is_still_an_error():
    with FakeOpenAI(default=Status(400, "context length exceeded")) as server:
        with pytest.raises(LLMError, match=r"metricizer: 'fake-vl' at .*: HTTP 400: context length exceeded"):
            OpenAIBackend(config(server)).complete("metricizer", MESSAGES)
        with pytest.raises(LLMError, match="HTTP 400: context length exceeded"):  # the fallback fails too
            OpenAIBackend(config(server), notify=lambda m: None).complete(
                "metricizer", MESSAGES, BOUNDS_SCHEMA
            )
    assert ["response_format" in r for r in server.requests] == [False, True, False]


def test_the_grammar_travels_as_vllm_structured_outputs_when_asked():
    with FakeOpenAI(["x", "x", "x"]) as server:
        OpenAIBackend(replace(config(server), constrain="grammar")).complete("coder", MESSAGES, GRAMMAR)
        OpenAIBackend(config(server)).complete("coder", MESSAGES, GRAMMAR)  # constrain = "none"
        OpenAIBackend(replace(config(server), constrain="grammar")).complete(
            "metricizer", MESSAGES, BOUNDS_SCHEMA
        )
    assert server.requests[0]["structured_outputs"] == {"grammar": "start: /x+/"}
    assert "structured_outputs" not in server.requests[1] and "response_format" not in server.requests[1]
    assert "structured_outputs" not in server.requests[2] and "response_format" in server.requests[2]


def test_a_server_refusing_the_grammar_gets_the_request_without_it():
    notices = []
    answers = [Status(400, "grammar backend not available"), fenced(COARSE), fenced(COARSE)]
    with FakeOpenAI(answers) as server:
        backend = OpenAIBackend(replace(config(server), constrain="grammar"), notify=notices.append)
        assert backend.complete("coder", MESSAGES, GRAMMAR).text == fenced(COARSE)
        backend.complete("refiner", MESSAGES, GRAMMAR)
    assert ["structured_outputs" in r for r in server.requests] == [True, False, False]
    assert notices[0].endswith(
        "refused the grammar (HTTP 400: grammar backend not available); asking without it"
    )


def test_the_switches_in_the_config_file(tmp_path):
    path = tmp_path / "proto3d.toml"
    path.write_text('[llm]\nstructured = false\nconstrain = "grammar"\n')
    config = load_config(path)
    assert (config.structured, config.constrain) == (False, "grammar")
    assert (LLMConfig().structured, LLMConfig().constrain) == (True, "none")
    assert load_config(path, structured=True).structured is True
    path.write_text('[llm]\nconstrain = "lark"\n')
    with pytest.raises(LLMError, match="constrain in .* must be one of none, grammar"):
        load_config(path)
    path.write_text("[llm]\nstructured = 1\n")
    with pytest.raises(LLMError, match="structured in .* has the wrong type: 1"):
        load_config(path)


def run(tmp_path, script, **settings):
    with FakeOpenAI(script, default=responder) as server:
        cfg = replace(config(server), **settings)
        summary = Agent(
            "table", tmp_path, cfg, OpenAIBackend(cfg), Toolchain(inspect=fake_inspect), one_step=False
        ).run()
    return summary, server.requests


def test_the_loop_sends_each_answer_its_schema_and_the_coder_the_grammar(tmp_path):
    summary, requests = run(tmp_path, DESIGN + [fenced(COARSE), fenced(REFINED), ACCEPT], constrain="grammar")
    assert summary["status"] == "accepted"
    names = [r.get("response_format", {}).get("json_schema", {}).get("name") for r in requests]
    assert names == ["bounds", "parts", "arrangement", None, None, "verdict"]
    assert requests[2]["response_format"]["json_schema"]["schema"] == response_schema(Arrangement)
    grammars = [r.get("structured_outputs", {}).get("grammar") for r in requests]
    assert grammars == [None, None, None, answer_grammar(), answer_grammar(), None]


def test_a_server_without_structured_outputs_runs_the_loop_as_before(tmp_path):
    """A server that refuses response_format: one refused request, then the corrective retries
    (with JSON paths) do the checking, as they did before structured outputs."""
    script = [Status(400, "response_format is not supported"), '{"bounds": [1.0, 0.6]}', BOUNDS, PARTS]
    progress = []
    with FakeOpenAI(script, default=responder) as server:
        cfg = config(server)
        backend = OpenAIBackend(cfg, notify=progress.append)
        summary = Agent(
            "table", tmp_path, cfg, backend, Toolchain(inspect=fake_inspect), progress.append, one_step=False
        ).run()
    assert summary["status"] == "accepted"
    assert ["response_format" in r for r in server.requests[:4]] == [True, False, False, False]
    assert "$.bounds: List should have at least 3 items, not 2, got [1.0, 0.6]" in prompt_of(
        server.requests[2]
    )
    assert json.loads((tmp_path / "design" / "bounds.json").read_text()) == json.loads(BOUNDS)


def test_segments_reach_the_coder(tmp_path):
    """An arrangement with a segment passes the checks and reaches the coder's prompt."""
    arrangement = json.loads(DESIGN[2])
    arrangement["instances"][1] = {
        "part": "leg",
        "from": [-0.45, -0.25, 0],
        "to": [-0.4, -0.2, 0.71],
        "thickness": 0.04,
    }
    script = [BOUNDS, PARTS, json.dumps(arrangement), fenced(COARSE), fenced(REFINED), ACCEPT]
    summary, requests = run(tmp_path, script)
    assert summary["status"] == "accepted" and len(requests) == 6
    coder = prompt_of(requests[3])
    (shown,) = re.findall(r"```json\n(.*?)```", coder, re.S)
    assert json.loads(shown)["instances"][1] == arrangement["instances"][1]
    assert "write it as `rod(from=FROM, to=TO, r=THICKNESS / 2)`" in coder


def test_the_command_line_switches(scripted_model, tmp_path):
    from click.testing import CliRunner

    from proto3d.agent.command import agent_command

    server = scripted_model
    result = CliRunner().invoke(
        agent_command,
        ["table", "--base-url", server.base_url, "--model", "fake-vl", "-o", str(tmp_path)]
        + ["--check-variants", "0", "--no-structured", "--constrain", "grammar"],
    )
    assert result.exit_code == 0, result.output
    assert not any("response_format" in r for r in server.requests)
    roles = [prompt_of(r).startswith("You are the coder") for r in server.requests]
    assert [("structured_outputs" in r) for r in server.requests] == roles and sum(roles) == 1  # one step

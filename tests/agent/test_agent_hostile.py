"""The agent against a hostile OpenAI-protocol server: every reply is answered with a plain
message, a resumable run folder and no key on disk."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from proto3d.agent.command import agent_command
from proto3d.agent.loop import Agent, Toolchain
from proto3d.agent.run import RunInUse
from proto3d.errors import Diagnostic, Proto3dError
from proto3d.llm.client import MAX_REPLY_BYTES, LLMConfig, LLMError, OpenAIBackend, Reply, redact
from tests.helpers.agent_script import ACCEPT, COARSE, DESIGN, REFINED, fake_inspect, fenced, responder
from tests.helpers.fake_openai import Drip, EchoHeaders, FakeOpenAI, Raw, Slow, Status, completion

KEY = "sk-hostile-test-key-0123456789abcdef"
DRIP = (
    1 / 8
)  # seconds between two bytes of a dripped reply: well within the timeout, yet a reply takes a minute
MESSAGES = [{"role": "user", "content": "go"}]


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)


def backend(server, notices: list, **kw) -> OpenAIBackend:
    config = LLMConfig(base_url=server.base_url, model="fake-vl", backoff=0.001, **kw)
    return OpenAIBackend(config, notify=notices.append)


HOSTILE = {
    "invalid JSON": (
        Raw('{"choices": [{"message": '),
        'invalid reply: not JSON (application/json): \'{"choices": [{"message": \'',
    ),
    "HTML page": (
        Raw("<html><body>Sign in to the Wi-Fi</body></html>", content_type="text/html"),
        "invalid reply: not JSON (text/html): '<html><body>Sign in to the Wi-Fi</body></html>'",
    ),
    "string usage": (
        Raw(completion("hi", usage={"prompt_tokens": "12", "completion_tokens": "3"})),
        "invalid reply: usage.prompt_tokens is '12', not a count",
    ),
    "negative usage": (
        Raw(completion("hi", usage={"prompt_tokens": 1, "completion_tokens": -3})),
        "invalid reply: usage.completion_tokens is -3, not a count",
    ),
    "usage not an object": (
        Raw(completion("hi", usage=[1, 2])),
        "invalid reply: usage is a list, not an object",
    ),
    "content not text": (
        Raw(completion({"text": "hi"})),
        "invalid reply: choices[0].message.content is a dict, not text",
    ),
    "no choices": (Raw(completion("hi", choices=[])), "invalid reply: no choices[0].message"),
    "not an object": (Raw("[1, 2]"), "invalid reply: expected a JSON object, got list"),
    "error with 200": (
        Raw({"error": {"message": "model overloaded"}}),
        "invalid reply: an error with status 200: model overloaded",
    ),
    "byte drip": (Drip(DRIP, "hi"), "timed out after 1 s"),
    "cut off": (
        Raw(b'{"choices": [', declared_length=1000),
        "invalid reply: cut off after 13 bytes (RemoteProtocolError: ",
    ),  # then httpx's words
    "error body of another shape": (Status(500, ["boom"]), "HTTP 500: ['boom']"),
    "endless body": (Raw(b" " * (MAX_REPLY_BYTES + 1)), "invalid reply: longer than 16 MB"),
    "long error page": (Status(502, "<html>" + "x" * 5000), "HTTP 502: <html>" + "x" * 294 + "…"),
}


@pytest.mark.parametrize("name", HOSTILE)
def test_a_bad_reply_is_retried_with_a_printed_notice_then_fails_plainly(name):
    entry, reason = HOSTILE[name]
    notices = []
    with FakeOpenAI([entry, entry]) as server:
        with pytest.raises(LLMError) as error:
            backend(server, notices, max_retries=1, timeout=1).complete("coder", MESSAGES)
    where = f"'fake-vl' at {server.base_url}"
    assert str(error.value).startswith(f"coder: {where} failed after 2 attempts: {reason}")
    (notice,) = notices
    assert notice.startswith(f"coder: {where}: {reason}") and notice.endswith("; retry 1 of 1 in 0.0 s")


@pytest.mark.parametrize("name", HOSTILE)
def test_a_bad_reply_followed_by_a_good_one_is_used_and_never_seen(name):
    notices = []
    with FakeOpenAI([HOSTILE[name][0], "the good one"]) as server:
        reply = backend(server, notices, timeout=1).complete("coder", MESSAGES)
    assert (reply.text, reply.retries, reply.prompt_tokens, reply.completion_tokens) == (
        "the good one",
        1,
        1,
        3,
    )
    assert len(notices) == 1 and HOSTILE[name][1] in notices[0]


def test_absent_or_null_token_counts_count_as_zero():
    usage = {"prompt_tokens": None, "completion_tokens": 4, "total_tokens": None}
    with FakeOpenAI([Raw(completion("a", usage=usage)), Raw(completion(None))]) as server:
        b = backend(server, [], prices={"fake-vl": {"input": 1.0, "output": 1.0}})
        first, second = b.complete("coder", MESSAGES), b.complete("coder", MESSAGES)
    assert (first.text, first.prompt_tokens, first.completion_tokens, first.cost) == ("a", 0, 4, 4e-6)
    assert (second.text, second.prompt_tokens, second.completion_tokens) == ("", 0, 0)


@pytest.mark.parametrize(
    "details, cached",
    [
        ({"cached_tokens": 7}, 7),  # OpenAI, vLLM
        ({"cached_tokens": None}, 0),
        ({"cached_tokens": "7"}, 0),  # not a count: the reply still counts
        ({"cached_tokens": -1}, 0),
        ({"cached_tokens": True}, 0),
        ("seven", 0),
        (None, 0),
    ],
)
def test_cached_tokens_are_read_where_the_server_reports_them(details, cached):
    usage = {"prompt_tokens": 10, "completion_tokens": 2, "prompt_tokens_details": details}
    with FakeOpenAI([Raw(completion("a", usage=usage))]) as server:
        reply = backend(server, []).complete("coder", MESSAGES)
    assert (reply.text, reply.prompt_tokens, reply.cached_tokens, reply.counted) == ("a", 10, cached, True)


def test_the_deadline_bounds_the_whole_request_not_each_read():
    """Each byte comes well within the timeout; the reply as a whole would take minutes."""
    notices = []
    with FakeOpenAI([Drip(DRIP, "late"), "in time"]) as server:
        reply = backend(server, notices, timeout=1).complete("coder", MESSAGES)
    assert reply.text == "in time" and reply.retries == 1
    assert notices == [f"coder: 'fake-vl' at {server.base_url}: timed out after 1 s; retry 1 of 4 in 0.0 s"]


def test_retries_against_an_unreachable_server_are_printed():
    with FakeOpenAI() as server:
        url = server.base_url
    notices = []
    with pytest.raises(LLMError, match=r"failed after 3 attempts: cannot connect"):
        OpenAIBackend(LLMConfig(base_url=url, max_retries=2, backoff=0.001), notify=notices.append).complete(
            "coder", MESSAGES
        )
    assert [n.split(": cannot connect")[0] for n in notices] == [f"coder: 'gpt-4o' at {url}"] * 2
    assert [n.split("; ")[-1] for n in notices] == ["retry 1 of 2 in 0.0 s", "retry 2 of 2 in 0.0 s"]


def test_an_error_echoing_the_request_headers_keeps_the_key_out():
    with FakeOpenAI([EchoHeaders(400), EchoHeaders(200)]) as server:
        b = backend(server, [])
        with pytest.raises(LLMError) as error:
            b.complete("coder", MESSAGES)
        echoed = b.complete("coder", MESSAGES).text
    assert server.headers[0]["authorization"] == f"Bearer {KEY}"  # it was sent, and echoed
    for text in (str(error.value), echoed):
        assert KEY not in text and '"authorization": "Bearer [redacted]"' in text


@pytest.mark.parametrize(
    "text, redacted",
    [
        ("Authorization: Bearer abc.def-123", "Authorization: Bearer [redacted]"),
        ('{"authorization": "Basic dXNlcjpwYXNz", "x": 1}', '{"authorization": "Basic [redacted]", "x": 1}'),
        ("x-api-key: 12345678", "x-api-key: [redacted]"),
        ('"api_key"="abc"', '"api_key"="[redacted]"'),
        (
            "https://user:pw@gw.example/v1?key=k123&model=m",
            "https://[redacted]@gw.example/v1?key=[redacted]&model=m",
        ),
        ("use sk-proj-AbCdEfGhIjKlMnOpQrSt now", "use [redacted] now"),
        (f"the key {KEY[3:]} alone", f"the key {KEY[3:]} alone"),  # unknown here: not key-shaped enough
        ("a bearer of news; box(size=[1, 2, 3])", "a bearer of news; box(size=[1, 2, 3])"),
    ],
)
def test_redact(text, redacted):
    assert redact(text) == redacted


def test_a_key_read_by_a_backend_is_redacted_wherever_it_appears(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "plain-secret-value")
    with FakeOpenAI() as server:
        backend(server, [])
    assert redact("x plain-secret-value y") == "x [redacted] y"


def files_of(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


CLI_CASES = {
    **{k: HOSTILE[k] for k in ("invalid JSON", "HTML page", "string usage", "byte drip")},
    "header echo": (EchoHeaders(500), "HTTP 500: bad request; you sent:"),
}


@pytest.mark.parametrize("name", CLI_CASES)
def test_a_hostile_server_ends_the_run_plainly_and_the_folder_resumes(tmp_path, name):
    entry, reason = CLI_CASES[name]
    config = tmp_path / "proto3d.toml"
    config.write_text("[llm]\ntimeout = 1\nmax_retries = 1\nbackoff = 0.001\n")
    with FakeOpenAI(DESIGN, default=entry) as server:  # a sane designer, then only hostile replies
        result = CliRunner().invoke(
            agent_command,
            [
                "table",
                "--base-url",
                server.base_url,
                "--model",
                "fake-vl",
                "--config",
                str(config),
                "-o",
                str(tmp_path),
            ],
        )
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    run = tmp_path / "table"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["reason"].startswith(
        f"coder: 'fake-vl' at {server.base_url} failed after 2 attempts: {reason}"
    )
    assert "retry 1 of 1 in 0.0 s" in result.stderr and f"table: {summary['reason']}" in result.stdout
    assert len(server.requests) == 5 and sorted(p.name for p in (run / "calls").glob("*.json")) == [
        "0001-metricizer.json",
        "0002-decomposer.json",
        "0003-arranger.json",
    ]  # nothing bad recorded
    assert not any(KEY.encode() in data for data in files_of(run).values())

    with FakeOpenAI(default=responder) as server:  # the same folder against a sane server
        cfg = LLMConfig(base_url=server.base_url, model="fake-vl")
        summary = Agent(
            "table", run, cfg, OpenAIBackend(cfg), Toolchain(inspect=fake_inspect), one_step=False
        ).run()
    assert summary["status"] == "accepted" and summary["resumed_from"] == "failed"
    assert summary["replayed_calls"] == 3 and len(server.requests) == 3  # coder, refiner, inspector
    assert not any(KEY.encode() in data for data in files_of(run).values())


def test_a_key_echoed_in_a_reply_reaches_no_file_of_the_run(tmp_path):
    with FakeOpenAI(
        [EchoHeaders(200), *DESIGN, EchoHeaders(200), fenced(COARSE), fenced(REFINED), ACCEPT]
    ) as server:
        cfg = LLMConfig(base_url=server.base_url, model="fake-vl", backoff=0.001)
        summary = Agent(
            "table", tmp_path, cfg, OpenAIBackend(cfg), Toolchain(inspect=fake_inspect), one_step=False
        ).run()
    assert summary["status"] == "accepted" and summary["versions"] == 3  # the echo was a program without code
    files = files_of(tmp_path)
    assert (
        "calls/0001-metricizer.json" in files and b"Bearer [redacted]" in files["calls/0001-metricizer.json"]
    )
    assert b"Bearer [redacted]" in files["calls/0005-coder.md"]
    assert not any(KEY.encode() in data for data in files.values())


def test_a_recording_of_a_broken_reply_is_made_again_on_resume(tmp_path):
    """Older versions recorded `"prompt_tokens": null` before crashing on it: such a folder resumes."""
    with FakeOpenAI(DESIGN + [fenced(COARSE), fenced(REFINED), ACCEPT]) as server:
        cfg = LLMConfig(base_url=server.base_url, model="fake-vl")
        Agent(
            "table", tmp_path, cfg, OpenAIBackend(cfg), Toolchain(inspect=fake_inspect), one_step=False
        ).run()
    record_path = tmp_path / "calls" / "0004-coder.json"
    record = json.loads(record_path.read_text())
    record["reply"]["prompt_tokens"] = None
    record_path.write_text(json.dumps(record))
    with FakeOpenAI([fenced(COARSE), fenced(REFINED), ACCEPT]) as server:
        cfg = LLMConfig(base_url=server.base_url, model="fake-vl")
        summary = Agent(
            "table", tmp_path, cfg, OpenAIBackend(cfg), Toolchain(inspect=fake_inspect), one_step=False
        ).run()
    assert summary["status"] == "accepted" and summary["replayed_calls"] == 3 and len(server.requests) == 3
    assert json.loads(record_path.read_text())["reply"]["prompt_tokens"] > 0


def test_stored_replies_are_checked_field_by_field():
    good = {
        "text": "t",
        "model": "m",
        "prompt_tokens": 1,
        "completion_tokens": 2,
        "cost": None,
        "latency": 0.5,
        "retries": 0,
        "truncated": False,
    }
    assert Reply.from_json(good) == Reply("t", "m", 1, 2, None, 0.5, 0, False)
    assert Reply.from_json({"text": "t", "model": "m"}) == Reply("t", "m")  # an older version's record
    for bad in [
        {"text": "t"},
        {**good, "prompt_tokens": None},
        {**good, "completion_tokens": "2"},
        {**good, "truncated": 1},
        {**good, "retries": True},
        {**good, "prompt_tokens": -1},
        {**good, "extra": 1},
        [good],
    ]:
        with pytest.raises(ValueError):
            Reply.from_json(bad)


CRASHED_RUN = """
import sys
from proto3d.agent.loop import Agent
from proto3d.llm.client import LLMConfig, OpenAIBackend
cfg = LLMConfig(base_url=sys.argv[2], model="fake-vl")
Agent("table", sys.argv[1], cfg, OpenAIBackend(cfg), one_step=False).run()
"""


def test_a_run_whose_process_died_is_recognised_and_resumed(tmp_path):
    coder_asked = threading.Event()

    def hang(request):
        coder_asked.set()
        return Slow(600, "never")

    run = tmp_path / "table"
    with FakeOpenAI(DESIGN + [hang]) as server, open(tmp_path / "stderr.txt", "wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-c", CRASHED_RUN, str(run), server.base_url], stderr=stderr
        )
        try:
            assert coder_asked.wait(300), (tmp_path / "stderr.txt").read_text()
            summary = json.loads((run / "summary.json").read_text())
            assert summary["status"] == "running" and summary["pid"] == process.pid
            cfg = LLMConfig(base_url=server.base_url, model="fake-vl")
            with pytest.raises(RunInUse, match=rf"in use by another proto3d process \(pid {process.pid}\)"):
                Agent(
                    "table", run, cfg, OpenAIBackend(cfg), Toolchain(inspect=fake_inspect), one_step=False
                ).run()
            result = CliRunner().invoke(
                agent_command,
                ["table", "--base-url", server.base_url, "-o", str(tmp_path), "--model", "fake-vl"],
                catch_exceptions=False,
            )
            assert result.exit_code == 1 and "Traceback" not in result.output
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
    assert json.loads((run / "summary.json").read_text())["status"] == "running"  # what the dead process left

    progress = []
    with FakeOpenAI([fenced(COARSE), fenced(REFINED), ACCEPT]) as server:
        cfg = LLMConfig(base_url=server.base_url, model="fake-vl")
        summary = Agent(
            "table",
            run,
            cfg,
            OpenAIBackend(cfg),
            Toolchain(inspect=fake_inspect),
            progress.append,
            one_step=False,
        ).run()
    assert summary["status"] == "accepted" and summary["resumed_from"] == "interrupted"
    assert summary["replayed_calls"] == 3 and len(server.requests) == 3
    assert (
        progress[0]
        == "the previous run in this folder was interrupted (its process ended while running); resuming"
    )


def doubling(levels: int) -> str:
    """A program whose one comparison visits 2**levels list items."""
    lets = "\n".join(["let l0 = [1]"] + [f"let l{i} = [l{i - 1}, l{i - 1}]" for i in range(1, levels + 1)])
    return COARSE.replace("part top", f"{lets}\nif l{levels} == l{levels} {{\n    part top", 1).replace(
        'align="top") }', 'align="top") }\n}', 1
    )


def test_a_program_that_would_run_for_hours_does_not_stall_the_loop(tmp_path):
    forever = doubling(
        27
    )  # about 2**27 comparisons: hours if a comparison cost no steps and nothing timed it
    summary, _ = run_with(tmp_path, DESIGN + [fenced(forever), fenced(COARSE), fenced(REFINED), ACCEPT])
    assert summary["status"] == "accepted" and summary["best_version"] == 3
    first = json.loads((tmp_path / "versions" / "001" / "version.json").read_text())
    assert not first["compiled"] and first["step"] == "coder"
    assert (
        len(first["errors"]) == 1 and " E304: " in first["errors"][0]
    )  # steps run out before the 10 s deadline


def test_the_doubling_program_is_a_valid_program():
    from proto3d.compiler import compile_text

    assert [p.label for p in compile_text(doubling(3)).parts] == ["top", "leg"]


def run_with(run_dir: Path, script, tools: Toolchain | None = None):
    with FakeOpenAI(script) as server:
        cfg = LLMConfig(base_url=server.base_url, model="fake-vl")
        summary = Agent(
            "table",
            run_dir,
            cfg,
            OpenAIBackend(cfg),
            tools or Toolchain(inspect=fake_inspect),
            one_step=False,
        ).run()
    return summary, server.requests


def test_an_internal_error_or_a_failed_export_ends_the_run_as_failed_not_running(tmp_path):
    def broken_inspect(shape, folder):
        raise RuntimeError("renderer bug")

    def broken_export(shape, path):
        raise Proto3dError(Diagnostic("E902", f"cannot write {str(path)!r}: No space left on device"))

    summary, _ = run_with(tmp_path / "a", DESIGN + [fenced(COARSE)], Toolchain(inspect=broken_inspect))
    assert summary["status"] == "failed" and summary["reason"] == (
        "internal error: RuntimeError: renderer bug; cannot write the final version: RuntimeError: renderer bug"
    )  # the renderer first runs on the coarse version, for the refiner
    assert summary["best_version"] == 1 and (tmp_path / "a" / "final" / "program.pdsl").read_text() == COARSE

    summary, _ = run_with(
        tmp_path / "b",
        DESIGN + [fenced(COARSE), fenced(REFINED), ACCEPT],
        Toolchain(inspect=fake_inspect, export=broken_export),
    )
    assert summary["status"] == "failed" and summary["reason"].startswith(
        "cannot write the final version: Proto3dError: error E902: cannot write "
    )
    assert json.loads((tmp_path / "b" / "summary.json").read_text())["status"] == "failed"

"""The whole agent loop, offline, against a local OpenAI-protocol server with scripted replies.

The compiler is the real one; the renderer hook is a stand-in writing a small PNG (the real
renderer is used in the replay test), so the loop is tested without a GL context.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trimesh

from proto3d.agent.loop import Agent, Toolchain, replay
from proto3d.compiler import compile_text
from proto3d.llm.client import LLMConfig, ManualBackend, OpenAIBackend
from tests.helpers.agent_script import (
    ACCEPT,
    ARRANGEMENT,
    BOUNDS,
    BROKEN,
    COARSE,
    DESIGN,
    FLOATING,
    PARTS,
    REFINED,
    REJECT,
    THICKER,
    config,
    fake_inspect,
    fenced,
    manual_person,
)
from tests.helpers.fake_openai import FakeOpenAI, Slow, Status, images_in, prompt_of


def run(run_dir: Path, script, tools=None, progress=lambda m: None, **budget):
    with FakeOpenAI(script) as server:
        cfg = config(server, **budget)
        summary = Agent(
            "table",
            run_dir,
            cfg,
            OpenAIBackend(cfg),
            tools or Toolchain(inspect=fake_inspect),
            progress,
            one_step=False,
        ).run()
    return summary, server.requests


def test_clean_run_writes_the_whole_run_folder(tmp_path):
    summary, requests = run(tmp_path, DESIGN + [fenced(COARSE), fenced(REFINED), ACCEPT])
    assert summary["status"] == "accepted"
    assert summary["iterations"] == 1 and summary["versions"] == 2 and summary["best_version"] == 2
    assert summary["usage"]["calls"] == 6 and summary["usage"]["tokens"] > 0 and summary["usage"]["cost"] > 0
    assert set(summary["by_role"]) == {
        "metricizer",
        "decomposer",
        "arranger",
        "coder",
        "refiner",
        "inspector",
    }
    assert json.loads((tmp_path / "summary.json").read_text()) == summary

    assert json.loads((tmp_path / "design" / "bounds.json").read_text())["bounds"] == [1.0, 0.6, 0.75]
    assert len(json.loads((tmp_path / "design" / "arrangement.json").read_text())["instances"]) == 5
    assert (tmp_path / "versions" / "001" / "program.pdsl").read_text() == COARSE
    assert (tmp_path / "versions" / "002" / "program.pdsl").read_text() == REFINED
    v2 = json.loads((tmp_path / "versions" / "002" / "version.json").read_text())
    assert v2["step"] == "refiner" and v2["parent"] == 1 and v2["compiled"] and v2["verdict"]["accept"]
    assert (tmp_path / "final" / "program.pdsl").read_text() == REFINED
    parts = json.loads((tmp_path / "final" / "parts.json").read_text())
    assert "leg" in json.dumps(parts) and "top" in json.dumps(parts)
    scene = trimesh.load(tmp_path / "final" / "shape.glb")
    assert len(scene.geometry) >= 5  # one node per part instance
    assert (tmp_path / "final" / "sheet.png").read_bytes() == (
        tmp_path / "versions/002/sheet.png"
    ).read_bytes()

    calls = sorted(p.name for p in (tmp_path / "calls").glob("*.json"))
    assert calls == [
        "0001-metricizer.json",
        "0002-decomposer.json",
        "0003-arranger.json",
        "0004-coder.json",
        "0005-refiner.json",
        "0006-inspector.json",
    ]
    report = (tmp_path / "report.html").read_text()
    assert "v002 — refiner (from v001)" in report and "versions/002/sheet.png" in report
    assert "class=add" in report  # the refiner's diff
    assert "<td>leg<td>cylinder<td>[0.04, 0.04, 0.71]" in report  # the arrangement

    # what the models saw
    assert "table" in prompt_of(requests[0]) and "z = 0" in prompt_of(requests[0])
    assert "1 × 0.6 × 0.75" in prompt_of(requests[1])
    assert "`leg` ×4: straight legs" in prompt_of(requests[2])
    coder = requests[3]["messages"]
    assert coder[0]["role"] == "system"
    assert "# pdsl v2 — language reference" in coder[0]["content"]  # the language reference
    assert 'shape "mug"' in coder[0]["content"]  # an example
    assert '"position": [' in coder[1]["content"]  # the arrangement
    assert '1 | shape "table"' in prompt_of(requests[4])  # refiner sees the numbered program
    inspector = prompt_of(requests[5])
    assert (
        "`top` ×1, `leg` ×4" in inspector and "leg.3: 100" in inspector and "no problems found" in inspector
    )
    assert "measures 1 × 0.6 × 0.75 m" in inspector
    (url,) = images_in(requests[5])
    assert url.startswith("data:image/png;base64,")
    assert (tmp_path / "calls" / "0006-inspector-1.png").exists()
    assert "You are the visual inspector" in (tmp_path / "calls" / "0006-inspector.md").read_text()


def test_malformed_json_and_schema_violations_get_corrective_retries(tmp_path):
    script = [
        "Sure! {bounds: [1, 0.6, 0.75]}",  # not JSON
        '{"bounds": [1.0, 0.6]}',  # schema: too short
        BOUNDS,
        '{"parts": [{"label": "part", "count": 1}, {"label": "leg", "count": 0}]}',  # reserved word, count 0
        PARTS,
        json.dumps({"instances": json.loads(ARRANGEMENT)["instances"][:3]}),  # 2 legs missing
        ARRANGEMENT,
        fenced(COARSE),
        fenced(REFINED),
        ACCEPT,
    ]
    progress = []
    summary, requests = run(tmp_path, script, progress=progress.append)
    assert summary["status"] == "accepted"
    assert [m for m in progress if "asking again" in m] == [
        "metricizer: answer rejected (the reply is not valid JSON: Expecting value: line 1 column 1 (char 0)); "
        "asking again, 1 of 2",
        "metricizer: answer rejected ($.bounds: List should have at least 3 items, not 2, got [1.0, 0.6]); "
        "asking again, 2 of 2",
        "decomposer: answer rejected ($.parts[1].count: Input should be greater than or equal to 1, got 0); "
        "asking again, 1 of 2",
        "arranger: answer rejected (part 'leg' needs 4 instance(s), got 2); asking again, 1 of 2",
    ]
    retry = requests[1]["messages"]
    assert [m["role"] for m in retry] == ["user", "assistant", "user"]
    assert retry[1]["content"] == "Sure! {bounds: [1, 0.6, 0.75]}"
    assert "the reply is not valid JSON" in retry[2]["content"]
    assert "$.bounds: List should have at least 3 items, not 2, got [1.0, 0.6]" in prompt_of(requests[2])
    assert "$.parts[1].count: Input should be greater than or equal to 1, got 0" in prompt_of(requests[4])
    requests_6 = prompt_of(requests[6])
    assert "part 'leg' needs 4 instance(s), got 2" in requests_6


def test_json_retries_are_bounded(tmp_path):
    summary, requests = run(tmp_path, ["no", "still no", "never"])
    assert summary["status"] == "failed"
    assert "metricizer: no valid answer after 3 attempts" in summary["reason"]
    assert len(requests) == 3 and not (tmp_path / "final").exists()


def test_compile_errors_go_back_verbatim_and_get_repaired(tmp_path):
    summary, requests = run(tmp_path, DESIGN + [fenced(BROKEN), fenced(COARSE), fenced(REFINED), ACCEPT])
    assert summary["status"] == "accepted" and summary["best_version"] == 3
    repair = prompt_of(requests[4])
    assert "program.pdsl:3:12: error" in repair and "unknown primitive `cube`" in repair
    assert "hint:" in repair
    assert ">   3 | part top { cube(size=[1.0, 0.6, 0.04]" in repair  # the offending line, marked
    v1 = json.loads((tmp_path / "versions" / "001" / "version.json").read_text())
    assert not v1["compiled"] and v1["diagnostics"][0]["line"] == 3
    v2 = json.loads((tmp_path / "versions" / "002" / "version.json").read_text())
    assert v2["step"] == "repair" and v2["parent"] == 1 and v2["compiled"]


def test_no_compiling_program_after_bounded_repairs_fails(tmp_path):
    summary, requests = run(tmp_path, DESIGN + [fenced(BROKEN)] * 3, repairs=2)
    assert summary["status"] == "failed" and "did not compile after 2 repairs" in summary["reason"]
    assert len(requests) == 6 and not (tmp_path / "final").exists()


def test_lints_are_fixed_before_the_inspector_is_asked(tmp_path):
    script = DESIGN + [fenced(FLOATING), fenced(FLOATING), fenced(COARSE), ACCEPT]
    summary, requests = run(tmp_path, script)
    assert summary["status"] == "accepted"
    lints = prompt_of(requests[5])
    assert "W101" in lints and "floats 0.095 m above" in lints and "must be fixed before" in lints
    assert "You are the visual inspector" in prompt_of(requests[6])
    assert [json.loads(p.read_text())["step"] for p in sorted(tmp_path.glob("versions/*/version.json"))] == [
        "coder",
        "refiner",
        "lint-fix",
    ]  # one name for the lint-fix call: the version's step, the call record and the report
    assert (tmp_path / "calls" / "0006-lint-fix.json").exists() and summary["by_role"]["lint-fix"][
        "calls"
    ] == 1
    assert "v003 — lint-fix (from v002)" in (tmp_path / "report.html").read_text()


def test_lints_left_after_bounded_rounds_are_shown_to_the_inspector(tmp_path):
    script = DESIGN + [fenced(FLOATING)] * 3 + [ACCEPT]
    summary, requests = run(tmp_path, script, lint_rounds=1)
    assert summary["status"] == "accepted"
    assert "W101" in prompt_of(requests[6]) and "You are the visual inspector" in prompt_of(requests[6])


def test_rejection_then_acceptance(tmp_path):
    script = DESIGN + [
        fenced(COARSE),
        fenced(REFINED),
        REJECT,
        fenced(THICKER),
        ACCEPT.replace('"score": 8', '"score": 9'),
    ]
    summary, requests = run(tmp_path, script)
    assert summary["status"] == "accepted" and summary["iterations"] == 2
    assert summary["best_version"] == 3 and summary["best_score"] == 9
    feedback = prompt_of(requests[6])
    assert "`leg` (line 5): legs too thin — fix: use r=0.035" in feedback and "score 4/10" in feedback
    assert (tmp_path / "final" / "program.pdsl").read_text() == THICKER
    assert "legs too thin" in (tmp_path / "report.html").read_text()


def test_best_scored_version_is_kept_when_the_iteration_budget_ends(tmp_path):
    worse = REJECT.replace('"score": 4', '"score": 2')
    script = DESIGN + [fenced(COARSE), fenced(REFINED), REJECT, fenced(THICKER), worse]
    summary, requests = run(tmp_path, script, iterations=2)
    assert summary["status"] == "budget" and "iteration budget (2)" in summary["reason"]
    assert summary["best_version"] == 2 and summary["best_score"] == 4
    assert (tmp_path / "final" / "program.pdsl").read_text() == REFINED
    assert len(requests) == 8  # no fix requested after the last inspection


def test_token_budget_stops_the_run(tmp_path):
    summary, requests = run(
        tmp_path, DESIGN + [fenced(COARSE), fenced(REFINED), REJECT, fenced(THICKER), ACCEPT], tokens=1
    )
    assert summary["status"] == "failed" and "token budget (1) used" in summary["reason"]
    assert len(requests) == 1


def test_cost_budget_keeps_the_best_version(tmp_path):
    # the 5 calls up to the refiner cost well under 0.01; the first inspection pushes past it
    script = DESIGN + [fenced(COARSE), fenced(REFINED), REJECT + " " + "pad " * 6000, fenced(THICKER), ACCEPT]
    summary, requests = run(tmp_path, script, cost=0.01)
    assert summary["status"] == "budget" and "cost budget" in summary["reason"]
    assert summary["best_version"] == 2 and (tmp_path / "final" / "program.pdsl").read_text() == REFINED


def test_rate_limits_server_errors_and_timeouts_are_retried_in_the_loop(tmp_path):
    script = [
        Status(429, retry_after="0"),
        BOUNDS,
        Status(500),
        PARTS,
        Slow(10, "late"),
        ARRANGEMENT,
        Status(503),
        fenced(COARSE),
        fenced(REFINED),
        ACCEPT,
    ]
    with FakeOpenAI(script) as server:
        cfg = LLMConfig(base_url=server.base_url, model="fake-vl", backoff=0.001, timeout=0.5)
        summary = Agent(
            "table", tmp_path, cfg, OpenAIBackend(cfg), Toolchain(inspect=fake_inspect), one_step=False
        ).run()
    assert summary["status"] == "accepted" and summary["usage"]["calls"] == 6
    assert len(server.requests) == 10


def test_server_down_fails_the_run_with_a_clear_reason(tmp_path):
    summary, requests = run(tmp_path, [Status(500)] * 10)
    assert summary["status"] == "failed" and "failed after 5 attempts: HTTP 500" in summary["reason"]


def test_interrupted_run_resumes_where_it_stopped(tmp_path):
    def interrupt(message):
        if message.startswith("inspector"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, DESIGN + [fenced(COARSE), fenced(REFINED)], progress=interrupt)
    assert json.loads((tmp_path / "summary.json").read_text())["status"] == "interrupted"
    assert not (tmp_path / "final").exists()

    summary, requests = run(tmp_path, [ACCEPT])  # only the call not made yet
    assert summary["status"] == "accepted" and summary["replayed_calls"] == 5
    assert len(requests) == 1 and "You are the visual inspector" in prompt_of(requests[0])
    assert summary["usage"]["calls"] == 6  # the totals include the replayed part
    assert (tmp_path / "final" / "program.pdsl").read_text() == REFINED


def test_replay_reproduces_programs_meshes_and_renders_offline(tmp_path):
    original = tmp_path / "run"
    summary, _ = run(
        original,
        DESIGN + [fenced(BROKEN), fenced(COARSE), fenced(REFINED), REJECT, fenced(THICKER), ACCEPT],
        tools=Toolchain(),
    )  # the real renderer
    assert summary["status"] == "accepted"
    again = replay(original, tmp_path / "replay")  # no server exists any more
    assert again["status"] == "accepted" and again["replayed_calls"] == 9 and again["replay_mismatches"] == []
    for name in [
        "design/parts.json",
        "design/arrangement.json",
        "final/program.pdsl",
        "final/parts.json",
        "final/sheet.png",
        "versions/001/program.pdsl",
        "versions/004/version.json",
    ]:
        assert (tmp_path / "replay" / name).read_bytes() == (original / name).read_bytes(), name
    a = trimesh.load(original / "final" / "shape.glb", force="mesh")
    b = trimesh.load(tmp_path / "replay" / "final" / "shape.glb", force="mesh")
    assert (a.vertices == b.vertices).all() and (a.faces == b.faces).all()
    assert again["usage"]["tokens"] == summary["usage"]["tokens"]


def test_manual_backend_drives_the_loop(tmp_path):
    """A 'person' answers each Markdown request by writing the answer file."""
    folder = tmp_path / "manual"
    with manual_person(folder, DESIGN + [fenced(COARSE), fenced(REFINED), ACCEPT]):
        cfg = LLMConfig(model="manual")
        summary = Agent(
            "table",
            tmp_path,
            cfg,
            ManualBackend(folder, poll=0.01, notify=lambda m: None),
            Toolchain(inspect=fake_inspect),
            one_step=False,
        ).run()
    assert summary["status"] == "accepted"
    assert (folder / "006-inspector-1.png").exists()
    assert "Step 1 of 3" in (folder / "001-metricizer.request.md").read_text()


def test_replay_of_an_unfinished_recording_ends_cleanly(tmp_path):
    def interrupt(message):
        if message.startswith("inspector"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "run", DESIGN + [fenced(COARSE), fenced(REFINED)], progress=interrupt)
    summary = replay(tmp_path / "run", tmp_path / "replay", tools=Toolchain(inspect=fake_inspect))
    assert summary["status"] == "replay-ended" and "no call 6 (inspector)" in summary["reason"]
    assert (
        summary["best_version"] == 2
        and (tmp_path / "replay" / "final" / "program.pdsl").read_text() == REFINED
    )


def test_a_resumed_run_that_diverges_goes_live_and_leaves_no_stale_versions(tmp_path):
    run(tmp_path, DESIGN + [fenced(COARSE), fenced(REFINED), REJECT, fenced(THICKER), ACCEPT])
    assert (tmp_path / "versions" / "003").exists()
    # a different answer to the arrangement changes every request after it
    other = json.dumps({"instances": json.loads(ARRANGEMENT)["instances"][::-1]})
    for path in (tmp_path / "calls").glob("0003-*"):
        path.unlink()
    summary, requests = run(tmp_path, [other, fenced(COARSE), fenced(REFINED), ACCEPT])
    assert summary["status"] == "accepted" and summary["replayed_calls"] == 2 and len(requests) == 4
    assert sorted(p.name for p in (tmp_path / "versions").iterdir()) == ["001", "002"]
    assert json.loads((tmp_path / "design" / "arrangement.json").read_text()) == json.loads(other)
    assert sorted(p.name for p in (tmp_path / "calls").glob("*.json"))[-1] == "0006-inspector.json"


def test_an_arrangement_still_off_count_after_the_retries_is_used(tmp_path):
    short = json.dumps({"instances": json.loads(ARRANGEMENT)["instances"][:3]})
    summary, requests = run(
        tmp_path, [BOUNDS, PARTS, short, short, short, fenced(COARSE), fenced(REFINED), ACCEPT]
    )
    assert summary["status"] == "accepted"
    assert len(json.loads((tmp_path / "design" / "arrangement.json").read_text())["instances"]) == 3


def test_a_program_cut_off_at_the_token_limit_is_reported_as_such(tmp_path):
    cut = "```pdsl\n" + COARSE[:120] + "<cut>"
    summary, requests = run(tmp_path, DESIGN + [cut, fenced(COARSE), fenced(REFINED), ACCEPT])
    assert summary["status"] == "accepted"
    repair = prompt_of(requests[4])
    assert "your answer was cut off" in repair and "write a shorter program" in repair
    assert (tmp_path / "versions" / "001" / "program.pdsl").read_text() == COARSE[:120] + "\n"


def test_an_empty_answer_and_a_compiler_crash_are_repaired_like_errors(tmp_path):
    calls = []

    def flaky_compile(text, filename):
        calls.append(text)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return compile_text(text, filename=filename)

    tools = Toolchain(compile=flaky_compile, inspect=fake_inspect)
    script = DESIGN + ["I will think about it.", "", fenced(COARSE), fenced(REFINED), ACCEPT]
    summary, requests = run(tmp_path, script, tools=tools)
    assert summary["status"] == "accepted" and summary["versions"] == 4
    first_repair, second_repair = prompt_of(requests[4]), prompt_of(requests[5])
    assert "internal compiler error: RuntimeError: boom" in first_repair  # the prose, compiled
    assert "(the diagnostics name no line)" in first_repair
    assert "the reply contained no program" in second_repair and "```pdsl fenced block" in second_repair


def test_the_accepted_version_is_final_even_if_an_earlier_one_scored_higher(tmp_path):
    high_reject = REJECT.replace('"score": 4', '"score": 7')
    script = DESIGN + [
        fenced(COARSE),
        fenced(REFINED),
        high_reject,
        fenced(THICKER),
        ACCEPT.replace("8", "6"),
    ]
    summary, _ = run(tmp_path, script)
    assert summary["status"] == "accepted" and summary["best_version"] == 3 and summary["best_score"] == 6
    assert (tmp_path / "final" / "program.pdsl").read_text() == THICKER

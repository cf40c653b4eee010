"""The inspector as the loop drives it: rubric, rounds and budget in its prompt, the polish step after an
accept with problems, and the optional questions from the plan (scripted model, fake server)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from proto3d.agent.command import agent_command
from proto3d.agent.loop import Agent, Toolchain
from proto3d.agent.questions import instance_box, plan_questions
from proto3d.llm.client import OpenAIBackend
from tests.helpers.agent_script import (
    ACCEPT,
    ARRANGEMENT,
    BOUNDS,
    COARSE,
    DESIGN,
    PARTS,
    REFINED,
    REJECT,
    THICKER,
    config,
    fake_inspect,
    fenced,
)
from tests.helpers.fake_openai import FakeOpenAI, prompt_of

MINOR = json.dumps(
    {
        "accept": True,
        "score": 7,
        "summary": "a table with thin legs",
        "problems": [{"part": "leg", "line": 5, "issue": "legs a little thin", "fix": "use r=0.035"}],
    }
)
QUESTIONS = [
    "Does each of the 4 `leg` instances touch the `top`?",
    "Can you see 4 separate `leg` instances?",
]


def run(run_dir: Path, script, polish=True, questions=False, **budget):
    with FakeOpenAI(script) as server:
        cfg = config(server, **budget)
        agent = Agent(
            "table",
            run_dir,
            cfg,
            OpenAIBackend(cfg),
            Toolchain(inspect=fake_inspect),
            polish=polish,
            questions=questions,
            one_step=False,
        )
        summary = agent.run()
    return summary, server.requests


def test_the_inspector_is_told_the_rubric_its_round_and_the_previous_score(tmp_path):
    script = DESIGN + [fenced(COARSE), fenced(REFINED), REJECT, fenced(THICKER), ACCEPT]
    summary, requests = run(tmp_path, script, iterations=2, tokens=10**6)
    first, second = prompt_of(requests[5]), prompt_of(requests[7])
    for prompt in (first, second):
        assert "- 7–8: recognisably a table at a glance" in prompt
        assert (
            "- 5–6: the category can be guessed" in prompt and "Accept when the score is 7 or more" in prompt
        )
    assert "This is inspection round 1 of at most 2. If you reject, the coder applies your fixes" in first
    assert "(1 more round at most)" in first and "previous inspected version" not in first
    assert "tokens are left" in first and "of the run's 1000000 tokens are left" in first
    assert "This is inspection round 2 of at most 2. It is the last round" in second
    assert "The previous inspected version (2) scored 4: legs look like wires" in second
    assert summary["status"] == "accepted" and summary["polish"]["reason"] == "the accept listed no problems"


def test_an_accept_with_problems_is_polished_and_the_better_version_kept(tmp_path):
    better = ACCEPT.replace('"score": 8', '"score": 9')
    script = DESIGN + [fenced(COARSE), fenced(REFINED), MINOR, fenced(THICKER), better]
    summary, requests = run(tmp_path, script)
    assert len(requests) == 8
    polish_request, polish_inspection = prompt_of(requests[6]), prompt_of(requests[7])
    assert "legs a little thin" in polish_request and "use r=0.035" in polish_request
    assert "It is a polish round: version 2 was accepted with score 7" in polish_inspection
    assert summary["status"] == "accepted" and summary["reason"] == "accepted by the inspector with score 9"
    assert summary["polish"] == {
        "from": 2,
        "score_before": 7,
        "ran": True,
        "version": 3,
        "score_after": 9,
        "kept": 3,
    }
    assert summary["best_version"] == 3 and summary["best_score"] == 9 and summary["iterations"] == 2
    assert (tmp_path / "final/program.pdsl").read_text() == THICKER
    assert json.loads((tmp_path / "versions/003/version.json").read_text())["step"] == "polish"
    assert (
        "polish: version 3 (score 9) from version 2 (score 7); kept version 3"
        in (tmp_path / "report.html").read_text()
    )


def test_a_worse_polish_is_dropped_and_the_accepted_version_stays(tmp_path):
    worse = REJECT.replace('"score": 4', '"score": 6')
    summary, _ = run(tmp_path, DESIGN + [fenced(COARSE), fenced(REFINED), MINOR, fenced(THICKER), worse])
    assert summary["status"] == "accepted" and summary["reason"] == "accepted by the inspector with score 7"
    assert summary["polish"]["kept"] == 2 and summary["polish"]["score_after"] == 6
    assert summary["best_version"] == 2 and summary["versions"] == 3
    assert (tmp_path / "final/program.pdsl").read_text() == REFINED


def test_a_polish_accepted_with_a_lower_score_is_not_kept(tmp_path):
    lower = MINOR.replace('"score": 7', '"score": 8').replace("thin legs", "fine")
    script = DESIGN + [fenced(COARSE), fenced(REFINED), lower, fenced(THICKER), MINOR]
    summary, _ = run(tmp_path, script)
    assert summary["polish"]["kept"] == 2 and summary["best_version"] == 2 and summary["best_score"] == 8


def test_no_polish_without_budget_or_when_turned_off(tmp_path):
    summary, requests = run(tmp_path / "off", DESIGN + [fenced(COARSE), fenced(REFINED), MINOR], polish=False)
    assert len(requests) == 6 and summary["polish"] is None and summary["status"] == "accepted"
    assert json.loads((tmp_path / "off/run.json").read_text())["polish"] is False
    summary, requests = run(
        tmp_path / "last", DESIGN + [fenced(COARSE), fenced(REFINED), MINOR], iterations=1
    )
    assert len(requests) == 6 and summary["status"] == "accepted"
    assert summary["polish"] == {
        "from": 2,
        "score_before": 7,
        "ran": False,
        "reason": "no inspection round left in the budget",
        "kept": 2,
    }


def test_a_polish_cut_by_the_token_budget_keeps_the_accepted_run(tmp_path):
    script = DESIGN + [fenced(COARSE), fenced(REFINED), MINOR]
    used = run(tmp_path / "measure", script, polish=False)[0]["usage"]["tokens"]
    summary, requests = run(tmp_path / "run", script, tokens=used)
    assert len(requests) == 6 and summary["status"] == "accepted" and summary["best_version"] == 2
    assert summary["polish"]["reason"] == f"the polish step stopped: token budget ({used}) used"


def test_the_cli_turns_polish_off_and_questions_on(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-000000")
    with FakeOpenAI(DESIGN + [fenced(COARSE), fenced(REFINED), MINOR]) as server:
        result = CliRunner().invoke(
            agent_command,
            ["table", "-o", str(tmp_path), "--base-url", server.base_url, "--model", "fake-vl"]
            + ["--no-polish", "--questions", "--check-variants", "0"],
        )
    settings = json.loads((tmp_path / "table/run.json").read_text())
    assert settings["polish"] is False and settings["questions"] is True, result.output
    assert "1. Does each of the 4 `leg` instances touch the `top`?" in prompt_of(server.requests[5])


def test_questions_come_from_the_plan():
    bounds, parts = json.loads(BOUNDS)["bounds"], json.loads(PARTS)["parts"]
    assert plan_questions(bounds, parts, json.loads(ARRANGEMENT)["instances"]) == QUESTIONS
    plan = [
        {"part": "base", "size": [0.4, 0.4, 0.1], "position": [0, 0, 0.05]},
        {"part": "handle", "from": [0, 0.15, 0.1], "to": [0, 0.3, 0.5], "thickness": 0.02},
        {"part": "lamp", "size": [0.05, 0.05, 0.05], "position": [-0.15, -0.1, 0.8]},
        {"part": "wheel", "size": [0.1, 0.1, 0.1], "position": [0.25, 0, 0.05]},  # touches the base
        {"part": "wheel", "size": [0.1, 0.1, 0.1], "position": [-0.5, 0, 0.05]},  # does not
    ]
    counts = [{"label": p, "count": 1} for p in ("base", "handle", "lamp")] + [{"label": "wheel", "count": 2}]
    assert plan_questions([0.4, 0.6, 1.0], counts, plan) == [
        "Do 1 of the 2 `wheel` instances touch the `base`?",
        "Does the `handle` touch the `base`?",
        "Is the `handle` on the back (+Y) side of the object?",
        "Is the `lamp` on the left (−X) side of the object?",
        "Can you see 2 separate `wheel` instances?",
    ]
    # a box turned 90° about X swaps its depth and height
    turned = instance_box({"size": [0.1, 0.2, 0.4], "position": [0, 0, 1], "rotation": [90, 0, 0]})
    assert turned.round(6).tolist() == [[-0.05, -0.2, 0.9], [0.05, 0.2, 1.1]]
    assert instance_box({"part": "x", "shape": "box"}) is None


def test_questions_are_answered_in_checks_before_the_score(tmp_path):
    checks = {"checks": [{"question": 1, "answer": True}, {"question": 2, "answer": False, "note": "3"}]}
    answered = json.dumps({**checks, **json.loads(ACCEPT)})
    summary, requests = run(
        tmp_path, DESIGN + [fenced(COARSE), fenced(REFINED), ACCEPT, answered], questions=True
    )
    prompt = prompt_of(requests[5])
    assert "1. Does each of the 4 `leg` instances touch the `top`?\n2. Can you see 4 separate `leg`" in prompt
    assert '{"checks": [{"question": 1, "answer": true' in prompt
    retry = prompt_of(requests[6])
    assert "$.checks: answer each question 1 to 2 exactly once, got []" in retry
    verdict = json.loads((tmp_path / "versions/002/verdict.json").read_text())
    assert verdict["checks"] == checks["checks"] and verdict["questions"] == QUESTIONS
    assert summary["status"] == "accepted"


def test_without_questions_the_prompt_has_no_checklist(tmp_path):
    _, requests = run(tmp_path, DESIGN + [fenced(COARSE), fenced(REFINED), ACCEPT])
    prompt = prompt_of(requests[5])
    assert "yes/no questions" not in prompt and '"checks"' not in prompt
    assert "$" not in prompt.replace("$.", "")

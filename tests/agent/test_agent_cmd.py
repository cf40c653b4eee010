"""`proto3d agent` end to end: single object, batch, replay, option errors (real compiler and renderer)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from proto3d.agent.command import agent_command
from tests.helpers.agent_script import COARSE, REFINED


def test_single_object(scripted_model, tmp_path):
    server = scripted_model
    result = CliRunner().invoke(
        agent_command,
        [
            "Dining Table",
            "--base-url",
            server.base_url,
            "--model",
            "fake-vl",
            "--role-model",
            "inspector=fake-inspector",
            "-o",
            str(tmp_path),
            "--max-iterations",
            "2",
            "--check-variants",
            "0",
        ],
    )  # the loop as before families: the inspector's call is the last
    assert result.exit_code == 0, result.output
    run = tmp_path / "dining-table"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "accepted"
    assert (run / "final" / "shape.glb").stat().st_size > 0 and (run / "final" / "sheet.png").exists()
    assert json.loads((run / "run.json").read_text())["budget"]["iterations"] == 2
    assert [r["model"] for r in server.requests][-1] == "fake-inspector"
    assert "accepted" in result.output and "Dining Table" in result.output  # the final table


def test_one_step_is_the_default_and_two_step_runs_the_paper_s_coarse_program_and_refiner(
    scripted_model, tmp_path
):
    server = scripted_model
    for option in ([], ["--two-step"]):
        out = tmp_path / (option[0] if option else "default")
        args = ["table", "--base-url", server.base_url, "-o", str(out), "--check-variants", "0", *option]
        result = CliRunner().invoke(agent_command, args)
        assert result.exit_code == 0, result.output
        calls = sorted((out / "table" / "calls").glob("*.json"))
        roles = [p.stem.split("-", 1)[1] for p in calls]
        design = ["metricizer", "decomposer", "arranger"]
        assert roles == design + (["coder", "refiner"] if option else ["coder"]) + ["inspector"]
        assert json.loads((out / "table" / "run.json").read_text())["one_step"] == (not option)
        final = (out / "table" / "final" / "program.pdsl").read_text()
        assert final == (REFINED if option else COARSE)  # the script: REFINED to "Refine it", else COARSE


def test_batch_runs_categories_concurrently_and_replay(scripted_model, tmp_path):
    cats = tmp_path / "cats.txt"
    cats.write_text("# furniture\ntable\nside table\n\ntable\n")
    server = scripted_model
    result = CliRunner().invoke(
        agent_command,
        [
            "--categories",
            str(cats),
            "--jobs",
            "2",
            "--base-url",
            server.base_url,
            "-o",
            str(tmp_path / "runs"),
            "--check-variants",
            "0",
        ],
    )
    assert result.exit_code == 0, result.output
    assert len(server.requests) == 10  # two objects, one step each (5 calls), duplicates dropped
    for name in ("table", "side-table"):
        assert json.loads((tmp_path / "runs" / name / "summary.json").read_text())["status"] == "accepted"

    result = CliRunner().invoke(agent_command, ["--replay", str(tmp_path / "runs" / "table")])
    assert result.exit_code == 0, result.output
    replayed = tmp_path / "runs" / "table" / "replay"
    assert (replayed / "final" / "program.pdsl").read_text() == COARSE  # the one-step coder's program
    assert json.loads((replayed / "summary.json").read_text())["replayed_calls"] == 5


def test_config_file_and_errors(scripted_model, tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("PROTO3D_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    result = runner.invoke(agent_command, ["chair"])
    assert result.exit_code != 0 and "no API key: set OPENAI_API_KEY" in result.output
    result = runner.invoke(agent_command, [])
    assert result.exit_code != 0 and "give a CATEGORY" in result.output
    result = runner.invoke(agent_command, ["chair", "--role-model", "inspector"])
    assert result.exit_code != 0 and "expected ROLE=MODEL" in result.output

    server = scripted_model
    (tmp_path / "proto3d.toml").write_text(f'[llm]\nbase_url = "{server.base_url}"\nmodel = "from-config"\n')
    result = runner.invoke(agent_command, ["table"])
    assert result.exit_code == 0, result.output
    assert {r["model"] for r in server.requests} == {"from-config"}
    assert (tmp_path / "runs" / "table" / "report.html").exists()

"""What a real model is sent, request by request: the front sentence, the arranger's frame, the
compact arrangement, one cacheable coder prefix, the refiner's view, and the rough edges of a run
(cached and uncounted tokens, one name for the lint-fix call, the final program in the report)."""

from __future__ import annotations

import base64
import html
import io
import json
import re
from pathlib import Path

import numpy as np
from click.testing import CliRunner
from PIL import Image

from proto3d.agent.command import agent_command
from proto3d.agent.loop import Agent, Toolchain, coder_system
from proto3d.compiler import compile_text
from proto3d.llm.client import LLMConfig, ManualBackend, OpenAIBackend
from tests.helpers.agent_script import (
    ACCEPT,
    ARRANGEMENT,
    COARSE,
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
from tests.helpers.fake_openai import FakeOpenAI, images_in, prompt_of

FRONT = "the long side where the drawer is"
BOUNDS = json.dumps({"bounds": [1.0, 0.6, 0.75], "front": FRONT, "notes": "a dining table"})
SENTENCE = f"The front of this table, the side facing −Y: {FRONT}."


def run(run_dir: Path, script, prefix_cache=False, **budget):
    with FakeOpenAI(script, prefix_cache=prefix_cache) as server:
        cfg = config(server, **budget)
        summary = Agent(
            "table", run_dir, cfg, OpenAIBackend(cfg), Toolchain(inspect=fake_inspect), one_step=False
        ).run()
    return summary, server.requests


def test_the_front_sentence_travels_to_every_later_prompt(tmp_path):
    script = [BOUNDS, PARTS, ARRANGEMENT, fenced(COARSE), fenced(REFINED), REJECT, fenced(THICKER), ACCEPT]
    summary, requests = run(tmp_path, script)
    assert summary["status"] == "accepted"
    metricizer, decomposer, arranger, coder, refiner, inspector, feedback, inspector2 = map(
        prompt_of, requests
    )
    assert '"front": "a few words: which side faces −Y"' in metricizer and FRONT not in metricizer
    for prompt in (decomposer, arranger, inspector, inspector2):
        assert SENTENCE in prompt
    for prompt in (coder, refiner, feedback):
        assert FRONT in prompt and "−Y" in prompt
    assert json.loads((tmp_path / "design" / "bounds.json").read_text())["front"] == FRONT


def test_without_a_front_the_generic_rule_is_said(tmp_path):
    bounds = '{"bounds": [1.0, 0.6, 0.75]}'
    _, requests = run(tmp_path, [bounds, PARTS, ARRANGEMENT, fenced(COARSE), fenced(REFINED), ACCEPT])
    assert "The front of this table, the side facing −Y: the side a person faces when using it." in prompt_of(
        requests[2]
    )


def test_the_arranger_is_told_the_centring_and_the_rotation_signs(tmp_path):
    _, requests = run(tmp_path, [BOUNDS, PARTS, ARRANGEMENT, fenced(COARSE), fenced(REFINED), ACCEPT])
    arranger = " ".join(prompt_of(requests[2]).split())
    assert "The bounds are centred on x = 0, y = 0: x runs from −width/2 to +width/2" in arranger
    assert "a positive rx tilts the top of an upright box towards −Y (the front)" in arranger
    assert "a positive ry tilts its top towards +X" in arranger
    assert "a positive rz turns it counter-clockwise seen from above (+X towards +Y)" in arranger


def _top_centre(rot) -> np.ndarray:
    """Centre of the top face of an upright box (or of the +X end of a long one) after `rot`."""
    shape = compile_text(
        f'shape "t"\npart p {{ box(size=[0.1, 0.1, 1], at=[0, 0, 0], rot={rot}) }}\n'
        if rot[2] == 0
        else f'shape "t"\npart p {{ box(size=[1, 0.1, 0.1], at=[0, 0, 0], rot={rot}) }}\n'
    )
    v = shape.vertices
    axis = 2 if rot[2] == 0 else 0
    far = v[v[:, axis] >= v[:, axis].max() - 0.05] if axis == 2 else v[v[:, 0] >= v[:, 0].max() - 0.05]
    return far.mean(axis=0)


def test_the_rotation_signs_the_arranger_is_told_are_the_compilers():
    assert _top_centre([20, 0, 0])[1] < -0.1  # +rx: top towards −Y
    assert _top_centre([0, 20, 0])[0] > 0.1  # +ry: top towards +X
    assert _top_centre([0, 0, 20])[1] > 0.1  # +rz: +X end towards +Y


def test_the_arrangement_is_one_line_per_instance(tmp_path):
    _, requests = run(tmp_path, [BOUNDS, PARTS, ARRANGEMENT, fenced(COARSE), fenced(REFINED), ACCEPT])
    coder = requests[3]["messages"][1]["content"]
    block = re.search(r"```json\n(.*?)\n```", coder, re.S).group(1)
    lines = block.split("\n")
    assert lines[0] == '{"instances": [' and lines[-1] == "]}" and len(lines) == 7
    assert [json.loads(line.rstrip(",")) for line in lines[1:-1]] == json.loads(ARRANGEMENT)["instances"]
    assert json.loads(block) == json.loads(ARRANGEMENT)  # nothing lost


def test_every_coder_family_call_starts_with_the_same_system_prompt_and_reports_cached_tokens(tmp_path):
    broken = COARSE.replace("box(size=", "cube(size=")
    script = [BOUNDS, PARTS, ARRANGEMENT, fenced(broken), fenced(COARSE), fenced(FLOATING), fenced(REFINED)]
    script += [REJECT, fenced(THICKER), ACCEPT]  # coder, repair, refiner, lint-fix, inspector, feedback
    summary, requests = run(tmp_path, script, prefix_cache=True)
    assert summary["status"] == "accepted"
    roles = [
        p.name.split("-", 1)[1].removesuffix(".json") for p in sorted((tmp_path / "calls").glob("*.json"))
    ]
    assert roles[3:] == ["coder", "repair", "refiner", "lint-fix", "inspector", "coder", "inspector"]
    family = [requests[i] for i in (3, 4, 5, 6, 8)]
    system = coder_system()
    for request in family:
        first = request["messages"][0]
        assert first == {"role": "system", "content": system}
        assert len(first["content"]) >= 0.8 * len(prompt_of(request))  # the cacheable prefix
    assert system.count("# chair.pdsl") == 1 and system.count("# mug.pdsl") == 1  # no example twice
    words = len(system.split())
    coder_calls = summary["by_role"]["coder"]
    assert summary["by_role"]["repair"]["cached_tokens"] == words  # the second call read it from the cache
    assert coder_calls["calls"] == 2 and coder_calls["cached_tokens"] == words  # the first was a miss
    assert summary["usage"]["cached_tokens"] == 4 * words
    assert "(0 cached)" in (tmp_path / "calls" / "0004-coder.md").read_text()
    assert f"({words} cached)" in (tmp_path / "calls" / "0005-repair.md").read_text()
    report = (tmp_path / "report.html").read_text()
    assert f"<tr><th>cached tokens<td>{4 * words}" in report


def test_the_refiner_sees_the_coarse_render_and_its_lints(tmp_path):
    script = [BOUNDS, PARTS, ARRANGEMENT, fenced(FLOATING), fenced(REFINED), ACCEPT]
    summary, requests = run(tmp_path, script)
    refiner = requests[4]
    (url,) = images_in(refiner)
    assert url.startswith("data:image/png;base64,")
    text = prompt_of(refiner)
    assert "How the coarse program renders: one image of the shape" in text  # what fake_inspect says it shows
    assert "W101" in text and "floats 0.095 m above" in text  # the coarse version's lint
    assert "Detail added inside a part moves that part's anchors" in text
    assert (tmp_path / "versions" / "001" / "sheet.png").exists()
    assert (tmp_path / "calls" / "0005-refiner-1.png").exists()
    assert "moves that part's anchors" in prompts_feedback()


def prompts_feedback() -> str:
    from proto3d import prompts

    return " ".join(prompts.template("feedback.md").split())


def test_the_report_links_and_shows_the_final_program(tmp_path):
    summary, _ = run(tmp_path, [BOUNDS, PARTS, ARRANGEMENT, fenced(COARSE), fenced(REFINED), ACCEPT])
    report = (tmp_path / "report.html").read_text()
    for name in ("program.pdsl", "shape.glb", "parts.json", "sheet.png"):
        assert f"<a href='final/{name}'>{name}</a>" in report
    final = html.unescape(report.split("<h2 id=final>")[1].split("<h2")[0])
    assert 'part top { box(size=[1.0, 0.6, 0.04], at=[0, 0, 0.75], align="top", bevel=0.005) }' in final
    assert "for x in [-0.45, 0.45], y in [-0.25, 0.25] {" in final  # whole, not a diff


def test_max_iterations_zero_means_no_limit(tmp_path):
    script = [BOUNDS, PARTS, ARRANGEMENT, fenced(COARSE), fenced(REFINED)]
    script += [REJECT, fenced(THICKER)] * 7 + [ACCEPT]
    summary, _ = run(tmp_path, script, iterations=0)
    assert summary["status"] == "accepted" and summary["iterations"] == 8


def test_a_manual_run_says_manual_and_counts_no_tokens(tmp_path):
    folder = tmp_path / "manual"
    with manual_person(folder, [BOUNDS, PARTS, ARRANGEMENT, fenced(COARSE), fenced(REFINED), ACCEPT]):
        backend = ManualBackend(folder, poll=0.01, notify=lambda m: None)
        summary = Agent(
            "table", tmp_path, LLMConfig(), backend, Toolchain(inspect=fake_inspect), one_step=False
        ).run()
    assert summary["status"] == "accepted"
    assert json.loads((tmp_path / "run.json").read_text())["model"] == "manual"  # not the config's gpt-4o
    assert summary["usage"]["uncounted_calls"] == summary["usage"]["calls"] == 6
    report = (tmp_path / "report.html").read_text()
    assert "<tr><th>tokens<td>n/a" in report and "<tr><td>coder<td>1<td>n/a<td>n/a<td>n/a" in report
    assert "_tokens: n/a (answered by a person)" in (tmp_path / "calls" / "0004-coder.md").read_text()


def test_each_retry_against_an_unreachable_server_is_printed_by_the_cli(tmp_path):
    with FakeOpenAI() as server:
        url = server.base_url  # closed when the block ends: nothing listens there any more
    (tmp_path / "p.toml").write_text("[llm]\nmax_retries = 2\nbackoff = 0.001\n")
    result = CliRunner().invoke(
        agent_command,
        ["table", "--base-url", url, "--config", str(tmp_path / "p.toml"), "-o", str(tmp_path / "runs")],
    )
    assert result.exit_code == 1
    retries = [line for line in result.stderr.splitlines() if "cannot connect" in line and "retry" in line]
    assert [line.rsplit("; ", 1)[1].split(" in ")[0] for line in retries] == ["retry 1 of 2", "retry 2 of 2"]


def test_one_step_has_the_coder_write_the_detailed_program_at_once(tmp_path):
    summary, requests = run_with_options(tmp_path, [BOUNDS, PARTS, ARRANGEMENT, fenced(REFINED), ACCEPT])
    assert summary["status"] == "accepted" and summary["versions"] == 1
    assert set(summary["by_role"]) == {"metricizer", "decomposer", "arranger", "coder", "inspector"}
    coder = " ".join(prompt_of(requests[3]).split())
    assert "in one step: every part instance there" in coder and "coarse" not in coder
    assert "Detail added inside a part moves that part's anchors" in coder
    assert requests[3]["messages"][0]["content"] == coder_system()
    assert json.loads((tmp_path / "run.json").read_text())["one_step"] is True


def test_two_steps_ask_for_a_coarse_program_first(tmp_path):
    _, requests = run(tmp_path, [BOUNDS, PARTS, ARRANGEMENT, fenced(COARSE), fenced(REFINED), ACCEPT])
    user = requests[3]["messages"][1]["content"]
    assert user.startswith("Write a first, coarse pdsl program for a **table**")


def run_with_options(run_dir: Path, script):
    with FakeOpenAI(script) as server:
        cfg = config(server)
        agent = Agent(
            "table", run_dir, cfg, OpenAIBackend(cfg), Toolchain(inspect=fake_inspect), one_step=True
        )
        return agent.run(), server.requests


def test_the_refiners_image_is_at_most_1024_pixels_a_side(tmp_path):
    from PIL import Image

    from proto3d.agent.loop import _shrunk

    Image.new("RGB", (1660, 758), "white").save(tmp_path / "sheet.png")
    out = _shrunk(tmp_path / "sheet.png", tmp_path / "refiner-1.png")
    assert out == tmp_path / "refiner-1.png" and Image.open(out).size == (1024, 468)
    Image.new("RGB", (800, 600), "white").save(tmp_path / "small.png")
    assert _shrunk(tmp_path / "small.png", tmp_path / "x.png") == tmp_path / "small.png"
    assert not (tmp_path / "x.png").exists()


def test_the_real_renderer_previews_the_coarse_version_small(tmp_path):
    from PIL import Image

    from proto3d.agent.loop import preview_views

    assert Toolchain().preview is preview_views and Toolchain(inspect=fake_inspect).preview is fake_inspect
    shown = preview_views(compile_text(COARSE), tmp_path)
    assert shown.images == [tmp_path / "preview.png"] and not (tmp_path / "views").exists()
    width, height = Image.open(shown.images[0]).size
    assert 600 <= width <= 1024 and height <= 1024


def test_by_default_one_coder_call_and_each_inspector_view_follows_its_caption_in_two_tiles(tmp_path):
    """The real renderer: the caption is text before its image, not drawn in it, so a 512-px view
    with its labelled twin is 1024 × 512 (two 512-px tiles for OpenAI, not four)."""
    with FakeOpenAI([BOUNDS, PARTS, ARRANGEMENT, fenced(REFINED), ACCEPT]) as server:
        cfg = config(server)
        summary = Agent("table", tmp_path, cfg, OpenAIBackend(cfg), Toolchain()).run()
    assert summary["status"] == "accepted" and len(server.requests) == 5  # no coarse program, no refiner
    assert (tmp_path / "final" / "program.pdsl").read_text() == REFINED
    content = server.requests[-1]["messages"][-1]["content"]
    assert [p["type"] for p in content] == ["text"] + ["text", "image_url"] * 5
    assert "Each image comes right after its caption" in content[0]["text"]
    captions = [p["text"] for p in content[1::2]]
    assert captions[0] == (
        "Image 1: view `front`, seen from the front: the object's front (-Y) faces the camera; "
        "+X points right; up (+Z) points up."
    )
    assert [c.split(": ")[1].split(",")[0] for c in captions] == [
        f"view `{v}`" for v in ("front", "left", "back", "top", "iso")
    ]
    for part in content[2::2]:
        png = base64.b64decode(part["image_url"]["url"].split(",", 1)[1])
        assert Image.open(io.BytesIO(png)).size == (1024, 512)

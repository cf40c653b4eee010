"""Prompts, schemas and reply parsing: what the model sees and what it must answer."""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path

import pytest

from proto3d import prompts
from proto3d.agent.loop import _offending, coder_system
from proto3d.agent.schema import ReplyError, extract_json, extract_program
from proto3d.compiler import compile_text
from proto3d.errors import Proto3dError

REPO = Path(__file__).resolve().parents[2]
TEMPLATES = sorted(p.name for p in files("proto3d.prompts").iterdir() if p.name.endswith(".md"))


def test_language_reference_is_the_docs_copy():
    """prompts/language.md (package data) links to docs/language.md: it must not become a stale copy."""
    assert prompts.language_reference() == (REPO / "docs" / "language.md").read_text(encoding="utf-8"), (
        "prompts/language.md must be a link to ../docs/language.md"
    )


def test_the_coder_reads_the_reference_without_its_people_only_sections():
    whole, coder = prompts.language_reference(), prompts.coder_reference()
    heading = re.compile(r"(?m)^## .*")
    assert heading.findall(coder) == heading.findall(whole)  # every section is there
    for gone in ("<!--", "| E901 |", "| E214 |", "U+202A", "proto3d check --json", "R0xx"):
        assert gone in whole and gone not in coder, gone
    for kept in ("E007", "Lints (warnings) a finished prototype should not have:", "| W101 |", "| W109 |"):
        assert kept in coder, kept
    assert len(coder) < 0.9 * len(whole)
    assert prompts.coder_reference() in coder_system() and "| E901 |" not in coder_system()


def test_people_only_sections_go_with_their_markers_and_must_pair():
    text = (
        "a\n<!-- people only -->\nb\n<!-- /people only -->\nc\n<!-- people only -->d<!-- /people only -->\n"
    )
    assert prompts.without_people_only(text) == "a\nc\n"
    for unpaired in ("a\n<!-- people only -->\nb\n", "a\n<!-- /people only -->\n"):
        with pytest.raises(ValueError, match="unpaired"):
            prompts.without_people_only(unpaired)


def test_examples_compile_cleanly_and_match_examples_folder():
    examples = prompts.examples()
    assert len(examples) >= 3
    for name, text in examples:
        shape = compile_text(text, filename=name)
        assert shape.diagnostics == [], name  # a few-shot example must not teach lints
        original = REPO / "examples" / name
        if original.exists():
            assert original.read_text(encoding="utf-8") == text, (
                f"prompts/examples/{name} must link to examples/{name}"
            )


def test_every_template_placeholder_is_known():
    placeholders = {name: set(re.findall(r"\$(\w+)", prompts.template(name))) for name in TEMPLATES}
    assert placeholders["coder_system.md"] == {"language", "examples"}
    assert placeholders["repair.md"] == {"diagnostics", "offending", "numbered"}
    assert {"lints", "visibility", "parts", "numbered", "images", "bounds", "measured"} <= placeholders[
        "inspector.md"
    ]
    for name in TEMPLATES:
        values = {key: f"<{key}>" for key in placeholders[name]}
        text = prompts.render(name, **values)
        assert "$" not in text, name
    with pytest.raises(KeyError):
        prompts.render("repair.md", diagnostics="x")


def test_designer_prompts_state_the_frame_and_the_json_format():
    frame = prompts.template("frame.md")
    assert "Z up" in frame and "−Y" in frame and "z = 0" in frame
    for name, key in [
        ("metricizer.md", '"bounds"'),
        ("decomposer.md", '"parts"'),
        ("arranger.md", '"instances"'),
        ("inspector.md", '"accept"'),
    ]:
        assert key in prompts.template(name) and "$frame" in prompts.template(name)


def test_offending_lines_are_marked_with_context():
    program = 'shape "x"\nlet a = 1\npart p {\n  cube(1)\n}\nlet b = 2\n'
    with pytest.raises(Proto3dError) as info:
        compile_text(program)
    text = _offending(program, info.value.diagnostics)
    assert text.splitlines() == ["    3 | part p {", ">   4 |   cube(1)", "    5 | }"]


@pytest.mark.parametrize(
    "reply",
    [
        '{"a": 1}',
        'Here you go:\n```json\n{"a": 1}\n```\nAnything else?',
        'Sure. The answer is {"a": 1} as requested.',
        '```\n{"a": 1}\n```',
    ],
)
def test_extract_json(reply):
    assert extract_json(reply) == {"a": 1}


def test_extract_json_errors():
    with pytest.raises(ReplyError, match="no JSON object"):
        extract_json("I cannot do that")
    with pytest.raises(ReplyError, match="not valid JSON"):
        extract_json("{'a': 1}")


def test_extract_program():
    assert extract_program("```pdsl\npart a { box(size=[1,1,1]) }\n```") == "part a { box(size=[1,1,1]) }\n"
    two = 'Plan:\n```\nx\n```\nProgram:\n```pdsl\nshape "t"\npart a { sphere(r=1) }\n```'
    assert extract_program(two) == 'shape "t"\npart a { sphere(r=1) }\n'
    assert extract_program('shape "t"\npart a { sphere(r=1) }') == 'shape "t"\npart a { sphere(r=1) }\n'
    assert (
        extract_program("```pdsl\npart a { sphere(r=1) }\npart b {") == "part a { sphere(r=1) }\npart b {\n"
    )
    with pytest.raises(ReplyError):
        extract_program("   \n")

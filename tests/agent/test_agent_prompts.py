"""Prompts, schemas and reply parsing: what the model sees and what it must answer."""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path

import pytest

from proto3d import prompts
from proto3d.agent.loop import _offending
from proto3d.agent.schema import (
    ARRANGEMENT,
    BOUNDS,
    PARTS,
    VERDICT,
    ReplyError,
    check_arrangement,
    check_parts,
    extract_json,
    extract_program,
    validate,
)
from proto3d.compiler import compile_text
from proto3d.grammar.diagnostics import Proto3dError

REPO = Path(__file__).resolve().parents[2]
TEMPLATES = sorted(p.name for p in files("proto3d.prompts").iterdir() if p.name.endswith(".md"))


def test_language_reference_is_the_docs_copy():
    """prompts/language.md (package data) links to docs/language.md: it must not become a stale copy."""
    assert prompts.language_reference() == (REPO / "docs" / "language.md").read_text(encoding="utf-8"), (
        "prompts/language.md must be a link to ../docs/language.md"
    )


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


def test_validator_paths_and_kinds():
    assert validate({"bounds": [0.5, 0.5, 0.9]}, BOUNDS) == []
    assert validate({"bounds": [0.5, -1, "x"]}, BOUNDS) == [
        "$.bounds[1]: must be > 0, got -1",
        "$.bounds[2]: expected number, got string",
    ]
    assert validate([], BOUNDS) == ["$: expected object, got array"]
    assert validate({"parts": [{"label": "2legs", "count": True}]}, PARTS) == [
        "$.parts[0].label: '2legs' does not match ^[A-Za-z_][A-Za-z0-9_]*$",
        "$.parts[0].count: expected integer, got boolean",
    ]
    assert validate({"accept": True, "score": 11, "problems": [{"part": "a", "issue": "b"}]}, VERDICT) == [
        "$.score: must be <= 10, got 11",
        "$.problems[0]: missing required key 'fix'",
    ]
    ok = {"accept": False, "score": 3.5, "problems": [{"part": "a", "line": None, "issue": "b", "fix": "c"}]}
    assert validate(ok, VERDICT) == []
    assert validate({"instances": [{"part": "a", "size": [1, 1, 1], "position": [0, 0]}]}, ARRANGEMENT) == [
        "$.instances[0].position: needs at least 3 items, got 2"
    ]


def test_semantic_checks():
    parts = {
        "parts": [{"label": "leg", "count": 2}, {"label": "leg", "count": 1}, {"label": "scale", "count": 1}]
    }
    assert check_parts(parts) == [
        "$.parts[1].label: 'leg' appears twice; give one entry with a count",
        "$.parts[2].label: 'scale' is a reserved word of the language; pick another",
    ]
    parts = {"parts": [{"label": "leg", "count": 2}]}
    inst = {"part": "leg", "size": [1, 1, 1], "position": [0, 0, 0]}
    assert check_arrangement({"instances": [inst, inst]}, parts) == []
    assert check_arrangement({"instances": [inst, {**inst, "part": "arm"}]}, parts) == [
        "$.instances[1].part: 'arm' is not one of the parts ['leg']",
        "part 'leg' needs 2 instance(s), got 1",
    ]


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

"""`proto3d fmt`: canonical, idempotent, comments kept, meaning unchanged."""

from pathlib import Path

import numpy as np
import pytest

from proto3d.compiler import compile_text
from proto3d.grammar import format_program, parse

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(ROOT.joinpath("examples").glob("*.pdsl"))
FEW_SHOT = sorted(ROOT.joinpath("prompts", "examples").glob("*.pdsl"))


def fmt(text: str) -> str:
    return format_program(parse(text))


def test_canonical_spacing_and_comments_kept():
    text = (
        '# header\nshape   "x"\n\n\n\nlet a=1+2*3 # trailing\n'
        "part p color 'red' {   // opening\n  box(size=[1,1,1],at=[0,0,a])\n  # before close\n}\n"
    )
    assert fmt(text) == (
        '# header\nshape "x"\n\nlet a = 1 + 2 * 3  # trailing\n'
        'part p color "red" {  // opening\n    box(size=[1, 1, 1], at=[0, 0, a])\n'
        "    # before close\n}\n"
    )


def test_minimal_parentheses_keep_the_tree():
    for source in [
        "(1 + 2) * 3",
        "1 - (2 - 3)",
        "-(2 ** 2)",
        "(-2) ** 2",
        "2 ** -1",
        "not (a or b) and c",
        "(a == b) == c",
        "[1, 2][0] * (3 + 4)",
    ]:
        program = parse(f"let x = {source}")
        again = parse(fmt(f"let x = {source}"))
        assert _shape(again.statements[0].value) == _shape(program.statements[0].value), source


def _shape(node):
    """The tree without positions, for comparing meaning."""
    if isinstance(node, tuple):
        return tuple(_shape(n) for n in node)
    if hasattr(node, "__dataclass_fields__"):
        return (type(node).__name__,) + tuple(
            _shape(getattr(node, f)) for f in node.__dataclass_fields__ if f not in ("span", "text")
        )
    return node


def test_transform_chains_and_if_chains():
    text = (
        "translate([0,0,1]) rotate([0,90,0]) radial(n=6, r=0) { part a { sphere(r=1) } }\n"
        "if x { } elif y { } else { }\n"
    )
    assert fmt(text) == (
        "translate([0, 0, 1]) rotate([0, 90, 0]) radial(n=6, r=0) {\n    part a {\n"
        "        sphere(r=1)\n    }\n}\nif x {\n} elif y {\n} else {\n}\n"
    )


def test_long_calls_wrap_one_argument_a_line():
    points = ", ".join(f"[{i / 10}, {i / 10}]" for i in range(20))
    out = fmt(f"part a {{ lathe(profile=[{points}], segments=48) }}")
    assert all(len(line) <= 100 for line in out.splitlines())
    assert fmt(out) == out


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_examples_idempotent_and_same_mesh(path):
    text = path.read_text()
    once = fmt(text)
    assert fmt(once) == once
    assert [c.text for c in parse(text).comments] == [c.text for c in parse(once).comments]
    a, b = compile_text(text), compile_text(once)
    assert np.array_equal(a.vertices, b.vertices) and np.array_equal(a.part_id, b.part_id)


@pytest.mark.parametrize(
    "path", EXAMPLES + FEW_SHOT, ids=[str(p.relative_to(ROOT)) for p in EXAMPLES + FEW_SHOT]
)
def test_examples_are_canonically_formatted(path):
    """What `proto3d fmt --check` asks: the examples (and the coder's few-shot examples) are written as fmt prints them."""
    text = path.read_text(encoding="utf-8")
    assert fmt(text) == text


def test_cli_fmt_check_write_and_bad_input(tmp_path):
    import subprocess
    import sys

    def run(*a):
        return subprocess.run(
            [sys.executable, "-m", "proto3d.cli", "fmt", *a],
            capture_output=True,
            text=True,
        )

    path = tmp_path / "a.pdsl"
    path.write_text("part a {box(size=[1,1,1])}\n")
    assert run("--check", str(path)).returncode == 1
    assert run("-w", str(path)).returncode == 0
    assert path.read_text() == "part a {\n    box(size=[1, 1, 1])\n}\n"
    assert run("--check", str(path)).returncode == 0
    bad = tmp_path / "bad.pdsl"
    bad.write_text("part a { box(size=[1, 1, 1] }\n")
    result = run(str(bad))
    assert result.returncode == 1 and "E011" in result.stderr and "Traceback" not in result.stderr
    assert bad.read_text() == "part a { box(size=[1, 1, 1] }\n"


def test_boolean_blocks_print_canonically_and_keep_their_tree():
    text = (
        "part p { difference() {\nbox(size=[1,1,1])  # base\n"
        "union { for i in [0, 1] { sphere(r=0.2, at=[i, 0, 0]) } }\n"
        "translate([0, 0, 1]) intersection { sphere(r=1) box(size=[1, 1, 1]) } } }\n"
    )
    assert fmt(text) == (
        "part p {\n"
        "    difference {\n"
        "        box(size=[1, 1, 1])  # base\n"
        "        union {\n"
        "            for i in [0, 1] {\n"
        "                sphere(r=0.2, at=[i, 0, 0])\n"
        "            }\n"
        "        }\n"
        "        translate([0, 0, 1]) intersection {\n"
        "            sphere(r=1)\n"
        "            box(size=[1, 1, 1])\n"
        "        }\n"
        "    }\n"
        "}\n"
    )
    assert fmt(fmt(text)) == fmt(text)
    (part,) = parse(text).statements
    (block,) = part.block.body
    assert (block.op, [type(s).__name__ for s in block.block.body]) == (
        "difference",
        ["PrimitiveStmt", "BooleanStmt", "TransformStmt"],
    )
    assert (block.span.line, block.span.column, block.span.end_line) == (1, 10, 4)


def test_boolean_words_are_reserved_names():
    from proto3d.compiler import check

    found = [
        (d.code, d.line, d.column) for d in check("let union = 1\npart difference { box(size=[1, 1, 1]) }")
    ]
    assert ("E202", 1, 1) in found and ("E202", 2, 1) in found


def test_defs_and_named_primitives_print_canonically_and_round_trip():
    text = (
        "def wheel( r,width = 0.04 , ) {  # a wheel\n torus(R=r,r=width)   as   tyre\n}\n"
        "part bike { wheel(0.3,at=[0,0,0.3])as front_wheel }\n"
    )
    expected = (
        "def wheel(r, width=0.04) {  # a wheel\n    torus(R=r, r=width) as tyre\n}\n"
        "part bike {\n    wheel(0.3, at=[0, 0, 0.3]) as front_wheel\n}\n"
    )
    assert fmt(text) == expected
    assert fmt(expected) == expected
    points = ", ".join(f"[{i / 10}, {i / 10}]" for i in range(20))
    wrapped = fmt(f"part a {{ extrude(polygon=[{points}], h=1) as plate }}")
    assert wrapped.splitlines()[-2:] == ["    ) as plate", "}"]
    assert fmt(wrapped) == wrapped

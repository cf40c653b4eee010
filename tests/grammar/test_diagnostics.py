"""Every diagnostic code: by code and position, with the hint a model can act on."""

import json
import subprocess
import sys

import pytest

from proto3d.compiler import Limits, check, compile_text
from proto3d.errors import Proto3dError, errors

BOX = "box(size=[1, 1, 1])"

CASES = [
    # code, program, line, column, words the message or hint must contain
    ("E002", "let x = " + "[" * 40 + "]" * 40, 1, 41, "nesting"),
    ("E003", 'let s = "' + "a" * 1001 + '"', 1, 9, "limit"),
    ("E003", "let " + "a" * 101 + " = 1", 1, 5, "name of 101 characters"),
    ("E010", "part a { box(size=[1, 1, 1]); }", 1, 29, "`;`"),
    ("E010", "for i in range(3): { }", 1, 18, "braces"),
    ("E011", "part a {\n  x = 3\n}", 2, 5, "let"),
    ("E011", "part a { box(size=[1, 1, 1] at=[0, 0, 0]) }", 1, 29, "unexpected"),
    ("E012", "part a { " + BOX, 1, 29, "never closed"),
    ("E013", "let x = 1e999", 1, 9, "out of range"),
    ("E101", "part a { cube(size=1) }", 1, 10, "box"),
    ("E101", "part a { hull() { } }", 1, 10, "lathe"),
    ("E101", "part a { linear_extrude(h=1) }", 1, 10, "extrude"),
    ("E101", "part a { skin(h=1) }", 1, 10, "loft"),
    ("E102", "part a { loft(sections=[[[0, 0], [1, 0], [0, 1]], [[0, 0]]], heights=[0, 1]) }", 1, 62, "`z`"),
    ("E101", "part a { hemisphere(r=1) }", 1, 10, "polar=[0, 90]"),
    ("E102", "part a { sphere(radius=1) }", 1, 17, "`r`"),
    ("E102", "part a { cylinder(r=1, height=2) }", 1, 24, "`h`"),
    ("E103", "part a { sphere() }", 1, 10, "`r`"),
    ("E103", "part a { cylinder(h=1) }", 1, 10, "r1"),
    ("E104", "part a { sphere(r=1, r=2) }", 1, 22, "twice"),
    ("E105", "part a { sphere(1, 2) }", 1, 20, "positional"),
    ("E106", "part a { sphere(r=[1, 2]) }", 1, 19, "number"),
    ("E106", "part a { box(size=1) }", 1, 19, "vector of 3"),
    ("E107", "part a { sphere(r=-1) }", 1, 10, "negative"),
    ("E107", "part a { capsule(r=1, h=1) }", 1, 10, "total length"),
    ("E107", "part a { tube(r=1, thickness=2, h=1) }", 1, 10, "outer radius"),
    ("E103", "part a { sweep(path=[[0, 0, 0], [1, 0, 0]]) }", 1, 10, "`profile`"),
    ("E103", "part a { loft(sections=[[[0, 0], [1, 0], [0, 1]], [[0, 0]]]) }", 1, 10, "`path`"),
    ("E106", "part a { loft(sections=[[0, 0], [1, 0], [0, 1]], z=[0, 1, 2]) }", 1, 24, "polygons"),
    ("E106", "part a { torus(R=[1, 2, 3], r=0.1) }", 1, 10, "[rx, ry]"),
    ("E107", "part a { loft(sections=[[[0, 0], [1, 0], [0, 1]]], z=[0]) }", 1, 10, "2 sections"),
    ("E107", "part a { sweep(path=[[0, 0, 0], [1, 0, 0]], r=0.1, closed=true) }", 1, 10, "3 [x, y, z]"),
    ("E108", 'part a { box(size=[1, 1, 1], align="upper") }', 1, 10, "align"),
    ("E108", 'part a { box(size=[1, 1, 1], align="top bottom") }', 1, 10, "contradict"),
    ("E109", 'part a color "blurple" { ' + BOX + " }", 1, 14, "colour"),
    ("E110", BOX, 1, 1, "part"),
    ("E111", "part a { part b { " + BOX + " } }", 1, 10, "inside another part"),
    ("E112", "part a { rod(from=[0, 0, 0], to=[0, 0, 1], r=0.1, at=[1, 0, 0]) }", 1, 51, "from"),
    ("E112", "part a { cone(r=0.1, from=[0, 0, 0], to=[0, 0, 1], rot=[90, 0, 0]) }", 1, 52, "`rot`"),
    ("E103", "part a { capsule(r=0.1, from=[0, 0, 0]) }", 1, 10, "`to`"),
    ("E103", "part a { tube(r=0.1, thickness=0.01) }", 1, 10, "from=[x, y, z]"),
    ("E135", "part a { cylinder(0.1, 0.5, from=[0, 0, 0], to=[0, 0, 1]) }", 1, 24, "their distance"),
    ("E135", "part a { frustum(r1=0.2, r2=0.1, h=1, to=[0, 0, 1], from=[1, 0, 0]) }", 1, 34, "no `h`"),
    (
        "E136",
        "part a { lathe(profile=[[0, 0], [1, 0], [1, 1], [0, 0]], thickness=0.1) }",
        1,
        10,
        "open profile",
    ),
    ("E107", "part a { sphere(r=1, polar=[90, 45]) }", 1, 10, "dome"),
    ("E107", "part a { ellipsoid(size=[2, 2, 1], thickness=0.5) }", 1, 10, "smallest radius 0.5"),
    ("E107", "part a { sphere(r=1, angle=400) }", 1, 10, "(0, 360]"),
    ("E106", "part a { sphere(r=1, polar=[0, 90, 180]) }", 1, 28, "vector of 2"),
    (
        "E130",
        "part a { loft(sections=[[[0, 0], [1, 0], [0, 1]], [[0, 0]]], z=[0, 1], path=[[0, 0, 0], [0, 0, 1]]) }",
        1,
        10,
        "not both",
    ),
    (
        "E131",
        "part a { loft(sections=[[[0, 0], [1, 0], [0, 1]], [[0, 0]]], z=[0, 1, 2]) }",
        1,
        10,
        "2 sections but 3 heights",
    ),
    (
        "E132",
        "part a { sweep(path=[[0, 0, 0], [1, 0, 0]], r=0.1, profile=[[0, 0], [1, 0], [0, 1]]) }",
        1,
        10,
        "not both",
    ),
    ("E113", "part a { box(size=[1, 1, 1]) { } }", 1, 30, "block"),
    (
        "E125",
        "part a { extrude(polygon=[[0, 0], [1, 0], [1, 0.1], [0, 0.1]], h=1, round=0.06) }",
        1,
        10,
        "at most 0.05",
    ),
    ("E126", "part a { lathe(profile=[[0, 0], [1, 1]], thickness=0.1, smooth=true) }", 1, 10, "not both"),
    ("E140", "difference { " + BOX + " }", 1, 1, "outside any part"),
    ("E140", "part a { " + BOX + " }\ntranslate([1, 0, 0]) union() { " + BOX + " }", 2, 22, "part label"),
    (
        "E106",
        "part a { extrude(polygon=[[0, 0], [1, 0], [0, 1]], h=1, holes=[[0, 0], [1, 0], [0, 1]]) }",
        1,
        63,
        "list of one polygon",
    ),
    (
        "E107",
        "part a { extrude(polygon=[[0, 0], [1, 0], [0, 1]], h=1, holes=[[[0, 0], [1, 0]]]) }",
        1,
        10,
        "hole",
    ),
    ("E201", "part a { sphere(r=radius) }", 1, 19, "not defined"),
    ("E201", "let a = [x for x in [1, 2]]\nlet b = x", 2, 9, "only inside its brackets"),
    (
        "E209",
        "part a { box(size=[1, 1, 1], at=seat.top) }\npart seat { " + BOX + " }",
        1,
        33,
        "not built yet",
    ),
    ("E209", "part a { box(size=[1, 1, 1], at=a.top) }", 1, 33, "not built yet"),
    ("E105", "part a { cylinder(0.1, 0.2, 0.5) }", 1, 29, "positional"),
    ("E212", 'shape "a"\nshape "b"', 2, 1, "twice"),
    ("E214", "let a = 1\nlet a = 2", 2, 1, "already defined at line 1"),
    ("E215", "let seat = 1\npart seat { " + BOX + " }", 1, 1, "part label"),
    ("E202", "let scale = 2", 1, 1, "reserved"),
    ("E202", "let a = [pi for pi in [1]]", 1, 17, "reserved"),
    ("E203", "let x = sqr(2)", 1, 9, "sqrt"),
    ("E204", "let x = sin(1, 2)", 1, 9, "argument"),
    ("E204", "let x = sqrt(-1)", 1, 9, "undefined"),
    ("E204", "let x = circle(r=0.1, n=2)", 1, 9, "at least 3"),
    ("E204", "let x = rounded_rect(size=[1, 1], r=0.6)", 1, 9, "half the shorter side"),
    ("E205", 'let x = 1 + "a"', 1, 9, "cannot apply"),
    ("E205", "if 1 { }", 1, 4, "true or false"),
    ("E205", "let a = [x for x in [1, 2] if x]", 1, 31, "true or false"),
    ("E206", "let x = 1 / 0", 1, 9, "division by zero"),
    ("E207", "let v = [1, 2, 3]\nlet x = v[3]", 2, 9, "out of range"),
    ("E207", "part leg { " + BOX + " }\nlet x = leg[1].top", 2, 9, "instance"),
    ("E208", "part seat { " + BOX + " }\nlet x = seat.upper", 2, 9, "anchor"),
    ("E209", "part seat { }\npart b { box(size=[1, 1, 1], at=seat.top) }", 2, 33, "no geometry"),
    ("E210", "let x = 10 ** 400", 1, 9, "out of range"),
    ("E210", "part a { sphere(r=1e7) }", 1, 19, "out of range"),
    ("E211", "param h = 2 in [0, 1]", 1, 1, "outside"),
    ("E211", "param h = 1 in 3", 1, 16, "[lo, hi]"),
    ("E212", "bounds [1, 0, 1]", 1, 8, "positive"),
    ("E212", "shape 3", 1, 1, "name string"),
    ("E303", "for i in range(100), j in range(100), k in range(100) { }", 1, 1, "loop iterations"),
    ("E304", "let a = [[x, y] for x in range(9999) for y in range(9999)]", 1, 47, "evaluation steps"),
    ("E305", "part a { sphere(r=1, segments=1000) }", 1, 10, "segments"),
    ("E307", "let c = circle(r=1, n=5000)", 1, 9, "limit is 2000"),
    ("E401", 'mirror("w") part a { ' + BOX + " }", 1, 8, "mirror"),
    ("E401", "scale(0) part a { " + BOX + " }", 1, 1, "non-zero"),
    ("E401", 'symmetric("q") part a { ' + BOX + " }", 1, 1, "symmetric"),
    ("E011", "def w() { sphere(r=1) }\npart front w()", 2, 12, "`part front { w(…) }`"),
    ("E150", "def f() { f() }\npart a { f() }", 1, 11, "recursive"),
    ("E151", "for i in [1] { def f() { } }", 1, 16, "inside a block"),
    ("E152", "part a { f() }\ndef f() { " + BOX + " }", 1, 10, "move `def f` above line 1"),
    ("E153", "def f() { bounds [1, 1, 1] }", 1, 11, "inside a def"),
    ("E154", "def cylinder(r) { }", 1, 5, "primitive"),
    ("E155", "def f(rot) { }", 1, 7, "placement"),
    ("E245", "part a { " + BOX + " as center }", 1, 33, "anchor word"),
    ("E246", "part a {\n " + BOX + " as p\n " + BOX + " as p\n}", 3, 25, "already names"),
    (
        "E247",
        "part a { " + BOX + " }\npart b { " + BOX + " as p }\nlet v = a.p.top",
        3,
        9,
        "no primitive named",
    ),
    ("E248", "def f() { part b { " + BOX + " } }\nf() as p", 2, 8, "own parts"),
    (
        "E315",
        "def f() {" + "{" * 30 + "sphere(r=1)" + "}" * 30 + "}\npart a { { f() } }",
        2,
        12,
        "limit of 32",
    ),
]


@pytest.mark.parametrize(
    "code, program, line, column, words", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_diagnostic(code, program, line, column, words):
    diagnostics = errors(check(program))
    assert diagnostics, f"no error for {program!r}"
    first = diagnostics[0]
    assert (first.code, first.line, first.column) == (code, line, column), first.format()
    text = first.format()
    assert words.lower() in text.lower()
    assert "^" in text and first.source_line  # the source line with a caret
    with pytest.raises(Proto3dError) as raised:
        compile_text(program)
    assert raised.value.diagnostics[0].code == code


def test_limits_are_configurable_and_positioned():
    many = "for i in range(20) { part p { " + BOX + " } }"
    assert [d.code for d in check(many, limits=Limits(max_primitives=10))] == ["E301"]
    assert [
        d.code for d in check("part p { sphere(r=1, segments=64) }", limits=Limits(max_triangles=100))
    ] == ["E302"]
    assert [d.code for d in check("let x = 1", limits=Limits(max_program_bytes=4))] == ["E001"]
    points = ", ".join(f"[{i}, 0]" for i in range(30))
    assert [
        d.code for d in check(f"part a {{ extrude(polygon=[{points}], h=1) }}", limits=Limits(max_points=20))
    ] == ["E307"]
    steps = "for i in range(1000) { let a = range(1000) }"
    assert [d.code for d in check(steps, limits=Limits(max_steps=10_000))] == ["E304"]


def test_all_independent_errors_in_one_pass():
    program = (
        "part a {\n  cube(size=1)\n  sphere(radius=1)\n  cylinder(r=1, height=2)\n}\nlet y = undefined_name\n"
    )
    codes = [(d.code, d.line) for d in check(program) if d.severity == "error"]
    assert codes == [("E101", 2), ("E102", 3), ("E102", 4), ("E201", 6)]


def test_several_syntax_errors_in_one_pass():
    program = "part a {\n  box(size=[1, 1, 1]\n  x = 3\n}\nfor i in range(3): { }\n"
    lines = [d.line for d in check(program)]
    assert lines == [3, 5] or len(lines) >= 2


def test_warning_for_empty_block():
    diagnostics = check('part a { }\npart b { box(size=[1, 1, 1], align="bottom") }')
    assert [(d.code, d.line, d.column) for d in diagnostics] == [("W106", 1, 1)]


def test_diagnostic_json_shape():
    (diag,) = check("part a { sphere(radius=1) }")
    data = diag.to_json()
    assert {
        "code",
        "message",
        "line",
        "column",
        "end_line",
        "end_column",
        "severity",
        "expected",
        "hint",
        "source_line",
        "calls",
    } <= set(data)
    assert data["hint"] == "write `r=`"
    assert data["calls"] == []  # the def calls it happened inside: none


def test_cli_check_json_and_exit_codes(tmp_path):
    bad = tmp_path / "bad.pdsl"
    bad.write_text("part a { cube(size=1) }\n")
    good = tmp_path / "good.pdsl"
    good.write_text('part a { box(size=[1, 1, 1], align="bottom") }\n')
    run = lambda *a: subprocess.run([sys.executable, "-m", "proto3d.cli", *a], capture_output=True, text=True)  # noqa: E731
    result = run("check", "--json", str(bad))
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["ok"] is False and data["diagnostics"][0]["code"] == "E101"
    assert run("check", str(good)).returncode == 0
    result = run("check", str(bad))
    assert "did you mean" not in result.stdout or "box" in result.stdout
    assert "Traceback" not in result.stderr
    missing = run("compile", str(tmp_path / "nope.pdsl"), "-o", str(tmp_path / "x.glb"))
    assert missing.returncode == 1 and "cannot read" in missing.stderr and "Traceback" not in missing.stderr
    binary = tmp_path / "bin.pdsl"
    binary.write_bytes(b"\xff\xfe\x00junk")
    result = run("check", str(binary))
    assert result.returncode == 1 and "UTF-8" in result.stdout  # check's findings, the unreadable file's too


def test_conflicting_part_colours_warn():
    program = (
        'part p color "red" { box(size=[1, 1, 1], align="bottom") }\n'
        'part p color "blue" { box(size=[1, 1, 1], at=[0.5, 0, 0], align="bottom") }'
    )
    (warning,) = check(program)
    assert (warning.code, warning.line, warning.severity) == ("W107", 2, "warning")


def test_a_boolean_operand_manifold3d_cannot_read_is_E141_at_its_statement():
    """Every primitive tessellates closed, so no program reaches E141; an open mesh (one triangle)
    given as an operand's mesh does."""
    import numpy as np

    from proto3d.compiler.booleans import closed_solid
    from proto3d.compiler.evaluate import EvalError
    from proto3d.compiler.shape import Primitive
    from proto3d.compiler.tessellate import Tessellation
    from proto3d.errors import Span

    triangle = Tessellation(
        np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], np.float32),
        np.array([[0, 0, 1]] * 3, np.float32),
        np.array([[0, 1, 2]], np.int32),
        np.zeros(1, np.int32),
        np.array([0, 3]),
    )
    operand = Primitive("extrude", {}, np.eye(4), 32, 0, 0, (1.0, 1.0, 1.0), Span(3, 5, 3, 12))
    with pytest.raises(EvalError) as raised:
        closed_solid(triangle, operand)
    found = raised.value.diagnostic
    assert (found.code, found.span) == ("E141", Span(3, 5, 3, 12))
    assert "`extrude` is not a closed solid" in found.message and "NotManifold" in found.message

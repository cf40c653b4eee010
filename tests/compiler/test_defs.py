"""`def`: a call draws the def's body where it is called, as the inlined program would."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from proto3d.compiler import Limits, compile_text
from proto3d.errors import Proto3dError
from tests.helpers.strategies import fast, primitive_specs, vector

WHEEL = """def wheel(r, width=0.04) {
    torus(R=r - width / 2, r=width / 2, rot=[0, 90, 0])
    rod(from=[0, 0, 0], to=[0, 0, r - width], r=0.005)
}
"""


def mesh(shape) -> tuple:
    return (
        shape.vertices,
        shape.faces,
        shape.part_id,
        shape.instance_id,
        shape.primitive_id,
        shape.face_colors,
    )


def assert_same_mesh(a, b) -> None:
    for x, y in zip(mesh(a), mesh(b)):
        assert x.shape == y.shape
        np.testing.assert_array_equal(x, y)


def error_of(text: str, **kw):
    with pytest.raises(Proto3dError) as caught:
        compile_text(text, **kw)
    return caught.value.diagnostics[0]


def test_a_call_draws_what_the_inlined_body_draws_in_the_frame_of_its_at_and_rot():
    called = compile_text(
        WHEEL
        + "part bike {\n    wheel(0.3, at=[0.1, -0.5, 0.3], rot=[0, 0, 30])\n"
        + "    wheel(r=0.25, width=0.05, at=[0, 0.5, 0.25])\n}\n"
    )
    inlined = compile_text(
        """part bike {
    translate([0.1, -0.5, 0.3]) rotate([0, 0, 30]) {
        torus(R=0.3 - 0.04 / 2, r=0.04 / 2, rot=[0, 90, 0])
        rod(from=[0, 0, 0], to=[0, 0, 0.3 - 0.04], r=0.005)
    }
    translate([0, 0.5, 0.25]) {
        torus(R=0.25 - 0.05 / 2, r=0.05 / 2, rot=[0, 90, 0])
        rod(from=[0, 0, 0], to=[0, 0, 0.25 - 0.05], r=0.005)
    }
}
"""
    )
    assert_same_mesh(called, inlined)
    # the primitives keep the lines of the def's body: a pixel traces back to the statement that drew it
    assert [p.span.line for p in called.primitives] == [2, 3, 2, 3]


@fast(25)
@given(
    specs=st.lists(primitive_specs(), min_size=1, max_size=3),
    at=vector(-1, 1),
    rot=vector(-180, 180, step=1.0),
    color=st.booleans(),
)
def test_any_body_called_draws_what_it_draws_inlined_in_translate_and_rotate(specs, at, rot, color):
    body = "\n".join("    " + spec.text() for spec in specs)
    paint = ', color="red"' if color else ""
    called = compile_text(f"def f() {{\n{body}\n}}\npart p {{ f(at={at[0]}, rot={rot[0]}{paint}) }}\n")
    inlined = compile_text(
        f"part p {{ translate({at[0]}) rotate({rot[0]}) {{\n{body}\n}} }}\n".replace(
            "part p {", 'part p color "red" {' if color else "part p {"
        )
    )
    assert [p.span.line for p in called.primitives] == [p.span.line for p in inlined.primitives]
    np.testing.assert_allclose(called.vertices, inlined.vertices, atol=1e-6)
    for a, b in zip(mesh(called)[1:], mesh(inlined)[1:]):
        np.testing.assert_array_equal(a, b)


def test_defaults_keywords_and_positions_bind_like_python():
    text = 'def slab(w, d=0.2, h=d / 2) { box(size=[w, d, h], align="bottom") }\npart p { CALL }\n'
    sizes = {
        "slab(0.5)": [0.5, 0.2, 0.1],
        "slab(0.5, 0.4)": [0.5, 0.4, 0.2],  # a default reads the parameters before it, at each call
        "slab(h=0.05, w=0.3)": [0.3, 0.2, 0.05],
        "slab(0.3, h=0.01, d=0.1)": [0.3, 0.1, 0.01],
    }
    for call, size in sizes.items():
        shape = compile_text(text.replace("CALL", call))
        assert shape.primitives[0].params["size"].tolist() == size, call


def test_a_def_sees_the_names_above_it_and_its_parameters_shadow_them():
    shape = compile_text(
        'let r = 0.5\nlet h = 0.2\ndef post(r) { cylinder(r=r, h=h, align="bottom") }\npart a { post(r=0.1) }\n'
    )
    assert (shape.primitives[0].params["r1"], shape.primitives[0].params["h"]) == (0.1, 0.2)
    below = error_of("def post() { cylinder(r=w, h=1) }\nlet w = 1\npart a { post() }")
    assert (below.code, below.line, below.column) == ("E201", 1, 25)


def test_a_call_colours_what_has_no_colour_of_its_own():
    shape = compile_text(
        'def lamp() { sphere(r=0.1)\n sphere(r=0.05, color="red") }\npart a color "blue" { lamp(color="#00ff00")\n lamp() }'
    )
    assert [tuple(p.color) for p in shape.primitives] == [(0, 1, 0), (1, 0, 0), (0, 0, 1), (1, 0, 0)]


def test_a_def_that_makes_parts_is_called_outside_parts_and_each_of_its_part_blocks_is_an_instance():
    shape = compile_text(
        """def legs(h) {
    for x in [-0.2, 0.2] { part leg { cylinder(r=0.02, h=h, at=[x, 0, 0], align="bottom") } }
}
legs(h=0.4, at=[0, -0.3, 0])
legs(h=0.5, at=[0, 0.3, 0])
part top { box(size=[0.5, 0.7, 0.02], at=leg.top) }
"""
    )
    assert [(p.label, len(p.instance_ids)) for p in shape.parts] == [("leg", 4), ("top", 1)]
    np.testing.assert_allclose(shape.primitives[3].matrix[:3, 3], [0.2, 0.3, 0.25])
    np.testing.assert_allclose(shape.primitives[4].matrix[:3, 3], [0, 0, 0.5], atol=1e-7)


def test_calls_pay_their_steps_and_their_bodies():
    """A call is a statement (a step, and one per operation in its arguments); its body's statements pay
    as they run: `def` 1, `part` 1, then 2 per call (the call and its box)."""
    text = "def f() { box(size=[1, 1, 1]) }\npart a { " + "f() " * 3 + "}"
    compile_text(text, limits=Limits(max_steps=8))
    over = error_of(text, limits=Limits(max_steps=7))
    assert (over.code, over.line, over.column) == ("E304", 1, 11)
    assert [(c.name, c.span.line, c.span.column) for c in over.calls] == [("f", 2, 18)]


def test_an_error_inside_nested_calls_names_every_call_site_innermost_first():
    text = """def leg(h) {
    cylinder(r=0.02, h=h, align="bottom")
}
def legs(h) {
    leg(h=h, at=[0.2, 0, 0])
    leg(h=h - 1, at=[-0.2, 0, 0])
}
part table {
    legs(h=0.7)
}
"""
    error = error_of(text)
    assert (error.code, error.line, error.column) == ("E107", 2, 5)
    assert [(c.name, c.span.line, c.span.column, c.source_line) for c in error.calls] == [
        ("leg", 6, 5, "    leg(h=h - 1, at=[-0.2, 0, 0])"),
        ("legs", 9, 5, "    legs(h=0.7)"),
    ]
    assert error.format("t.pdsl").splitlines()[:8] == [
        "t.pdsl:2:5: error E107: `h` of `cylinder` must not be negative",
        '        cylinder(r=0.02, h=h, align="bottom")',
        "        ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^",
        "  in the call of `leg` at line 6, column 5:",
        "        leg(h=h - 1, at=[-0.2, 0, 0])",
        "        ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^",
        "  in the call of `legs` at line 9, column 5:",
        "        legs(h=0.7)",
    ]
    assert error.to_json()["calls"][1] == {
        "name": "legs",
        "line": 9,
        "column": 5,
        "end_line": 9,
        "end_column": 16,
        "source_line": "    legs(h=0.7)",
    }


def test_calls_count_towards_the_nesting_limit_as_if_inlined():
    chain = "def d0() { box(size=[1, 1, 1]) }\n" + "".join(
        f"def d{i}() {{ d{i - 1}() }}\n" for i in range(1, 40)
    )
    error = error_of(chain + "part a { d39() }")
    assert (error.code, error.line, error.column) == ("E315", 33, 13)  # d32's call of d31: 33 blocks deep
    compile_text(chain.split("def d31")[0] + "part a { d30() }")  # 32 deep: at the limit


@pytest.mark.parametrize(
    "text, code, line, column, words",
    [
        ("def f() { f() }\npart a { f() }", "E150", 1, 11, "`f` calls itself"),
        ("def f() { g() }\ndef g() { f() }\npart a { g() }", "E150", 1, 11, "through `g`"),
        ("part a { def f() { box(size=[1, 1, 1]) } }", "E151", 1, 10, "inside a block"),
        ("part a { f() }\ndef f() { box(size=[1, 1, 1]) }", "E152", 1, 10, "defined below, at line 2"),
        ('def f() { shape "x" }', "E153", 1, 11, "`shape`"),
        ("def f() { param p = 1 in [0, 2] }", "E153", 1, 11, "`param`"),
        ("def box() { }", "E154", 1, 5, "primitive"),
        ("def sin() { }", "E154", 1, 5, "function"),
        ("def f(at) { }", "E155", 1, 7, "placement"),
        ("def f() { }\ndef f() { }", "E214", 2, 5, "already defined at line 1"),
        ("def f(a, a) { }", "E214", 1, 10, "already defined"),
        ("def f(part) { }", "E202", 1, 7, "reserved"),
        ("def f() { sphere(r=1) }\nf()", "E110", 2, 1, "outside any part"),
        ("def f() { part b { sphere(r=1) } }\npart a { f() }", "E111", 2, 10, "makes parts"),
        ("def f() { sphere(r=1) }\npart a { f(radius=1) }", "E102", 2, 12, "no argument `radius`"),
        ('def f(r) { sphere(r=r) }\npart a { f(r=1, align="top") }', "E102", 2, 17, "`align`"),
        ("def f(r) { sphere(r=r) }\npart a { f() }", "E103", 2, 10, "missing argument `r`"),
        ("def f(r) { sphere(r=r) }\npart a { f(1, r=2) }", "E104", 2, 15, "twice"),
        ("def f(r) { sphere(r=r) }\npart a { f(1, 2) }", "E105", 2, 15, "positional"),
        ("def f() { sphere(r=1) }\npart a { f() { } }", "E113", 2, 14, "block"),
        ("def f() { part b { sphere(r=1) } }\nf() as legs", "E248", 2, 8, "makes its own parts"),
        ("def f(r) { sphere(r=r) }\npart a { f(r=1, at=1) }", "E106", 2, 20, "`at` of `f`"),
    ],
)
def test_def_errors_by_code_and_position(text, code, line, column, words):
    error = error_of(text)
    assert (error.code, error.line, error.column) == (code, line, column)
    assert words in error.message + error.hint


def test_check_json_lists_the_call_sites(tmp_path):
    source = tmp_path / "legs.pdsl"
    source.write_text("def leg(h) {\n    cylinder(r=0.02, h=h)\n}\npart table {\n    leg(h=-1)\n}\n")
    result = subprocess.run(
        [sys.executable, "-m", "proto3d", "check", "--json", str(source)], capture_output=True, text=True
    )
    (diagnostic,) = json.loads(result.stdout)["diagnostics"]
    assert (diagnostic["code"], diagnostic["line"], diagnostic["column"]) == ("E107", 2, 5)
    assert diagnostic["calls"] == [
        {
            "name": "leg",
            "line": 5,
            "column": 5,
            "end_line": 5,
            "end_column": 14,
            "source_line": "    leg(h=-1)",
        }
    ]


def test_lints_on_what_a_call_drew_name_the_call():
    shape = compile_text(
        """def post(h) {
    part post { cylinder(r=0.02, h=0.5, at=[0, 0, h], align="bottom") }
}
part base { box(size=[1, 1, 0.02], align="bottom") }
post(h=0.01)
post(h=0.3, at=[0.3, 0, 0])
part flat { cylinder(r=0, h=0.1, at=[0, 0.3, 0.02], align="bottom") }
"""
    )
    floating = [d for d in shape.diagnostics if d.code == "W101"]
    assert [(d.line, d.column, [(c.name, c.span.line) for c in d.calls]) for d in floating] == [
        (2, 5, [("post", 6)])
    ]
    assert floating[0].calls[0].source_line == "post(h=0.3, at=[0.3, 0, 0])"
    assert "  in the call of `post` at line 6, column 1:" in floating[0].format()
    assert [(d.code, d.calls) for d in shape.diagnostics if d.code == "W105"] == [("W105", ())]

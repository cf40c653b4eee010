"""Comprehensions in the grammar: their tree, spans, canonical form, and the hints for Python forms pdsl lacks."""

from __future__ import annotations

import pytest

from proto3d.compiler import check
from proto3d.errors import Span, errors
from proto3d.grammar import ast, format_program, parse


def expression(text: str):
    (let,) = parse(f"let a = {text}").statements
    return let.value


def test_clauses_in_source_order_with_their_spans():
    e = expression("[[x, y] for x in xs for y in ys if x != y]")
    assert type(e) is ast.Comprehension and e.span == Span(1, 9, 1, 51)
    assert type(e.item) is ast.Vector
    first, second, condition = e.clauses
    assert (first.name, first.iterable.id, first.span) == ("x", "xs", Span(1, 21, 1, 28))
    assert (second.name, second.iterable.id, second.span) == ("y", "ys", Span(1, 33, 1, 40))
    assert type(condition) is ast.Filter and condition.span == Span(1, 41, 1, 50)
    assert [type(n).__name__ for n in ast.walk(e)][:3] == ["Comprehension", "Vector", "Name"]


def test_a_filter_may_follow_any_for_and_comprehensions_nest():
    e = expression("[[c for c in row if c > 0] for row in rows if len(row) > 1 for k in [1]]")
    assert [type(c).__name__ for c in e.clauses] == ["LoopVar", "Filter", "LoopVar"]
    assert type(e.item) is ast.Comprehension


@pytest.mark.parametrize(
    "text, canonical",
    [
        ("[ x*2 for x in xs ]", "[x * 2 for x in xs]"),
        (
            "[[r*cos(a),r*sin(a)] for a in range(0,360,15)]",
            "[[r * cos(a), r * sin(a)] for a in range(0, 360, 15)]",
        ),
        ("[x for x in xs if x>0 if x<3 for y in [1,2]]", "[x for x in xs if x > 0 if x < 3 for y in [1, 2]]"),
        ("[(a or b) for a in [true] for b in [false]]", "[a or b for a in [true] for b in [false]]"),
        ("[[p for p in q] for q in [[1]]][0]", "[[p for p in q] for q in [[1]]][0]"),
        ("-[x for x in [1]]", "-[x for x in [1]]"),
    ],
)
def test_formatting_is_canonical_and_round_trips(text, canonical):
    formatted = format_program(parse(f"let a = {text}\n"))
    assert formatted == f"let a = {canonical}\n"
    assert format_program(parse(formatted)) == formatted


def test_point_functions_format_with_their_keywords():
    text = (
        "part p {\n    extrude(polygon=rounded_rect(size=[0.3, 0.2], r=0.02) + arc(0.1, 0, 90), h=0.01)\n}\n"
    )
    assert format_program(parse(text)) == text


@pytest.mark.parametrize(
    "text, column, words",
    [
        ("let a = [x for x in xs, y in ys]", 23, "one name per `for`"),
        ("let a = [x if x > 0 else 0 for x in xs]", 12, "filter after the `for`"),
        ("let a = [x for x in xs if x > 0 else 0]", 33, "takes no `else`"),
        ("let a = (x for x in xs)", 12, "square brackets"),
        ("let a = [x for (x, y) in xs]", 16, "index the item"),
    ],
)
def test_python_forms_pdsl_lacks_get_a_hint(text, column, words):
    (diagnostic,) = errors(check(text))
    assert (diagnostic.code, diagnostic.line, diagnostic.column) == ("E011", 1, column)
    assert words in diagnostic.hint

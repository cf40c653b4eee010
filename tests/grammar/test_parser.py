"""The parser against an independent reference, and the limits whose positions depend on its tree.

pdsl expressions use Python's operator table (or < and < not < one comparison < + - < * / % <
unary + - < **, with `-x**2` = -(x**2) and `2**-1` allowed), so Python's own parser is the
reference for which expressions are accepted, how they group and where each node starts and ends.
"""

from __future__ import annotations

import ast as py
import os
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proto3d.errors import Span
from proto3d.grammar import ast, parse_with_diagnostics

PREFIX = "let r = "
BINARY = ["or", "and", "==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "%", "**"]
PY_OPS = {
    py.Add: "+",
    py.Sub: "-",
    py.Mult: "*",
    py.Div: "/",
    py.Mod: "%",
    py.Pow: "**",
    py.And: "and",
    py.Or: "or",
    py.Eq: "==",
    py.NotEq: "!=",
    py.Lt: "<",
    py.LtE: "<=",
    py.Gt: ">",
    py.GtE: ">=",
    py.USub: "-",
    py.UAdd: "+",
    py.Not: "not",
}


def attribute(text: str) -> str:
    """`.x` after anything but a number literal (`1.x` is a number and a name to Python)."""
    return f"({text}).x" if text[-1].isdigit() or text[-1] == "." else f"{text}.x"


def expressions():
    """Operator soup: runs of binary operators of every level without brackets, prefix operators,
    postfixes, brackets, and some misplaced `not`s and chained comparisons (rejected by both)."""
    leaves = st.sampled_from(["a", "b", "x", "1", "2.5", ".5", "true", "false", "a.y", "[1, b]", "f(a)"])

    def extend(inner):
        operand = st.one_of(
            inner,
            st.tuples(st.sampled_from(["-", "+", "not ", "- -", "not not "]), inner).map("".join),
            inner.map(lambda e: f"({e})"),
            inner.map(attribute),
            st.tuples(inner, inner).map(lambda t: f"{t[0]}[{t[1]}]"),
            st.tuples(inner, inner).map(lambda t: f"max({t[0]}, {t[1]})"),
            st.tuples(inner, inner).map(lambda t: f"[{t[0]}, {t[1]}]"),
        )
        run = st.lists(
            st.tuples(st.sampled_from(BINARY + ["and", "or", "+", "*"]), operand), min_size=1, max_size=5
        )
        return st.tuples(operand, run).map(lambda t: t[0] + "".join(f" {op} {e}" for op, e in t[1]))

    return st.recursive(leaves, extend, max_leaves=16)


def reference(node):
    """Python's tree in a common form; a chained comparison is a syntax error in pdsl."""
    kind = type(node)
    if kind is py.BinOp:
        return (PY_OPS[type(node.op)], reference(node.left), reference(node.right))
    if kind is py.BoolOp:
        result = reference(node.values[0])
        for value in node.values[1:]:
            result = (PY_OPS[type(node.op)], result, reference(value))
        return result
    if kind is py.Compare:
        if len(node.ops) > 1:
            raise SyntaxError("chained comparison")
        return (PY_OPS[type(node.ops[0])], reference(node.left), reference(node.comparators[0]))
    if kind is py.UnaryOp:
        return ("unary " + PY_OPS[type(node.op)], reference(node.operand))
    if kind is py.Name:
        return ("bool", node.id == "true") if node.id in ("true", "false") else ("name", node.id)
    if kind is py.Constant:
        return ("number", float(node.value))
    if kind is py.List:
        return ("vector", *map(reference, node.elts))
    if kind is py.Subscript:
        return ("index", reference(node.value), reference(node.slice))
    if kind is py.Attribute:
        return ("attr", reference(node.value), node.attr)
    if kind is py.Call:
        return ("call", node.func.id, *map(reference, node.args))
    raise AssertionError(kind)


def ours(node):
    kind = type(node)
    if kind is ast.BinOp:
        return (node.op, ours(node.left), ours(node.right))
    if kind is ast.Unary:
        return ("unary " + node.op, ours(node.operand))
    if kind is ast.Name:
        return ("name", node.id)
    if kind is ast.Bool:
        return ("bool", node.value)
    if kind is ast.Number:
        return ("number", node.value)
    if kind is ast.Vector:
        return ("vector", *map(ours, node.items))
    if kind is ast.Index:
        return ("index", ours(node.target), ours(node.index))
    if kind is ast.Attr:
        return ("attr", ours(node.target), node.name)
    if kind is ast.Call:
        return ("call", node.func, *(ours(a.value) for a in node.args))
    raise AssertionError(kind)


def pairs(mine, theirs):
    """Corresponding nodes of the two trees (Python folds `a and b and c` into one node)."""
    yield mine, theirs
    if type(theirs) is py.BoolOp:
        return
    mine_kids = {
        ast.BinOp: lambda n: [n.left, n.right],
        ast.Unary: lambda n: [n.operand],
        ast.Vector: lambda n: list(n.items),
        ast.Index: lambda n: [n.target, n.index],
        ast.Attr: lambda n: [n.target],
        ast.Call: lambda n: [a.value for a in n.args],
    }.get(type(mine))
    their_kids = {
        py.BinOp: lambda n: [n.left, n.right],
        py.Compare: lambda n: [n.left, *n.comparators],
        py.UnaryOp: lambda n: [n.operand],
        py.List: lambda n: n.elts,
        py.Subscript: lambda n: [n.value, n.slice],
        py.Attribute: lambda n: [n.value],
        py.Call: lambda n: n.args,
    }.get(type(theirs))
    if mine_kids:
        for a, b in zip(mine_kids(mine), their_kids(theirs)):
            yield from pairs(a, b)


@settings(
    max_examples=int(400 * float(os.environ.get("PROTO3D_PROPERTY_SCALE", "1"))),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(expressions())
def test_expressions_group_and_span_like_python(e):
    program, diagnostics = parse_with_diagnostics(PREFIX + e)
    try:
        tree = reference(py.parse(e, mode="eval").body)
    except SyntaxError:
        tree = None
    if tree is None:  # not an expression, or a chained comparison: a syntax error, unless the lexer
        # reads a misplaced `not`/`and`/`or` as a name (where no operator can be, a name can: the
        # checker then reports an unknown name or function)
        assert (
            program is None
            and diagnostics[0].code in ("E011", "E012")
            or re.search(r"(id|func)='(not|and|or)'", repr(program.statements))
        ), (e, diagnostics)
        return
    assert program is not None and len(program.statements) == 1, [d.format() for d in diagnostics]
    assert program.statements[0].span == Span(1, 1, 1, len(PREFIX + e) + 1)  # brackets at the end included
    value = program.statements[0].value
    assert ours(value) == tree
    for mine, theirs in pairs(value, py.parse(e, mode="eval").body):
        s = mine.span
        assert s.line == s.end_line == 1
        if type(mine) is ast.BinOp:  # from its left operand to its right one, without their brackets
            assert (s.column, s.end_column) == (mine.left.span.column, mine.right.span.end_column)
        else:  # Python's span: the brackets around an operand at either end belong to the node
            assert (s.column, s.end_column) == (
                theirs.col_offset + 1 + len(PREFIX),
                theirs.end_col_offset + 1 + len(PREFIX),
            ), (mine, e)


# Where a tree too deep is reported: the first node beyond the limit (rightmost branch first), at the
# start of its extent in the text (a binary operation starts at its left operand's brackets, a
# clause at its keyword). Positions as reported by the tree-building parser this one replaced.
DEEP = [
    ("let a = " + "(1) + " * 300 + "1", 32, 1, 286),
    ("let a = ((1) * (2)" + " * (2)" * 300 + ")", 32, 1, 293),
    ("let a = " + "-" * 300 + "(1)", 32, 1, 264),
    ("rotate(1) " * 15 + "if a { }\n  # c\n  elif (b) { }", 2, 3, 3),
    ("rotate(1) " * 15 + "if a { } else // x\n  { }", 2, 1, 160),
    ("rotate(1) " * 14 + "box((1), 2)", 2, 1, 150),
    ("rotate(1) " * 15 + "box((1) + 2)", 2, 1, 155),
]


@pytest.mark.parametrize("text, max_depth, line, column", DEEP)
def test_tree_too_deep_is_reported_where_it_starts(text, max_depth, line, column):
    program, diagnostics = parse_with_diagnostics(text, max_depth=max_depth)
    assert program is None
    assert [(d.code, d.line, d.column, d.message) for d in diagnostics] == [
        ("E002", line, column, "expression nests too deeply")
    ]
    assert parse_with_diagnostics(text, max_depth=max_depth + 100)[0] is not None


def test_tokens_over_the_limits_in_the_order_written():
    text = (
        'let a = "'
        + "x" * 1001
        + '"  # "'
        + "y" * 2000
        + '"\nlet '
        + "b" * 101
        + " = 1e999 + 2e30cm + 1e309deg"
    )
    program, diagnostics = parse_with_diagnostics(text)
    assert program is None
    assert [(d.code, d.line, d.column) for d in diagnostics] == [
        ("E003", 1, 9),
        ("E003", 2, 5),
        ("E013", 2, 109),
        ("E013", 2, 126),
    ]
    fine = text.replace("e999", "e99").replace("e309", "e30")
    assert [d.message for d in parse_with_diagnostics(fine, max_string=2000)[1]] == [diagnostics[1].message]


def test_strings_and_comments_hide_what_they_contain():
    text = (
        'shape "{[( # not a comment"  // a comment with "quotes" and ((( brackets\nlet e = "1e999" # \'e999\n'
    )
    program, diagnostics = parse_with_diagnostics(text, max_depth=1)
    assert diagnostics == []
    assert [(c.line, c.column, c.text) for c in program.comments] == [
        (1, 30, '// a comment with "quotes" and ((( brackets'),
        (2, 17, "# 'e999"),
    ]


def test_defs_and_named_primitives_parse_with_their_spans():
    program, problems = parse_with_diagnostics(
        "def wheel(r, w=0.04) { torus(R=r, r=w) }\npart p { wheel(0.3) as front_wheel }"
    )
    assert problems == [] and program is not None
    (definition, part) = program.statements
    assert (definition.name, definition.name_span, definition.span) == (
        "wheel",
        Span(1, 5, 1, 10),
        Span(1, 1, 1, 41),
    )
    assert [(p.name, p.span, type(p.default)) for p in definition.params] == [
        ("r", Span(1, 11, 1, 12), type(None)),
        ("w", Span(1, 14, 1, 20), ast.Number),
    ]
    (call,) = part.block.body
    assert (call.name, call.as_name, call.as_span, call.span) == (
        "wheel",
        "front_wheel",
        Span(2, 24, 2, 35),
        Span(2, 10, 2, 35),
    )

"""The one traversal of the syntax tree: children(), walk() and the Visitor base."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from proto3d.grammar import ast, parse

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.pdsl"))
NODE_TYPES = [
    t for t in vars(ast).values() if isinstance(t, type) and issubclass(t, ast.Node) and t is not ast.Node
]

PROGRAM = """shape "t"
param n = 2 in [1, 4]
let w = -(1 + 2) * n
part seat color "#fff" {
    for i in range(n), j in [1, 2] {
        if i == 0 { box(size=[w, 1, 1]) } elif i > 1 { sphere(r=1) } else { translate(x=f(i)) box(1) }
    }
}
"""


def _kinds(nodes) -> list[str]:
    return [type(n).__name__ for n in nodes]


def test_children_in_source_order():
    program = parse(PROGRAM)
    assert _kinds(ast.children(program)) == ["ShapeStmt", "ParamStmt", "LetStmt", "PartStmt"]
    shape, param, let, part = program.statements
    assert _kinds(ast.children(param)) == ["Number", "Vector"]
    assert _kinds(ast.children(let.value)) == ["Unary", "Name"]  # (-(1 + 2)) * n
    assert _kinds(ast.children(part)) == ["String", "Block"]
    loop = part.block.body[0]
    assert _kinds(ast.children(loop)) == ["LoopVar", "LoopVar", "Block"]
    branch = loop.block.body[0]
    # IfStmt.branches holds (condition, Block) pairs: flattened, then the else block
    assert _kinds(ast.children(branch)) == ["BinOp", "Block", "BinOp", "Block", "Block"]
    transform = branch.orelse.body[0]
    assert _kinds(ast.children(transform)) == ["Arg", "PrimitiveStmt"]
    assert ast.children(shape.name) == []


def test_children_skips_absent_optional_fields():
    part = parse("part a { box(1) }").statements[0]
    assert part.color is None
    assert _kinds(ast.children(part)) == ["Block"]
    primitive = part.block.body[0]
    assert _kinds(ast.children(primitive)) == ["Arg"]  # no block


def test_children_of_an_unknown_type_names_it():
    @dataclasses.dataclass(frozen=True)
    class Repeat(ast.Node):
        count: ast.Node

    with pytest.raises(KeyError, match="Repeat"):
        ast.children(Repeat(ast.Span(1, 1, 1, 2), ast.Number(ast.Span(1, 1, 1, 2), 1.0, "1", True)))


def test_walk_is_depth_first_in_source_order():
    program = parse("let a = 1 + b\npart p { box(2) }")
    assert _kinds(ast.walk(program)) == [
        "Program",
        "LetStmt",
        "BinOp",
        "Number",
        "Name",
        "PartStmt",
        "Block",
        "PrimitiveStmt",
        "Arg",
        "Number",
    ]
    names = [n.text for n in ast.walk(program) if isinstance(n, ast.Number)]
    assert names == ["1", "2"]


def test_walk_does_not_recurse():
    node = ast.Name(ast.Span(1, 1, 1, 2), "x")
    for _ in range(20_000):  # far deeper than the call stack allows
        node = ast.Unary(node.span, "-", node)
    kinds = _kinds(ast.walk(node))
    assert len(kinds) == 20_001 and kinds[-1] == "Name"


def _generic_children(value) -> list:
    """Every node held by any field of a dataclass: what CHILD_FIELDS must list."""
    found = []
    for f in dataclasses.fields(value):
        stack = [getattr(value, f.name)]
        while stack:
            item = stack.pop(0)
            if isinstance(item, tuple):
                stack[:0] = item
            elif isinstance(item, (ast.Node, ast.Program)):
                found.append(item)
    return found


def test_every_node_type_has_its_child_fields():
    assert [t for t in NODE_TYPES if t not in ast.CHILD_FIELDS] == []


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_children_finds_every_sub_node(path):
    """Against a field-by-field search: no field holding nodes is missing from CHILD_FIELDS."""
    for node in ast.walk(parse(path.read_text(), str(path))):
        assert ast.children(node) == _generic_children(node), type(node).__name__


class _Counter(ast.Visitor):
    def __init__(self):
        self.names: list[str] = []
        self.parts = 0

    def visit_Name(self, node: ast.Name) -> None:
        self.names.append(node.id)

    def visit_PartStmt(self, node: ast.PartStmt) -> str:
        self.parts += 1
        self.generic_visit(node)
        return node.label


def test_visitor_dispatches_by_class_name_and_recurses_generically():
    program = parse("let a = 1\nlet b = a + c\npart p { box(size=[a, b, 1]) }")
    counter = _Counter()
    assert counter.visit(program) is None  # generic_visit returns nothing
    assert counter.names == ["a", "c", "a", "b"]
    assert counter.parts == 1
    assert counter.visit(program.statements[2]) == "p"  # a visit_ method's result is returned

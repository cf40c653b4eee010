"""The pdsl syntax tree: frozen dataclasses, every node with its source span.

Passes over the tree share one traversal: `children` (which fields hold sub-nodes, in source
order), `walk` (every node below a root) and `Visitor` (dispatch by node type), so a new node
type is added to one table here rather than to each pass.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from proto3d.errors import Diagnostic, Span


@dataclass(frozen=True)
class Node:
    span: Span


# ---- expressions -----------------------------------------------------------
@dataclass(frozen=True)
class Number(Node):
    value: float
    text: str  # as written, unit suffix included ("2cm"), kept for formatting
    is_int: bool  # written without a decimal point, exponent or unit


@dataclass(frozen=True)
class String(Node):
    value: str


@dataclass(frozen=True)
class Bool(Node):
    value: bool


@dataclass(frozen=True)
class Name(Node):
    id: str


@dataclass(frozen=True)
class Vector(Node):
    items: tuple


@dataclass(frozen=True)
class BinOp(Node):
    op: str  # + - * / % ** == != < <= > >= and or
    left: Node
    right: Node


@dataclass(frozen=True)
class Unary(Node):
    op: str  # - + not
    operand: Node


@dataclass(frozen=True)
class Index(Node):
    target: Node
    index: Node


@dataclass(frozen=True)
class Attr(Node):
    target: Node
    name: str


@dataclass(frozen=True)
class Arg(Node):
    name: str | None  # None for positional
    value: Node


@dataclass(frozen=True)
class Call(Node):
    """A function call inside an expression: sin(30), range(4)."""

    func: str
    args: tuple


@dataclass(frozen=True)
class Comprehension(Node):
    """`[item for x in xs if cond for y in ys]`: clauses (LoopVar or Filter) in order, the first
    outermost, as in Python; the names they bind exist only inside the brackets."""

    item: Node
    clauses: tuple  # LoopVar, Filter


@dataclass(frozen=True)
class Filter(Node):
    """The `if cond` clause of a comprehension: the items after it are made only when it is true."""

    condition: Node


# ---- statements ------------------------------------------------------------
@dataclass(frozen=True)
class ShapeStmt(Node):
    name: Node


@dataclass(frozen=True)
class BoundsStmt(Node):
    size: Node


@dataclass(frozen=True)
class LetStmt(Node):
    name: str
    value: Node


@dataclass(frozen=True)
class ParamStmt(Node):
    name: str
    default: Node
    range: Node


@dataclass(frozen=True)
class Block(Node):
    body: tuple  # statements


@dataclass(frozen=True)
class PartStmt(Node):
    label: str
    color: Node | None
    block: Block


@dataclass(frozen=True)
class LoopVar(Node):
    name: str
    iterable: Node


@dataclass(frozen=True)
class ForStmt(Node):
    vars: tuple  # LoopVar
    block: Block


@dataclass(frozen=True)
class IfStmt(Node):
    branches: tuple  # ((condition, Block), ...) for if and each elif
    orelse: Block | None


@dataclass(frozen=True)
class TransformStmt(Node):
    kind: str  # translate rotate scale mirror symmetric radial
    args: tuple  # Arg
    body: Node  # a Block or a single statement


@dataclass(frozen=True)
class BooleanStmt(Node):
    """`difference { … }`, `union { … }` or `intersection { … }` over the primitives its block draws."""

    op: str  # difference union intersection
    block: Block


@dataclass(frozen=True)
class PrimitiveStmt(Node):
    """A primitive or def call statement; `block` is only set for the erroneous `name(...) { }` form.

    `box(…) as plate` names what the statement draws in its part (`stage.plate.top`)."""

    name: str
    name_span: Span
    args: tuple  # Arg
    block: Block | None = None
    as_name: str | None = None
    as_span: Span | None = None  # the name after `as`


@dataclass(frozen=True)
class DefParam(Node):
    name: str
    default: Node | None  # None: the call must give it


@dataclass(frozen=True)
class DefStmt(Node):
    """`def wheel(r, width=0.04) { … }`: a statement that draws its block where it is called."""

    name: str
    name_span: Span
    params: tuple  # DefParam
    block: Block


@dataclass(frozen=True)
class Comment:
    line: int
    column: int
    text: str


@dataclass
class Program:
    statements: tuple
    text: str
    comments: list[Comment] = field(default_factory=list)
    filename: str = "<input>"
    warnings: list[Diagnostic] = field(default_factory=list)  # about the text itself (W108)


# ---- traversal ---------------------------------------------------------------
# The fields of each node type that hold sub-nodes, in source order. A field may hold a node, None,
# or a tuple of nodes (or of tuples: `IfStmt.branches` holds (condition, Block) pairs).
CHILD_FIELDS: dict[type, tuple[str, ...]] = {
    Number: (),
    String: (),
    Bool: (),
    Name: (),
    Vector: ("items",),
    BinOp: ("left", "right"),
    Unary: ("operand",),
    Index: ("target", "index"),
    Attr: ("target",),
    Arg: ("value",),
    Call: ("args",),
    Comprehension: ("item", "clauses"),
    Filter: ("condition",),
    ShapeStmt: ("name",),
    BoundsStmt: ("size",),
    LetStmt: ("value",),
    ParamStmt: ("default", "range"),
    Block: ("body",),
    PartStmt: ("color", "block"),
    LoopVar: ("iterable",),
    ForStmt: ("vars", "block"),
    IfStmt: ("branches", "orelse"),
    TransformStmt: ("args", "body"),
    BooleanStmt: ("block",),
    PrimitiveStmt: ("args", "block"),
    DefParam: ("default",),
    DefStmt: ("params", "block"),
    Program: ("statements",),
}


def children(node: Node | Program) -> list[Node]:
    """The direct sub-nodes of `node`, in source order (a KeyError names a node type missing above)."""
    found: list[Node] = []
    for name in CHILD_FIELDS[type(node)]:
        value = getattr(node, name)
        if type(value) is tuple:
            for item in value:
                if type(item) is tuple:  # an `if` or `elif` branch: (condition, Block)
                    found.extend(item)
                else:
                    found.append(item)
        elif value is not None:
            found.append(value)
    return found


def walk(node: Node | Program) -> Iterator[Node | Program]:
    """`node` and every node below it, depth first in source order, without recursion.

    As Python's `ast.walk`, but the order is fixed (a parent before its children, earlier code
    first) so callers can rely on it, and deep trees cannot exhaust the call stack.
    """
    stack = [node]
    while stack:
        node = stack.pop()
        yield node
        if CHILD_FIELDS[type(node)]:  # most nodes are leaves: skip the call
            stack.extend(reversed(children(node)))


class Visitor:
    """A pass over the tree: `visit(node)` calls `visit_<ClassName>(node)` and returns its result.

    A node type without such a method goes to `generic_visit`, which visits its children, so a
    pass writes methods only for the nodes it treats specially (the pattern of lark's
    `Interpreter` and mypy's `TraverserVisitor`). A method that wants the nodes below its own
    visited calls `self.generic_visit(node)` itself. Visiting recurses: for expressions, which may
    nest hundreds of levels, prefer `walk`.
    """

    def visit(self, node: Node | Program):
        return getattr(self, "visit_" + type(node).__name__, self.generic_visit)(node)

    def generic_visit(self, node: Node | Program) -> None:
        for child in children(node):
            self.visit(child)

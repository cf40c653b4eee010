"""The pdsl syntax tree: frozen dataclasses, every node with its source span."""

from __future__ import annotations

from dataclasses import dataclass, field

from proto3d.grammar.diagnostics import Diagnostic, Span


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
class PrimitiveStmt(Node):
    """A primitive call statement; `block` is only set for the erroneous `name(...) { }` form."""

    name: str
    name_span: Span
    args: tuple  # Arg
    block: Block | None = None


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

"""Canonical printing of a program (`proto3d fmt`): stable spacing, comments and blank lines kept.

Formatting is idempotent: format(parse(format(parse(text)))) == format(parse(text)).
"""

from __future__ import annotations

from proto3d.grammar import ast

INDENT = "    "
WIDTH = 100
# Binding strength of each operator: a child binding less tightly than its context needs parentheses.
_PRECEDENCE = {
    "or": 1,
    "and": 2,
    "not": 3,
    "==": 4,
    "!=": 4,
    "<": 4,
    "<=": 4,
    ">": 4,
    ">=": 4,
    "+": 5,
    "-": 5,
    "*": 6,
    "/": 6,
    "%": 6,
    "neg": 7,
    "**": 8,
}
_ATOM = 10


def format_program(program: ast.Program) -> str:
    printer = _Printer(program)
    printer.statements(program.statements, 0, end_line=None)
    printer.comments_before(None, 0)
    return "\n".join(printer.lines).rstrip("\n") + "\n"


class _Printer:
    def __init__(self, program: ast.Program):
        self.lines: list[str] = []
        self.openers: set[int] = set()  # indices of lines that open a block
        self.comments = list(program.comments)
        self.blank = {i for i, line in enumerate(program.text.split("\n"), 1) if not line.strip()}
        self.last_line = 0  # last source line already printed

    def emit(self, depth: int, text: str) -> None:
        self.lines.append(INDENT * depth + text)

    def comments_before(self, line: int | None, depth: int) -> None:
        while self.comments and (line is None or self.comments[0].line < line):
            comment = self.comments.pop(0)
            self.blank_line_before(comment.line)
            self.emit(depth, comment.text)
            self.last_line = comment.line

    def trailing(self, up_to_line: int) -> str:
        texts = []
        while self.comments and self.comments[0].line <= up_to_line:
            texts.append(self.comments.pop(0).text)
        return ("  " + " ".join(texts)) if texts else ""

    def blank_line_before(self, line: int) -> None:
        if (
            self.lines
            and self.lines[-1].strip()
            and len(self.lines) - 1 not in self.openers
            and any(self.last_line < b < line for b in self.blank)
        ):
            self.lines.append("")

    def statements(self, statements, depth: int, end_line: int | None) -> None:
        for statement in statements:
            self.comments_before(statement.span.line, depth)
            self.blank_line_before(statement.span.line)
            self.statement(statement, depth)
        if end_line is not None:
            self.comments_before(end_line, depth)

    def block(self, header: str, block: ast.Block, depth: int, header_line: int) -> None:
        self.emit(depth, (header + " {").lstrip() + self.trailing(header_line))
        self.openers.add(len(self.lines) - 1)
        self.last_line = header_line
        self.statements(block.body, depth + 1, block.span.end_line)
        self.close(depth, block.span.end_line)

    def close(self, depth: int, line: int, suffix: str = "") -> None:
        self.emit(depth, "}" + suffix + self.trailing(line))
        self.last_line = line

    def statement(self, s, depth: int) -> None:
        head, body = _header(s)
        if body is None:
            lines = _wrap_call(s, depth) if len(INDENT * depth + head) > WIDTH else [head]
            for line in lines[:-1]:
                self.emit(depth, line)
            self.emit(depth, lines[-1] + self.trailing(s.span.end_line))
            self.last_line = s.span.end_line
            return
        if isinstance(s, ast.IfStmt):
            for i, (condition, branch) in enumerate(s.branches):
                header = ("if " if i == 0 else "elif ") + _expr(condition)
                if i == 0:
                    self.emit(depth, header + " {" + self.trailing(s.span.line))
                    self.openers.add(len(self.lines) - 1)
                else:
                    self.lines[-1] = (
                        self.lines[-1].rstrip() + " " + header + " {" + self.trailing(branch.span.line)
                    )
                    self.openers.add(len(self.lines) - 1)
                self.statements(branch.body, depth + 1, branch.span.end_line)
                self.emit(depth, "}")
                self.last_line = branch.span.end_line
            if s.orelse is not None:
                self.lines[-1] += " else {" + self.trailing(s.orelse.span.line)
                self.openers.add(len(self.lines) - 1)
                self.statements(s.orelse.body, depth + 1, s.orelse.span.end_line)
                self.emit(depth, "}")
            self.lines[-1] += self.trailing(s.span.end_line)
            self.last_line = s.span.end_line
            return
        if isinstance(body, ast.Block):
            self.block(head, body, depth, body.span.line)
        else:  # a transform applied to a single statement: keep the chain on one line
            self._chain(head, body, depth)

    def _chain(self, prefix: str, body, depth: int) -> None:
        head, inner = _header(body)
        if inner is None:
            self.emit(depth, prefix + " " + head + self.trailing(body.span.end_line))
            self.last_line = body.span.end_line
        elif isinstance(body, ast.IfStmt):
            self.emit(depth, prefix + " {")
            self.statement(body, depth + 1)
            self.emit(depth, "}")
        elif isinstance(inner, ast.Block):
            self.block(prefix + " " + head, inner, depth, inner.span.line)
        else:
            self._chain(prefix + " " + head, inner, depth)


_Head = tuple[str, "ast.Node | None"]  # a statement's head text and its body (Block, statement or None)


class _Exhaustive(ast.Visitor):
    """A printing pass has a method for every node it meets: any other node is a bug, not a skip."""

    def generic_visit(self, node):
        raise AssertionError(f"no format for {type(node).__name__}")


class _Header(_Exhaustive):
    """A statement's head as text and its body: a Block, a single statement or None."""

    def visit_ShapeStmt(self, s: ast.ShapeStmt) -> _Head:
        return "shape " + _expr(s.name), None

    def visit_BoundsStmt(self, s: ast.BoundsStmt) -> _Head:
        return "bounds " + _expr(s.size), None

    def visit_LetStmt(self, s: ast.LetStmt) -> _Head:
        return f"let {s.name} = {_expr(s.value)}", None

    def visit_ParamStmt(self, s: ast.ParamStmt) -> _Head:
        return f"param {s.name} = {_expr(s.default)} in {_expr(s.range)}", None

    def visit_PrimitiveStmt(self, s: ast.PrimitiveStmt) -> _Head:
        return f"{s.name}({_args(s.args)}){_as(s)}", s.block

    def visit_DefStmt(self, s: ast.DefStmt) -> _Head:
        return f"def {s.name}({_args(s.params)})", s.block

    def visit_PartStmt(self, s: ast.PartStmt) -> _Head:
        color = f" color {_expr(s.color)}" if s.color is not None else ""
        return f"part {s.label}{color}", s.block

    def visit_ForStmt(self, s: ast.ForStmt) -> _Head:
        return "for " + ", ".join(map(_expr, s.vars)), s.block

    def visit_TransformStmt(self, s: ast.TransformStmt) -> _Head:
        return f"{s.kind}({_args(s.args)})", s.body

    def visit_BooleanStmt(self, s: ast.BooleanStmt) -> _Head:
        return s.op, s.block

    def visit_Block(self, s: ast.Block) -> _Head:
        return "", s

    def visit_IfStmt(self, s: ast.IfStmt) -> _Head:
        return "if", s


_header = _Header().visit


def _wrap_call(s, depth: int) -> list[str]:
    """A long primitive call: one argument a line; long point lists packed several points a line."""
    if not isinstance(s, ast.PrimitiveStmt):
        return [_header(s)[0]]
    lines = [f"{s.name}("]
    for arg in s.args:
        prefix = INDENT + ("" if arg.name is None else f"{arg.name}=")
        text = _expr(arg.value)
        if len(INDENT * depth + prefix + text) + 1 <= WIDTH or not isinstance(arg.value, ast.Vector):
            lines.append(prefix + text + ",")
            continue
        lines.append(prefix + "[")
        row = ""
        for item in (_expr(i) + "," for i in arg.value.items):
            if row and len(INDENT * (depth + 2) + row + " " + item) > WIDTH:
                lines.append(INDENT * 2 + row)
                row = ""
            row = f"{row} {item}" if row else item
        lines.append(INDENT * 2 + row)
        lines.append(INDENT + "],")
    lines.append(")" + _as(s))
    return lines


def _as(s: ast.PrimitiveStmt) -> str:
    return "" if s.as_name is None else f" as {s.as_name}"


def _args(args) -> str:
    return ", ".join(map(_expr, args))


def _precedence(e) -> int:
    if isinstance(e, ast.BinOp):
        return _PRECEDENCE[e.op]
    if isinstance(e, ast.Unary):
        return _PRECEDENCE["not" if e.op == "not" else "neg"]
    return _ATOM


def _parenthesised(text: str, e, minimum: int) -> str:
    """The text of `e` in parentheses when `e` binds less tightly than its context needs."""
    return f"({text})" if _precedence(e) < minimum else text


class _Expression(_Exhaustive):
    """An expression (or an argument, or a loop variable) as canonical text."""

    def visit_Number(self, e: ast.Number) -> str:
        return e.text

    def visit_String(self, e: ast.String) -> str:
        return f'"{e.value}"' if '"' not in e.value else f"'{e.value}'"

    def visit_Bool(self, e: ast.Bool) -> str:
        return "true" if e.value else "false"

    def visit_Name(self, e: ast.Name) -> str:
        return e.id

    def visit_Vector(self, e: ast.Vector) -> str:
        return "[" + ", ".join(map(self.visit, e.items)) + "]"

    def visit_Comprehension(self, e: ast.Comprehension) -> str:
        clauses = [("for " if type(c) is ast.LoopVar else "") + self.visit(c) for c in e.clauses]
        return "[" + " ".join([self.visit(e.item), *clauses]) + "]"

    def visit_Filter(self, f: ast.Filter) -> str:
        return "if " + self.visit(f.condition)

    def visit_Unary(self, e: ast.Unary) -> str:
        operand = self.visit(e.operand)
        if e.op == "not":
            return "not " + _parenthesised(operand, e.operand, _PRECEDENCE["not"])
        return e.op + _parenthesised(operand, e.operand, _PRECEDENCE["neg"])

    def visit_BinOp(self, e: ast.BinOp) -> str:
        p = _PRECEDENCE[e.op]
        if e.op == "**":
            left_minimum, right_minimum = _ATOM - 1, _PRECEDENCE["neg"]
        elif p == 4:  # comparisons do not chain
            left_minimum, right_minimum = 5, 5
        else:
            left_minimum, right_minimum = p, p + 1
        left = _parenthesised(self.visit(e.left), e.left, left_minimum)
        return f"{left} {e.op} {_parenthesised(self.visit(e.right), e.right, right_minimum)}"

    def visit_Index(self, e: ast.Index) -> str:
        return f"{_parenthesised(self.visit(e.target), e.target, _ATOM - 1)}[{self.visit(e.index)}]"

    def visit_Attr(self, e: ast.Attr) -> str:
        return f"{_parenthesised(self.visit(e.target), e.target, _ATOM - 1)}.{e.name}"

    def visit_Call(self, e: ast.Call) -> str:
        return f"{e.func}({_args(e.args)})"

    def visit_Arg(self, a: ast.Arg) -> str:
        return self.visit(a.value) if a.name is None else f"{a.name}={self.visit(a.value)}"

    def visit_DefParam(self, p: ast.DefParam) -> str:
        return p.name if p.default is None else f"{p.name}={self.visit(p.default)}"

    def visit_LoopVar(self, v: ast.LoopVar) -> str:
        return f"{v.name} in {self.visit(v.iterable)}"


_expr = _Expression().visit

"""Parse pdsl text into a `Program`, reporting as many syntax errors as one pass finds."""
from __future__ import annotations

import functools
import math
from dataclasses import replace
from importlib import resources

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from proto3d.grammar import ast
from proto3d.grammar.diagnostics import Diagnostic, Proto3dError, Span

UNITS = {"mm": 0.001, "cm": 0.01, "m": 1.0, "deg": 1.0}
MAX_SYNTAX_ERRORS = 20
MAX_NAME = 100  # characters in a name or part label
_READABLE = {
    "NAME": "a name",
    "NUMBER": "a number",
    "STRING": "a string",
    "TRANSFORM": "a transform",
    "COMP_OP": "a comparison",
    "ADD_OP": "`+` or `-`",
    "MUL_OP": "`*`, `/` or `%`",
    "POW_OP": "`**`",
    "$END": "end of input",
}


@functools.lru_cache(maxsize=1)
def _lark() -> Lark:
    grammar = resources.files("proto3d.grammar").joinpath("pdsl.lark").read_text()
    # cache=True keeps the LALR tables in the temp dir (keyed by a hash of grammar, options and
    # Lark version): building them costs ~60 ms of every `proto3d` start, loading them ~5 ms.
    return Lark(grammar, parser="lalr", propagate_positions=True, maybe_placeholders=True, cache=True)


def parse(text: str, filename: str = "<input>", *, max_bytes: int = 50_000, max_depth: int = 32,
          max_string: int = 1000) -> ast.Program:
    """Parse `text`; raise `Proto3dError` carrying every syntax error found."""
    program, diagnostics = parse_with_diagnostics(text, filename, max_bytes=max_bytes, max_depth=max_depth,
                                                  max_string=max_string)
    if diagnostics:
        raise Proto3dError(diagnostics, filename)
    return program


def parse_with_diagnostics(text: str, filename: str = "<input>", *, max_bytes: int = 50_000,
                           max_depth: int = 32, max_string: int = 1000):
    """Return `(program or None, diagnostics)`; never raises for any input text."""
    size = len(text.encode("utf-8", "replace"))
    if size > max_bytes:
        return None, [Diagnostic("E001", f"program is {size} bytes; the limit is {max_bytes}",
                                 Span(1, 1, 1, 2), hint="split the object into fewer, larger primitives")]
    problems = _text_depth(text, max_depth)  # before parsing: deeply nested input fails fast
    if problems:
        return None, [d.with_source(text) for d in problems]
    tree, errors = _parse_reporting_all(text)
    if errors:
        return None, [d.with_source(text) for d in errors]
    problems = _tree_depth(tree, max_depth) or _check_tokens(tree, max_string)
    if problems:
        return None, [d.with_source(text) for d in problems]
    statements = tuple(_Builder().statements(tree.children))
    comments = [ast.Comment(t.line, t.column, t.value.rstrip()) for t in _comment_tokens(text)]
    return ast.Program(statements, text, comments, filename), []


def _parse_reporting_all(text: str):
    """Parse; after each syntax error blank the offending line and parse again.

    Blanking keeps the line's unbalanced braces (a bare `{ }` is a legal block), so the
    statements around it still parse and each further error is an independent one.
    """
    errors: list[Diagnostic] = []
    blanked: set[int] = set()
    current = text
    while len(errors) < MAX_SYNTAX_ERRORS:
        try:
            tree = _lark().parse(current)
        except UnexpectedInput as error:
            diagnostic = _syntax_diagnostic(error, current)
            if isinstance(error, UnexpectedToken) and error.token.type == "$END":
                errors.append(replace(diagnostic, span=_end_span(text)))  # the end of the text as written
                break
            if diagnostic.line in blanked:  # an echo of a blanked line's kept braces, not a new error
                break
            errors.append(diagnostic)
            blanked.add(diagnostic.line)
            current = _blank_line(current, diagnostic.line)
            continue
        return (None if errors else tree), errors
    return None, errors


def _blank_line(text: str, line_no: int) -> str:
    lines = text.split("\n")
    line = lines[line_no - 1]
    depth_changes = [c for c in line if c in "{}"]
    kept = _unbalanced_braces(depth_changes)
    lines[line_no - 1] = kept + " " * (len(line) - len(kept))
    return "\n".join(lines)


def _unbalanced_braces(braces: list[str]) -> str:
    stack: list[str] = []
    for brace in braces:
        if brace == "}" and stack and stack[-1] == "{":
            stack.pop()
        else:
            stack.append(brace)
    return "".join(stack)


def _comment_tokens(text: str):
    """Comments outside strings, found by a small scanner (the grammar ignores them)."""
    line, col, i, n = 1, 1, 0, len(text)
    while i < n:
        c = text[i]
        if c in "\"'":
            end = text.find(c, i + 1)
            nl = text.find("\n", i + 1)
            end = n if end < 0 else end
            if 0 <= nl < end:
                end = nl - 1
            col += end + 1 - i
            i = end + 1
            continue
        if c == "#" or text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            yield Token("COMMENT", text[i:end], line=line, column=col)
            col += end - i
            i = end
            continue
        if c == "\n":
            line, col = line + 1, 1
        else:
            col += 1
        i += 1


def _expected_text(expected) -> str:
    names = sorted(expected)
    parser = _lark()
    shown = []
    for name in names:
        if name in _READABLE:
            shown.append(_READABLE[name])
            continue
        try:
            pattern = parser.get_terminal(name).pattern
        except KeyError:
            shown.append(name)
            continue
        shown.append(f"`{pattern.value}`" if pattern.type == "str" else name.lower())
    return ", ".join(dict.fromkeys(shown))


def _syntax_diagnostic(error: UnexpectedInput, text: str) -> Diagnostic:
    line, column = error.line if error.line > 0 else 1, error.column if error.column > 0 else 1
    if isinstance(error, UnexpectedCharacters):
        char = text[error.pos_in_stream] if 0 <= error.pos_in_stream < len(text) else "?"
        hint = ""
        if char in "\"'":
            hint = "strings must close on the same line"
        elif char == ":":
            hint = "blocks use braces `{ … }`, not `:`"
        elif char == ";":
            hint = "no `;` needed: statements are separated by whitespace"
        return Diagnostic("E010", f"unexpected character {char!r}", Span(line, column, line, column + 1),
                          expected=_expected_text(error.allowed or []), hint=hint)
    token = error.token
    expected = _expected_text(error.expected)
    if token.type == "$END":
        opener = _unclosed_opener(text)
        hint = f"`{opener[0]}` opened at line {opener[1]}, column {opener[2]} is never closed" if opener else ""
        return Diagnostic("E012", "unexpected end of input", _end_span(text), expected=expected, hint=hint)
    hint = _token_hint(error, text)
    width = max(len(str(token.value)), 1)
    return Diagnostic("E011", f"unexpected {_describe(token)}", Span(line, column, line, column + width),
                      expected=expected, hint=hint)


def _end_span(text: str) -> Span:
    """Just after the last non-blank character (lines counted by \n, as lark does)."""
    lines = text.rstrip().split("\n")
    return Span(len(lines), len(lines[-1]) + 1, len(lines), len(lines[-1]) + 2)


def _describe(token: Token) -> str:
    if token.type == "NAME":
        return f"name `{token.value}`"
    if token.type == "NUMBER":
        return f"number `{token.value}`"
    if token.type == "STRING":
        return f"string {token.value}"
    return f"`{token.value}`"


def _token_hint(error: UnexpectedToken, text: str) -> str:
    token = error.token
    before = text[: token.start_pos].rstrip() if token.start_pos is not None else ""
    previous_word = before.split()[-1] if before.split() else ""
    opener = _unclosed_opener(text[: token.start_pos]) if token.start_pos is not None else None
    if opener and opener[0] in "[(" and token.value in ("=", "{", "}"):
        return f"`{opener[0]}` opened at line {opener[1]}, column {opener[2]} is not closed before this"
    if token.value == "=" and "LPAR" in error.expected:
        return "declare a name with `let name = value` (or `param name = value in [lo, hi]`)"
    if token.value == "=" and "COMP_OP" in error.expected:
        return "compare with `==`"
    if previous_word in ("module", "function", "def"):
        return "no user-defined modules in v1: use `let`, `for` and transform blocks"
    if token.value == "{" and previous_word.endswith(")"):
        return "only transforms (translate, rotate, scale, mirror, symmetric, radial) take a block"
    if token.type == "NAME" and token.value in ("elif", "else"):
        return "`elif`/`else` must follow the closing `}` of an `if`"
    if token.type == "NAME" and token.value in ("elseif", "else_if"):
        return "write `elif`"
    if token.type in ("NUMBER", "NAME", "STRING", "LSQB") and "COMMA" in error.expected:
        return "separate items with `,`"
    return ""


def _unclosed_opener(text: str):
    stack = []
    for line_no, line in enumerate(text.split("\n"), 1):
        in_string = None
        for col, c in enumerate(line, 1):
            if in_string:
                if c == in_string:
                    in_string = None
                continue
            if c in "\"'":
                in_string = c
            elif c == "#" or line.startswith("//", col - 1):
                break
            elif c in "([{":
                stack.append((c, line_no, col))
            elif c in ")]}" and stack:
                stack.pop()
    return stack[-1] if stack else None


def _text_depth(text: str, max_depth: int) -> list[Diagnostic]:
    """Bracket/brace nesting as written (strings and comments skipped), without recursion."""
    depth, line, column = 0, 1, 0
    in_string, in_comment = None, False
    for index, c in enumerate(text):
        column += 1
        if c == "\n":
            line, column, in_string, in_comment = line + 1, 0, None, False
        elif in_comment:
            continue
        elif in_string:
            in_string = None if c == in_string else in_string
        elif c in "\"'":
            in_string = c
        elif c == "#" or c == "/" and text.startswith("//", index):
            in_comment = True
        elif c in "([{":
            depth += 1
            if depth > max_depth:
                return [Diagnostic("E002", f"nesting is deeper than the limit of {max_depth} levels",
                                   Span(line, column, line, column + 1),
                                   hint="flatten the structure; name sub-expressions with `let`")]
        elif c in ")]}":
            depth -= 1
    return []


def _tree_depth(tree: Tree, max_depth: int) -> list[Diagnostic]:
    """Depth of the syntax tree (unary chains, inline transform chains), without recursion."""
    stack = [(tree, 0)]
    while stack:
        node, level = stack.pop()
        if level > max_depth * 8:
            meta = node.meta
            span = Span(getattr(meta, "line", 1), getattr(meta, "column", 1),
                        getattr(meta, "line", 1), getattr(meta, "column", 1) + 1)
            return [Diagnostic("E002", "expression nests too deeply", span,
                               hint="flatten the expression; name sub-expressions with `let`")]
        stack.extend((child, level + 1) for child in node.children if isinstance(child, Tree))
    return []


def _check_tokens(tree: Tree, max_string: int) -> list[Diagnostic]:
    problems = []
    tokens = [t for node in tree.iter_subtrees() for t in node.children
              if isinstance(t, Token) and t.type in ("STRING", "NUMBER", "NAME")]
    for token in tokens:
        span = Span(token.line, token.column, token.end_line, token.end_column)
        if token.type == "STRING" and len(token.value) - 2 > max_string:
            problems.append(Diagnostic("E003", f"string of {len(token.value) - 2} characters; the limit is {max_string}",
                                       span))
        elif token.type == "NAME" and len(token.value) > MAX_NAME:
            problems.append(Diagnostic("E003", f"name of {len(token.value)} characters; the limit is {MAX_NAME}", span,
                                       hint="use short, descriptive names like `seat_h`"))
        elif token.type == "NUMBER" and not math.isfinite(_number_value(token.value)[0]):
            problems.append(Diagnostic("E013", f"number `{token.value}` is out of range", span,
                                       hint="numbers must be finite; sizes are in metres"))
    return problems


def _number_value(text: str) -> tuple[float, bool]:
    for unit in ("mm", "cm", "deg", "m"):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * UNITS[unit], False
    is_int = not any(c in text for c in ".eE")
    return float(text), is_int


class _Builder:
    """Lark tree → frozen AST dataclasses (recursion bounded by `_tree_depth`)."""

    def statements(self, children) -> list:
        return [self.statement(c) for c in children if c is not None]

    def block(self, tree: Tree) -> ast.Block:
        return ast.Block(Span.of(tree.meta), tuple(self.statements(tree.children)))

    def body(self, node) -> ast.Node:
        return self.block(node) if node.data == "block" else self.statement(node)

    def statement(self, tree: Tree):
        span, kids, kind = Span.of(tree.meta), tree.children, tree.data
        if kind == "block":
            return self.block(tree)
        if kind == "shape_stmt":
            return ast.ShapeStmt(span, self.expr(kids[0]))
        if kind == "bounds_stmt":
            return ast.BoundsStmt(span, self.expr(kids[0]))
        if kind == "let_stmt":
            return ast.LetStmt(span, str(kids[0]), self.expr(kids[1]))
        if kind == "param_stmt":
            return ast.ParamStmt(span, str(kids[0]), self.expr(kids[1]), self.expr(kids[2]))
        if kind == "part_stmt":
            color = self.expr(kids[2]) if kids[2] is not None else None
            return ast.PartStmt(span, str(kids[0]), color, self.block(kids[3]))
        if kind == "for_stmt":
            loop_vars = tuple(ast.LoopVar(Span.of(v.meta), str(v.children[0]), self.expr(v.children[1]))
                              for v in kids[:-1])
            return ast.ForStmt(span, loop_vars, self.block(kids[-1]))
        if kind == "if_stmt":
            branches = [(self.expr(kids[0]), self.block(kids[1]))]
            orelse = None
            for clause in kids[2:]:
                if clause is None:
                    continue
                if clause.data == "elif_clause":
                    branches.append((self.expr(clause.children[0]), self.block(clause.children[1])))
                else:
                    orelse = self.block(clause.children[0])
            return ast.IfStmt(span, tuple(branches), orelse)
        if kind == "transform_stmt":
            return ast.TransformStmt(span, str(kids[0]), self.args(kids[1]), self.body(kids[2]))
        if kind == "call_stmt":
            name = kids[0]
            block = self.block(kids[2]) if kids[2] is not None else None
            return ast.PrimitiveStmt(span, str(name), Span(name.line, name.column, name.end_line, name.end_column),
                                     self.args(kids[1]), block)
        raise AssertionError(f"unhandled statement {kind}")

    def args(self, tree) -> tuple:
        if tree is None:
            return ()
        out = []
        for arg in tree.children:
            if arg is None:
                continue
            if arg.data == "kwarg":
                out.append(ast.Arg(Span.of(arg.meta), str(arg.children[0]), self.expr(arg.children[1])))
            else:
                out.append(ast.Arg(Span.of(arg.meta), None, self.expr(arg.children[0])))
        return tuple(out)

    def expr(self, node):
        if isinstance(node, Token):  # a bare token can only be an inlined atom
            raise AssertionError(f"unexpected token {node!r}")
        span, kids, kind = Span.of(node.meta), node.children, node.data
        if kind == "number":
            value, is_int = _number_value(kids[0].value)
            return ast.Number(span, value, str(kids[0]), is_int)
        if kind == "string":
            return ast.String(span, kids[0].value[1:-1])
        if kind == "name":
            return ast.Name(span, str(kids[0]))
        if kind == "true":
            return ast.Bool(span, True)
        if kind == "false":
            return ast.Bool(span, False)
        if kind == "vector":
            return ast.Vector(span, tuple(self.expr(k) for k in kids if k is not None))
        if kind in ("or_op", "and_op"):
            op = "or" if kind == "or_op" else "and"
            result = self.expr(kids[0])
            for k in kids[1:]:
                right = self.expr(k)
                result = ast.BinOp(_join(result.span, right.span), op, result, right)
            return result
        if kind == "not_op":
            return ast.Unary(span, "not", self.expr(kids[0]))
        if kind in ("arith", "compare"):
            result = self.expr(kids[0])
            for i in range(1, len(kids), 2):
                right = self.expr(kids[i + 1])
                result = ast.BinOp(_join(result.span, right.span), str(kids[i]), result, right)
            return result
        if kind == "neg":
            return ast.Unary(span, str(kids[0]), self.expr(kids[1]))
        if kind == "index":
            return ast.Index(span, self.expr(kids[0]), self.expr(kids[1]))
        if kind == "attr":
            return ast.Attr(span, self.expr(kids[0]), str(kids[1]))
        if kind == "func":
            return ast.Call(span, str(kids[0]), self.args(kids[1]))
        raise AssertionError(f"unhandled expression {kind}")


def _join(a: Span, b: Span) -> Span:
    return Span(a.line, a.column, b.end_line, b.end_column)

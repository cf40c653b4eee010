"""Parse pdsl text into a `Program`, reporting as many syntax errors as one pass finds."""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass, replace
from importlib import resources
from itertools import accumulate

from lark import Lark, Token
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from proto3d.errors import Diagnostic, Proto3dError, Span, errors
from proto3d.grammar import ast
from proto3d.grammar.source import (
    MAX_PROGRAM_BYTES,
    character_problems,
    decode,
    line_column,
    normalise,
    too_large,
)
from proto3d.limits import Limits

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
    # The AST is built while parsing (`transformer`, no parse tree); the keywords are kept so that
    # every node's span can start at its first token.
    return Lark(
        grammar,
        parser="lalr",
        maybe_placeholders=True,
        keep_all_tokens=True,
        transformer=_Build(),
        cache=True,
    )


def parse(
    text: str | bytes,
    filename: str = "<input>",
    *,
    max_bytes: int = MAX_PROGRAM_BYTES,
    max_depth: int = Limits.max_depth,
    max_string: int = Limits.max_string,
) -> ast.Program:
    """Parse `text`; raise `Proto3dError` carrying every syntax error found."""
    program, diagnostics = parse_with_diagnostics(
        text, filename, max_bytes=max_bytes, max_depth=max_depth, max_string=max_string
    )
    if diagnostics:
        raise Proto3dError(diagnostics, filename)
    return program


def parse_with_diagnostics(
    text: str | bytes,
    filename: str = "<input>",
    *,
    max_bytes: int = MAX_PROGRAM_BYTES,
    max_depth: int = Limits.max_depth,
    max_string: int = Limits.max_string,
) -> tuple[ast.Program | None, list[Diagnostic]]:
    """Return `(program or None, errors)`; never raises for any input.

    `text` is UTF-8 bytes or a str, read as `source.decode` and `source.normalise` say (the
    program's text and every position are then as an editor shows them); warnings about its
    characters are in `program.warnings`.
    """
    size = len(text) if isinstance(text, bytes) else len(text.encode("utf-8", "replace"))
    if size > max_bytes:
        return None, [too_large(size, max_bytes)]
    text, error = decode(text)
    if error:
        return None, [error]
    text = normalise(text)
    code, comments, strings = _outline(text)
    problems = character_problems(text, strings)
    if errors(problems):
        return None, [d.with_source(text) for d in problems]
    warnings = [d.with_source(text) for d in problems]
    problems = _text_depth(code, max_depth)  # before parsing: deeply nested input fails fast
    if problems:
        return None, [d.with_source(text) for d in problems]
    statements, syntax_errors = _parse_reporting_all(text)
    if syntax_errors:
        return None, [d.with_source(text) for d in syntax_errors]
    problems = _tree_depth(statements, max_depth, code)
    longest_string = max((end - start for start, end in strings), default=0)
    if not problems and (longest_string - 2 > max_string or _long_word_or_exponent(code)):
        problems = _check_tokens(text, max_string)
    if problems:
        return None, [d.with_source(text) for d in problems]
    return ast.Program(statements, text, _comments(text, comments), filename, warnings), []


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
            statements = _lark().parse(current)
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
        return (None if errors else statements), errors
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


# Strings and comments (group 1) as the lexer sees them: a string ends at its quote or at the end
# of its line.
_STRING_OR_COMMENT = re.compile(r"""\"[^"\n]*"?|'[^'\n]*'?|((?:#|//)[^\n]*)""")


def _outline(text: str) -> tuple[str, list[tuple[int, str]], list[tuple[int, int]]]:
    """The text with its strings and comments blanked out (offsets kept), the comments as
    `(offset, text)`, and the strings (quotes included) as `(start, end)` offsets."""
    comments, strings = [], []

    def blank(match: re.Match) -> str:
        if match.lastindex:
            comments.append((match.start(), match.group()))
        else:
            strings.append(match.span())
        return " " * len(match.group())

    return _STRING_OR_COMMENT.sub(blank, text), comments, strings


def _comments(text: str, comments: list[tuple[int, str]]) -> list[ast.Comment]:
    out, line, counted = [], 1, 0
    for offset, comment in comments:
        line += text.count("\n", counted, offset)
        counted = offset
        out.append(ast.Comment(line, offset - text.rfind("\n", 0, offset), comment.rstrip()))
    return out


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
        return Diagnostic(
            "E010",
            f"unexpected character {char!r}",
            Span(line, column, line, column + 1),
            expected=_expected_text(error.allowed or []),
            hint=hint,
        )
    token = error.token
    expected = _expected_text(error.expected)
    if token.type == "$END":
        opener = _unclosed_opener(text)
        hint = (
            f"`{opener[0]}` opened at line {opener[1]}, column {opener[2]} is never closed" if opener else ""
        )
        return Diagnostic("E012", "unexpected end of input", _end_span(text), expected=expected, hint=hint)
    hint = _token_hint(error, text)
    width = max(len(str(token.value)), 1)
    return Diagnostic(
        "E011",
        f"unexpected {_describe(token)}",
        Span(line, column, line, column + width),
        expected=expected,
        hint=hint,
    )


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
    if token.type == "NAME" and re.search(r"\bpart\s+\w+$", before):
        return f"a part's body is a block: `{before.split()[-2]} {previous_word} {{ {token.value}(…) }}`"
    if previous_word in ("module", "function"):
        return "define a reusable statement with `def name(param, other=default) { … }`"
    if token.value == "{" and previous_word.endswith(")"):
        return "only transforms (translate, rotate, scale, mirror, symmetric, radial) take a block"
    in_comprehension = "FOR" in error.expected and "RSQB" in error.expected
    if in_comprehension and token.value == ",":
        return "one name per `for`: `[[x, y] for x in xs for y in ys]`"
    if in_comprehension and token.value == "if" and "COMMA" in error.expected:
        return "no `a if c else b` in pdsl: filter after the `for` (`[x for x in xs if x > 0]`)"
    if in_comprehension and token.value in ("else", "elif"):
        return "a comprehension's `if` keeps the items where it holds; it takes no `else`"
    if token.value == "for" and "RPAR" in error.expected:
        return "a comprehension goes in square brackets: `[x * 2 for x in xs]`"
    if token.value == "(" and previous_word == "for":
        return "one name per `for`; index the item instead: `p[0]`, `p[1]`"
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


_BRACKET = re.compile(r"[()\[\]{}]")
_NESTING = {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}


def _text_depth(code: str, max_depth: int) -> list[Diagnostic]:
    """Bracket/brace nesting as written (strings and comments blanked out), without recursion."""
    if max(accumulate(map(_NESTING.get, _BRACKET.findall(code))), default=0) <= max_depth:
        return []
    depth, brackets = 0, _BRACKET.finditer(code)
    while depth <= max_depth:
        bracket = next(brackets)
        depth += _NESTING[bracket.group()]
    line, column = line_column(code, bracket.start())
    return [
        Diagnostic(
            "E002",
            f"nesting is deeper than the limit of {max_depth} levels",
            Span(line, column, line, column + 1),
            hint="flatten the structure; name sub-expressions with `let`",
        )
    ]


def _tree_depth(statements: tuple, max_depth: int, code: str) -> list[Diagnostic]:
    """Depth of the syntax tree (unary chains, inline transform chains), without recursion.

    Levels are counted as in a lark parse tree of the grammar: argument lists, `elif` and `else`
    clauses are levels of their own, brackets are not. A node on one line nests at most 1.5 levels
    per character (each level below it has a token fewer, but for `f(x)` → arguments → `x`), so
    short lines are not walked.
    """
    limit = max_depth * 8
    stack = [(s, 1) for s in statements]
    while stack:
        node, level = stack.pop()
        if level > limit:
            line, column = _tree_start(node, code)
            return [
                Diagnostic(
                    "E002",
                    "expression nests too deeply",
                    Span(line, column, line, column + 1),
                    hint="flatten the expression; name sub-expressions with `let`",
                )
            ]
        span = getattr(node, "span", None)
        if span and span.line == span.end_line and level + 2 * (span.end_column - span.column) <= limit:
            continue
        stack.extend((child, level + 1) for child in _tree_children(node))
    return []


@dataclass(frozen=True)
class _Clause:
    """A parse-tree level with no AST node: an argument list, an `elif` or `else` clause."""

    kind: str
    children: tuple
    after: Span | None = None  # the end of the block before an `elif` or `else`


def _tree_children(node) -> list:
    """The levels below `node` in the parse tree: its syntax-tree children, with a call's arguments
    and each `elif` and `else` clause gathered into a level of their own."""
    kind = type(node)
    if kind is _Clause:
        return list(node.children)
    if kind in (ast.Call, ast.PrimitiveStmt, ast.TransformStmt) and node.args:
        return [_Clause("args", node.args), *ast.children(node)[len(node.args) :]]
    if kind is ast.DefStmt and node.params:
        return [_Clause("args", node.params), node.block]
    if kind is ast.IfStmt:
        (condition, block), *elifs = node.branches
        kids = [condition, block]
        for branch in elifs:
            kids.append(_Clause("elif", branch, block.span))
            block = branch[1]
        if node.orelse:
            kids.append(_Clause("else", (node.orelse,), block.span))
        return kids
    return ast.children(node)


def _tree_start(node, code: str) -> tuple[int, int]:
    """Where the parse-tree node of `node` starts in the code (strings and comments blanked out):
    a clause at its keyword, a binary operation at its left operand's opening brackets."""
    if type(node) is _Clause and node.kind == "args":
        return node.children[0].span.line, node.children[0].span.column
    if type(node) is _Clause:
        after = _offset(code, node.after.end_line, node.after.end_column)
        start = len(code) - len(code[after:].lstrip())
    elif type(node) is ast.BinOp:
        closing, opened = {}, []
        for bracket in _BRACKET.finditer(code):
            if bracket.group() == "(":
                opened.append(bracket.start())
            elif bracket.group() == ")" and opened:
                closing[opened.pop()] = bracket.start()
        start = _offset(code, node.span.line, node.span.column)
        right = _offset(code, node.right.span.line, node.right.span.column)
        while (before := len(code[:start].rstrip()) - 1) >= 0 and closing.get(before, right) < right:
            start = before
    else:
        return node.span.line, node.span.column
    return line_column(code, start)


def _offset(text: str, line: int, column: int) -> int:
    start = 0
    for _ in range(line - 1):
        start = text.index("\n", start) + 1
    return start + column - 1


_EXPONENT = re.compile(r"[eE][-+]?\d{3}")


def _long_word_or_exponent(code: str) -> bool:
    """Whether the code (strings blanked) may hold a name over the limit or a number out of range:
    a float overflows only with a 3-digit exponent or 200 digits; units only shrink it."""
    return max(map(len, code.split()), default=0) > MAX_NAME or bool(_EXPONENT.search(code))


def _check_tokens(text: str, max_string: int) -> list[Diagnostic]:
    """Strings, names and numbers over the limits, in the order written."""
    problems = []
    for token in _lark().parse_interactive(text).iter_parse():
        span = Span(token.line, token.column, token.end_line, token.end_column)
        if token.type == "STRING" and len(token.value) - 2 > max_string:
            problems.append(
                Diagnostic(
                    "E003", f"string of {len(token.value) - 2} characters; the limit is {max_string}", span
                )
            )
        elif token.type == "NAME" and len(token.value) > MAX_NAME:
            problems.append(
                Diagnostic(
                    "E003",
                    f"name of {len(token.value)} characters; the limit is {MAX_NAME}",
                    span,
                    hint="use short, descriptive names like `seat_h`",
                )
            )
        elif token.type == "NUMBER" and not math.isfinite(_number_value(token.value)[0]):
            problems.append(
                Diagnostic(
                    "E013",
                    f"number `{token.value}` is out of range",
                    span,
                    hint="numbers must be finite; sizes are in metres",
                )
            )
    return problems


def _number_value(text: str) -> tuple[float, bool]:
    """(value in metres or degrees, written as an integer); a number token ends in a digit, `.` or
    its unit (mm cm m deg)."""
    digits = text.rstrip("cdegm")
    if digits != text:
        return float(digits) * UNITS[text[len(digits) :]], False
    return float(text), not ("." in text or "e" in text or "E" in text)


class _Extent:
    """An expression while parsing whose extent in the text is not its span: the brackets around it,
    or around an operand at either end of a binary operation, belong to its parent's span."""

    __slots__ = ("node", "span")

    def __init__(self, node, span: Span):
        self.node, self.span = node, span


def _node(item):
    return item.node if type(item) is _Extent else item


def _span(first, last) -> Span:
    """From the start of `first` to the end of `last` (tokens, nodes or bracketed expressions)."""
    a, b = getattr(first, "span", first), getattr(last, "span", last)
    return Span(a.line, a.column, b.end_line, b.end_column)


def _binary(left, op, right):
    """`left op right`; spanning its operands, with their brackets when they have any."""
    a, b = _node(left), _node(right)
    node = ast.BinOp(_join(a.span, b.span), str(op), a, b)
    return _Extent(node, _span(left, right)) if type(left) is _Extent or type(right) is _Extent else node


def _group(kids: list, tighter: tuple):
    """`a op b op c ...` with two levels of left-associative operators (`tighter` binds first)."""
    terms, ops = [kids[0]], []
    for i in range(1, len(kids), 2):
        if kids[i] in tighter:
            terms[-1] = _binary(terms[-1], kids[i], kids[i + 1])
        else:
            terms.append(kids[i + 1])
            ops.append(kids[i])
    result = terms[0]
    for op, term in zip(ops, terms[1:]):
        result = _binary(result, op, term)
    return result


def _join(a: Span, b: Span) -> Span:
    return Span(a.line, a.column, b.end_line, b.end_column)


class _Build:
    """Lark callbacks, one per grammar rule or alias: its children (every token kept, None for a
    missing optional part) → AST node."""

    def start(self, kids):
        return tuple(kids)

    def block(self, kids):
        return ast.Block(_span(kids[0], kids[-1]), tuple(kids[1:-1]))

    def shape_stmt(self, kids):
        return ast.ShapeStmt(_span(kids[0], kids[1]), _node(kids[1]))

    def bounds_stmt(self, kids):
        return ast.BoundsStmt(_span(kids[0], kids[1]), _node(kids[1]))

    def let_stmt(self, kids):
        return ast.LetStmt(_span(kids[0], kids[3]), str(kids[1]), _node(kids[3]))

    def param_stmt(self, kids):
        return ast.ParamStmt(_span(kids[0], kids[5]), str(kids[1]), _node(kids[3]), _node(kids[5]))

    def part_stmt(self, kids):
        keyword, label, _, color, block = kids
        return ast.PartStmt(_span(keyword, block), str(label), None if color is None else _node(color), block)

    def for_stmt(self, kids):
        return ast.ForStmt(_span(kids[0], kids[-1]), tuple(kids[1:-1:2]), kids[-1])

    def loop_var(self, kids):
        return ast.LoopVar(_span(kids[0], kids[2]), str(kids[0]), _node(kids[2]))

    def if_stmt(self, kids):
        orelse = kids[-1]
        branches = ((_node(kids[1]), kids[2]), *kids[3:-1])
        return ast.IfStmt(_span(kids[0], orelse or branches[-1][1]), branches, orelse)

    def elif_clause(self, kids):
        return _node(kids[1]), kids[2]

    def else_clause(self, kids):
        return kids[1]

    def transform_stmt(self, kids):
        return ast.TransformStmt(_span(kids[0], kids[4]), str(kids[0]), kids[2] or (), kids[4])

    def boolean_stmt(self, kids):  # the optional `()` of OpenSCAD's `difference() { … }` is dropped
        return ast.BooleanStmt(_span(kids[0], kids[-1]), str(kids[0]), kids[-1])

    def call_stmt(self, kids):
        name, _, args, close, as_keyword, as_name, block = kids
        end = block or as_name or close
        as_span = None if as_name is None else _span(as_name, as_name)
        return ast.PrimitiveStmt(
            _span(name, end),
            str(name),
            _span(name, name),
            args or (),
            block,
            None if as_name is None else str(as_name),
            as_span,
        )

    def def_stmt(self, kids):
        keyword, name, _, params, _, block = kids
        return ast.DefStmt(_span(keyword, block), str(name), _span(name, name), params or (), block)

    def def_params(self, kids):
        return tuple(kids[::2])

    def def_param(self, kids):
        name, _, default = kids
        return ast.DefParam(
            _span(name, default or name), str(name), None if default is None else _node(default)
        )

    def args(self, kids):
        return tuple(kids[::2])

    def kwarg(self, kids):
        return ast.Arg(_span(kids[0], kids[2]), str(kids[0]), _node(kids[2]))

    def posarg(self, kids):
        return ast.Arg(kids[0].span, None, _node(kids[0]))

    def number(self, kids):
        value, is_int = _number_value(kids[0])
        return ast.Number(_span(kids[0], kids[0]), value, str(kids[0]), is_int)

    def string(self, kids):
        return ast.String(_span(kids[0], kids[0]), kids[0][1:-1])

    def name(self, kids):
        return ast.Name(_span(kids[0], kids[0]), str(kids[0]))

    def true(self, kids):
        return ast.Bool(_span(kids[0], kids[0]), True)

    def false(self, kids):
        return ast.Bool(_span(kids[0], kids[0]), False)

    def vector(self, kids):
        return ast.Vector(_span(kids[0], kids[-1]), tuple(_node(k) for k in kids[1:-1:2] if k is not None))

    def comprehension(self, kids):
        """`[item for x in xs if cond …]`: after the item, a keyword and its clause, in turn."""
        clauses = []
        for keyword, clause in zip(kids[2:-1:2], kids[3:-1:2]):
            if keyword == "if":
                clauses.append(ast.Filter(_span(keyword, clause), _node(clause)))
            else:
                clauses.append(clause)
        return ast.Comprehension(_span(kids[0], kids[-1]), _node(kids[1]), tuple(clauses))

    def paren(self, kids):
        return _Extent(_node(kids[1]), _span(kids[0], kids[2]))

    def expr(self, kids):  # a run of `and`/`or`: `and` binds tighter
        return _group(kids, ("and",))

    def arith(self, kids):
        return _binary(*kids)

    compare = arith

    def not_op(self, kids):
        return ast.Unary(_span(kids[0], kids[1]), "not", _node(kids[1]))

    def neg(self, kids):
        return ast.Unary(_span(kids[0], kids[1]), str(kids[0]), _node(kids[1]))

    def index(self, kids):
        return ast.Index(_span(kids[0], kids[3]), _node(kids[0]), _node(kids[2]))

    def attr(self, kids):
        return ast.Attr(_span(kids[0], kids[2]), _node(kids[0]), str(kids[2]))

    def func(self, kids):
        return ast.Call(_span(kids[0], kids[3]), str(kids[0]), kids[2] or ())

"""The exported grammar, read by llguidance (vLLM's guidance backend) one byte at a time: it takes
every program the project's parser takes, and rejects what the parser rejects (a differential
test on mutated programs; the one difference it cannot express is named and counted)."""

from __future__ import annotations

import ast as py
import random
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from proto3d.grammar import parse_with_diagnostics
from proto3d.grammar.constraint import FENCE_CLOSE, FENCE_OPEN, answer_grammar, export
from proto3d.grammar.source import normalise
from tests.helpers.strategies import mutated, programs

llguidance = pytest.importorskip("llguidance")

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples").glob("*.pdsl"))
SYNTAX_ERRORS = {"E010", "E011", "E012"}  # the grammar's; the others are limits and characters
# A number directly followed by a letter, digit or underscore: NUMBER's lookahead, which llguidance
# cannot express (see grammar/constraint.py).
NUMBER_THEN_WORD = re.compile(r"(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?(mm|cm|m|deg)?[A-Za-z_0-9]")
# A statement calling a keyword, e.g. `in(r=1)` after a transform, which the parser reads as a
# call where the keyword cannot stand; the export excludes a keyword from a statement's first name
# wherever some state reading it accepts the keyword (see grammar/constraint.py). No primitive is
# named by a keyword, so such a program never compiles either way.
KEYWORD_CALL = re.compile(r"(?<![A-Za-z_0-9.])(in|or|and|if|elif|else|for|let|param|part|shape|bounds)\s*\(")


class _Bytes:
    """A tokenizer of one token per byte, so the matcher is asked about every byte."""

    eos_token_id = 256
    bos_token_id = None
    tokens = [bytes([i]) for i in range(256)] + [b"<eos>"]
    special_token_ids = [256]

    def __call__(self, text):
        return list(text)


@pytest.fixture(scope="module")
def matcher():
    tokenizer = llguidance.LLTokenizer(llguidance.TokenizerWrapper(_Bytes()), slices=[])
    grammar = llguidance.LLMatcher.grammar_from_lark(answer_grammar())
    return llguidance.LLMatcher(tokenizer, grammar, log_level=0)


def accepts(matcher, answer: str) -> bool:
    """Whether `answer` is a whole answer; a copy of the fresh matcher reads it (an error stays
    in a matcher even after `reset`)."""
    reader = matcher.deep_copy()
    return reader.consume_tokens(list(answer.encode())) and reader.is_accepting()


def fenced(program: str) -> str:
    """The answer as a model writes it: the closing fence on a line of its own (after a comment
    there is no other way: the comment would run on over the fence)."""
    return FENCE_OPEN + program.rstrip("\n") + "\n" + FENCE_CLOSE


def test_the_export_on_a_small_grammar():
    """Rules and terminals as Lark compiles them; the name where a statement starts excludes the
    keyword the LALR state also accepts there, the name after `go` (where no keyword can come) does not."""
    toy = 'start: stmt*\nstmt: "go" NAME | NAME "(" ")"\nNAME: /[a-z]+/\n%ignore " "\n'
    assert export(toy).splitlines() == [
        "%llguidance {}",
        'start: "```pdsl\\n" pdsl_start ("```" | "```\\n")',
        'pdsl_start: lark_start_star_0 | ""',
        "stmt: GO NAME | NAME_1 LPAR RPAR",
        "lark_start_star_0: stmt | lark_start_star_0 stmt",
        "NAME: /[a-z]+/",
        'LARK_IGNORE_0: " "',
        'GO: "go"',
        'LPAR: "("',
        'RPAR: ")"',
        'NAME_1: NAME & ~("go")',
        "%ignore LARK_IGNORE_0",
    ]


def test_the_export_is_a_valid_llguidance_grammar_without_warnings():
    grammar = llguidance.LLMatcher.grammar_from_lark(answer_grammar())
    assert llguidance.LLMatcher.validate_grammar_with_warnings(grammar) == (False, [])


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_is_accepted(matcher, path):
    assert accepts(matcher, fenced(path.read_text(encoding="utf-8")))


def _programs_in_tests() -> list[str]:
    """Every string constant in the tests that is a whole program the project's parser accepts."""
    found = []
    for path in sorted((REPO / "tests").rglob("*.py")):
        for node in py.walk(py.parse(path.read_text(encoding="utf-8"))):
            text = node.value if isinstance(node, py.Constant) else None
            if (
                isinstance(text, str)
                and "part " in text
                and "{" in text
                and not parse_with_diagnostics(text)[1]
            ):
                found.append(text)
    return found


def test_every_program_the_tests_and_the_reference_use_is_accepted(matcher):
    used = _programs_in_tests()
    reference = (REPO / "docs" / "language.md").read_text(encoding="utf-8")
    used += [
        b for b in re.findall(r"```[a-z]*\n(.*?)```", reference, re.S) if not parse_with_diagnostics(b)[1]
    ]
    assert len(used) > 100
    # as the loop reads an answer: the text normalised (line ends, a byte-order mark) first
    assert [p for p in used if not accepts(matcher, fenced(normalise(p)))] == []


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(programs())
def test_generated_programs_are_accepted(matcher, text):
    assert accepts(matcher, fenced(text))


def test_the_answer_is_the_fenced_program_and_nothing_else(matcher):
    program = "part a { box(size=[1, 1, 1]) }\n"
    assert accepts(matcher, fenced(program))
    assert not accepts(matcher, program)
    assert not accepts(matcher, "Here it is:\n" + fenced(program))
    assert not accepts(matcher, fenced(program) + "\nDone.")
    assert accepts(matcher, fenced(program) + "\n")  # the fence's line may end
    assert not accepts(matcher, fenced(program) + "\n\n")


@pytest.mark.parametrize(
    ("program", "parser_accepts"),
    [
        ("part(x=1)", False),  # `part` where a statement starts is the keyword
        ("let part = 1", True),  # after `let` only a name can come
        ("translatex(a=1)", False),  # `translate` has priority where a transform can start
        ("let translatex = 1", True),
        ("let a = b or(x=1)", False),  # after an operand `or` is the keyword, not the next call
        ("true(1)", True),  # where a statement starts `true` is not expected: a name
        ("let a = true(1)", False),
        ("let a = 2 ** -1", True),
        ("let a = 1 < 2 < 3", False),
    ],
)
def test_keywords_and_names_as_the_project_s_parser_reads_them(matcher, program, parser_accepts):
    assert (not parse_with_diagnostics(program)[1]) is parser_accepts
    assert accepts(matcher, fenced(program)) is parser_accepts


def test_the_known_differences(matcher):
    assert parse_with_diagnostics("let a = 2b(x=1)")[1][0].code == "E010"
    assert accepts(matcher, fenced("let a = 2b(x=1)"))  # read as `let a = 2` then `b(x=1)`
    assert not parse_with_diagnostics("rotate(z=90) in(r=1)")[1]  # a call of `in`: never compiles
    assert not accepts(matcher, fenced("rotate(z=90) in(r=1)"))


def _offset(text: str, line: int, column: int) -> int:
    return sum(len(row) + 1 for row in text.split("\n")[: line - 1]) + column - 1


def test_mutated_programs_are_accepted_exactly_when_the_parser_accepts_them(matcher):
    """500 mutants of the examples (characters and tokens deleted, inserted, swapped, keywords put
    in): the export and the parser agree on each, except where a number runs into a word or a
    statement calls a keyword (both counted: about 3 % and 0.05 % of mutants)."""
    rng = random.Random(12)
    corpus = [p.read_text(encoding="utf-8") for p in EXAMPLES]
    verdicts, lookahead_cases, keyword_calls = {True: 0, False: 0}, 0, 0
    while sum(verdicts.values()) < 500:
        text = normalise(mutated(rng, corpus))
        if "```" in text or re.search("[\ud800-\udfff]", text):
            continue  # a fence inside the program ends the answer; lone surrogates are not UTF-8
        errors = parse_with_diagnostics(text)[1]
        if any(d.code not in SYNTAX_ERRORS for d in errors):
            continue  # limits and characters: no grammar's business
        if any(
            d.code == "E010" and NUMBER_THEN_WORD.match(text, _offset(text, d.line, d.column)) for d in errors
        ):
            lookahead_cases += 1
            continue
        parser_accepts = not errors
        if parser_accepts and KEYWORD_CALL.search(text):
            keyword_calls += 1
            continue
        assert accepts(matcher, fenced(text)) is parser_accepts, text
        verdicts[parser_accepts] += 1
    assert min(verdicts.values()) > 100  # both verdicts well represented
    assert lookahead_cases < 25 and keyword_calls < 5

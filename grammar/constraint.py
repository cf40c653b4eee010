"""The language's grammar as a decoding constraint: `pdsl.lark` rewritten for llguidance (vLLM's
`guidance` structured-output backend), wrapped in the ```pdsl fence of a coder's answer.

llguidance reads Lark syntax but parses with Earley and a lexer that takes every lexeme the
grammar allows at a point, where the project's parser is LALR with Lark's contextual lexer. The
export is generated from the grammar Lark compiles (rules in BNF, terminals as regexes), so it
follows pdsl.lark as the language changes, and it carries over what the contextual lexer decides:

* a keyword is a keyword wherever the LALR state accepts it, never a name: each `NAME` becomes a
  terminal that excludes the keywords its LALR states also accept (`part(x=1)` is not a call);
* a terminal of higher priority than `NAME` (`TRANSFORM`) wins on any word it starts, so names
  read in those states must not begin with it (`translatex(...)` is not a call);
* terminal priorities are dropped (llguidance has none) once they are expressed as the above.

Two differences remain. llguidance has no lookaround, so `NUMBER`'s "not followed by a letter,
digit or underscore" is dropped: the export reads `2b` as `2 b` where the project's parser rejects
it (that error then goes back to the coder as any error does). And a rule's `NAME` excludes the
keywords of every state that reads it, where the parser excludes only those of the state at hand:
`rotate(z=90) in(r=1)` (a call of `in`, which no state after a transform accepts as a keyword) is
refused; no primitive is named by a keyword, so such a program could never compile.
"""

from __future__ import annotations

import functools
import json
import re
from importlib import resources

from lark import Lark
from lark.common import ParserConf
from lark.grammar import Terminal
from lark.lexer import PatternStr
from lark.parsers.lalr_analysis import LALR_Analyzer, digraph

FENCE_OPEN, FENCE_CLOSE = "```pdsl\n", "```"
EMPTY = '""'  # an empty alternative
NL = "\n"  # the answer may end after the closing fence or after its line
_LOOKAHEAD_AT_END = re.compile(r"\(\?[!=][^()]*\)$")


@functools.lru_cache(maxsize=1)
def answer_grammar() -> str:
    """A coder's whole answer, the program in its ```pdsl fence, as an llguidance Lark grammar."""
    text = resources.files("proto3d.grammar").joinpath("pdsl.lark").read_text(encoding="utf-8")
    return export(text)


def export(grammar_text: str, name: str = "NAME") -> str:
    """`grammar_text` (the project's Lark grammar, start rule `start`) as llguidance reads it,
    the program wrapped in the answer's fence; `name` is the identifier terminal keywords collide with."""
    lark = Lark(grammar_text, parser="lalr", maybe_placeholders=True, keep_all_tokens=True)
    terminals = {t.name: t for t in lark.terminals}
    identifier = re.compile(terminals[name].pattern.to_regexp())
    keywords = {
        t.name: t.pattern.value
        for t in lark.terminals
        if isinstance(t.pattern, PatternStr) and identifier.fullmatch(t.pattern.value)
    }
    prefixes = {
        t.name: t.pattern.to_regexp()
        for t in lark.terminals
        if t.name != name and t.priority > terminals[name].priority and identifier.match(_example(t))
    }
    excluded = _competitors(lark, name, set(keywords) | set(prefixes))
    variants: dict[frozenset, str] = {}
    lines = [
        "%llguidance {}",
        f"start: {json.dumps(FENCE_OPEN)} pdsl_start ({json.dumps(FENCE_CLOSE)} | {json.dumps(FENCE_CLOSE + NL)})",
    ]
    alternatives: dict[str, list[str]] = {}
    for rule in lark.rules:
        symbols = []
        for index, symbol in enumerate(rule.expansion):
            label = _name(symbol.name)
            if symbol.name == name and excluded.get((rule, index)):
                label = variants.setdefault(excluded[(rule, index)], f"{name}_{len(variants) + 1}")
            symbols.append(label)
        alternatives.setdefault(_name(rule.origin.name), []).append(" ".join(symbols) or EMPTY)
    lines += [f"{origin}: {' | '.join(options)}" for origin, options in alternatives.items()]
    for t in lark.terminals:
        lines.append(f"{_name(t.name)}: {_terminal(t)}")
    for competitors, label in variants.items():
        words = [json.dumps(keywords[c]) for c in sorted(competitors) if c in keywords]
        starts = [f"/{_slashed(prefixes[c])}[A-Za-z_0-9]*/" for c in sorted(competitors) if c in prefixes]
        lines.append(f"{label}: {name} & ~({' | '.join(words + starts)})")
    lines += [f"%ignore {_name(t)}" for t in lark.ignore_tokens]
    return "\n".join(lines) + "\n"


def _competitors(lark: Lark, name: str, colliding: set[str]) -> dict[tuple, frozenset]:
    """(rule, index) of every `name` in the BNF -> the colliding terminals the LALR states in
    which that `name` is read also accept (as a shift or as a lookahead of a reduction)."""
    analyzer = LALR_Analyzer(ParserConf(lark.rules, {}, ["start"]))
    analyzer.compute_lr0_states()
    analyzer.compute_reads_relations()
    analyzer.compute_includes_lookback()
    analyzer.compute_lookaheads()
    target = Terminal(name)

    def reading(closure) -> set:
        return {(rp.rule, rp.index) for rp in closure if not rp.is_satisfied and rp.next == target}

    def accepted(state) -> frozenset:
        symbols = set(state.transitions) | set(state.lookaheads)
        return frozenset(s.name for s in symbols if s.name in colliding)

    # Where a name is a lookahead, the items that will read it lie past the reductions: the same
    # relations that carry lookaheads carry them.
    direct = {nt: reading(nt[0].transitions[nt[1]].closure) for nt in analyzer.nonterminal_transitions}
    read = digraph(analyzer.nonterminal_transitions, analyzer.reads, direct)
    follow = digraph(analyzer.nonterminal_transitions, analyzer.includes, read)
    result: dict[tuple, frozenset] = {}

    def add(items, competitors) -> None:
        for item in items:
            result[item] = result.get(item, frozenset()) | competitors

    for state in analyzer.lr0_itemsets:
        add(reading(state.closure), accepted(state))
    for nt, lookbacks in analyzer.lookback.items():
        for state, _rule in lookbacks:
            if target in state.lookaheads:
                add(follow[nt], accepted(state))
    return result


def _example(terminal) -> str:
    """A short word the terminal matches (its first alternative), to test against the identifier."""
    value = terminal.pattern.value
    match = re.match(r"\(\?:([A-Za-z_]+)\|", value)
    return match.group(1) if match else value


def _terminal(terminal) -> str:
    if isinstance(terminal.pattern, PatternStr):
        return json.dumps(terminal.pattern.value)
    regex = _LOOKAHEAD_AT_END.sub("", terminal.pattern.value)
    flags = "".join(sorted(terminal.pattern.flags))
    return f"/{f'(?{flags})' if flags else ''}{_slashed(regex)}/"


def _slashed(regex: str) -> str:
    """The regex fit for `/…/` on one line: slashes escaped, control characters as `\\xNN`."""
    regex = re.sub(r"(?<!\\)/", r"\/", regex)
    return re.sub(r"[\x00-\x1f]", lambda m: f"\\x{ord(m.group()):02x}", regex)


def _name(symbol: str) -> str:
    """A rule's or terminal's name as llguidance accepts it: Lark's own (`__start_star_0`,
    `__ANON_0`) lose their leading underscores and gain a prefix; `start` is the fence's."""
    if symbol.startswith("_"):
        prefix = "LARK_" if symbol.lstrip("_")[:1].isupper() else "lark_"
        return prefix + symbol.lstrip("_")
    return "pdsl_start" if symbol == "start" else symbol

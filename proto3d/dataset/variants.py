"""Parameter variants: `param name = default in [lo, hi]` ranges, sampled reproducibly.

A variant is a parameter set plus the program rewritten with those values as its defaults,
so each variant is a standalone `.pdsl` file that compiles on its own (and `proto3d render`
shows exactly what a dataset image was made from). Every draw comes from a NumPy Generator
seeded by (seed, key, index, attempt): the same seed gives the same variants on any machine,
and variant k does not depend on how many variants were asked for.
"""

from __future__ import annotations

import dataclasses
import zlib
from dataclasses import dataclass

import numpy as np

from proto3d.compiler import CompiledShape, compile_program, compile_text
from proto3d.errors import Proto3dError, diagnostic
from proto3d.grammar import Program, parse
from proto3d.grammar.ast import ParamStmt, walk

MAX_ATTEMPTS = 20  # redraws of a variant whose values make the program fail (e.g. a limit)
DECIMALS = 6  # sampled floats are rounded to micrometres: readable programs, exact round trips


@dataclass(frozen=True)
class Variant:
    index: int
    params: dict  # name -> int (integer params) or float
    text: str  # the program with `params` as its defaults


def stable_key(text: str) -> int:
    """A 32-bit number naming a prototype in seeds, stable across runs and Python versions."""
    return zlib.crc32(text.encode("utf-8"))


def variant_rng(seed: int, key: int, index: int, attempt: int = 0) -> np.random.Generator:
    return np.random.default_rng([int(seed), 1, int(key), int(index), int(attempt)])


def param_specs(text: str, filename: str = "<input>") -> dict:
    """{name: {"value", "default", "lo", "hi", "integer"}} of the program, in source order."""
    return compile_text(text, filename=filename).params


def draw_params(specs: dict, rng: np.random.Generator) -> dict:
    """One value per param, uniform in [lo, hi]; integer params uniform over the integers."""
    values = {}
    for name, spec in specs.items():
        lo, hi = spec["lo"], spec["hi"]
        if spec["integer"]:
            values[name] = int(rng.integers(int(lo), int(hi), endpoint=True))
        else:
            values[name] = float(min(max(round(float(rng.uniform(lo, hi)), DECIMALS), lo), hi))
    return values


def with_defaults(text: str, params: dict, filename: str = "<input>") -> str:
    """The program with each named param's default replaced by the given value (comments kept)."""
    program = parse(text, filename)
    text = (
        program.text
    )  # the positions are in the text as parsed: byte order mark dropped, lines ending in \n
    # every `param`, wherever it is (the checker decides where that is legal), in source order
    spans = {s.name: s.default.span for s in walk(program) if isinstance(s, ParamStmt) and s.name in params}
    unknown = sorted(set(params) - set(spans))
    if unknown:
        raise Proto3dError(
            diagnostic(
                "E211",
                f"the program has no param `{unknown[0]}`",
                expected=", ".join(spans) or "a program with `param` statements",
            ),
            filename,
        )
    starts = np.concatenate([[0], np.cumsum([len(line) + 1 for line in text.split("\n")])])
    edits = sorted(
        (
            (
                int(starts[sp.line - 1] + sp.column - 1),
                int(starts[sp.end_line - 1] + sp.end_column - 1),
                _literal(params[name]),
            )
            for name, sp in spans.items()
        ),
        reverse=True,
    )
    for begin, end, literal in edits:
        text = text[:begin] + literal + text[end:]
    return text


def sample_variants(
    text: str, n: int, seed: int = 0, *, key: int = 0, start: int = 0, filename: str = "<input>"
) -> list[Variant]:
    """Variants `start .. start+n-1`, each checked to compile; a failing draw is redrawn.

    A program without params has one variant, its defaults; asking for more repeats it.
    """
    program = parse(text, filename)
    specs = compile_program(program).params
    out = []
    for index in range(start, start + n):
        params, _ = draw_variant(program, specs, seed, key, index)
        out.append(Variant(index, params, with_defaults(text, params, filename) if params else text))
    return out


def draw_variant(
    program: Program, specs: dict, seed: int, key: int, index: int
) -> tuple[dict, CompiledShape]:
    """The params of variant `index` and its compiled shape.

    `specs` are the program's param specs (`compile_program(program).params`, computed once by
    the caller). Compiling with the params as overrides gives the same shape as compiling the
    program rewritten by `with_defaults`, without parsing again.
    """
    error = None
    for attempt in range(MAX_ATTEMPTS):
        params = draw_params(specs, variant_rng(seed, key, index, attempt))
        try:
            return params, compile_program(program, params=params)
        except Proto3dError as exc:
            error = exc
    first = error.diagnostics[0]
    raise Proto3dError(
        dataclasses.replace(
            first,
            message=f"variant {index}: no draw of the params compiled in {MAX_ATTEMPTS} attempts; last error: "
            f"{first.message}",
            hint="narrow the param ranges to values the program handles",
        ),
        program.filename,
    )


def _literal(value) -> str:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(int(value))
    return repr(float(value))

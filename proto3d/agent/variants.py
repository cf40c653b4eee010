"""The family check: a program's params sampled, compiled and linted, failing ranges narrowed.

A prototype with `param`s is a family of shapes; a dataset samples it uniformly over the
ranges, so every value in a range must give a sound shape. The check compiles both ends of
each range (the other params at their defaults: where attachment breaks first) and N random
variants (drawn as `proto3d sample` draws them). A sample fails on a compile error or a
floating, outside or not-grounded lint. Narrowing rule: each failing sample halves, for every
param it moved off the default, the side of the range it moved to (ints round toward the
default); after `MAX_ROUNDS` rounds a range that still fails collapses to its default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from proto3d.compiler import CompiledShape, compile_program
from proto3d.dataset.variants import draw_params, variant_rng
from proto3d.grammar import Program, Proto3dError, parse
from proto3d.grammar.ast import ParamStmt

ATTACHMENT_LINTS = ("W101", "W102", "W103")  # floating, outside the bounds, not standing on z = 0
MAX_ROUNDS = 6
SEED = 0  # the check is reproducible: the same program gives the same samples


@dataclass
class Sample:
    name: str  # "seat_h = lo", "variant 3"
    params: dict
    shape: CompiledShape | None = None
    problems: list[str] = field(default_factory=list)  # errors and attachment lints, formatted
    end: bool = False  # a range end (one param at its lo or hi), not a random variant

    @property
    def ok(self) -> bool:
        return self.shape is not None and not self.problems


def check_samples(program: Program, specs: dict, n: int, key: int) -> list[Sample]:
    """Both ends of each range (the others at their defaults), then `n` random variants."""
    defaults = {name: s["default"] for name, s in specs.items()}
    samples = []
    for name, s in specs.items():
        for end in ("lo", "hi"):
            if s[end] != s["default"]:
                samples.append(Sample(f"{name} = {end}", {**defaults, name: s[end]}, end=True))
    samples += [Sample(f"variant {i + 1}", draw_params(specs, variant_rng(SEED, key, i))) for i in range(n)]
    for sample in samples:
        try:
            sample.shape = compile_program(program, params=sample.params)
        except Proto3dError as exc:
            sample.problems = [d.format("program.pdsl") for d in exc.diagnostics]
        else:
            sample.problems = [
                d.format("program.pdsl") for d in sample.shape.diagnostics if d.code in ATTACHMENT_LINTS
            ]
    return samples


def narrowed(specs: dict, failing: list[Sample]) -> dict:
    """Specs with each side of a range that a failing sample moved to halved toward the default."""
    sides = {
        (name, "hi" if value > specs[name]["default"] else "lo")
        for sample in failing
        for name, value in sample.params.items()
        if value != specs[name]["default"]
    }
    out = {name: dict(s) for name, s in specs.items()}
    for name, side in sides:
        out[name][side] = _halved(out[name], side)
    return out


def _halved(spec: dict, side: str):
    bound = spec["default"] + (spec[side] - spec["default"]) / 2
    if spec["integer"]:
        return math.trunc(bound - spec["default"]) + spec["default"]  # rounded toward the default
    return round(float(bound), 6)


def collapsed(specs: dict, failing: list[Sample]) -> dict:
    """Specs with every range a failing sample moved off the default reduced to the default."""
    out = {name: dict(s) for name, s in specs.items()}
    for sample in failing:
        for name, value in sample.params.items():
            if value != out[name]["default"]:
                out[name]["lo"] = out[name]["hi"] = out[name]["default"]
    return out


def narrow_until_sound(
    program: Program, specs: dict, n: int, key: int, checked: list[Sample] | None = None
) -> tuple[dict, list[Sample], int]:
    """Narrow the ranges until every sample passes; returns (specs, the passing samples, rounds used).
    `checked`: the caller's `check_samples(program, specs, n, key)`, not compiled again (it is
    deterministic, and 14 compiles are a tenth of a design's CPU time)."""
    for round_ in range(MAX_ROUNDS + 1):
        samples = checked if round_ == 0 and checked is not None else check_samples(program, specs, n, key)
        failing = [s for s in samples if not s.ok]
        if not failing:
            return specs, samples, round_
        specs = narrowed(specs, failing) if round_ < MAX_ROUNDS else collapsed(specs, failing)
    return specs, check_samples(program, specs, n, key), MAX_ROUNDS + 1


def with_ranges(text: str, specs: dict, filename: str = "program.pdsl") -> str:
    """The program with each param's `in [lo, hi]` replaced by the range in `specs` (comments kept)."""
    program = parse(text, filename)
    starts = np.concatenate([[0], np.cumsum([len(line) + 1 for line in text.split("\n")])])
    edits = []
    for stmt in program.statements:
        if isinstance(stmt, ParamStmt) and stmt.name in specs:
            sp, s = stmt.range.span, specs[stmt.name]
            edits.append(
                (
                    int(starts[sp.line - 1] + sp.column - 1),
                    int(starts[sp.end_line - 1] + sp.end_column - 1),
                    f"[{_literal(s['lo'], s['integer'])}, {_literal(s['hi'], s['integer'])}]",
                )
            )
    for begin, end, literal in sorted(edits, reverse=True):
        text = text[:begin] + literal + text[end:]
    return text


def ranges_json(specs: dict, original: dict) -> dict:
    """What summary.json records: each param's default, final range, and the range the coder gave."""
    return {
        name: {
            "default": s["default"],
            "lo": s["lo"],
            "hi": s["hi"],
            "integer": s["integer"],
            "coder_range": [original[name]["lo"], original[name]["hi"]],
        }
        for name, s in specs.items()
    }


def _literal(value, integer: bool) -> str:
    return str(int(value)) if integer else repr(round(float(value), 6))

"""The hand-written examples: each compiles without geometric lints and matches its golden summary.

The golden file is written by `tests/tools/make_golden.py` and reviewed by hand; regenerate it only
when an example changes on purpose.
"""

import itertools
import json
import re
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from proto3d.compiler import check, compile_text
from proto3d.errors import errors

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.pdsl"))
GOLDEN = json.loads((ROOT / "tests" / "golden" / "examples.json").read_text())
REFERENCE = (ROOT / "docs" / "language.md").read_text()
GEOMETRIC_LINTS = {"W101", "W102", "W103", "W104", "W105"}


@cache
def compiled(name: str):
    return compile_text((ROOT / "examples" / f"{name}.pdsl").read_text(), filename=f"{name}.pdsl")


def test_there_are_enough_examples_and_the_golden_file_covers_exactly_them():
    names = {path.stem for path in EXAMPLES}
    assert len(names) >= 28
    assert "chair" in names
    assert set(GOLDEN) == names


@pytest.mark.parametrize("name", [path.stem for path in EXAMPLES])
def test_example_compiles_clean(name):
    shape = compiled(name)
    lints = [d.format(f"{name}.pdsl") for d in shape.diagnostics if d.code in GEOMETRIC_LINTS]
    assert lints == []
    assert shape.bounds is not None, "every example declares its bounds"
    assert len(shape.parts) >= 3


@pytest.mark.parametrize("name", [path.stem for path in EXAMPLES])
def test_example_matches_golden(name):
    shape, golden = compiled(name), GOLDEN[name]
    assert shape.name == golden["name"]
    assert {p.label: len(p.instance_ids) for p in shape.parts} == golden["parts"]
    lo, hi = shape.bbox
    assert np.allclose(lo, golden["bbox_min"], atol=1e-3)
    assert np.allclose(hi, golden["bbox_max"], atol=1e-3)


@pytest.mark.parametrize("name", [path.stem for path in EXAMPLES])
def test_example_stands_on_the_ground_inside_its_bounds(name):
    shape = compiled(name)
    lo, hi = shape.bbox
    assert abs(lo[2]) <= 1e-3
    half = np.asarray(shape.bounds) / 2
    slack = np.maximum(5e-3, 0.05 * np.asarray(shape.bounds))
    assert np.all(hi[:2] <= half[:2] + slack[:2]) and np.all(lo[:2] >= -half[:2] - slack[:2])
    assert hi[2] <= shape.bounds[2] + slack[2]


def test_chair_is_a_chair():
    shape = compiled("chair")
    parts = {p.label: p for p in shape.parts}
    assert len(parts["leg"].instance_ids) == 4
    assert shape.bbox[1][2] == pytest.approx(0.86, abs=0.02)
    seat = shape.instances[parts["seat"].instance_ids[0]]
    assert seat.bbox_max[2] == pytest.approx(0.45, abs=1e-6)  # param seat_h default


def test_chair_in_the_reference_is_the_example():
    block = re.search(r"```\n(# chair\.pdsl\n.*?)```", REFERENCE, re.S).group(1)
    assert block == (ROOT / "examples" / "chair.pdsl").read_text()


def _reference_primitive_lines():
    section = REFERENCE.split("One short example of each:")[1].split("```")[1]
    return [line.split("  #")[0].strip() for line in section.splitlines() if line.strip()]


@pytest.mark.parametrize("line", _reference_primitive_lines())
def test_reference_primitive_examples_compile(line):
    problems = errors(check(f"part p {{ {line} }}"))
    assert problems == []


def test_reference_composition_example_compiles():
    section = REFERENCE.split("## 6. Transforms and composition")[1].split("```")[1]
    shape = compile_text(section)
    counts = {p.label: len(p.instance_ids) for p in shape.parts}
    assert counts == {"leg": 4, "spoke": 5, "blade": 3}


PRIMITIVE_START = re.compile(
    r"^(box|sphere|ellipsoid|cylinder|frustum|cone|capsule|torus|tube|wedge|lathe|extrude|sweep|loft|rod)\("
)
PRELUDE = "let x = 0.2\nlet y = 0.1\npart seat { box(size=[0.4, 0.4, 0.05], at=[0, 0, 0.45]) }\n"


def _reference_pattern_lines():
    section = REFERENCE.split("## 13. Patterns")[1].split("```")[1]
    lines = [line.split("  #")[0].strip() for line in section.splitlines()]
    return [line for line in lines if line and "…" not in line]


@pytest.mark.parametrize("line", _reference_pattern_lines())
def test_reference_patterns_compile(line):
    statement = f"part p {{ {line} }}" if PRIMITIVE_START.match(line) else line
    problems = errors(check(PRELUDE + statement))
    assert problems == []


@pytest.mark.parametrize("name", [path.stem for path in EXAMPLES])
def test_example_stays_clean_across_its_param_ranges(name):
    """Dataset tools sample params in [lo, hi]: every corner of the range must stay lint-free."""
    text = (ROOT / "examples" / f"{name}.pdsl").read_text()
    params = compiled(name).params
    corners = itertools.product(*[[(n, p["lo"]), (n, p["hi"])] for n, p in params.items()])
    for corner in corners:
        shape = compile_text(text, params=dict(corner))
        lints = [d.format(f"{name}.pdsl") for d in shape.diagnostics if d.code in GEOMETRIC_LINTS]
        assert lints == [], dict(corner)

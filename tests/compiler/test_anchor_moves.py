"""W109: a part placed from an anchor that moved between two versions of a program (issue 12).

The evaluator records every anchor read in the compiled shape; `moved_anchors` compares two
versions' reads and names the reading line and the line that moved the anchor.
"""

from __future__ import annotations

import numpy as np

from proto3d.compiler import AnchorRead, compile_text, moved_anchors
from proto3d.errors import Span

BEFORE = """shape "microscope"
part base { box(size=[0.3, 0.3, 0.05], at=[0, 0, 0.025]) }
part stage { box(size=[0.2, 0.2, 0.02], at=[0, 0, 0.3]) }
part condenser { cylinder(r=0.03, h=0.05, at=stage.bottom, align="top") }
"""

# the refiner hung knobs under the stage: its bottom drops 4 cm and the condenser with it
AFTER = """shape "microscope"
part base { box(size=[0.3, 0.3, 0.05], at=[0, 0, 0.025]) }
part stage {
    box(size=[0.2, 0.2, 0.02], at=[0, 0, 0.3])
    symmetric("x") { sphere(r=0.02, at=[0.08, 0, 0.27]) }
}
part condenser { cylinder(r=0.03, h=0.05, at=stage.bottom, align="top") }
"""

# the same program, lines moved and a 2 mm tweak: nothing to report
TWEAKED = """shape "microscope"
# the base
part base { box(size=[0.3, 0.3, 0.05], at=[0, 0, 0.025]) }

part stage { box(size=[0.2, 0.2, 0.024], at=[0, 0, 0.3]) }
part condenser { cylinder(r=0.03, h=0.05, at=stage.bottom, align="top") }
"""


def test_reads_are_recorded_with_the_reading_statement():
    shape = compile_text(
        BEFORE
        + "for k in range(2) { part leg { rod(from=[k, 0, 0], to=base.top, r=0.01) } }\nlet t = leg[1].size\n"
    )
    assert [
        (r.span.line, r.reader, r.part, r.instance, r.anchor, r.primitive_count) for r in shape.anchor_reads
    ] == [
        (4, "condenser", "stage", None, "bottom", 1),
        (5, "leg", "base", None, "top", 1),  # once: both runs of the loop read base as it was
        (6, None, "leg", 1, "size", 1),
    ]
    assert shape.anchor_reads[0].span == Span(4, 18, 4, 72)
    assert shape.anchor_reads[0].value.tolist() == [0.0, 0.0, np.float32(0.29)]


def test_an_anchor_moved_by_detail_is_reported_on_both_lines():
    found = moved_anchors(compile_text(BEFORE), compile_text(AFTER))
    assert [(d.code, d.severity, d.line, d.column) for d in found] == [("W109", "warning", 7, 18)]
    assert found[0].message == (
        "`stage.bottom` moved 4.0 cm, mostly down, since the previous version ([0, 0, 0.29] → [0, 0, 0.25]): "
        "line 5 (part `stage`) now bounds it there, and part `condenser` is placed from it here"
    )
    assert "`let`" in found[0].hint


def test_an_unchanged_version_reports_nothing():
    shape = compile_text(AFTER)
    assert moved_anchors(shape, compile_text(AFTER)) == []
    assert moved_anchors(compile_text(BEFORE), compile_text(TWEAKED)) == []  # lines moved, anchor 2 mm


def test_a_moved_anchor_is_reported_once_per_statement_and_only_past_the_tolerance():
    loop = "for x in [-0.05, 0.05] {{ part foot {{ sphere(r=0.01, at=stage.bottom + [x, 0, 0]) }} }}\n"
    before = compile_text(BEFORE + loop.format())
    after = compile_text(AFTER + loop.format())
    assert [(d.line, d.message.split(",")[0]) for d in moved_anchors(before, after)] == [
        (7, "`stage.bottom` moved 4.0 cm"),
        (8, "`stage.bottom` moved 4.0 cm"),
    ]
    assert moved_anchors(before, after, tolerance=0.05) == []


def test_reads_are_matched_by_what_was_read_not_by_line():
    reads = compile_text(BEFORE).anchor_reads
    assert isinstance(reads[0], AnchorRead)
    other = compile_text(BEFORE.replace("stage.bottom", "base.top"))  # another anchor: no pair, no warning
    assert moved_anchors(compile_text(BEFORE), other) == []


def test_a_loop_growing_the_part_it_reads_records_every_state():
    shape = compile_text(
        "for i in range(3) {\n    part p { box(size=[1, 1, 1], at=[0, 0, i + 0.5]) }\n    part q { sphere(r=0.1, at=p.top) }\n}\n"
    )
    assert [(r.span.line, r.primitive_count, r.value.tolist()) for r in shape.anchor_reads] == [
        (3, 1, [0.0, 0.0, 1.0]),
        (3, 2, [0.0, 0.0, 2.0]),
        (3, 3, [0.0, 0.0, 3.0]),
    ]

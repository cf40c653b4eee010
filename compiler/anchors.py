"""W109: a part placed from another part's anchor that moved since the previous version.

Anchors are read from what a part has so far, so detail added to a part (knobs hung under a
stage) moves its anchors (`stage.bottom`), and whatever was placed from them moves too, often
unnoticed: a condenser placed under the stage ends up floating. Comparing the anchor reads of
two versions of a program shows it and names both lines: the statement placed from the anchor
and the primitive that now bounds the anchored part where it moved.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from proto3d.compiler.shape import AnchorRead, CompiledShape
from proto3d.errors import Diagnostic

TOLERANCE = 0.005  # metres an anchor may move unreported: less is a tweak, not a surprise


def moved_anchors(
    previous: CompiledShape, current: CompiledShape, tolerance: float = TOLERANCE
) -> list[Diagnostic]:
    """A W109 warning for each statement of `current` that read an anchor whose value moved by more
    than `tolerance` since `previous`.

    Reads are matched by who read what (the reading part, the part and instance read, the anchor)
    and their order among those, not by line, so lines may move between versions.
    """
    earlier = _by_reading(previous.anchor_reads)
    boxes: dict[int, tuple[np.ndarray, np.ndarray]] | None = None
    found: dict[tuple, Diagnostic] = {}
    for key, reads in _by_reading(current.anchor_reads).items():
        for old, new in zip(earlier.get(key, ()), reads):
            delta = new.value - old.value
            distance = math.hypot(*delta.tolist())
            if distance <= tolerance or (new.span, key) in found:
                continue
            if boxes is None:
                boxes = _primitive_boxes(current)
            found[(new.span, key)] = _warning(
                old, new, delta, distance, _bounding_line(current, new, delta, boxes)
            )
    return list(found.values())


def _by_reading(reads: list[AnchorRead]) -> dict[tuple, list[AnchorRead]]:
    grouped: dict[tuple, list[AnchorRead]] = defaultdict(list)
    for read in reads:
        grouped[(read.reader, read.part, read.instance, read.piece, read.anchor)].append(read)
    return grouped


def _warning(
    old: AnchorRead, new: AnchorRead, delta: np.ndarray, distance: float, line: int | None
) -> Diagnostic:
    name = new.part if new.instance is None else f"{new.part}[{new.instance}]"
    name = name if new.piece is None else f"{name}.{new.piece}"
    axis = int(np.argmax(np.abs(delta)))
    where = f"line {line} (part `{new.part}`) now bounds it there" if line is not None else "its part changed"
    placed = f"part `{new.reader}`" if new.reader is not None else "what this statement makes"
    return Diagnostic(
        "W109",
        f"`{name}.{new.anchor}` moved {distance * 100:.1f} cm, mostly {_DIRECTIONS[axis, bool(delta[axis] > 0)]}, "
        f"since the previous version ({_point(old.value)} → {_point(new.value)}): {where}, and {placed} is "
        "placed from it here",
        new.span,
        severity="warning",
        hint=f"if that detail should not move what is placed from `{new.part}`, read the anchor into a `let` "
        "above it, or place this part from numbers; if the move is intended, nothing to do",
    )


_DIRECTIONS = {
    (0, False): "left (-x)",
    (0, True): "right (+x)",
    (1, False): "to the front (-y)",
    (1, True): "to the back (+y)",
    (2, False): "down",
    (2, True): "up",
}


def _point(value: np.ndarray) -> str:
    return "[" + ", ".join(f"{v:.3g}" for v in value.tolist()) + "]"


def _primitive_boxes(shape: CompiledShape) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """The world box of each primitive with triangles, from the compiled mesh."""
    if not len(shape.faces):
        return {}
    corners = shape.vertices[shape.faces]
    starts = np.flatnonzero(np.r_[True, np.diff(shape.primitive_id) != 0])  # faces come in runs per primitive
    lo = np.minimum.reduceat(corners.min(axis=1), starts)
    hi = np.maximum.reduceat(corners.max(axis=1), starts)
    return dict(zip(shape.primitive_id[starts].tolist(), zip(lo, hi)))


def _bounding_line(shape: CompiledShape, read: AnchorRead, delta: np.ndarray, boxes: dict) -> int | None:
    """The line of the primitive, among those the read saw, that reaches furthest the way the anchor moved."""
    part_id = next(i for i, part in enumerate(shape.parts) if part.label == read.part)
    instance_ids = shape.parts[part_id].instance_ids
    if read.instance is not None:
        instance_ids = [instance_ids[read.instance]]
    seen = [
        p
        for i in instance_ids
        for p in (
            shape.instances[i].primitive_ids
            if read.piece is None
            else shape.instances[i].names.get(read.piece, [])
        )
    ][: read.primitive_count]
    measured = [p for p in seen if p in boxes]
    if not measured:
        return None
    axis = int(np.argmax(np.abs(delta)))
    if delta[axis] < 0:
        chosen = min(measured, key=lambda p: boxes[p][0][axis])
    else:
        chosen = max(measured, key=lambda p: boxes[p][1][axis])
    return shape.primitives[chosen].span.line

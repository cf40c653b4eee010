# pyright: basic
"""The compiled shape: plain NumPy arrays plus the part and primitive tables.

Ids in the per-face arrays are 0-based indices into the tables
(`shape.parts[part_id[f]]`); render buffers store index + 1 so that 0 is background.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from proto3d.errors import CallSite, Diagnostic, Span


@dataclass
class Primitive:
    """One row of the primitive table: what was drawn, where, for which part, from which line."""

    kind: str  # a key of primitives.PRIMITIVES
    params: dict  # normalised parameters (floats, np.ndarray for vectors and point lists)
    matrix: np.ndarray  # (4, 4) float64 world-from-local, includes at/rot/align and enclosing transforms
    segments: int
    part_id: int  # index into CompiledShape.parts
    instance_id: int  # global index into CompiledShape.instances
    color: tuple[float, float, float]  # linear 0..1 sRGB-encoded values as written
    span: Span = field(default_factory=Span)
    calls: tuple[CallSite, ...] = ()  # the def calls that drew it, innermost first (its lints show them)
    operand: bool = False  # of a boolean block: its faces are those of the result that come from it


@dataclass
class Instance:
    """One execution of a `part` block."""

    part_id: int
    index: int  # 0-based among the instances of its part (leg[2])
    primitive_ids: list[int]
    span: Span
    bbox_min: np.ndarray = field(default_factory=lambda: np.zeros(3))
    bbox_max: np.ndarray = field(default_factory=lambda: np.zeros(3))
    names: dict[str, list[int]] = field(default_factory=dict)  # `box(…) as plate`: name -> primitive ids
    calls: tuple[CallSite, ...] = ()  # the def calls whose body made it, innermost first

    def name(self, label: str, count: int) -> str:
        """`label` for a single-instance part, `label.N` otherwise."""
        return label if count == 1 else f"{label}.{self.index}"


@dataclass
class Part:
    label: str
    color: tuple[float, float, float]
    instance_ids: list[int]  # global instance indices
    span: Span  # the first `part` statement with this label


class AnchorRead(NamedTuple):
    """A part's anchor read while evaluating (`at=seat.top`): what the reading statement was placed from."""

    span: Span  # the statement that read it
    reader: str | None  # the part being built then (None outside any part)
    part: str  # the part whose anchor was read
    instance: int | None  # the instance read (`leg[2].top`), or None for the whole part so far
    anchor: str  # top, bottom, ..., size
    value: np.ndarray  # (3,) float64, the value read (read-only: the program's own value)
    primitive_count: int  # how many primitives the part (or instance) had then: its first ones
    piece: str | None = None  # the named primitives read (`stage.plate.top`), or None for the whole part


@dataclass
class CompiledShape:
    name: str
    vertices: np.ndarray  # (V, 3) float32
    normals: np.ndarray  # (V, 3) float32, unit vertex normals (hard edges duplicate vertices)
    faces: np.ndarray  # (F, 3) int32, counter-clockwise seen from outside
    face_colors: np.ndarray  # (F, 3) float32 in 0..1
    part_id: np.ndarray  # (F,) int32
    instance_id: np.ndarray  # (F,) int32
    primitive_id: np.ndarray  # (F,) int32
    parts: list[Part]
    instances: list[Instance]
    primitives: list[Primitive]
    bounds: np.ndarray | None = None  # declared [w, d, h] or None
    params: dict = field(default_factory=dict)  # name -> {"value", "default", "lo", "hi", "integer"}
    diagnostics: list[Diagnostic] = field(default_factory=list)  # warnings (lints)
    anchor_reads: list[AnchorRead] = field(default_factory=list)  # each distinct one, in the order they ran

    @property
    def bbox(self) -> tuple[np.ndarray, np.ndarray]:
        if len(self.vertices) == 0:
            return np.zeros(3), np.zeros(3)
        return self.vertices.min(axis=0).astype(np.float64), self.vertices.max(axis=0).astype(np.float64)

    def instance_name(self, instance_id: int) -> str:
        inst = self.instances[instance_id]
        part = self.parts[inst.part_id]
        return inst.name(part.label, len(part.instance_ids))

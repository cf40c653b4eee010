"""What every lint reads: the shape's triangles grouped by instance and primitive, with boxes,
measures and contact tolerances.

Contact is decided on the triangles, never on bounding boxes. The tolerance of an instance is
max(ABS_TOL, REL_TOL of its largest extent), for rounding in typed numbers, plus the faceting
error of its curved primitives (radius * (1 - cos(pi / segments))), since exactly tangent
spheres can show a gap once tessellated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numba import njit

from proto3d.compiler.geometry import Mesh
from proto3d.compiler.primitives import PRIMITIVES
from proto3d.compiler.shape import CompiledShape

ABS_TOL = 1e-3  # contact tolerance floor, metres
REL_TOL = 0.005  # contact tolerance as a fraction of an instance's largest extent
FLAT_RATIO = 1e-5  # volume / area**1.5 below this is a flat primitive (W105; not solid for W104)


class Groups(NamedTuple):
    """The triangles of a `Mesh` sorted by (instance, primitive), in groups of one primitive each:
    group g owns triangles start[g]:start[g + 1], instance i owns groups
    of_instance[i]:of_instance[i + 1]."""

    start: np.ndarray  # (G + 1,) int64
    lo: np.ndarray  # (G, 3) the groups' bounding boxes
    hi: np.ndarray  # (G, 3)
    of_instance: np.ndarray  # (I + 1,) int64


@dataclass
class Triangles:
    """The mesh (float32 vertices, int32 faces in group order), its groups and, per group and
    instance, what the rules ask of them."""

    mesh: Mesh
    groups: Groups
    group_primitive: np.ndarray  # (G,) primitive id of each group
    instance_lo: np.ndarray  # (I, 3) instance bounding boxes (zeros for empty instances)
    instance_hi: np.ndarray
    base_tol: np.ndarray  # (I,) max(ABS_TOL, REL_TOL * largest extent) of each instance
    facet: np.ndarray  # (I,) largest faceting error of an instance's curved primitives
    measures: np.ndarray  # (G, 3) area, largest triangle area, enclosed volume of each group
    alike: tuple[np.ndarray, list]  # see `placed_alike`
    closed: np.ndarray  # (I,) whether every group of an instance is a closed surface (no boolean cut it)

    @classmethod
    def of(cls, shape: CompiledShape) -> Triangles:
        n_inst = len(shape.instances)
        which, alike = placed_alike(shape.primitives)
        error = np.array([_facet_error(p) for p in alike], dtype=float)[which]
        curved = [shape.primitives[k] for k in np.flatnonzero(error).tolist()]  # only their matrices are read
        facet = _facet(
            np.array([p.matrix for p in curved], dtype=float).reshape(-1, 4, 4),
            np.array([p.instance_id for p in curved], dtype=np.int64),
            error[error != 0.0],
            n_inst,
        )
        faces, inst, prim = shape.faces.reshape(-1, 3), shape.instance_id, shape.primitive_id
        prepared = _prepare(shape.vertices, faces, inst, prim, n_inst)
        if not prepared[0]:  # assembled shapes come sorted: no copies then
            order = np.lexsort((prim, inst))
            faces, inst, prim = faces[order], inst[order], prim[order]
            prepared = _prepare(shape.vertices, faces, inst, prim, n_inst)
        _, group_start, group_primitive, group_lo, group_hi, instance_groups, lo, hi, measures = prepared
        groups = Groups(group_start, group_lo, group_hi, instance_groups)
        base_tol = np.maximum(ABS_TOL, REL_TOL * (hi - lo).max(axis=1, initial=0.0))
        closed = np.ones(n_inst, bool)
        closed[[p.instance_id for p in shape.primitives if p.operand]] = False
        return cls(
            Mesh(shape.vertices, faces),
            groups,
            group_primitive,
            lo,
            hi,
            base_tol,
            facet,
            measures,
            (which, alike),
            closed,
        )

    @property
    def n_triangles(self) -> int:
        return int(self.groups.start[-1])

    @property
    def present(self) -> np.ndarray:
        """(I,) whether an instance has triangles."""
        groups = self.groups.of_instance
        return groups[:-1] < groups[1:]

    @property
    def lowest(self) -> tuple[int, float]:
        """The instance with the lowest point of the shape (the first one on a tie), and that point's z."""
        z = np.where(self.present, self.instance_lo[:, 2], np.inf)
        i = int(np.argmin(z))
        return i, float(z[i])

    def has_geometry(self, i: int) -> bool:
        groups = self.groups.of_instance
        return bool(groups[i] < groups[i + 1])

    def triangle_range(self, i: int) -> tuple[int, int]:
        start, groups = self.groups.start, self.groups.of_instance
        return int(start[groups[i]]), int(start[groups[i + 1]])

    def solid(self) -> np.ndarray:
        """(I,) whether an instance has a primitive that encloses volume."""
        area, _, volume = self.measures.T
        solid_group = volume > FLAT_RATIO * area**1.5
        groups = self.groups.of_instance
        owner = np.searchsorted(groups, np.arange(len(self.group_primitive)), side="right") - 1
        out = np.zeros(len(groups) - 1, bool)
        out[owner[solid_group]] = True
        return out


def placed_alike(primitives) -> tuple[np.ndarray, list]:
    """(index (P,), one primitive per index): primitives placed alike share their params (and
    kind and segments), so what depends on those alone is computed once per index."""
    index: dict[tuple, int] = {}
    which = [index.setdefault((id(p.params), p.kind, p.segments), len(index)) for p in primitives]
    first = dict(zip(reversed(which), reversed(primitives)))
    return np.array(which, dtype=np.int64), [first[k] for k in range(len(first))]


def _facet_error(prim) -> float:
    """How far a faceted surface may sit inside the true one: radius * (1 - cos(pi / segments)).

    In local units; the caller multiplies by the primitive's largest scale factor.

    Two curved parts placed exactly tangent can show a gap this large on each side once
    tessellated, so it widens the contact tolerance (and the ground test of W103).
    """
    radius = PRIMITIVES[prim.kind].facet_radius
    if radius is None:  # flat faces are tessellated exactly
        return 0.0
    return radius(prim.params) * (1.0 - math.cos(math.pi / max(prim.segments, 3)))


def _facet(matrices, owner, error, n_inst):
    """(I,) largest faceting error of each instance's primitives: local error times the largest
    scale factor (column norm) of the primitive's matrix."""
    scale = np.sqrt(matrices[:, 0, :3] ** 2 + matrices[:, 1, :3] ** 2 + matrices[:, 2, :3] ** 2).max(
        axis=1, initial=0.0
    )
    facet = np.zeros(n_inst)
    mine = (0 <= owner) & (owner < n_inst)
    np.maximum.at(facet, owner[mine], (scale * error)[mine])
    return facet


@njit(cache=True)
def _prepare(vertices, faces, inst, prim, n_inst):
    """(True, the groups of the sorted triangles (one per primitive and instance) with their boxes
    and measures (total area, largest triangle area, enclosed volume by the divergence theorem),
    the instances' groups and boxes), or (False, empty arrays) if the triangles do not run by
    instance, then primitive.

    Triangles go by blocks: their corners are gathered into a small buffer, their boxes, areas
    and volumes computed in loops the compiler vectorises, then summed group by group in order.
    """
    n = faces.shape[0]
    n_groups = 1 if n else 0
    for t in range(1, n):
        if inst[t] != inst[t - 1] or prim[t] != prim[t - 1]:
            if inst[t] < inst[t - 1] or (inst[t] == inst[t - 1] and prim[t] < prim[t - 1]):
                n_groups = -1
                break
            n_groups += 1
    if n_groups < 0:
        nothing = np.empty((0, 3))
        return (
            False,
            np.empty(0, np.int64),
            np.empty(0, prim.dtype),
            nothing,
            nothing,
            np.empty(0, np.int64),
            nothing,
            nothing,
            nothing,
        )
    group_start = np.empty(n_groups + 1, np.int64)
    group_primitive = np.empty(n_groups, prim.dtype)
    instance_groups = np.zeros(n_inst + 1, np.int64)
    g = 0
    for t in range(n):
        if t == 0 or inst[t] != inst[t - 1] or prim[t] != prim[t - 1]:
            group_start[g], group_primitive[g] = t, prim[t]
            if inst[t] < 0:  # instance_groups[i] counts the groups of instances below i
                instance_groups[0] += 1
            elif inst[t] < n_inst:
                instance_groups[inst[t] + 1] += 1
            g += 1
    group_start[n_groups] = n
    group_lo = np.empty((n_groups, 3))
    group_hi = np.empty((n_groups, 3))
    measures = np.empty((n_groups, 3))
    block = 256
    corner = np.empty((9, block), vertices.dtype)  # x, y, z of corners 0, 1, 2 of each triangle of the block
    each = np.empty((8, block))  # its box (lo x, y, z, hi x, y, z), area and volume
    g = 0
    x0 = y0 = z0 = np.inf
    x1 = y1 = z1 = -np.inf
    area = largest = volume = 0.0
    for start in range(0, n, block):
        stop = min(n, start + block)
        for t in range(stop - start):
            for k in range(3):
                v = faces[start + t, k]
                for j in range(3):
                    corner[3 * k + j, t] = vertices[v, j]
        for t in range(stop - start):
            for j in range(3):
                a, b, c = np.float64(corner[j, t]), np.float64(corner[3 + j, t]), np.float64(corner[6 + j, t])
                lo = a if a < b else b
                hi = a if a > b else b
                each[j, t] = c if c < lo else lo
                each[3 + j, t] = c if c > hi else hi
            ax, ay, az = np.float64(corner[0, t]), np.float64(corner[1, t]), np.float64(corner[2, t])
            bx, by, bz = np.float64(corner[3, t]), np.float64(corner[4, t]), np.float64(corner[5, t])
            cx, cy, cz = np.float64(corner[6, t]), np.float64(corner[7, t]), np.float64(corner[8, t])
            ux, uy, uz = bx - ax, by - ay, bz - az
            wx, wy, wz = cx - ax, cy - ay, cz - az
            mx, my, mz = uy * wz - uz * wy, uz * wx - ux * wz, ux * wy - uy * wx
            each[6, t] = 0.5 * math.sqrt(mx * mx + my * my + mz * mz)
            each[7, t] = (
                ax * (by * cz - bz * cy) + ay * (bz * cx - bx * cz) + az * (bx * cy - by * cx)
            ) / 6.0
        while (
            g < n_groups and group_start[g] < stop
        ):  # the groups in this block, the last one maybe unfinished
            for t in range(max(group_start[g], start) - start, min(group_start[g + 1], stop) - start):
                x0, y0, z0 = min(x0, each[0, t]), min(y0, each[1, t]), min(z0, each[2, t])
                x1, y1, z1 = max(x1, each[3, t]), max(y1, each[4, t]), max(z1, each[5, t])
                area += each[6, t]
                largest = max(largest, each[6, t])
                volume += each[7, t]
            if group_start[g + 1] > stop:
                break
            group_lo[g, 0], group_lo[g, 1], group_lo[g, 2], group_hi[g, 0], group_hi[g, 1], group_hi[g, 2] = (
                x0,
                y0,
                z0,
                x1,
                y1,
                z1,
            )
            measures[g, 0], measures[g, 1], measures[g, 2] = area, largest, abs(volume)
            g += 1
            x0 = y0 = z0 = np.inf
            x1 = y1 = z1 = -np.inf
            area = largest = volume = 0.0
    instance_lo = np.zeros((n_inst, 3))
    instance_hi = np.zeros((n_inst, 3))
    for i in range(n_inst):
        instance_groups[i + 1] += instance_groups[i]
        for h in range(instance_groups[i], instance_groups[i + 1]):
            for k in range(3):
                instance_lo[i, k] = (
                    group_lo[h, k] if h == instance_groups[i] else min(instance_lo[i, k], group_lo[h, k])
                )
                instance_hi[i, k] = (
                    group_hi[h, k] if h == instance_groups[i] else max(instance_hi[i, k], group_hi[h, k])
                )
    return (
        True,
        group_start,
        group_primitive,
        group_lo,
        group_hi,
        instance_groups,
        instance_lo,
        instance_hi,
        measures,
    )

"""Hand-built meshes and `CompiledShape`s with exact, known geometry: hard-edged boxes with normals
(`box_mesh`, `boxes`, `table`) for the renderer and export tests, and closed meshes with their
primitive kind (`box`, `prism`, `sphere`, `moved`, `build`) for the lints' tests."""

from __future__ import annotations

import math

import numpy as np

from proto3d.compiler.shape import CompiledShape, Instance, Part, Primitive
from proto3d.errors import Span

# (normal, the two in-face axes (u, v) with u x v = normal)
_SIDES = [
    ((1, 0, 0), (0, 1, 0), (0, 0, 1)),
    ((-1, 0, 0), (0, 0, 1), (0, 1, 0)),
    ((0, 1, 0), (0, 0, 1), (1, 0, 0)),
    ((0, -1, 0), (1, 0, 0), (0, 0, 1)),
    ((0, 0, 1), (1, 0, 0), (0, 1, 0)),
    ((0, 0, -1), (0, 1, 0), (1, 0, 0)),
]


def box_mesh(center, size):
    """24 vertices (hard edges), 12 counter-clockwise triangles, unit normals."""
    center, half = np.asarray(center, float), np.asarray(size, float) / 2
    vertices, normals, faces = [], [], []
    for n, u, v in _SIDES:
        n, u, v = (np.array(a, float) for a in (n, u, v))
        base = len(vertices)
        for su, sv in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
            vertices.append(center + half * (n + su * u + sv * v))
            normals.append(n)
        faces += [(base, base + 1, base + 2), (base, base + 2, base + 3)]
    return np.array(vertices, np.float32), np.array(normals, np.float32), np.array(faces, np.int32)


def boxes(spec, name="boxes") -> CompiledShape:
    """spec: [(label, center, size, color)]; each box is one primitive and one instance on line k + 1."""
    vertices, normals, faces, colors, part_ids, instance_ids = [], [], [], [], [], []
    parts: list[Part] = []
    instances: list[Instance] = []
    primitives: list[Primitive] = []
    for k, (label, center, size, color) in enumerate(spec):
        v, n, f = box_mesh(center, size)
        part_id = next((i for i, p in enumerate(parts) if p.label == label), len(parts))
        span = Span(k + 1, 1, k + 1, 20)
        if part_id == len(parts):
            parts.append(Part(label, color, [], span))
        parts[part_id].instance_ids.append(k)
        lo, hi = v.min(axis=0), v.max(axis=0)
        instances.append(Instance(part_id, len(parts[part_id].instance_ids) - 1, [k], span, lo, hi))
        matrix = np.eye(4)
        matrix[:3, 3] = center
        primitives.append(
            Primitive("box", {"size": np.asarray(size, float)}, matrix, 4, part_id, k, color, span)
        )
        faces.append(f + sum(len(x) for x in vertices))
        vertices.append(v)
        normals.append(n)
        colors.append(np.tile(np.asarray(color, np.float32), (len(f), 1)))
        part_ids.append(np.full(len(f), part_id, np.int32))
        instance_ids.append(np.full(len(f), k, np.int32))
    return CompiledShape(
        name=name,
        vertices=np.concatenate(vertices),
        normals=np.concatenate(normals),
        faces=np.concatenate(faces).astype(np.int32),
        face_colors=np.concatenate(colors),
        part_id=np.concatenate(part_ids),
        instance_id=np.concatenate(instance_ids),
        primitive_id=np.concatenate(instance_ids),
        parts=parts,
        instances=instances,
        primitives=primitives,
    )


def table() -> CompiledShape:
    """A table: top, four legs, and a block hidden inside the top."""
    wood, dark = (0.55, 0.35, 0.17), (0.3, 0.2, 0.1)
    spec = [("top", (0, 0, 0.72), (1.0, 0.6, 0.06), wood)]
    spec += [("leg", (x, y, 0.345), (0.05, 0.05, 0.69), dark) for x in (-0.45, 0.45) for y in (-0.25, 0.25)]
    spec += [("hidden", (0, 0, 0.72), (0.2, 0.2, 0.02), (0.0, 0.0, 1.0))]
    return boxes(spec, "table")


# ------------------------------------------------ closed meshes, as the lints' tests build them


def box(lo, hi):
    """Axis-aligned box, faces counter-clockwise seen from outside."""
    (x0, y0, z0), (x1, y1, z1) = lo, hi
    v = np.array([[x, y, z] for z in (z0, z1) for y in (y0, y1) for x in (x0, x1)], float)
    f = [
        [0, 2, 1],
        [1, 2, 3],
        [4, 5, 6],
        [5, 7, 6],
        [0, 1, 4],
        [1, 5, 4],
        [2, 6, 3],
        [3, 6, 7],
        [0, 4, 2],
        [2, 4, 6],
        [1, 3, 5],
        [3, 7, 5],
    ]
    return v, np.array(f), "box", {"size": np.array(hi, float) - np.array(lo, float)}


def prism(x, y, r, z0, z1, n=32):
    """Cylinder-like n-gon prism around the vertical axis through (x, y)."""
    a = 2 * np.pi * np.arange(n) / n
    ring = np.stack([x + r * np.cos(a), y + r * np.sin(a)], axis=1)
    v = np.concatenate([np.c_[ring, np.full(n, z0)], np.c_[ring, np.full(n, z1)], [[x, y, z0], [x, y, z1]]])
    f = []
    for k in range(n):
        m = (k + 1) % n
        f += [[k, m, n + m], [k, n + m, n + k], [2 * n, m, k], [2 * n + 1, n + k, n + m]]
    return v, np.array(f), "cylinder", {"r": r, "h": z1 - z0}


def sphere(c, r, n=24):
    """UV sphere with poles on the vertical axis."""
    rings = n // 2
    v = [[0, 0, -r]]
    for i in range(1, rings):
        t = np.pi * i / rings - np.pi / 2
        for k in range(n):
            a = 2 * np.pi * k / n
            v.append([r * np.cos(t) * np.cos(a), r * np.cos(t) * np.sin(a), r * np.sin(t)])
    v.append([0, 0, r])
    v = np.array(v) + c
    f = []
    top = len(v) - 1
    for k in range(n):
        m = (k + 1) % n
        f.append([0, 1 + m, 1 + k])
        f.append([top, 1 + (rings - 2) * n + k, 1 + (rings - 2) * n + m])
        for i in range(rings - 2):
            a, b = 1 + i * n, 1 + (i + 1) * n
            f += [[a + k, a + m, b + m], [a + k, b + m, b + k]]
    return v, np.array(f), "sphere", {"r": r}


def moved(mesh, offset=(0, 0, 0), rot_z=0.0):
    """Mesh rotated about Z by rot_z degrees, then translated."""
    v, f, kind, params = mesh
    c, s = math.cos(math.radians(rot_z)), math.sin(math.radians(rot_z))
    v = v @ np.array([[c, s, 0], [-s, c, 0], [0, 0, 1]]) + offset
    return v, f, kind, params


def build(instances, bounds=None) -> CompiledShape:
    """A CompiledShape from [(label, [mesh, ...]), ...]; instance k gets source line k + 1."""
    labels = list(dict.fromkeys(label for label, _ in instances))
    parts = [Part(label, (0.5, 0.5, 0.5), [], Span()) for label in labels]
    verts, faces, fpart, finst, fprim = [], [], [], [], []
    insts, prims = [], []
    offset = 0
    for k, (label, meshes) in enumerate(instances):
        pid = labels.index(label)
        span = Span(k + 1, 1, k + 1, 5)
        if not parts[pid].instance_ids:
            parts[pid].span = span
        parts[pid].instance_ids.append(k)
        inst = Instance(pid, len(parts[pid].instance_ids) - 1, [], span)
        for v, f, kind, params in meshes:
            inst.primitive_ids.append(len(prims))
            prims.append(
                Primitive(kind, params, np.eye(4), 32, pid, k, (0.5, 0.5, 0.5), Span(k + 1, 10, k + 1, 20))
            )
            verts.append(v)
            faces.append(f + offset)
            offset += len(v)
            fpart += [pid] * len(f)
            finst += [k] * len(f)
            fprim += [len(prims) - 1] * len(f)
        allv = np.concatenate([m[0] for m in meshes]) if meshes else np.zeros((1, 3))
        inst.bbox_min, inst.bbox_max = allv.min(axis=0), allv.max(axis=0)
        insts.append(inst)
    vertices = np.concatenate(verts).astype(np.float32) if verts else np.zeros((0, 3), np.float32)
    return CompiledShape(
        name="test",
        vertices=vertices,
        normals=np.zeros_like(vertices),
        faces=np.concatenate(faces).astype(np.int32) if faces else np.zeros((0, 3), np.int32),
        face_colors=np.full((len(fpart), 3), 0.5, np.float32),
        part_id=np.array(fpart, np.int32),
        instance_id=np.array(finst, np.int32),
        primitive_id=np.array(fprim, np.int32),
        parts=parts,
        instances=insts,
        primitives=prims,
        bounds=None if bounds is None else np.array(bounds, float),
    )

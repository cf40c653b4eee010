"""Exports of a compiled shape: GLB, OBJ + MTL, binary PLY and the parts JSON manifest.

Every format keeps the part structure: GLB has one node per part instance (named `label` or
`label.N`, ids and source span in `extras`), OBJ one `o`/`g` group per instance, PLY per-face
`part_id`/`instance_id`/`primitive_id` properties. Mesh files are written in the frame their
readers assume, so the object stands upright on import: GLB always Y up, front +Z (glTF
requires it); OBJ Y up and PLY Z up by default (what Blender's importers expect), either one
on request; the parts JSON keeps the program's frame (Z up, front -Y). Colours are written as
each reader interprets them: linear in GLB and MTL, sRGB bytes in PLY. Files are written
atomically.
"""

from __future__ import annotations

import json
import math
import os
import struct
from pathlib import Path
from typing import NamedTuple

import numpy as np

from proto3d.compiler.obj_text import face_lines, float_lines
from proto3d.compiler.shape import CompiledShape
from proto3d.compiler.values import hex_color
from proto3d.errors import Diagnostic, Proto3dError, Span
from proto3d.files import write_atomic

__all__ = [
    "export",
    "check_export_path",
    "parts_manifest",
    "to_glb",
    "to_obj",
    "to_ply",
    "SUPPORTED_SUFFIXES",
    "UP_AXES",
    "DEFAULT_UP",
]

SUPPORTED_SUFFIXES = (".glb", ".obj", ".ply", ".json")


class Frame(NamedTuple):
    """A frame as a rotation from proto3d's: output axis i is `signs[i]` times input axis
    `axes[i]` (a signed permutation keeps every coordinate exact), and the description written
    into every file."""

    axes: tuple[int, int, int]
    signs: tuple[float, float, float]
    description: str


# By up axis. Y up is (x, y, z) -> (x, z, -y), a proper rotation, so windings stay CCW.
FRAMES = {
    "y": Frame(
        (0, 2, 1), (1.0, 1.0, -1.0), "metres, Y up, front +Z (proto3d's Z up, front -Y; x, y, z -> x, z, -y)"
    ),
    "z": Frame((0, 1, 2), (1.0, 1.0, 1.0), "metres, Z up, front -Y (proto3d's own frame)"),
}
UP_AXES = tuple(FRAMES)
# The up axis each format's readers assume: OBJ is Y up by convention (Blender, Maya, three.js);
# PLY has none, and Blender reads it Z up.
DEFAULT_UP = {".obj": "y", ".ply": "z"}

# Better formats for suffixes people try, for E901's hint.
_INSTEAD = {
    ".stl": "write .ply instead: STL has no part labels or colours",
    ".gltf": "write .glb, the binary glTF: one self-contained file",
}

_FLOAT, _UINT16, _UINT32 = 5126, 5123, 5125
_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963


def export(shape: CompiledShape, path: str | os.PathLike, up: str | None = None) -> list[Path]:
    """Write `shape` in the format named by the suffix of `path` (.glb .obj .ply .json).

    `up` ("y" or "z") is the up axis of an .obj or .ply file; None gives the format's usual
    one (`DEFAULT_UP`). GLB is always Y up and the parts JSON always Z up, whatever `up` says.
    `.obj` also writes the `.mtl` beside it. Nothing is written unless the whole export
    succeeds; a write that fails leaves no partial file behind. Returns the files written.
    """
    if up is not None and up not in FRAMES:
        raise ValueError(f"up must be one of {UP_AXES} or None, not {up!r}")
    path = Path(path)
    suffix = check_export_path(path)
    up = up or DEFAULT_UP.get(suffix)
    if suffix == ".glb":
        files = {path: to_glb(shape)}
    elif suffix == ".obj":
        mtl_path = path.with_suffix(".mtl")
        obj, mtl = _obj(shape, mtl_path.name, up)
        files = {mtl_path: mtl.encode(), path: obj}
    elif suffix == ".ply":
        files = {path: to_ply(shape, up=up)}
    else:
        files = {path: indented_json(parts_manifest(shape)) + b"\n"}
    return [write_atomic(target, data) for target, data in files.items()]


def check_export_path(path: str | os.PathLike) -> str:
    """The format suffix of `path`; E901 for one we cannot write (checked before any work is done)."""
    suffix = Path(path).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise Proto3dError(
            Diagnostic(
                "E901",
                f"unknown export format {suffix or '(no suffix)'!r} for {str(path)!r}",
                expected=", ".join(SUPPORTED_SUFFIXES),
                hint=_INSTEAD.get(
                    suffix, "name the output file with one of the supported suffixes, e.g. model.glb"
                ),
            )
        )
    return suffix


# ---------------------------------------------------------------------------- shared helpers


def _materials(shape: CompiledShape) -> tuple[list[tuple[str, str]], np.ndarray]:
    """The materials faces use, as (name, hex), and the material index of every face.

    A part's faces in the part colour share a material named after the part; faces whose
    colour differs (a primitive's own `color=`) get one per colour, named `label_rrggbb`.
    Ordered by part, part colour first; unused materials are left out. Worked out once per
    run of faces of one part and colour (a primitive's faces form one), not once per face.
    """
    part_id = np.asarray(shape.part_id, dtype=np.int64)
    colors = np.asarray(shape.face_colors).reshape(len(part_id), 3)
    starts = _runs(part_id, colors)
    rgb = np.round(np.clip(colors[starts].astype(np.float64), 0, 1) * 255).astype(np.int64)
    keys = part_id[starts] << 24 | rgb[:, 0] << 16 | rgb[:, 1] << 8 | rgb[:, 2]
    uniq, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    named = []
    for key, at in zip(uniq.tolist(), starts[first].tolist()):
        part = shape.parts[key >> 24]
        hx = f"#{key & 0xFFFFFF:06x}"
        own = hx == hex_color(part.color)
        named.append(((key >> 24, not own, at), (part.label if own else f"{part.label}_{hx[1:]}", hx)))
    order = sorted(range(len(named)), key=lambda i: named[i][0])
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return [named[i][1] for i in order], np.repeat(
        rank[inverse.reshape(-1)], np.diff(starts, append=len(part_id))
    )


def _runs(*columns: np.ndarray) -> np.ndarray:
    """Where each run of rows equal in every column starts (columns have one row per face)."""
    n = len(columns[0])
    change = np.zeros(n, dtype=bool)
    change[:1] = True
    for column in columns if n else ():
        column = column.reshape(n, -1)
        change[1:] |= (column[1:] != column[:-1]).any(axis=1)
    return np.flatnonzero(change)


class Groups(NamedTuple):
    """The faces in file order: by instance, then by material in order of first use within the
    instance, then in face order; group k (one instance's faces of one material) is
    `order[starts[k]:starts[k + 1]]`."""

    order: np.ndarray
    starts: np.ndarray
    instance: np.ndarray
    material: np.ndarray

    def by_instance(self, count: int) -> list[int]:
        """Where each of `count` instances' groups start (they are consecutive), and the end."""
        return np.searchsorted(self.instance, np.arange(count + 1)).tolist()


def _groups(shape: CompiledShape, face_mat: np.ndarray) -> Groups:
    """The faces grouped as every format writes them, sorting runs of faces rather than faces."""
    instance_id = np.asarray(shape.instance_id, dtype=np.int64)
    n = len(instance_id)
    starts = _runs(instance_id, face_mat)
    lengths = np.diff(starts, append=n)
    run_instance, run_material = instance_id[starts], face_mat[starts]
    _, first_run, group_of_run = np.unique(
        run_instance * (int(face_mat.max(initial=0)) + 1) + run_material,
        return_index=True,
        return_inverse=True,
    )
    group_of_run = group_of_run.reshape(-1)
    runs = np.lexsort((first_run[group_of_run], run_instance))  # stable: runs keep face order
    offsets = np.cumsum(lengths[runs]) - lengths[runs]
    order = np.repeat(starts[runs] - offsets, lengths[runs]) + np.arange(n)
    new_group = np.flatnonzero(np.diff(group_of_run[runs], prepend=-1))
    return Groups(
        order,
        np.append(offsets[new_group], n),
        run_instance[runs][new_group],
        run_material[runs][new_group],
    )


def _linear(hx: str) -> list[float]:
    """The linear RGB of an sRGB `#rrggbb`: what glTF's baseColorFactor and Blender's MTL Kd mean."""
    c = np.array(_rgb(hx))
    return [float(v) for v in np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)]


def _framed(shape: CompiledShape, up: str) -> tuple[np.ndarray, np.ndarray, str]:
    """Vertices and normals rotated into the frame of `up` (exactly: float32 stays float32, any
    other type becomes float64), and the frame's description."""
    frame = FRAMES[up]

    def rotate(a):
        a = np.asarray(a)
        a = a if a.dtype == np.float32 else a.astype(np.float64)
        return a[:, frame.axes] * np.array(frame.signs, a.dtype) + a.dtype.type(0)  # + 0 turns -0.0 into 0.0

    return rotate(shape.vertices), rotate(shape.normals), frame.description


def _span(span: Span) -> dict:
    """`dataclasses.asdict(span)` without its recursion: a shape may have 10,000 instances."""
    return {
        "line": span.line,
        "column": span.column,
        "end_line": span.end_line,
        "end_column": span.end_column,
    }


def _compact(
    corners: np.ndarray, groups: Groups, n_vertices: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each group's own vertex list: (the vertices each group uses, ascending within a group and
    concatenated; where each group's list starts, with the end last; `corners` (the faces in
    file order) numbered within their group's list)."""
    face_group = np.repeat(np.arange(len(groups.instance), dtype=np.int32), np.diff(groups.starts))
    owner = np.full(n_vertices, -1, dtype=np.int32)
    owner[corners] = face_group[:, None]
    if np.array_equal(owner[corners], np.broadcast_to(face_group[:, None], corners.shape)):
        # every vertex is used by one group only, as in compiled shapes: no sorting of corners
        used = np.flatnonzero(owner >= 0)
        used = used[np.argsort(owner[used], kind="stable")]
        starts = np.append(0, np.cumsum(np.bincount(owner[used], minlength=len(groups.instance))))
        rank = np.empty(n_vertices, dtype=np.int32)  # a vertex's place in its group's list
        rank[used] = np.arange(len(used)) - starts[owner[used]]
        return used, starts, rank[corners]
    used, local = [], np.empty_like(corners)
    for first, end in zip(groups.starts[:-1], groups.starts[1:]):
        own, inverse = np.unique(corners[first:end], return_inverse=True)
        local[first:end] = inverse.reshape(end - first, 3)
        used.append(own)
    return np.concatenate(used), np.append(0, np.cumsum([len(u) for u in used])), local


# ---------------------------------------------------------------------------- GLB


def to_glb(shape: CompiledShape) -> bytes:
    """glTF 2.0 binary: one node and mesh per part instance, one glTF primitive per material.

    Each glTF primitive has its own vertices (POSITION, NORMAL) and indices, laid out one after
    the other in the binary chunk. The chunk and the JSON tables are built by whole-array
    operations, not a pass per primitive: a shape may have 10,000 instances."""
    mats, face_mat = _materials(shape)
    positions, normals, frame = _framed(shape, "y")
    groups = _groups(shape, face_mat)
    corners = np.asarray(shape.faces)[groups.order]
    used, vertex_starts, local = _compact(corners, groups, len(positions))
    positions = np.asarray(positions, dtype=np.float32)[used]
    normals = _unit(np.asarray(normals, dtype=np.float64)[used])
    vertex_counts = np.diff(vertex_starts)
    index_counts = 3 * np.diff(groups.starts)
    index_size = np.where(vertex_counts >= 65535, 4, 2)  # uint32 indices; uint16 below
    index_bytes = index_counts * index_size
    sizes = 24 * vertex_counts + index_bytes + -index_bytes % 4
    offsets = np.cumsum(sizes) - sizes
    blob = _glb_blob(positions, normals, local, vertex_starts, groups.starts, offsets, index_size, sizes)
    lows = np.minimum.reduceat(positions, vertex_starts[:-1]).tolist() if len(positions) else []
    highs = np.maximum.reduceat(positions, vertex_starts[:-1]).tolist() if len(positions) else []

    # Group g has buffer views and accessors 3g (positions), 3g + 1 (normals), 3g + 2 (indices).
    view_offsets = offsets[:, None] + np.array([0, 12, 24]) * vertex_counts[:, None]
    view_lengths = np.stack([12 * vertex_counts, 12 * vertex_counts, index_bytes], axis=1)
    targets = [_ARRAY_BUFFER, _ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER] * len(offsets)
    views = [
        {"buffer": 0, "byteOffset": at, "byteLength": length, "target": target}
        for at, length, target in zip(view_offsets.ravel().tolist(), view_lengths.ravel().tolist(), targets)
    ]
    components = np.stack(
        [
            np.full_like(index_size, _FLOAT),
            np.full_like(index_size, _FLOAT),
            np.where(index_size == 4, _UINT32, _UINT16),
        ],
        axis=1,
    )
    counts = np.stack([vertex_counts, vertex_counts, index_counts], axis=1)
    accessors = [
        {"bufferView": view, "componentType": component, "count": count, "type": gltf_type}
        for view, component, count, gltf_type in zip(
            range(len(views)),
            components.ravel().tolist(),
            counts.ravel().tolist(),
            ["VEC3", "VEC3", "SCALAR"] * len(offsets),
        )
    ]
    for accessor, low, high in zip(accessors[::3], lows, highs):
        accessor["min"], accessor["max"] = low, high
    gltf_groups = [
        {
            "attributes": {"POSITION": 3 * g, "NORMAL": 3 * g + 1},
            "indices": 3 * g + 2,
            "material": material,
            "mode": 4,
            "extras": {"primitive_ids": ids},
        }
        for g, (material, ids) in enumerate(zip(groups.material.tolist(), _group_primitives(shape, groups)))
    ]

    nodes, meshes = [], []
    first_group = groups.by_instance(len(shape.instances))
    for iid, inst in enumerate(shape.instances):
        name = shape.instance_name(iid)
        node = {
            "name": name,
            "extras": {
                "part": shape.parts[inst.part_id].label,
                "instance": inst.index,
                "part_id": inst.part_id,
                "instance_id": iid,
                "span": _span(inst.span),
                "primitive_ids": list(map(int, inst.primitive_ids)),
            },
        }
        if first_group[iid] < first_group[iid + 1]:
            node["mesh"] = len(meshes)
            meshes.append({"name": name, "primitives": gltf_groups[first_group[iid] : first_group[iid + 1]]})
        nodes.append(node)

    gltf: dict = {
        "asset": {"version": "2.0", "generator": "proto3d"},
        "scene": 0,
        "scenes": [
            {"name": shape.name, "nodes": list(range(len(nodes))), "extras": _scene_extras(shape, frame)}
        ],
        "nodes": nodes,
    }
    if meshes:
        gltf["meshes"] = meshes
        gltf["materials"] = [
            {
                "name": name,
                "pbrMetallicRoughness": {
                    "baseColorFactor": _linear(hx) + [1.0],
                    "metallicFactor": 0.0,
                    "roughnessFactor": 0.8,
                },
                "doubleSided": False,
                "extras": {"color": hx},
            }
            for name, hx in mats
        ]
        gltf["accessors"] = accessors
        gltf["bufferViews"] = views
        gltf["buffers"] = [{"byteLength": len(blob)}]
    if not nodes:  # the validator rejects empty arrays
        del gltf["scenes"][0]["nodes"], gltf["nodes"]

    js = json.dumps(gltf, separators=(",", ":"), allow_nan=False).encode()
    js += b" " * (-len(js) % 4)
    chunks = [struct.pack("<II", len(js), 0x4E4F534A), js]
    if len(blob):
        chunks += [struct.pack("<II", len(blob), 0x004E4942), blob]
    return b"".join([struct.pack("<4sII", b"glTF", 2, 12 + sum(map(len, chunks))), *chunks])


def _glb_blob(
    positions: np.ndarray,
    normals: np.ndarray,
    local: np.ndarray,
    vertex_starts: np.ndarray,
    face_starts: np.ndarray,
    offsets: np.ndarray,
    index_size: np.ndarray,
    sizes: np.ndarray,
) -> np.ndarray:
    """The binary chunk: each group's positions, normals (float32 rows) and indices (uint16, or
    uint32 where `index_size` is 4) from byte `offsets[g]`, zero-padded to 4 bytes."""
    blob = np.zeros(int(sizes.sum()), dtype=np.uint8)
    vertex_group = np.repeat(np.arange(len(offsets)), np.diff(vertex_starts))
    word = (offsets // 4 - 3 * vertex_starts[:-1])[vertex_group] + 3 * np.arange(len(positions))
    slots = word[:, None] + np.arange(3)
    words = blob.view(np.float32)
    words[slots] = positions
    words[slots + 3 * np.diff(vertex_starts)[vertex_group][:, None]] = normals
    face_group = np.repeat(np.arange(len(offsets)), np.diff(face_starts))
    first = (offsets + 24 * np.diff(vertex_starts)) // index_size - 3 * face_starts[:-1]  # in index units
    slots = (first[face_group] + 3 * np.arange(len(local)))[:, None] + np.arange(3)
    narrow = index_size[face_group] == 2
    blob.view(np.uint16)[slots[narrow]] = local[narrow]
    blob.view(np.uint32)[slots[~narrow]] = local[~narrow]
    return blob


def _group_primitives(shape: CompiledShape, groups: Groups) -> list[list[int]]:
    """The primitive ids of each group's faces, ascending."""
    group = np.repeat(np.arange(len(groups.instance)), np.diff(groups.starts))
    primitive = np.asarray(shape.primitive_id, dtype=np.int64)[groups.order]
    starts = _runs(group, primitive)
    pairs = np.unique(group[starts] << 32 | primitive[starts])
    ids = (pairs & 0xFFFFFFFF).tolist()
    bounds = np.searchsorted(pairs >> 32, np.arange(len(groups.instance) + 1)).tolist()
    return [ids[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def _rgb(hx: str) -> tuple[float, float, float]:
    return tuple(int(hx[i : i + 2], 16) / 255 for i in (1, 3, 5))


def _unit(n: np.ndarray) -> np.ndarray:
    """Unit float32 normals (the validator rejects non-unit ones); degenerate ones point up."""
    length = np.linalg.norm(n, axis=1, keepdims=True)
    bad = ~np.isfinite(length[:, 0]) | (length[:, 0] < 1e-12)
    out = np.divide(n, length, out=np.zeros_like(n), where=~bad[:, None])
    out[bad] = (0.0, 1.0, 0.0)
    return out.astype(np.float32)


def _scene_extras(shape: CompiledShape, frame: str) -> dict:
    return {
        "shape": shape.name,
        "frame": frame,
        "bounds": _plain(shape.bounds),
        "params": _params(shape),
        "parts": [p.label for p in shape.parts],
    }


# ---------------------------------------------------------------------------- OBJ + MTL


def to_obj(
    shape: CompiledShape, mtl_name: str | None = None, up: str = DEFAULT_UP[".obj"]
) -> tuple[str, str]:
    """Wavefront OBJ and MTL text. OBJ vertex k is `shape.vertices[k - 1]` rotated into the
    frame of `up` (same for normals), so face indices are the shape's plus one; one `o`/`g`
    group per part instance. MTL has no colour space and Blender reads `Kd` as linear, so
    `Kd` is the linear colour (the same numbers as the GLB's baseColorFactor)."""
    obj, mtl = _obj(shape, mtl_name, up)
    return obj.decode(), mtl


def _obj(shape: CompiledShape, mtl_name: str | None, up: str) -> tuple[bytes, str]:
    """`to_obj`, with the OBJ as UTF-8 bytes: the number lines are printed by the kernels of
    `obj_text` straight into byte buffers, and joined with the rest once."""
    mtl_name = mtl_name or f"{_file_stem(shape.name)}.mtl"
    mats, face_mat = _materials(shape)
    vertices, normals, frame = _framed(shape, up)
    groups = _groups(shape, face_mat)
    header = [
        f"# proto3d shape {json.dumps(shape.name)}: {frame}",
        f"# {len(shape.vertices)} vertices, {len(shape.faces)} faces, {len(shape.instances)} part instances",
        f"mtllib {mtl_name}",
    ]
    out = ["\n".join(header).encode() + b"\n"]
    out += _float_block("v", vertices) + _float_block("vn", normals)
    text, ends = face_lines(np.asarray(shape.faces)[groups.order])
    bounds = np.append(0, ends)[groups.starts].tolist()  # each group's lines in `text`
    first_group = groups.by_instance(len(shape.instances))
    for iid in range(len(shape.instances)):
        own = range(first_group[iid], first_group[iid + 1])
        if not own:
            continue
        name = shape.instance_name(iid)
        inst = shape.instances[iid]
        lines = [
            f"# part {shape.parts[inst.part_id].label} instance {inst.index} (part_id {inst.part_id}, "
            f"instance_id {iid}), source line {inst.span.line}",
            f"o {name}",
            f"g {name}",
        ]
        for g in own:
            out.append(("\n".join([*lines, f"usemtl {mats[groups.material[g]][0]}"]) + "\n").encode())
            out.append(memoryview(text)[bounds[g] : bounds[g + 1]])
            lines = []
    mtl = [
        f"# proto3d shape {json.dumps(shape.name)}: Kd is linear RGB, the sRGB colour is above each material"
    ]
    for name, hx in mats:
        kd = " ".join(repr(c) for c in _linear(hx))  # repr: the exact floats of the GLB
        mtl += [f"# {hx}", f"newmtl {name}", f"Kd {kd}", "Ka 0 0 0", "Ks 0 0 0", "d 1", "illum 1", ""]
    return b"".join(out), "\n".join(mtl)


def _float_block(prefix: str, values: np.ndarray) -> list:
    """`prefix %.9g %.9g %.9g` lines of the rows of `values`, as pieces of bytes. The kernel
    prints float32 rows; rows it leaves out, and those not exactly float32, are printed by `%`."""
    with np.errstate(over="ignore", invalid="ignore"):
        single = values.astype(np.float32, copy=False)
        inexact = np.flatnonzero((single != values).any(axis=1)) if single is not values else []
    text, ends, missing = float_lines(f"{prefix} ".encode(), single)
    missing = np.union1d(missing, inexact).astype(np.int64)
    line = f"{prefix} %.9g %.9g %.9g\n"
    pieces, at = [], 0
    starts = np.where(missing > 0, ends[missing - 1], 0)
    for row, start, end in zip(missing.tolist(), starts.tolist(), ends[missing].tolist()):
        pieces += [memoryview(text)[at:start], (line % tuple(values[row].tolist())).encode()]
        at = end
    return [*pieces, memoryview(text)[at : ends[-1] if len(ends) else 0]]


def _file_stem(name: str) -> str:
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip("._")
    return stem or "shape"


# ---------------------------------------------------------------------------- PLY


def to_ply(shape: CompiledShape, up: str = DEFAULT_UP[".ply"]) -> bytes:
    """Binary little-endian PLY in the frame of `up`, with per-face ids and colours; comments
    name the frame and the ids. Each vertex also carries the colour of the faces using it
    (Blender reads only vertex colours); a vertex shared by faces of different colours is
    split, so that colour is exact (compiled shapes share no vertex between primitives)."""
    colors = np.asarray(shape.face_colors).reshape(-1, 3)
    starts = _runs(colors)  # the colour of each run of faces, converted once
    rgb = np.round(np.clip(colors[starts].astype(np.float64), 0, 1) * 255).astype(np.uint8)
    rgb = np.repeat(rgb, np.diff(starts, append=len(colors)), axis=0)
    source, vertex_rgb, faces = _colour_split(np.asarray(shape.faces), rgb, len(shape.vertices))
    vertices, normals, frame = _framed(shape, up)
    nv, nf = len(source), len(faces)
    header = [
        "ply",
        "format binary_little_endian 1.0",
        f"comment proto3d shape {json.dumps(shape.name)}: {frame}",
        *(f"comment part {i} {p.label}" for i, p in enumerate(shape.parts)),
        *(f"comment instance {i} {shape.instance_name(i)}" for i in range(len(shape.instances))),
        f"element vertex {nv}",
        *(f"property float {a}" for a in ("x", "y", "z", "nx", "ny", "nz")),
        *(f"property uchar {c}" for c in ("red", "green", "blue")),
        f"element face {nf}",
        "property list uchar int vertex_indices",
        "property int part_id",
        "property int instance_id",
        "property int primitive_id",
        *(f"property uchar {c}" for c in ("red", "green", "blue")),
        "end_header",
    ]
    text = ("\n".join(header) + "\n").encode("ascii", "replace")
    vertex_type = np.dtype([("p", "<f4", 3), ("n", "<f4", 3), ("rgb", "u1", 3)])
    face_type = np.dtype(
        [
            ("count", "u1"),
            ("v", "<i4", 3),
            ("part_id", "<i4"),
            ("instance_id", "<i4"),
            ("primitive_id", "<i4"),
            ("rgb", "u1", 3),
        ]
    )
    out = np.empty(len(text) + nv * vertex_type.itemsize + nf * face_type.itemsize, dtype=np.uint8)
    out[: len(text)] = np.frombuffer(text, dtype=np.uint8)
    vert = out[len(text) : len(text) + nv * vertex_type.itemsize].view(vertex_type)
    unsplit = len(source) == len(vertices)  # then `source` is every vertex in order
    vert["p"], vert["n"] = (vertices, normals) if unsplit else (vertices[source], normals[source])
    vert["rgb"] = vertex_rgb
    face = out[len(out) - nf * face_type.itemsize :].view(face_type)
    face["count"] = 3
    face["v"] = faces
    face["part_id"], face["instance_id"], face["primitive_id"] = (
        shape.part_id,
        shape.instance_id,
        shape.primitive_id,
    )
    face["rgb"] = rgb
    return out.tobytes()


def _colour_split(
    faces: np.ndarray, rgb: np.ndarray, n_vertices: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertices that each have one colour: (the shape vertex each comes from, its colour, faces).

    Every vertex keeps its index and the colour of one face using it; a corner of a face with
    another colour gets a copy of its vertex, appended, one per (vertex, colour). Unused
    vertices are kept, black. Linear time when nothing needs splitting, as in compiled shapes.
    """
    face_colour = rgb[:, 0].astype(np.int64) << 16 | rgb[:, 1].astype(np.int64) << 8 | rgb[:, 2]
    vertex_colour = np.zeros(n_vertices, dtype=np.int64)
    vertex_colour[faces] = face_colour[:, None]
    other = vertex_colour[faces] != face_colour[:, None]
    source = np.arange(n_vertices)
    if other.any():
        corner_colour = np.broadcast_to(face_colour[:, None], faces.shape)[other]
        pairs, inverse = np.unique(faces[other].astype(np.int64) << 24 | corner_colour, return_inverse=True)
        faces = faces.astype(np.int64)
        faces[other] = n_vertices + inverse.reshape(-1)
        source = np.concatenate([source, pairs >> 24])
        vertex_colour = np.concatenate([vertex_colour, pairs & 0xFFFFFF])
    return source, (vertex_colour[:, None] >> np.array([16, 8, 0]) & 0xFF).astype(np.uint8), faces


# ---------------------------------------------------------------------------- parts manifest


def parts_manifest(shape: CompiledShape) -> dict:
    """The parts JSON: what each part and instance is, where it is and which lines made it."""
    face_count = np.bincount(shape.instance_id, minlength=len(shape.instances)).tolist()
    lo, hi = shape.bbox
    boxes = _plain_rows(np.array([(i.bbox_min, i.bbox_max) for i in shape.instances], dtype=np.float64))

    def instance(iid: int) -> dict:
        inst = shape.instances[iid]
        return {
            "name": shape.instance_name(iid),
            "instance_id": iid,
            "index": inst.index,
            "bbox": {"min": boxes[iid][0], "max": boxes[iid][1]},
            "span": _span(inst.span),
            "primitive_ids": list(map(int, inst.primitive_ids)),
            "face_count": face_count[iid],
        }

    parts = [
        {
            "part_id": pid,
            "label": part.label,
            "color": hex_color(part.color),
            "span": _span(part.span),
            "instances": [instance(iid) for iid in part.instance_ids],
        }
        for pid, part in enumerate(shape.parts)
    ]
    matrices = _plain_rows(np.array([p.matrix for p in shape.primitives], dtype=np.float64))
    hexes = {color: hex_color(color) for color in {tuple(p.color) for p in shape.primitives}}
    primitives = [
        {
            "primitive_id": i,
            "kind": p.kind,
            "part_id": p.part_id,
            "instance_id": p.instance_id,
            "params": _plain(p.params),
            "matrix": matrix,
            "segments": p.segments,
            "color": hexes[tuple(p.color)],
            "span": _span(p.span),
        }
        for i, (p, matrix) in enumerate(zip(shape.primitives, matrices))
    ]
    return {
        "format": "proto3d-parts",
        "version": 1,
        "shape": shape.name,
        "units": "metres",
        "frame": FRAMES["z"].description,
        "bounds": _plain(shape.bounds),
        "bbox": {"min": _plain(lo), "max": _plain(hi)},
        "counts": {
            "vertices": len(shape.vertices),
            "faces": len(shape.faces),
            "parts": len(shape.parts),
            "instances": len(shape.instances),
            "primitives": len(shape.primitives),
        },
        "params": _params(shape),
        "parts": parts,
        "primitives": primitives,
        "lints": [d.to_json() for d in shape.diagnostics],
    }


def _params(shape: CompiledShape) -> dict:
    return {name: _plain(spec) for name, spec in shape.params.items()}


def _plain_rows(values: np.ndarray) -> list:
    """`_plain(values)` with each distinct number rounded once: a manifest may hold 10,000 matrices,
    most of them of a few numbers."""
    distinct, inverse = np.unique(values, return_inverse=True)
    rounded = np.array([_plain(v) for v in distinct.tolist()], dtype=object)
    return rounded[inverse.reshape(values.shape)].tolist()


def indented_json(value) -> bytes:
    """`json.dumps(value, indent=2, allow_nan=False).encode()`, byte for byte, a few times faster:
    json's C encoder writes one line (it does not indent; json indents in pure Python), then
    whole-array operations break that line after each `[`, `{` and `,` and before each `]`, `}`
    outside strings, as `indent=2` does (empty brackets stay `[]`, `{}`)."""
    text = json.dumps(value, separators=(",", ": "), allow_nan=False).encode()
    # escaped backslashes and quotes masked, every quote left opens or closes a string
    plain = text.replace(b"\\\\", b"\x80\x80").replace(b'\\"', b"\x80\x80") if b"\\" in text else text
    kinds = _JSON_KIND[np.frombuffer(plain, dtype=np.uint8)]
    at = np.flatnonzero(kinds)
    kinds = kinds[at]
    outside = np.cumsum(kinds == _QUOTE) % 2 == 0
    at, kinds = at[outside & (kinds != _QUOTE)], kinds[outside & (kinds != _QUOTE)]
    depth = np.cumsum((kinds == _OPEN).astype(np.int64) - (kinds == _CLOSE))  # after each
    empty = (kinds[:-1] == _OPEN) & (kinds[1:] == _CLOSE) & (at[1:] == at[:-1] + 1)  # [] and {}
    broken = np.ones(len(at), dtype=bool)
    broken[:-1] &= ~empty
    broken[1:] &= ~empty
    # a line break and its indent go after an opening bracket or a comma, before a closing bracket
    before = (at + (kinds != _CLOSE))[broken]
    width = 1 + 2 * depth[broken]
    pieces = np.empty(2 * len(before) + 1, dtype=np.int64)  # text, break, text, ..., break, text
    pieces[0::2] = np.diff(before, prepend=0, append=len(text))
    pieces[1::2] = width
    is_text = np.repeat(np.arange(len(pieces)) % 2 == 0, pieces)
    out = np.full(len(is_text), ord(" "), dtype=np.uint8)
    out[is_text] = np.frombuffer(text, dtype=np.uint8)
    out[before + np.cumsum(width) - width] = ord("\n")
    return out.tobytes()


_OPEN, _CLOSE, _COMMA, _QUOTE = 1, 2, 3, 4
_JSON_KIND = np.zeros(256, dtype=np.int8)  # what each byte of one-line JSON may be
_JSON_KIND[list(b'[{]},"')] = _OPEN, _OPEN, _CLOSE, _CLOSE, _COMMA, _QUOTE
_JSON_KIND.flags.writeable = False


def _plain(value):
    """JSON-ready copy: arrays to lists, NumPy scalars to Python, floats to micrometre precision."""
    if type(value) is float:  # the most common value first: a manifest may hold 10,000 matrices
        return round(value, 6) + 0.0 if math.isfinite(value) else None  # + 0.0 turns -0.0 into 0.0
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float):
        return round(value, 6) + 0.0 if math.isfinite(value) else None  # + 0.0 turns -0.0 into 0.0
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return str(value)

"""Exports read back by other tools: trimesh, the Khronos glTF validator, NumPy parsers."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from proto3d.cli import cli
from proto3d.compiler import compile_text
from proto3d.compiler.export import export, indented_json, parts_manifest, to_glb, to_obj, to_ply
from proto3d.compiler.shape import CompiledShape, Instance, Part, Primitive
from proto3d.errors import Diagnostic, Proto3dError, Span
from tests.helpers.shapes import box_mesh
from tests.helpers.strategies import fast

trimesh = pytest.importorskip("trimesh")

REPO = Path(__file__).resolve().parents[2]
WOOD, RED, GREY = (0.545, 0.353, 0.169), (1.0, 0.0, 0.0), (0.5, 0.5, 0.5)


def make_shape() -> CompiledShape:
    """seat (one instance: a wood board plus a red knob with its own colour), leg (2 instances)."""
    prims = [  # (part, instance, center, size, colour, line)
        (0, 0, [0, 0, 0.45], [0.46, 0.44, 0.05], WOOD, 4),
        (0, 0, [0, -0.1, 0.49], [0.04, 0.04, 0.03], RED, 5),
        (1, 1, [-0.2, 0, 0.2], [0.04, 0.04, 0.4], GREY, 9),
        (1, 2, [0.2, 0, 0.2], [0.04, 0.04, 0.4], GREY, 9),
    ]
    V, N, F, C, P, I, R, table = [], [], [], [], [], [], [], []
    for pid, (part, inst, center, size, colour, line) in enumerate(prims):
        v, n, f = box_mesh(center, size)
        F.append(f + sum(len(x) for x in V))
        V.append(v)
        N.append(n)
        C += [colour] * len(f)
        P += [part] * len(f)
        I += [inst] * len(f)
        R += [pid] * len(f)
        m = np.eye(4)
        m[:3, 3] = center
        table.append(
            Primitive(
                "box",
                {"size": np.array(size, float), "round": 0.0},
                m,
                32,
                part,
                inst,
                colour,
                Span(line, 5, line, 40),
            )
        )
    verts = np.concatenate(V).astype(np.float32)
    inst_id = np.array(I, np.int32)

    def instance(part, index, iid, line):
        pts = verts[np.unique(np.concatenate(F)[inst_id == iid])]
        return Instance(
            part,
            index,
            [p for p, row in enumerate(prims) if row[1] == iid],
            Span(line, 5, line + 2, 6),
            pts.min(0).astype(float),
            pts.max(0).astype(float),
        )

    return CompiledShape(
        name="chair",
        vertices=verts,
        normals=np.concatenate(N).astype(np.float32),
        faces=np.concatenate(F).astype(np.int32),
        face_colors=np.array(C, np.float32),
        part_id=np.array(P, np.int32),
        instance_id=inst_id,
        primitive_id=np.array(R, np.int32),
        parts=[Part("seat", WOOD, [0], Span(3, 1, 6, 2)), Part("leg", GREY, [1, 2], Span(8, 5, 10, 6))],
        instances=[instance(0, 0, 0, 3), instance(1, 0, 1, 8), instance(1, 1, 2, 8)],
        primitives=table,
        bounds=np.array([0.5, 0.55, 0.9]),
        params={
            "seat_h": {"value": 0.45, "default": 0.45, "lo": 0.4, "hi": 0.5, "integer": False},
            "n": {"value": 5, "default": 4, "lo": 3, "hi": 6, "integer": True},
        },
        diagnostics=[
            Diagnostic("W101", "part `seat` floats 0.2 m above `leg`", Span(3, 1, 3, 5), severity="warning")
        ],
    )


def random_shape(seed: int) -> CompiledShape:
    """Boxes dealt at random to parts and instances; some have their own colour, some instances
    none, some boxes reuse the previous box's vertices (shared across instances)."""
    rng = np.random.default_rng(seed)
    n_parts = int(rng.integers(1, 4))
    inst_part = np.sort(rng.integers(0, n_parts, int(rng.integers(n_parts, 7))))
    inst_part[:n_parts] = np.arange(n_parts)  # every part has an instance
    inst_part.sort()
    palette = rng.random((n_parts, 3))
    V, N, F, C, I, R, prims = [], [], [], [], [], [], []
    for k in range(int(rng.integers(1, 12))):
        iid = int(rng.integers(0, len(inst_part)))
        if F and rng.random() < 0.25:
            F.append(F[-1])
        else:
            v, n, f = box_mesh(rng.uniform(-1, 1, 3), rng.uniform(0.01, 0.5, 3))
            F.append(f + sum(len(x) for x in V))
            V.append(v)
            N.append(n)
        colour = rng.random(3) if rng.random() < 0.3 else palette[inst_part[iid]]
        C += [colour] * len(F[-1])
        I += [iid] * len(F[-1])
        R += [k] * len(F[-1])
        prims.append(
            Primitive(
                "box", {}, np.eye(4), 32, int(inst_part[iid]), iid, tuple(colour), Span(k + 1, 1, k + 1, 9)
            )
        )
    inst_id = np.array(I, np.int32)
    counts = [int((inst_part[:i] == p).sum()) for i, p in enumerate(inst_part)]
    return CompiledShape(
        name=f"random {seed}",
        vertices=np.concatenate(V).astype(np.float32),
        normals=np.concatenate(N).astype(np.float32),
        faces=np.concatenate(F).astype(np.int32),
        face_colors=np.array(C, np.float32),
        part_id=inst_part[inst_id].astype(np.int32),
        instance_id=inst_id,
        primitive_id=np.array(R, np.int32),
        parts=[
            Part(f"p{p}", tuple(palette[p]), np.flatnonzero(inst_part == p).tolist(), Span())
            for p in range(n_parts)
        ],
        instances=[
            Instance(
                int(p),
                counts[i],
                [k for k, pr in enumerate(prims) if pr.instance_id == i],
                Span(i + 1, 1, i + 1, 2),
            )
            for i, p in enumerate(inst_part)
        ],
        primitives=prims,
    )


def empty_shape() -> CompiledShape:
    z = np.zeros((0, 3), np.float32)
    zi = np.zeros(0, np.int32)
    return CompiledShape("empty", z, z, np.zeros((0, 3), np.int32), z, zi, zi, zi, [], [], [])


def triangles(vertices, faces, normals=None) -> np.ndarray:
    """Triangles as sorted rows of corner coordinates (and normals): geometry whatever the vertex order."""
    per_vertex = np.asarray(vertices, np.float64)
    if normals is not None:
        per_vertex = np.hstack([per_vertex, np.asarray(normals, np.float64)])
    t = per_vertex[np.asarray(faces)].reshape(len(faces), -1)
    return t[np.lexsort(t.T[::-1])]


def y_up(v):
    v = np.asarray(v, np.float64)
    return np.stack([v[:, 0], v[:, 2], -v[:, 1]], axis=1)


# R for each up axis, written out independently of the exporter: Y up is (x, y, z) -> (x, z, -y)
ROTATION = {"y": np.array([[1, 0, 0], [0, 0, 1], [0, -1, 0]], float), "z": np.eye(3)}


def linear(hx: str) -> np.ndarray:
    """sRGB `#rrggbb` to linear RGB, by the formula of the sRGB standard (IEC 61966-2-1)."""
    c = np.array([int(hx[i : i + 2], 16) for i in (1, 3, 5)]) / 255
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def mtl_kd(mtl: str) -> dict[str, list[float]]:
    """Material name -> Kd, as written."""
    kd, name = {}, None
    for line in mtl.splitlines():
        if line.startswith("newmtl "):
            name = line.split()[1]
        elif line.startswith("Kd "):
            kd[name] = [float(t) for t in line.split()[1:]]
    return kd


# ---------------------------------------------------------------------------- GLB


def read_glb(data: bytes) -> tuple[dict, bytes]:
    magic, version, length = struct.unpack_from("<4sII", data)
    assert (magic, version, length) == (b"glTF", 2, len(data))
    jlen, jtype = struct.unpack_from("<II", data, 12)
    assert jtype == 0x4E4F534A and jlen % 4 == 0
    gltf = json.loads(data[20 : 20 + jlen])
    rest = data[20 + jlen :]
    if not rest:
        return gltf, b""
    blen, btype = struct.unpack_from("<II", rest)
    assert btype == 0x004E4942 and blen % 4 == 0 and len(rest) == 8 + blen
    return gltf, rest[8:]


def accessor(gltf, blob, i) -> np.ndarray:
    acc = gltf["accessors"][i]
    view = gltf["bufferViews"][acc["bufferView"]]
    dtype = {5126: np.float32, 5123: np.uint16, 5125: np.uint32}[acc["componentType"]]
    width = {"SCALAR": 1, "VEC3": 3}[acc["type"]]
    assert view["byteOffset"] % 4 == 0 and "byteStride" not in view
    a = np.frombuffer(blob, dtype, acc["count"] * width, view["byteOffset"] + acc.get("byteOffset", 0))
    return a.reshape(-1, width) if width > 1 else a


def test_glb_structure_names_extras_and_geometry():
    shape = make_shape()
    gltf, blob = read_glb(to_glb(shape))
    assert [n["name"] for n in gltf["nodes"]] == ["seat", "leg.0", "leg.1"]
    assert gltf["scenes"][0]["nodes"] == [0, 1, 2] and gltf["scenes"][0]["name"] == "chair"
    leg1 = gltf["nodes"][2]["extras"]
    assert leg1 == {
        "part": "leg",
        "instance": 1,
        "part_id": 1,
        "instance_id": 2,
        "span": {"line": 8, "column": 5, "end_line": 10, "end_column": 6},
        "primitive_ids": [3],
    }
    assert [m["name"] for m in gltf["materials"]] == ["seat", "seat_ff0000", "leg"]
    assert all(m["doubleSided"] is False for m in gltf["materials"])
    # baseColorFactor is linear: #ff0000 stays (1, 0, 0); wood #8b5a2b is decoded from sRGB
    assert gltf["materials"][1]["pbrMetallicRoughness"]["baseColorFactor"] == [1.0, 0.0, 0.0, 1.0]
    wood = np.array([0x8B, 0x5A, 0x2B]) / 255
    assert np.allclose(
        gltf["materials"][0]["pbrMetallicRoughness"]["baseColorFactor"][:3], ((wood + 0.055) / 1.055) ** 2.4
    )

    for iid, node in enumerate(gltf["nodes"]):
        mesh = gltf["meshes"][node["mesh"]]
        assert mesh["name"] == node["name"]
        tris, fids = [], np.flatnonzero(shape.instance_id == iid)
        for prim in mesh["primitives"]:
            pos = accessor(gltf, blob, prim["attributes"]["POSITION"])
            nrm = accessor(gltf, blob, prim["attributes"]["NORMAL"])
            idx = accessor(gltf, blob, prim["indices"]).reshape(-1, 3)
            acc = gltf["accessors"][prim["attributes"]["POSITION"]]
            assert acc["min"] == pos.min(0).tolist() and acc["max"] == pos.max(0).tolist()
            assert np.allclose(np.linalg.norm(nrm, axis=1), 1)
            assert len(np.unique(idx)) == len(pos)  # no unused vertices
            tris.append(triangles(pos, idx, nrm))
        assert len(mesh["primitives"]) == (2 if iid == 0 else 1)  # the red knob has its own material
        got = np.concatenate(tris)
        # positions and normals both went through (x, y, z) -> (x, z, -y)
        want = triangles(y_up(shape.vertices), shape.faces[fids], y_up(shape.normals))
        assert np.allclose(got[np.lexsort(got.T[::-1])], want, atol=1e-7)


def test_glb_loads_in_trimesh(tmp_path):
    shape = make_shape()
    path = tmp_path / "chair.glb"
    export(shape, path)
    scene = trimesh.load(path, process=False)
    # one node per instance under the root, glTF extras as edge metadata; trimesh gives each
    # glTF primitive of a multi-material mesh (the seat: wood + red knob) a child node
    top = {
        child: attr for parent, child, attr in scene.graph.to_edgelist() if parent == scene.graph.base_frame
    }
    assert sorted(top) == ["leg.0", "leg.1", "seat"]
    assert top["leg.1"]["metadata"]["instance_id"] == 2 and top["seat"]["metadata"]["primitive_ids"] == [0, 1]
    assert scene.metadata["shape"] == "chair"
    assert sum(len(g.faces) for g in scene.geometry.values()) == len(shape.faces)
    mesh = scene.to_geometry()
    assert np.allclose(
        triangles(mesh.vertices, mesh.faces), triangles(y_up(shape.vertices), shape.faces), atol=1e-7
    )
    # front (-Y) faces +Z in glTF: the knob at y = -0.1 is at z = +0.1, height goes to +Y
    lo, hi = scene.bounds
    assert np.allclose(hi[1], 0.505, atol=1e-6) and np.allclose(lo[1], 0.0, atol=1e-6)
    assert np.allclose([lo[2], hi[2]], [-0.22, 0.22], atol=1e-6)


def test_glb_winding_stays_outward():
    """(x, y, z) -> (x, z, -y) is a rotation, so triangles still wind CCW seen from outside."""
    shape = make_shape()
    gltf, blob = read_glb(to_glb(shape))
    prim = gltf["meshes"][1]["primitives"][0]
    pos = accessor(gltf, blob, prim["attributes"]["POSITION"])
    nrm = accessor(gltf, blob, prim["attributes"]["NORMAL"])
    idx = accessor(gltf, blob, prim["indices"]).reshape(-1, 3).astype(int)
    cross = np.cross(pos[idx[:, 1]] - pos[idx[:, 0]], pos[idx[:, 2]] - pos[idx[:, 0]])
    assert np.all(np.einsum("ij,ij->i", cross, nrm[idx[:, 0]]) > 0)


def test_glb_empty_shape_and_empty_instance():
    gltf, blob = read_glb(to_glb(empty_shape()))
    assert gltf["asset"]["version"] == "2.0" and blob == b"" and "meshes" not in gltf

    shape = make_shape()
    shape.instances.append(Instance(1, 2, [], Span(12, 1, 12, 9)))
    shape.parts[1].instance_ids.append(3)
    gltf, _ = read_glb(to_glb(shape))
    assert [n["name"] for n in gltf["nodes"]] == ["seat", "leg.0", "leg.1", "leg.2"]
    assert "mesh" not in gltf["nodes"][3] and gltf["nodes"][3]["extras"]["primitive_ids"] == []


@pytest.mark.parametrize("seed", range(8))
def test_random_shapes_keep_every_face_and_id(seed):
    shape = random_shape(seed)
    gltf, blob = read_glb(to_glb(shape))
    assert [n["name"] for n in gltf["nodes"]] == [shape.instance_name(i) for i in range(len(shape.instances))]
    used = set()
    for iid, node in enumerate(gltf["nodes"]):
        fids = np.flatnonzero(shape.instance_id == iid)
        assert ("mesh" in node) == bool(len(fids))
        if not len(fids):
            continue
        rows = []
        for prim in gltf["meshes"][node["mesh"]]["primitives"]:
            used.add(prim["material"])
            pos = accessor(gltf, blob, prim["attributes"]["POSITION"])
            idx = accessor(gltf, blob, prim["indices"]).reshape(-1, 3)
            rows.append(triangles(pos, idx))
            assert set(prim["extras"]["primitive_ids"]) <= set(node["extras"]["primitive_ids"])
        got = np.concatenate(rows)
        assert np.allclose(
            got[np.lexsort(got.T[::-1])], triangles(y_up(shape.vertices), shape.faces[fids]), atol=1e-6
        )
    assert used == set(range(len(gltf["materials"])))  # no unused material
    _, verts, faces = read_ply(to_ply(shape))
    for key in ("part_id", "instance_id", "primitive_id"):
        assert np.array_equal(faces[key], getattr(shape, key))
    assert np.array_equal(triangles(verts["p"], faces["v"]), triangles(shape.vertices, shape.faces))
    assert_vertex_colours_exact(shape, verts, faces)
    obj, mtl = to_obj(shape)
    assert obj.count("\nf ") == len(shape.faces) and obj.count("\nusemtl ") >= len(
        set(shape.instance_id.tolist())
    )
    assert {line.split()[1] for line in obj.splitlines() if line.startswith("usemtl")} == {
        line.split()[1] for line in mtl.splitlines() if line.startswith("newmtl")
    }


def test_glb_uses_uint32_indices_for_a_group_of_65535_vertices_or_more():
    spheres = " ".join(f"sphere(r=0.5, at=[{x}, 0, 0.5], segments=256)" for x in (0, 1.2, 2.4))
    shape = compile_text(
        f"""shape "wide"
part small {{ box(size=[0.1, 0.1, 0.1], at=[-1, 0, 0.05]) }}
part big {{ {spheres} }}
part tail {{ box(size=[0.1, 0.1, 0.1], at=[4, 0, 0.05], color="#ff0000") }}
"""
    )
    gltf, blob = read_glb(to_glb(shape))
    kinds = []
    for iid, node in enumerate(gltf["nodes"]):
        (prim,) = gltf["meshes"][node["mesh"]]["primitives"]
        pos = accessor(gltf, blob, prim["attributes"]["POSITION"])
        idx = accessor(gltf, blob, prim["indices"]).reshape(-1, 3)
        kinds.append((len(pos), gltf["accessors"][prim["indices"]]["componentType"]))
        fids = np.flatnonzero(shape.instance_id == iid)
        got, want = triangles(pos, idx), triangles(y_up(shape.vertices), shape.faces[fids])
        assert np.array_equal(got[np.lexsort(got.T[::-1])], want[np.lexsort(want.T[::-1])])
    assert kinds == [(24, 5123), (3 * 32514, 5125), (24, 5123)]


# ---------------------------------------------------------------------------- glTF validator


def validator_dir() -> Path | None:
    """Folder holding node_modules/gltf-validator: $PROTO3D_GLTF_VALIDATOR_DIR, else the repo root."""
    env = os.environ.get("PROTO3D_GLTF_VALIDATOR_DIR")
    for d in ([Path(env)] if env else []) + [REPO]:
        if (d / "node_modules" / "gltf-validator").is_dir():
            return d
        if d.name == "gltf-validator" and d.parent.name == "node_modules":
            return d.parent.parent
    return None


def validate(paths: list[Path]) -> list[dict]:
    node, vdir = shutil.which("node"), validator_dir()
    if node is None:
        pytest.skip("node is not installed: the Khronos glTF validator needs node")
    if vdir is None:
        pytest.skip(
            "gltf-validator not found: `npm install --no-save --prefix <repo root> gltf-validator@2.0.0-dev.3.10` "
            "or set PROTO3D_GLTF_VALIDATOR_DIR to a folder holding node_modules/gltf-validator"
        )
    run = subprocess.run(
        [node, str(REPO / "tests" / "gltf_validate.mjs"), str(vdir), *map(str, paths)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_gltf_validator_zero_errors_and_warnings(tmp_path):
    with_empty = make_shape()
    with_empty.instances.append(Instance(1, 2, [], Span(12, 1, 12, 9)))
    with_empty.parts[1].instance_ids.append(3)
    shapes = {"chair": make_shape(), "empty": empty_shape(), "with_empty": with_empty}
    shapes.update({f"random{seed}": random_shape(seed) for seed in range(8)})
    paths = []
    for name, shape in shapes.items():
        paths.append(tmp_path / f"{name}.glb")
        export(shape, paths[-1])
    for report in validate(paths):
        assert report["numErrors"] == 0 and report["numWarnings"] == 0, report


# ---------------------------------------------------------------------------- OBJ + MTL


@pytest.mark.parametrize("up", ["y", "z"])
def test_obj_text_groups_and_indices(up):
    shape = make_shape()
    obj, mtl = to_obj(shape, mtl_name="chair.mtl", up=up)
    lines = obj.splitlines()
    frame = {"y": "metres, Y up, front +Z", "z": "metres, Z up, front -Y"}[up]
    assert lines[0].startswith(f'# proto3d shape "chair": {frame}')
    assert "mtllib chair.mtl" in lines
    assert [line[2:] for line in lines if line.startswith("o ")] == ["seat", "leg.0", "leg.1"]
    assert [line[2:] for line in lines if line.startswith("g ")] == ["seat", "leg.0", "leg.1"]
    assert [line[7:] for line in lines if line.startswith("usemtl ")] == ["seat", "seat_ff0000", "leg", "leg"]
    v = np.array([line.split()[1:] for line in lines if line.startswith("v ")], float)
    vn = np.array([line.split()[1:] for line in lines if line.startswith("vn ")], float)
    f = np.array([[t.split("//") for t in line.split()[1:]] for line in lines if line.startswith("f ")], int)
    # OBJ vertex k = R · (shape vertex k), exactly (R only permutes and negates coordinates)
    rotated = (shape.vertices.astype(np.float64) @ ROTATION[up].T).astype(np.float32)
    assert np.array_equal(v.astype(np.float32), rotated)
    assert np.array_equal(
        vn.astype(np.float32), (shape.normals.astype(np.float64) @ ROTATION[up].T).astype(np.float32)
    )
    assert np.array_equal(f[..., 0], f[..., 1])  # normal index = vertex index
    # faces come grouped by instance; each group equals the shape's faces of that instance, +1
    order = np.argsort(shape.instance_id, kind="stable")
    assert np.array_equal(
        triangles(v.astype(np.float32), f[..., 0] - 1), triangles(rotated, shape.faces[order])
    )
    # Kd is linear: Blender reads it so; #808080 is 0.2158605 linear, not 0.501961
    kd = {
        "seat": linear("#8b5a2b").tolist(),
        "seat_ff0000": [1.0, 0.0, 0.0],
        "leg": linear("#808080").tolist(),
    }
    assert mtl_kd(mtl) == kd
    assert round(mtl_kd(mtl)["leg"][0], 7) == 0.2158605
    assert "# #808080\nnewmtl leg\n" in mtl  # the sRGB colour stays readable


def test_obj_loads_in_trimesh(tmp_path):
    shape = make_shape()
    export(shape, tmp_path / "chair.obj")
    assert (tmp_path / "chair.mtl").is_file()
    scene = trimesh.load(tmp_path / "chair.obj", process=False, split_object=True, group_material=False)
    meshes = scene.geometry
    assert sum(len(m.faces) for m in meshes.values()) == len(shape.faces)
    both = trimesh.util.concatenate(list(meshes.values()))
    assert np.allclose(
        triangles(both.vertices, both.faces), triangles(y_up(shape.vertices), shape.faces), atol=1e-7
    )
    # Y up by default: the 0.505 m tall chair stands along +Y, its front (the knob at y = -0.1) towards +Z
    assert np.allclose(both.bounds, [[-0.23, 0.0, -0.22], [0.23, 0.505, 0.22]], atol=1e-7)
    # materials came through the .mtl: the red knob's faces are red, leg faces the linear grey (0.2159 * 255 = 55)
    colours = {tuple(np.asarray(m.visual.material.main_color[:3]).tolist()) for m in meshes.values()}
    assert (255, 0, 0) in colours and (55, 55, 55) in colours


# ---------------------------------------------------------------------------- PLY


PLY_VERTEX = np.dtype([("p", "<f4", 3), ("n", "<f4", 3), ("rgb", "u1", 3)])
PLY_FACE = np.dtype(
    [
        ("n", "u1"),
        ("v", "<i4", 3),
        ("part_id", "<i4"),
        ("instance_id", "<i4"),
        ("primitive_id", "<i4"),
        ("rgb", "u1", 3),
    ]
)


def read_ply(data: bytes) -> tuple[list[str], np.ndarray, np.ndarray]:
    end = data.index(b"end_header\n") + len(b"end_header\n")
    header = data[:end].decode().splitlines()
    nv = int(next(h for h in header if h.startswith("element vertex")).split()[2])
    nf = int(next(h for h in header if h.startswith("element face")).split()[2])
    verts = np.frombuffer(data, PLY_VERTEX, nv, end)
    faces = np.frombuffer(data, PLY_FACE, nf, end + verts.nbytes)
    assert end + verts.nbytes + faces.nbytes == len(data)
    return header, verts, faces


def test_ply_binary_ids_and_comments():
    shape = make_shape()
    header, verts, faces = read_ply(to_ply(shape))
    assert header[1] == "format binary_little_endian 1.0"
    assert header[2] == 'comment proto3d shape "chair": metres, Z up, front -Y (proto3d\'s own frame)'
    assert "comment part 0 seat" in header and "comment part 1 leg" in header
    assert "comment instance 2 leg.1" in header
    assert header[-13:-9] == [
        "property float nz",
        "property uchar red",
        "property uchar green",
        "property uchar blue",
    ]
    assert header[-9:-6] == [
        "element face 48",
        "property list uchar int vertex_indices",
        "property int part_id",
    ]
    assert np.array_equal(verts["p"], shape.vertices) and np.array_equal(verts["n"], shape.normals)
    assert np.all(faces["n"] == 3) and np.array_equal(faces["v"], shape.faces)
    for key in ("part_id", "instance_id", "primitive_id"):
        assert np.array_equal(faces[key], getattr(shape, key))
    assert faces["rgb"][np.flatnonzero(shape.primitive_id == 1)].tolist() == [[255, 0, 0]] * 12
    assert faces["rgb"][0].tolist() == [139, 90, 43]


def test_ply_loads_in_trimesh(tmp_path):
    shape = make_shape()
    export(shape, tmp_path / "chair.ply")
    mesh = trimesh.load(tmp_path / "chair.ply", process=False)
    assert len(mesh.vertices) == len(shape.vertices) and len(mesh.faces) == len(shape.faces)
    assert np.allclose(mesh.vertices, shape.vertices) and np.array_equal(mesh.faces, shape.faces)
    assert np.array_equal(mesh.visual.face_colors[:, :3], np.round(shape.face_colors * 255))
    # the per-vertex colours (what Blender reads) are the colours of the faces around each vertex
    assert mesh.visual.kind == "vertex"
    corners = mesh.visual.vertex_colors[mesh.faces][..., :3]
    assert np.array_equal(corners, np.repeat(mesh.visual.face_colors[:, None, :3], 3, axis=1))
    raw = mesh.metadata["_ply_raw"]["face"]["data"]  # trimesh keeps the extra face properties here
    assert np.array_equal(raw["part_id"].ravel(), shape.part_id)
    assert np.array_equal(raw["instance_id"].ravel(), shape.instance_id)


def assert_vertex_colours_exact(shape, verts, faces):
    """Every PLY vertex has the colour of every face using it, and a vertex is split only as
    often as it has distinct colours (shape vertices keep their index and position)."""
    face_rgb = np.round(np.clip(shape.face_colors.astype(np.float64), 0, 1) * 255).astype(np.uint8)
    assert np.array_equal(faces["rgb"], face_rgb)
    assert np.array_equal(verts["rgb"][faces["v"]], np.repeat(face_rgb[:, None, :], 3, axis=1))
    assert np.array_equal(verts["p"][: len(shape.vertices)], shape.vertices)
    pairs = {(v, tuple(c)) for tri, c in zip(shape.faces.tolist(), face_rgb.tolist()) for v in tri}
    assert len(verts) == len(shape.vertices) + len(pairs) - len({v for v, _ in pairs})


def test_ply_splits_a_vertex_shared_by_two_colours():
    """Faces 0 (made red) and 1 (wood) of the seat share vertices 0 and 2: each is written
    twice, once per colour; vertex 3, now unused, stays (black)."""
    shape = make_shape()
    shape.faces[1] = (0, 2, 4)
    shape.face_colors[0] = RED
    _, verts, faces = read_ply(to_ply(shape))
    assert len(verts) == len(shape.vertices) + 2
    assert np.array_equal(verts["p"][faces["v"][:2]], shape.vertices[shape.faces[:2]])
    assert sorted(map(tuple, verts["p"][96:].tolist())) == sorted(map(tuple, shape.vertices[[0, 2]].tolist()))
    assert verts["rgb"][faces["v"][0]].tolist() == [[255, 0, 0]] * 3
    assert verts["rgb"][faces["v"][1]].tolist() == [[139, 90, 43]] * 3
    assert verts["rgb"][3].tolist() == [0, 0, 0]
    assert np.array_equal(
        faces["v"][2:], shape.faces[2:]
    )  # faces away from the shared vertices keep their indices
    assert_vertex_colours_exact(shape, verts, faces)


@pytest.mark.parametrize("up", ["y", "z"])
def test_ply_frame(up):
    shape = make_shape()
    header, verts, _ = read_ply(to_ply(shape, up=up))
    frame = {"y": "Y up, front +Z", "z": "Z up, front -Y"}[up]
    assert header[2].startswith(f'comment proto3d shape "chair": metres, {frame}')
    assert np.array_equal(verts["p"], (shape.vertices.astype(np.float64) @ ROTATION[up].T).astype(np.float32))
    assert np.array_equal(verts["n"], (shape.normals.astype(np.float64) @ ROTATION[up].T).astype(np.float32))


def test_mtl_kd_equals_glb_base_colour_exactly():
    """One colour, one number: MTL Kd and glTF baseColorFactor are the same linear floats."""
    shape = make_shape()
    gltf, _ = read_glb(to_glb(shape))
    base = {m["name"]: m["pbrMetallicRoughness"]["baseColorFactor"][:3] for m in gltf["materials"]}
    kd = mtl_kd(to_obj(shape)[1])
    assert kd == base and list(kd) == ["seat", "seat_ff0000", "leg"]
    assert kd["seat"] == linear("#8b5a2b").tolist()
    assert [round(c, 6) for c in kd["seat"]] == [0.258183, 0.102242, 0.024158]


def declared_rotation(text: str) -> np.ndarray:
    """R of the frame a file declares in its header (comment or extras)."""
    ups = [
        axis
        for axis, words in (("y", "metres, Y up, front +Z"), ("z", "metres, Z up, front -Y"))
        if words in text
    ]
    assert len(ups) == 1, text
    return ROTATION[ups[0]]


@pytest.mark.parametrize("up", [None, "y", "z"])
def test_glb_obj_ply_line_up_in_trimesh(tmp_path, up):
    """The three files of one shape, read by trimesh and taken back through the frame each
    declares, give the shape's own triangles, exactly (float32)."""
    shape = make_shape()
    for suffix in (".glb", ".obj", ".ply"):
        export(shape, tmp_path / f"chair{suffix}", up=up)
    glb = trimesh.load(tmp_path / "chair.glb", process=False)
    obj = trimesh.load(tmp_path / "chair.obj", process=False, split_object=True, group_material=False)
    ply = trimesh.load(tmp_path / "chair.ply", process=False)
    declared = {
        "glb": declared_rotation(glb.metadata["frame"]),
        "obj": declared_rotation((tmp_path / "chair.obj").read_text().splitlines()[0]),
        "ply": declared_rotation((tmp_path / "chair.ply").read_bytes().split(b"\n")[2].decode()),
    }
    assert np.array_equal(declared["glb"], ROTATION["y"])
    assert np.array_equal(declared["obj"], ROTATION[up or "y"]) and np.array_equal(
        declared["ply"], ROTATION[up or "z"]
    )
    want = triangles(shape.vertices, shape.faces)
    meshes = {
        "glb": glb.to_geometry(),
        "obj": trimesh.util.concatenate(list(obj.geometry.values())),
        "ply": ply,
    }
    for name, mesh in meshes.items():
        program_frame = (np.asarray(mesh.vertices, np.float64) @ declared[name]).astype(
            np.float32
        )  # R^-1 = R^T
        assert np.array_equal(triangles(program_frame, mesh.faces), want), name


def test_up_leaves_glb_and_parts_json_alone(tmp_path):
    shape = make_shape()
    for up in (None, "y", "z"):
        export(shape, tmp_path / f"{up}.glb", up=up)
        export(shape, tmp_path / f"{up}.json", up=up)
    glb = {up: (tmp_path / f"{up}.glb").read_bytes() for up in (None, "y", "z")}
    assert glb[None] == glb["y"] == glb["z"]
    assert (tmp_path / "None.json").read_bytes() == (tmp_path / "z.json").read_bytes()
    assert (
        json.loads((tmp_path / "z.json").read_text())["frame"]
        == "metres, Z up, front -Y (proto3d's own frame)"
    )
    with pytest.raises(ValueError, match="up must be one of"):
        export(shape, tmp_path / "x.obj", up="x")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "None.glb",
        "None.json",
        "y.glb",
        "y.json",
        "z.glb",
        "z.json",
    ]


STOOL = """shape "stool"
part seat color "#8b5a2b" {
    box(size=[0.4, 0.3, 0.05], at=[0, 0, 0.45], align="top")
}
part leg {
    cylinder(r=0.02, h=0.41, at=[0, 0, 0], align="bottom")
}
"""


def test_cli_up_option(tmp_path):
    compile_text(STOOL)  # kernels compiled first: a first-run notice would be output this test reads
    program = tmp_path / "stool.pdsl"
    program.write_text(STOOL)
    runner = CliRunner()
    help_text = runner.invoke(cli, ["compile", "--help"]).output
    assert (
        "--up [y|z]" in help_text and ".glb is Y up, front +Z" in help_text and "default: y for" in help_text
    )

    out = {up: tmp_path / up for up in ("default", "y", "z")}
    for up, folder in out.items():
        folder.mkdir()
        args = ["compile", str(program), "-o", str(folder / "s.obj"), "-o", str(folder / "s.ply"), "-q"]
        result = runner.invoke(cli, args + ([] if up == "default" else ["--up", up]))
        assert result.exit_code == 0 and result.output == "", result.output
    first_line = {up: (folder / "s.obj").read_text().splitlines()[0] for up, folder in out.items()}
    assert "Y up" in first_line["default"] and "Y up" in first_line["y"] and "Z up" in first_line["z"]
    ply = {up: (folder / "s.ply").read_bytes() for up, folder in out.items()}
    assert ply["default"] == ply["z"] != ply["y"]
    # the stool is 0.45 m tall: along +Y in a Y-up OBJ, +Z in a Z-up one
    assert np.allclose(trimesh.load(out["y"] / "s.obj", force="mesh").bounds[:, 1], [0, 0.45], atol=1e-6)
    assert np.allclose(trimesh.load(out["z"] / "s.obj", force="mesh").bounds[:, 2], [0, 0.45], atol=1e-6)

    bad = runner.invoke(cli, ["compile", str(program), "-o", str(tmp_path / "s.obj"), "--up", "x"])
    assert bad.exit_code == 2 and "'x' is not one of 'y', 'z'" in bad.output
    assert not (tmp_path / "s.obj").exists()


# ---------------------------------------------------------------------------- parts manifest


def test_parts_manifest_round_trips_and_describes_instances(tmp_path):
    shape = make_shape()
    manifest = parts_manifest(shape)
    assert json.loads(json.dumps(manifest, allow_nan=False)) == manifest
    export(shape, tmp_path / "chair.json")
    assert json.loads((tmp_path / "chair.json").read_text()) == manifest

    assert manifest["shape"] == "chair" and manifest["bounds"] == [0.5, 0.55, 0.9]
    assert manifest["params"] == {
        "seat_h": {"value": 0.45, "default": 0.45, "lo": 0.4, "hi": 0.5, "integer": False},
        "n": {"value": 5, "default": 4, "lo": 3, "hi": 6, "integer": True},
    }
    assert manifest["counts"] == {"vertices": 96, "faces": 48, "parts": 2, "instances": 3, "primitives": 4}
    assert [(p["label"], p["color"]) for p in manifest["parts"]] == [("seat", "#8b5a2b"), ("leg", "#808080")]
    leg1 = manifest["parts"][1]["instances"][1]
    assert leg1["name"] == "leg.1" and leg1["instance_id"] == 2 and leg1["index"] == 1
    assert leg1["bbox"] == {"min": [0.18, -0.02, 0.0], "max": [0.22, 0.02, 0.4]}
    assert leg1["span"] == {"line": 8, "column": 5, "end_line": 10, "end_column": 6}
    assert leg1["primitive_ids"] == [3] and leg1["face_count"] == 12
    assert manifest["parts"][0]["instances"][0]["face_count"] == 24
    knob = manifest["primitives"][1]
    assert knob["kind"] == "box" and knob["color"] == "#ff0000" and knob["span"]["line"] == 5
    assert knob["params"] == {"size": [0.04, 0.04, 0.03], "round": 0.0}
    assert knob["matrix"][1] == [0.0, 1.0, 0.0, -0.1] and knob["matrix"][3] == [0.0, 0.0, 0.0, 1.0]
    assert manifest["lints"][0]["code"] == "W101" and manifest["lints"][0]["severity"] == "warning"
    assert manifest["bbox"] == {"min": [-0.23, -0.22, 0.0], "max": [0.23, 0.22, 0.505]}


MANY = r"""shape "many [x], {y}: \ z"
param w = 0.02 in [0.01, 0.03]
for i in range(7), j in range(6) {
    part cell { box(size=[w, w, 0.01 + 0.001 * (j % 2)], at=[i * 0.05, j * 0.05, 0.005], rot=[0, 0, 15 * i]) }
}
radial(n=5, r=0.5) part spoke { cylinder(r=0.01, h=0.1, at=[0, 0, 0.05], segments=8, color="#ff0000") }
part hub { sphere(r=0.05, at=[-0.3, -0.3, 0.05]) box(size=[0.02, 0.02, 0.02], at=[-0.3, -0.3, 0.11]) }
"""


def test_the_parts_json_of_many_instances_is_what_indented_json_dumps_gives(tmp_path):
    shape = compile_text(MANY)
    (written,) = export(shape, tmp_path / "many.json")
    manifest = parts_manifest(shape)
    assert written.read_bytes() == (json.dumps(manifest, indent=2, allow_nan=False) + "\n").encode()
    assert json.loads(written.read_text()) == manifest
    assert manifest["shape"] == "many [x], {y}: \\ z" and manifest["counts"]["instances"] == 42 + 5 + 1
    # every number is the one `round(v, 6)` gives, -0.0 written as 0.0, whichever value repeats
    for record, primitive in zip(manifest["primitives"], shape.primitives):
        assert record["matrix"] == [[round(v, 6) + 0.0 for v in row] for row in primitive.matrix.tolist()]
        part_colour = manifest["parts"][primitive.part_id]["color"]
        assert record["color"] == ("#ff0000" if primitive.kind == "cylinder" else part_colour)
    cells = manifest["parts"][0]["instances"]
    assert [c["name"] for c in cells[:2]] == ["cell.0", "cell.1"] and cells[13]["primitive_ids"] == [13]
    for record, instance in zip(cells, shape.instances):
        assert record["bbox"] == {
            "min": [round(v, 6) + 0.0 for v in instance.bbox_min.tolist()],
            "max": [round(v, 6) + 0.0 for v in instance.bbox_max.tolist()],
        }
    assert cells[1]["bbox"]["max"][2] == 0.0105 and manifest["parts"][2]["instances"][0]["face_count"] == len(
        np.flatnonzero(shape.instance_id == 47)
    )


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.sampled_from('[]{},:"\\ \n\tab\u00e9\u202e\U0001f600')),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=4),
    max_leaves=30,
)


@fast(300)
@given(JSON_VALUES)
def test_indented_json_is_json_dumps_with_indent_2_byte_for_byte(value):
    assert indented_json(value) == json.dumps(value, indent=2, allow_nan=False).encode()


def test_indented_json_refuses_what_json_dumps_refuses():
    for value in ([1.0, float("nan")], {"a": float("inf")}):
        with pytest.raises(ValueError):
            indented_json(value)
    assert (
        indented_json([[], {}, [[]], {"a": {}}])
        == b'[\n  [],\n  {},\n  [\n    []\n  ],\n  {\n    "a": {}\n  }\n]'
    )


# ---------------------------------------------------------------------------- errors and atomic writes


def test_unknown_suffix_is_a_diagnostic(tmp_path):
    with pytest.raises(Proto3dError) as err:
        export(make_shape(), tmp_path / "chair.stl")
    diag = err.value.diagnostics[0]
    assert diag.code == "E901" and ".stl" in diag.message
    assert all(s in diag.expected for s in (".glb", ".obj", ".ply", ".json"))
    assert diag.hint == "write .ply instead: STL has no part labels or colours"
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(Proto3dError) as err:
        export(make_shape(), tmp_path / "chair.gltf")
    assert err.value.diagnostics[0].hint == "write .glb, the binary glTF: one self-contained file"
    with pytest.raises(Proto3dError) as err:
        export(make_shape(), tmp_path / "chair")
    assert (
        err.value.diagnostics[0].hint
        == "name the output file with one of the supported suffixes, e.g. model.glb"
    )


def test_unwritable_target_is_a_diagnostic(tmp_path):
    with pytest.raises(Proto3dError) as err:
        export(make_shape(), tmp_path / "missing" / "chair.glb")
    assert err.value.diagnostics[0].code == "E902"


@pytest.mark.parametrize("name", ["chair.glb", "chair.obj", "chair.ply", "chair.json"])
def test_failed_write_leaves_no_partial_file(tmp_path, monkeypatch, name):
    target = tmp_path / name
    target.write_bytes(b"previous")

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(Proto3dError) as err:
        export(make_shape(), target)
    assert "No space left" in err.value.diagnostics[0].message
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no temp file, no .mtl
    assert target.read_bytes() == b"previous"


def test_failure_while_writing_removes_temp_file(tmp_path, monkeypatch):
    class Boom(Exception):
        pass

    def broken_fdopen(fd, mode):
        os.close(fd)
        raise Boom()

    monkeypatch.setattr(os, "fdopen", broken_fdopen)
    with pytest.raises(Boom):
        export(make_shape(), tmp_path / "chair.ply")
    assert list(tmp_path.iterdir()) == []


def test_exported_file_mode_follows_umask(tmp_path):
    export(make_shape(), tmp_path / "chair.glb")
    (tmp_path / "plain").write_bytes(b"")
    assert (tmp_path / "chair.glb").stat().st_mode == (tmp_path / "plain").stat().st_mode


def test_export_overwrites_atomically(tmp_path):
    target = tmp_path / "chair.ply"
    target.write_bytes(b"old")
    export(make_shape(), target)
    assert target.read_bytes() == to_ply(make_shape())
    assert [p.name for p in tmp_path.iterdir()] == ["chair.ply"]


# ---------------------------------------------------------------------------- real programs


EXAMPLES = sorted((REPO / "examples").glob("*.pdsl"))


def test_every_example_exports_and_validates(tmp_path):
    assert EXAMPLES
    glbs = []
    for src in EXAMPLES:
        shape = compile_text(src.read_text())
        for suffix in (".glb", ".obj", ".ply", ".json"):
            export(shape, tmp_path / f"{src.stem}{suffix}")
        gltf, _ = read_glb((tmp_path / f"{src.stem}.glb").read_bytes())
        assert [n["name"] for n in gltf["nodes"]] == [
            shape.instance_name(i) for i in range(len(shape.instances))
        ]
        _, verts, faces = read_ply((tmp_path / f"{src.stem}.ply").read_bytes())
        assert np.array_equal(faces["part_id"], shape.part_id) and np.array_equal(
            faces["instance_id"], shape.instance_id
        )
        assert_vertex_colours_exact(shape, verts, faces)
        assert len(verts) == len(shape.vertices)  # compiled shapes never need a vertex split
        obj = trimesh.load(
            tmp_path / f"{src.stem}.obj", process=False, split_object=True, group_material=False
        )
        assert sum(len(g.faces) for g in obj.geometry.values()) == len(shape.faces)
        glbs.append(tmp_path / f"{src.stem}.glb")
    for report in validate(glbs):
        assert report["numErrors"] == 0 and report["numWarnings"] == 0, report

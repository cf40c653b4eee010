"""Renderer throughput: 50k- and 200k-triangle shapes at 512x512, all passes read back.

    python bench/render.py [--views 24] [--size 512] [--blender-views 4] [--repeat 3]

Prints views per second and CPU milliseconds per view for proto3d in each anti-aliasing mode
(fxaa, msaa, none; one upload, every view, every pass read back into NumPy, id lookups done)
and, when `blender` is on PATH, views per second of Blender's workbench on the same mesh from
the same cameras at the same size, rendering per view a shaded image (anti-aliased like the
proto3d column it is compared with: FXAA, 8 samples, off) and a flat face-id image, and the
ratios. Without Blender the Blender columns are skipped with a message.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from proto3d.compiler.shape import CompiledShape, Instance, Part, Primitive
from proto3d.grammar.diagnostics import Span
from proto3d.renderer import ALL_PASSES, orbit, render


def torus(center, R, r, m, n):
    """A closed torus of exactly 2*m*n triangles (m around the ring, n around the tube)."""
    u = np.linspace(0, 2 * np.pi, m, endpoint=False)[:, None]
    v = np.linspace(0, 2 * np.pi, n, endpoint=False)[None, :]
    normals = np.stack([np.cos(u) * np.cos(v), np.sin(u) * np.cos(v), np.sin(v) + 0 * u], axis=-1).reshape(-1, 3)
    ring = np.stack([R * np.cos(u) + 0 * v, R * np.sin(u) + 0 * v, 0 * u + 0 * v], axis=-1).reshape(-1, 3)
    vertices = ring + r * normals + center
    i, j = np.meshgrid(np.arange(m), np.arange(n), indexing="ij")
    a, b = i * n + j, ((i + 1) % m) * n + j
    c, d = ((i + 1) % m) * n + (j + 1) % n, i * n + (j + 1) % n
    faces = np.concatenate([np.stack([a, b, c], -1).reshape(-1, 3), np.stack([a, c, d], -1).reshape(-1, 3)])
    return vertices.astype(np.float32), normals.astype(np.float32), faces.astype(np.int32)


def bench_shape(triangles: int, count: int = 8) -> CompiledShape:
    """`count` tori in a grid, each one part instance, `triangles` triangles in all."""
    n = max(3, int(round(np.sqrt(triangles / count / 2 / 5))))
    m = triangles // count // 2 // n
    vs, ns, fs, part_id, instance_id = [], [], [], [], []
    parts = [Part(f"ring{k % 4}", (0.8, 0.5, 0.2), [], Span()) for k in range(4)]
    instances, primitives = [], []
    offset = 0
    for k in range(count):
        center = np.array([(k % 4) * 0.6, 0.0, 0.3 + (k // 4) * 0.6])
        v, nn, f = torus(center, 0.22, 0.07, m, n)
        vs.append(v), ns.append(nn), fs.append(f + offset)
        offset += len(v)
        part = parts[k % 4]
        part.instance_ids.append(k)
        instances.append(Instance(k % 4, len(part.instance_ids) - 1, [k], Span(k + 1, 1, k + 1, 2), v.min(0), v.max(0)))
        primitives.append(Primitive("torus", {}, np.eye(4), m, k % 4, k, part.color, Span(k + 1, 1, k + 1, 2)))
        part_id.append(np.full(len(f), k % 4, np.int32)), instance_id.append(np.full(len(f), k, np.int32))
    faces = np.concatenate(fs)
    return CompiledShape(
        name=f"tori{len(faces)}", vertices=np.concatenate(vs), normals=np.concatenate(ns), faces=faces,
        face_colors=np.tile(np.float32([0.8, 0.5, 0.2]), (len(faces), 1)), part_id=np.concatenate(part_id),
        instance_id=np.concatenate(instance_id), primitive_id=np.concatenate(instance_id),
        parts=parts, instances=instances, primitives=primitives,
    )


def time_proto3d(shape: CompiledShape, views: int, size: int, antialias: str, repeat: int) -> tuple[float, float]:
    """(views per second of wall time, CPU milliseconds per view), every pass read back and looked up;
    the best of `repeat` runs, as other jobs on a shared machine only ever slow a run down."""
    cameras = orbit(views, 25.0, shape.bbox, size)
    best_wall = best_cpu = float("inf")
    for run in range(repeat + 1):  # run 0 warms up: context, shaders, JIT caches, the allocator
        started, cpu = time.perf_counter(), time.process_time()
        renders = render(shape, cameras, size=size, passes=ALL_PASSES, antialias=antialias)
        for view in renders.views:  # the id lookups are lazy: pay for them here
            _ = view.part, view.instance, view.primitive
        if run:
            best_wall = min(best_wall, time.perf_counter() - started)
            best_cpu = min(best_cpu, time.process_time() - cpu)
    return views / best_wall, 1000 * best_cpu / views


# Like for like: proto3d's cameras (OpenCV -> Blender axes), the same image size, and per view
# the passes Blender needs for what proto3d gives: the shaded image (workbench, studio light,
# anti-aliased as named) plus a flat render of per-face id colours (no AA, no colour transform).
# Depth and normals would need more passes; they are not asked of Blender. Only render calls
# are timed (no file writes); the first view of each setting compiles shaders and is not timed.
BLENDER_SCRIPT = r"""
import bpy, json, math, sys, time
from mathutils import Matrix
args = json.loads(open(sys.argv[-1]).read())
bpy.ops.wm.read_factory_settings(use_empty=True)
bpy.ops.import_mesh.ply(filepath=args["ply"])
obj = bpy.context.selected_objects[0]
mesh = obj.data
corners = []  # Debian's Blender runs the system Python, which may lack NumPy
for i, polygon in enumerate(mesh.polygons, 1):
    corners += [((i >> 16) & 255) / 255, ((i >> 8) & 255) / 255, (i & 255) / 255, 1.0] * polygon.loop_total
mesh.vertex_colors.new(name="id").data.foreach_set("color", corners)
scene = bpy.context.scene
scene.render.engine = "BLENDER_WORKBENCH"
scene.render.resolution_x = scene.render.resolution_y = args["size"]
scene.render.resolution_percentage = 100
cam = bpy.data.objects.new("cam", bpy.data.cameras.new("cam"))
scene.collection.objects.link(cam)
scene.camera = cam
cam.data.sensor_fit = "HORIZONTAL"
cam.data.clip_start, cam.data.clip_end = 0.01, 1000.0
shading = scene.display.shading

def rgb_pass(aa):
    scene.display.render_aa = aa
    shading.light, shading.color_type = "STUDIO", "MATERIAL"
    scene.view_settings.view_transform, scene.render.dither_intensity = "Filmic", 1.0

def id_pass():
    scene.display.render_aa = "OFF"
    shading.light, shading.color_type = "FLAT", "VERTEX"
    scene.view_settings.view_transform, scene.render.dither_intensity = "Standard", 0.0

result = {}
for aa in args["aa"]:
    seconds = cpu = 0.0
    for k, view in enumerate([args["cameras"][0]] + args["cameras"]):
        cam.matrix_world = Matrix(view["camera_to_world"])
        cam.data.angle = view["fov"]
        t, c = time.perf_counter(), time.process_time()
        for setting in (lambda: rgb_pass(aa), id_pass):
            setting()
            bpy.ops.render.render(write_still=False)
        if k:
            seconds += time.perf_counter() - t
            cpu += time.process_time() - c
    result[aa] = seconds, cpu
print("BENCH_JSON" + json.dumps(result))
"""


def write_ply(shape: CompiledShape, path: Path) -> None:
    header = (
        f"ply\nformat binary_little_endian 1.0\nelement vertex {len(shape.vertices)}\n"
        "property float x\nproperty float y\nproperty float z\n"
        f"element face {len(shape.faces)}\nproperty list uchar int vertex_indices\nend_header\n"
    )
    faces = np.zeros(len(shape.faces), dtype=[("n", "u1"), ("f", "<i4", 3)])
    faces["n"], faces["f"] = 3, shape.faces
    path.write_bytes(header.encode() + shape.vertices.astype("<f4").tobytes() + faces.tobytes())


def time_blender(shape: CompiledShape, views: int, size: int, aa: tuple[str, ...]) -> dict[str, tuple[float, float]] | None:
    """(views per second, CPU ms per view) of Blender's workbench for each anti-aliasing setting
    in `aa`, on the same mesh from the same cameras as proto3d's orbit; None without Blender."""
    blender = shutil.which("blender")
    if not blender:
        return None
    cameras = []
    for camera in orbit(views, 25.0, shape.bbox, size):
        to_world = np.linalg.inv(camera.world_to_camera) @ np.diag([1.0, -1.0, -1.0, 1.0])  # OpenCV -> Blender axes
        cameras.append({"camera_to_world": to_world.tolist(), "fov": 2 * np.arctan(size / 2 / camera.K[0, 0])})
    with tempfile.TemporaryDirectory() as tmp:
        ply, script, config = Path(tmp) / "mesh.ply", Path(tmp) / "bench.py", Path(tmp) / "bench.json"
        write_ply(shape, ply)
        script.write_text(BLENDER_SCRIPT)
        config.write_text(json.dumps({"ply": str(ply), "size": size, "cameras": cameras, "aa": list(aa)}))
        out = subprocess.run(
            [blender, "-b", "--factory-startup", "-noaudio", "--python", str(script), "--", str(config)],
            capture_output=True, text=True, timeout=3600, env={**os.environ, "PYTHONNOUSERSITE": "1"},
        )
        line = next((l for l in out.stdout.splitlines() if l.startswith("BENCH_JSON")), None)
        if line is None:
            print(f"blender failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}", file=sys.stderr)
            return None
        timings = json.loads(line[len("BENCH_JSON"):]).items()
        return {setting: (views / seconds, 1000 * cpu / views) for setting, (seconds, cpu) in timings}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--views", type=int, default=24)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--blender-views", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3, help="runs per configuration; the best is reported")
    args = parser.parse_args()
    if not shutil.which("blender"):
        print("blender not on PATH: skipping the Blender column (Debian: apt-get install blender)")
    print(f"{args.size}x{args.size}, all passes (rgb, depth, normal, part, instance, primitive) read back; "
          f"{os.cpu_count()} CPUs, {args.views} views per shape")
    # proto3d's mode -> the workbench anti-aliasing it is compared with (8 samples is Blender's default)
    modes = {"fxaa": "FXAA", "msaa": "8", "none": "OFF"}
    print("views/s (wall, best of runs) / CPU ms per view (all threads); ratios: wall / CPU")
    print(f"{'triangles':>10} " + " ".join(f"{m:>13}" for m in modes) + " "
          + " ".join(f"{'blender ' + b:>13}" for b in modes.values()) + " " + " ".join(f"{'ratio ' + m:>14}" for m in modes))
    for triangles in (50_000, 200_000):
        shape = bench_shape(triangles)
        ours = {mode: time_proto3d(shape, args.views, args.size, mode, args.repeat) for mode in modes}
        theirs = time_blender(shape, args.blender_views, args.size, tuple(modes.values()))
        cells = " ".join(f"{f'{rate:.1f} / {cpu:.1f}':>13}" for rate, cpu in ours.values())
        blender = " ".join(f"{f'{theirs[b][0]:.2f} / {theirs[b][1]:.0f}':>13}" if theirs else f"{'-':>13}" for b in modes.values())
        ratios = " ".join(
            f"{f'{ours[m][0] / theirs[b][0]:.0f}x / {theirs[b][1] / ours[m][1]:.0f}x':>14}" if theirs else f"{'-':>14}"
            for m, b in modes.items()
        )
        print(f"{len(shape.faces):>10} {cells} {blender} {ratios}", flush=True)


if __name__ == "__main__":
    main()

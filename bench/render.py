"""Renderer throughput: 50k- and 200k-triangle shapes at 512x512, all passes read back.

    python bench/render.py [--views 24] [--size 512] [--blender-views 4] [--repeat 3]

Prints views per second and CPU milliseconds per view for proto3d in each anti-aliasing mode
(fxaa, msaa, none; one upload, every view, every pass read back into
NumPy) and, when `blender` is on PATH, for Blender's workbench renderer on the same mesh
(imported from PLY; only the render calls are timed), and the ratio. Without Blender the
Blender column is skipped with a message.
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


BLENDER_SCRIPT = r"""
import bpy, json, math, sys, time
out, ply, size, views = sys.argv[-4], sys.argv[-3], int(sys.argv[-2]), int(sys.argv[-1])
bpy.ops.wm.read_factory_settings(use_empty=True)
bpy.ops.import_mesh.ply(filepath=ply)
obj = bpy.context.selected_objects[0]
scene = bpy.context.scene
scene.render.engine = "BLENDER_WORKBENCH"
scene.render.resolution_x = scene.render.resolution_y = size
scene.render.resolution_percentage = 100
scene.render.filepath = out
lo = [min(v.co[i] for v in obj.data.vertices) for i in range(3)]
hi = [max(v.co[i] for v in obj.data.vertices) for i in range(3)]
center = [(a + b) / 2 for a, b in zip(lo, hi)]
radius = max(b - a for a, b in zip(lo, hi))
target = bpy.data.objects.new("target", None)
scene.collection.objects.link(target)
target.location = center
cam = bpy.data.objects.new("cam", bpy.data.cameras.new("cam"))
scene.collection.objects.link(cam)
track = cam.constraints.new("TRACK_TO")
track.target, track.track_axis, track.up_axis = target, "TRACK_NEGATIVE_Z", "UP_Y"
scene.camera = cam
times = []
for k in range(views + 1):  # the first render compiles shaders: not timed
    a = 2 * math.pi * k / views
    cam.location = (center[0] + 2 * radius * math.sin(a), center[1] - 2 * radius * math.cos(a), center[2] + radius)
    t = time.perf_counter()
    bpy.ops.render.render(write_still=False)
    times.append(time.perf_counter() - t)
print("BENCH_JSON" + json.dumps({"seconds": sum(times[1:]), "views": views}))
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


def time_blender(shape: CompiledShape, views: int, size: int) -> float | None:
    blender = shutil.which("blender")
    if not blender:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        ply, script = Path(tmp) / "mesh.ply", Path(tmp) / "bench.py"
        write_ply(shape, ply)
        script.write_text(BLENDER_SCRIPT)
        out = subprocess.run(
            [blender, "-b", "--factory-startup", "-noaudio", "--python", str(script), "--",
             str(Path(tmp) / "frame.png"), str(ply), str(size), str(views)],
            capture_output=True, text=True, timeout=3600, env={**os.environ, "PYTHONNOUSERSITE": "1"},
        )
        line = next((l for l in out.stdout.splitlines() if l.startswith("BENCH_JSON")), None)
        if line is None:
            print(f"blender failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}", file=sys.stderr)
            return None
        result = json.loads(line[len("BENCH_JSON"):])
        return result["views"] / result["seconds"]


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
    modes = ("fxaa", "msaa", "none")
    print(f"{'triangles':>10} " + " ".join(f"{m + ' views/s':>14} {'cpu ms/view':>11}" for m in modes)
          + f" {'blender views/s':>16} " + " ".join(f"{'ratio ' + m:>11}" for m in modes))
    for triangles in (50_000, 200_000):
        shape = bench_shape(triangles)
        ours = [time_proto3d(shape, args.views, args.size, mode, args.repeat) for mode in modes]
        theirs = time_blender(shape, args.blender_views, args.size)
        cells = " ".join(f"{rate:>14.1f} {cpu:>11.1f}" for rate, cpu in ours)
        blender = f"{theirs:16.2f}" if theirs else f"{'-':>16}"
        ratios = " ".join(f"{rate / theirs:>10.0f}x" if theirs else f"{'-':>11}" for rate, _ in ours)
        print(f"{len(shape.faces):>10} {cells} {blender} {ratios}", flush=True)


if __name__ == "__main__":
    main()

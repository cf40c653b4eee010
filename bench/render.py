"""Renderer throughput: 50k- and 200k-triangle shapes at 512x512, all passes read back.

    python bench/render.py [--views 24] [--size 512] [--blender-views 4] [--repeat 3]
                           [--inspection-views front,back,left,right,top,iso]

Prints views per second and CPU milliseconds per view for proto3d in each anti-aliasing mode
(fxaa, msaa, none; one upload, every view, every pass read back into NumPy, id lookups done)
and, when `blender` is on PATH, views per second of Blender's workbench on the same mesh from
the same cameras at the same size, rendering per view a shaded image (anti-aliased like the
proto3d column it is compared with: FXAA, 8 samples, off) and a flat face-id image, and the
ratios (like for like: one warm process each, only render calls timed).

Then per inspection, as an agent loop runs it, on a stack of eight tori written as a .pdsl
program (`segments` sets the size): a fresh `blender -b` process that imports the compiled mesh and
renders and writes a shaded and a face-id PNG per view (its coder's scripts run Blender once
per inspection), against proto3d in the loop's own warm process (render every pass, save) and a
fresh `proto3d render` process, each writing all its outputs or only the shaded image and ids;
whole-process wall and CPU seconds, the ratios, and where the time of a Blender process goes.
Without Blender the Blender columns are skipped with a message.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from proto3d.compiler import compile_text
from proto3d.compiler.shape import CompiledShape, Instance, Part, Primitive
from proto3d.errors import Span
from proto3d.renderer import ALL_PASSES, named_view, orbit, render


def torus(center, R, r, m, n):
    """A closed torus of exactly 2*m*n triangles (m around the ring, n around the tube)."""
    u = np.linspace(0, 2 * np.pi, m, endpoint=False)[:, None]
    v = np.linspace(0, 2 * np.pi, n, endpoint=False)[None, :]
    normals = np.stack([np.cos(u) * np.cos(v), np.sin(u) * np.cos(v), np.sin(v) + 0 * u], axis=-1).reshape(
        -1, 3
    )
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
        instances.append(
            Instance(k % 4, len(part.instance_ids) - 1, [k], Span(k + 1, 1, k + 1, 2), v.min(0), v.max(0))
        )
        primitives.append(
            Primitive("torus", {}, np.eye(4), m, k % 4, k, part.color, Span(k + 1, 1, k + 1, 2))
        )
        part_id.append(np.full(len(f), k % 4, np.int32)), instance_id.append(np.full(len(f), k, np.int32))
    faces = np.concatenate(fs)
    return CompiledShape(
        name=f"tori{len(faces)}",
        vertices=np.concatenate(vs),
        normals=np.concatenate(ns),
        faces=faces,
        face_colors=np.tile(np.float32([0.8, 0.5, 0.2]), (len(faces), 1)),
        part_id=np.concatenate(part_id),
        instance_id=np.concatenate(instance_id),
        primitive_id=np.concatenate(instance_id),
        parts=parts,
        instances=instances,
        primitives=primitives,
    )


def time_proto3d(
    shape: CompiledShape, views: int, size: int, antialias: str, repeat: int
) -> tuple[float, float]:
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


# Blender's side, shared by both comparisons: import the PLY, per-face id colours, the workbench
# scene, a camera set from proto3d's cameras (OpenCV -> Blender axes) at the same image size, and
# the two passes Blender needs per view for what proto3d gives: the shaded image (studio light,
# anti-aliased as named) plus a flat render of per-face id colours (no AA, no colour transform).
# Depth and normals would need more passes; they are not asked of Blender. `mark` records wall
# and CPU time (all threads of the process) for the cost breakdown of a Blender process.
BLENDER_SETUP = r"""
import bpy, json, math, sys, time
from mathutils import Matrix
marks = [("script", time.time(), time.process_time())]
def mark(name):
    marks.append((name, time.time(), time.process_time()))
args = json.loads(open(sys.argv[-1]).read())
bpy.ops.wm.read_factory_settings(use_empty=True)
bpy.ops.import_mesh.ply(filepath=args["ply"])
mark("import")
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
mark("setup")

def aim(view):
    cam.matrix_world = Matrix(view["camera_to_world"])
    cam.data.angle = view["fov"]

def rgb_pass(aa):
    scene.display.render_aa = aa
    shading.light, shading.color_type = "STUDIO", "MATERIAL"
    scene.view_settings.view_transform, scene.render.dither_intensity = "Filmic", 1.0

def id_pass():
    scene.display.render_aa = "OFF"
    shading.light, shading.color_type = "FLAT", "VERTEX"
    scene.view_settings.view_transform, scene.render.dither_intensity = "Standard", 0.0
"""

# Like for like: only render calls are timed (no file writes); the first view of each setting
# compiles shaders and is not timed.
BLENDER_RENDER_CALLS = (
    BLENDER_SETUP
    + r"""
result = {}
for aa in args["aa"]:
    seconds = cpu = 0.0
    for k, view in enumerate([args["cameras"][0]] + args["cameras"]):
        aim(view)
        t, c = time.perf_counter(), time.process_time()
        for setting in (lambda: rgb_pass(aa), id_pass):
            setting()
            bpy.ops.render.render(write_still=False)
        if k:
            seconds += time.perf_counter() - t
            cpu += time.process_time() - c
    result[aa] = seconds, cpu
print("BENCH_JSON" + json.dumps({"marks": marks, "result": result}))
"""
)

# Per inspection: what one `blender -b` process of an agent loop does after start-up: import,
# render every view (shaded and ids) and write both PNGs of each, as the loop needs files.
BLENDER_INSPECTION = (
    BLENDER_SETUP
    + r"""
def write(view, suffix):
    scene.render.filepath = f"{args['out']}/{view['name']}_{suffix}.png"
    bpy.ops.render.render(write_still=True)

for view in args["cameras"]:
    aim(view)
    rgb_pass("FXAA")
    write(view, "rgb")
    id_pass()
    write(view, "id")
    mark(view["name"])
print("BENCH_JSON" + json.dumps({"marks": marks, "result": None}))
"""
)


def write_ply(shape: CompiledShape, path: Path) -> None:
    header = (
        f"ply\nformat binary_little_endian 1.0\nelement vertex {len(shape.vertices)}\n"
        "property float x\nproperty float y\nproperty float z\n"
        f"element face {len(shape.faces)}\nproperty list uchar int vertex_indices\nend_header\n"
    )
    faces = np.zeros(len(shape.faces), dtype=[("n", "u1"), ("f", "<i4", 3)])
    faces["n"], faces["f"] = 3, shape.faces
    path.write_bytes(header.encode() + shape.vertices.astype("<f4").tobytes() + faces.tobytes())


def blender_cameras(cameras) -> list[dict]:
    """proto3d's (OpenCV) cameras as Blender camera-to-world matrices and horizontal fields of view."""
    return [
        {
            "name": c.name,
            "camera_to_world": (np.linalg.inv(c.world_to_camera) @ np.diag([1.0, -1.0, -1.0, 1.0])).tolist(),
            "fov": 2 * np.arctan(c.width / 2 / c.K[0, 0]),
        }
        for c in cameras
    ]


def run_blender(script: str, shape: CompiledShape, config: dict) -> tuple[dict, float, float, float] | None:
    """Run `script` in a fresh `blender -b` on `shape`'s mesh (PLY, written before the launch) with
    `config`; returns what the script printed, the launch time (time.time()), and wall and CPU
    seconds (all threads) of the whole process. None, with a message, if Blender failed."""
    with tempfile.TemporaryDirectory() as tmp:
        ply, path, config_path = Path(tmp) / "mesh.ply", Path(tmp) / "bench.py", Path(tmp) / "bench.json"
        write_ply(shape, ply)
        path.write_text(script)
        config_path.write_text(json.dumps({"ply": str(ply), "out": tmp, **config}))
        before, launched, started = (
            resource.getrusage(resource.RUSAGE_CHILDREN),
            time.time(),
            time.perf_counter(),
        )
        out = subprocess.run(
            [
                shutil.which("blender"),
                "-b",
                "--factory-startup",
                "-noaudio",
                "--python",
                str(path),
                "--",
                str(config_path),
            ],
            capture_output=True,
            text=True,
            timeout=3600,
            env={**os.environ, "PYTHONNOUSERSITE": "1"},
        )
        wall, cpu = time.perf_counter() - started, child_cpu(before)
    line = next((l for l in out.stdout.splitlines() if l.startswith("BENCH_JSON")), None)
    if line is None:
        print(f"blender failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(line[len("BENCH_JSON") :]), launched, wall, cpu


def child_cpu(before: resource.struct_rusage) -> float:
    """CPU seconds (user + system) of the children waited for since `before`."""
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def time_blender(
    shape: CompiledShape, views: int, size: int, aa: tuple[str, ...]
) -> dict[str, tuple[float, float]] | None:
    """(views per second, CPU ms per view) of Blender's workbench for each anti-aliasing setting
    in `aa`, on the same mesh from the same cameras as proto3d's orbit; None without Blender."""
    if not shutil.which("blender"):
        return None
    cameras = blender_cameras(orbit(views, 25.0, shape.bbox, size))
    ran = run_blender(BLENDER_RENDER_CALLS, shape, {"size": size, "cameras": cameras, "aa": list(aa)})
    if ran is None:
        return None
    timings = ran[0]["result"].items()
    return {setting: (views / seconds, 1000 * cpu / views) for setting, (seconds, cpu) in timings}


INSPECTION_OUTPUTS = ("all", "rgb,primitive")  # --passes of `proto3d render`


def tori_program(triangles: int) -> str:
    """Eight tori as a proto3d program, a stack on the ground, each cutting into the one below (a
    compact object that fills every view; no lint fires); `segments` s gives s * s/2 * 2 triangles a torus."""
    s = round(np.sqrt(triangles / 8))
    lines = [
        f"part ring{k % 4} {{ torus(R=0.22, r=0.07, at=[0, 0, {0.07 + k * 0.13:g}], segments={s}) }}"
        for k in range(8)
    ]
    return 'shape "tori"\n' + "\n".join(lines) + "\n"


def inspect_blender(
    shape: CompiledShape, names: list[str], size: int, repeat: int
) -> tuple[float, float, list] | None:
    """(wall s, CPU s, timeline) of the fastest of `repeat` fresh Blender processes that import the
    mesh and render and write every view; the timeline is [(what, wall s since launch, CPU s)]."""
    if not shutil.which("blender"):
        return None
    config = {"size": size, "cameras": blender_cameras([named_view(n, shape.bbox, size) for n in names])}
    runs = [run_blender(BLENDER_INSPECTION, shape, config) for _ in range(repeat)]
    if None in runs:
        return None
    printed, launched, wall, cpu = min(runs, key=lambda run: run[2])
    timeline = [(name, at - launched, cpu_at) for name, at, cpu_at in printed["marks"]] + [
        ("exit", wall, cpu)
    ]
    return wall, min(run[3] for run in runs), timeline


def inspect_warm(
    shape: CompiledShape, names: list[str], size: int, outputs: str, repeat: int
) -> tuple[float, float]:
    """(wall s, CPU s), best of `repeat` after a warm-up, of the agent loop's own process rendering
    every view with every pass and writing `outputs` ("all" or passes) as `proto3d render` does."""
    passes = ALL_PASSES if outputs == "all" else outputs.split(",")
    best_wall = best_cpu = float("inf")
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(repeat + 1):
            started, cpu = time.perf_counter(), time.process_time()
            render(shape, names, size=size, passes=ALL_PASSES).save(tmp, passes)
            if run:
                best_wall = min(best_wall, time.perf_counter() - started)
                best_cpu = min(best_cpu, time.process_time() - cpu)
    return best_wall, best_cpu


def inspect_cold(
    program: Path, names: list[str], size: int, outputs: str, repeat: int
) -> tuple[float, float]:
    """(wall s, CPU s) of the fastest of `repeat` fresh `proto3d render` processes: start-up,
    compile, GL context, render and write `outputs`."""
    command = [
        str(Path(sys.executable).with_name("proto3d")),
        "render",
        str(program),
        "--views",
        ",".join(names),
        "--size",
        str(size),
        "--passes",
        outputs,
    ]
    best_wall = best_cpu = float("inf")
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeat):
            before, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
            subprocess.run(command + ["-o", tmp], check=True, capture_output=True)
            best_wall = min(best_wall, time.perf_counter() - started)
            best_cpu = min(best_cpu, child_cpu(before))
    return best_wall, best_cpu


def per_inspection(triangles: int, names: list[str], size: int, repeat: int) -> None:
    """Print the rows of the per-inspection comparison and the timeline of a Blender process."""
    text = tori_program(triangles)
    shape = compile_text(text)
    blender = inspect_blender(shape, names, size, repeat)
    with tempfile.TemporaryDirectory() as tmp:
        program = Path(tmp) / "tori.pdsl"
        program.write_text(text)
        for outputs in INSPECTION_OUTPUTS:
            warm = inspect_warm(shape, names, size, outputs, repeat)
            cold = inspect_cold(program, names, size, outputs, repeat)
            cells = [f"{warm[0]:.3f} / {warm[1]:.3f}", f"{cold[0]:.2f} / {cold[1]:.2f}"]
            if blender:
                wall, cpu, _ = blender
                cells = (
                    [f"{wall:.2f} / {cpu:.2f}"]
                    + cells
                    + [
                        f"{wall / warm[0]:.1f}x / {cpu / warm[1]:.1f}x",
                        f"{wall / cold[0]:.1f}x / {cpu / cold[1]:.1f}x",
                    ]
                )
            else:
                cells = ["-"] + cells + ["-", "-"]
            print(f"{len(shape.faces):>10} {outputs:>14} " + " ".join(f"{c:>18}" for c in cells), flush=True)
    if blender:
        steps, previous = [], (0.0, 0.0)
        for name, at, cpu in blender[2]:
            steps.append(f"{name} {at - previous[0]:.2f} ({cpu - previous[1]:.2f})")
            previous = (at, cpu)
        print(
            f"{'':>10} fastest blender process, wall s since the previous step (CPU s): " + ", ".join(steps),
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--views", type=int, default=24)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--blender-views", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3, help="runs per configuration; the best is reported")
    parser.add_argument(
        "--inspection-views", default="front,back,left,right,top,iso", help="views of one inspection"
    )
    args = parser.parse_args()
    if not shutil.which("blender"):
        print("blender not on PATH: skipping the Blender column (Debian: apt-get install blender)")
    print(
        f"{args.size}x{args.size}, all passes (rgb, depth, normal, part, instance, primitive) read back; "
        f"{os.cpu_count()} CPUs, {args.views} views per shape"
    )
    # proto3d's mode -> the workbench anti-aliasing it is compared with (8 samples is Blender's default)
    modes = {"fxaa": "FXAA", "msaa": "8", "none": "OFF"}
    print("views/s (wall, best of runs) / CPU ms per view (all threads); ratios: wall / CPU")
    print(
        f"{'triangles':>10} "
        + " ".join(f"{m:>13}" for m in modes)
        + " "
        + " ".join(f"{'blender ' + b:>13}" for b in modes.values())
        + " "
        + " ".join(f"{'ratio ' + m:>14}" for m in modes)
    )
    for triangles in (50_000, 200_000):
        shape = bench_shape(triangles)
        ours = {mode: time_proto3d(shape, args.views, args.size, mode, args.repeat) for mode in modes}
        theirs = time_blender(shape, args.blender_views, args.size, tuple(modes.values()))
        cells = " ".join(f"{f'{rate:.1f} / {cpu:.1f}':>13}" for rate, cpu in ours.values())
        blender = " ".join(
            f"{f'{theirs[b][0]:.2f} / {theirs[b][1]:.0f}':>13}" if theirs else f"{'-':>13}"
            for b in modes.values()
        )
        ratios = " ".join(
            f"{f'{ours[m][0] / theirs[b][0]:.0f}x / {theirs[b][1] / ours[m][1]:.0f}x':>14}"
            if theirs
            else f"{'-':>14}"
            for m, b in modes.items()
        )
        print(f"{len(shape.faces):>10} {cells} {blender} {ratios}", flush=True)

    names = args.inspection_views.split(",")
    print(
        f"\nPer inspection, as an agent loop runs it: {len(names)} views ({', '.join(names)}) at {args.size}x{args.size}, "
        f"seconds wall / CPU (all threads), best of {args.repeat}.\n"
        "  blender process: a fresh `blender -b` imports the PLY, renders per view a shaded (FXAA) and a face-id image, writes both PNGs\n"
        "  proto3d warm: in the loop's own process, render() of every pass, then Renders.save of the outputs\n"
        "  proto3d process: a fresh `proto3d render FILE.pdsl --views ... --passes OUTPUTS`: start-up, compile, GL context, render, write\n"
        "  outputs: all = what `proto3d render` writes by default; rgb,primitive = the shaded PNG and lossless ids\n"
        "  (primitive_id.png, .npz with the face buffer), what Blender's two PNGs hold"
    )
    print(
        f"{'triangles':>10} {'outputs':>14} "
        + " ".join(
            f"{c:>18}"
            for c in (
                "blender process",
                "proto3d warm",
                "proto3d process",
                "blender / warm",
                "blender / process",
            )
        )
    )
    for triangles in (50_000, 200_000):
        per_inspection(triangles, names, args.size, args.repeat)


if __name__ == "__main__":
    main()

"""Dataset throughput: labelled images per second (RGB + part mask + instance mask + COCO RLE, written).

    python bench/dataset.py [--size 256] [--variants 3] [--views 8] [--workers N] [--blender-images 8]

Times `proto3d dataset` end to end on eight example prototypes with the default settings
(objects filling 0.3-0.8 of the frame, the ground's contact shadow): variant sampling and
compiling, rendering, compositing the background and the shadow, encoding three PNGs and the RLE
annotations, atomic writes and the final manifest/COCO files. It runs once in one process and once on the local
process pool (one worker per core). When `blender` is on PATH it renders the same prototypes
(exported as OBJ + MTL, one object per part instance) with Blender's workbench engine: per image a
shaded render and a flat, unlit, non-anti-aliased render whose object colours encode the
instance ids (what a Blender user would do to get masks), both written as PNG; Blender's start
and import are not timed. It prints the ratio. Without Blender, that column is skipped.
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

ROOT = Path(__file__).resolve().parent.parent
PROTOTYPES = ("chair", "stool", "mug", "table", "lamp", "car", "teapot", "bicycle")


def time_proto3d(out: Path, size: int, variants: int, views: int, workers: int) -> dict:
    from proto3d.dataset.build import Settings, build_dataset

    settings = Settings(seed=0, variants=variants, views=views, size=size)
    paths = [str(ROOT / "examples" / f"{name}.pdsl") for name in PROTOTYPES]
    marks = []  # (time, images done) after each finished task
    started = time.perf_counter()
    summary = build_dataset(
        paths,
        out,
        settings,
        workers=workers,
        on_progress=lambda done, total: marks.append((time.perf_counter(), done)),
    )
    summary["wall"] = time.perf_counter() - started  # includes planning, pool start-up and the final files
    (t0, n0), (t1, n1) = marks[1], marks[-1]  # steady state: from the first finished task to the last
    summary["steady"] = (n1 - n0) / (t1 - t0) if t1 > t0 else float("nan")
    return summary


BLENDER_SCRIPT = r"""
import bpy, json, math, random, sys, time
out, size, images = sys.argv[-3], int(sys.argv[-2]), int(sys.argv[-1])
meshes_in = sys.argv[sys.argv.index("--") + 1 : -3]
scene = bpy.context.scene
scene.render.engine = "BLENDER_WORKBENCH"
scene.render.resolution_x = scene.render.resolution_y = size
scene.render.resolution_percentage = 100
scene.render.image_settings.file_format = "PNG"
scene.render.dither_intensity = 0  # exact mask values
scene.render.film_transparent = True  # background 0 in the mask
cam = bpy.data.objects.new("cam", bpy.data.cameras.new("cam"))
scene.collection.objects.link(cam)
scene.camera = cam
target = bpy.data.objects.new("target", None)
scene.collection.objects.link(target)
track = cam.constraints.new("TRACK_TO")
track.target, track.track_axis, track.up_axis = target, "TRACK_NEGATIVE_Z", "UP_Y"
rng = random.Random(0)
seconds, count, written = 0.0, 0, 0
for path in meshes_in:
    for obj in list(scene.objects):
        if obj not in (cam, target):
            bpy.data.objects.remove(obj, do_unlink=True)
    bpy.ops.wm.obj_import(filepath=path, forward_axis="Y", up_axis="Z")
    meshes = [o for o in scene.objects if o.type == "MESH"]
    lo = [min((o.matrix_world @ v.co)[i] for o in meshes for v in o.data.vertices) for i in range(3)]
    hi = [max((o.matrix_world @ v.co)[i] for o in meshes for v in o.data.vertices) for i in range(3)]
    center = [(a + b) / 2 for a, b in zip(lo, hi)]
    radius = max(b - a for a, b in zip(lo, hi))
    target.location = center
    for k in range(images + 1):  # the first image of each shape compiles shaders: not timed
        a, e = rng.uniform(0, 2 * math.pi), rng.uniform(-0.1, 1.0)
        d = 1.8 * radius
        cam.location = (center[0] + d * math.sin(a) * math.cos(e), center[1] - d * math.cos(a) * math.cos(e),
                        center[2] + d * math.sin(e))
        t = time.perf_counter()
        shading = scene.display.shading
        shading.light, shading.color_type = "STUDIO", "MATERIAL"
        scene.display.render_aa = "8"
        scene.view_settings.view_transform = "Filmic"
        scene.render.filepath = f"{out}/rgb_{written}.png"
        bpy.ops.render.render(write_still=True)
        shading.light, shading.color_type = "FLAT", "OBJECT"
        scene.display.render_aa = "OFF"
        scene.view_settings.view_transform = "Raw"  # object colour k/255 is written as the byte k
        for i, o in enumerate(meshes):
            o.color = ((i + 1) / 255, 0, 0, 1)
        scene.render.filepath = f"{out}/mask_{written}.png"
        bpy.ops.render.render(write_still=True)
        written += 1
        if k:
            seconds += time.perf_counter() - t
            count += 1
print("BENCH_JSON" + json.dumps({"seconds": seconds, "images": count}))
"""


def time_blender(size: int, images: int) -> float | None:
    blender = shutil.which("blender")
    if not blender:
        return None
    from proto3d.compiler import compile_text, export

    with tempfile.TemporaryDirectory() as tmp:
        objs = []
        for name in PROTOTYPES:
            obj = Path(tmp) / f"{name}.obj"
            export(
                compile_text((ROOT / "examples" / f"{name}.pdsl").read_text()), str(obj), up="z"
            )  # the script imports Z up
            objs.append(str(obj))
        script = Path(tmp) / "bench.py"
        script.write_text(BLENDER_SCRIPT)
        result = subprocess.run(
            [
                blender,
                "-b",
                "--factory-startup",
                "-noaudio",
                "--python",
                str(script),
                "--",
                *objs,
                tmp,
                str(size),
                str(images),
            ],
            capture_output=True,
            text=True,
            timeout=7200,
            env={**os.environ, "PYTHONNOUSERSITE": "1"},
        )
        line = next((l for l in result.stdout.splitlines() if l.startswith("BENCH_JSON")), None)
        if line is None:
            print(f"blender failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}", file=sys.stderr)
            return None
        timing = json.loads(line[len("BENCH_JSON") :])
        return timing["images"] / timing["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--variants", type=int, default=3, help="variants per prototype")
    parser.add_argument("--views", type=int, default=8, help="images per variant")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--blender-images", type=int, default=4, help="timed Blender images per prototype")
    args = parser.parse_args()
    total = len(PROTOTYPES) * args.variants * args.views
    print(
        f"{total} images at {args.size}x{args.size} with part and instance masks, {len(PROTOTYPES)} prototypes, "
        f"{os.cpu_count()} CPUs"
    )
    rows = []
    for workers in sorted({1, args.workers}):
        with tempfile.TemporaryDirectory() as tmp:
            s = time_proto3d(Path(tmp) / "out", args.size, args.variants, args.views, workers)
        rows.append(
            (f"proto3d, {workers} process{'es' if workers > 1 else ''}", s["steady"], s["images"] / s["wall"])
        )
    if shutil.which("blender"):
        theirs = time_blender(args.size, args.blender_images)
    else:
        theirs = None
        print(
            "blender not on PATH: skipping the Blender workbench comparison (Debian: apt-get install blender)"
        )
    print(f"{'engine':<26} {'images/s (steady)':>17} {'images/s (wall)':>16} {'vs blender':>11}")
    for name, rate, wall in rows:
        ratio = f"{rate / theirs:10.1f}x" if theirs else f"{'-':>11}"
        print(f"{name:<26} {rate:>17.1f} {wall:>16.1f} {ratio}")
    if theirs:
        print(f"{'blender workbench, 1 proc':<26} {theirs:>17.2f} {'-':>16} {'1.0x':>11}")
    print(
        "images/s (steady): from the first to the last finished task (what a long run sustains); (wall): "
        "including planning, worker start-up and writing the manifest and COCO files"
    )


if __name__ == "__main__":
    main()

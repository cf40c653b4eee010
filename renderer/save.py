"""Writing renders to a folder: PNGs to look at, lossless 16-bit PNGs and .npz to compute with.

Every file goes through the project's one atomic writer (a temporary file in the same
folder, then a rename), so a reader never sees a half-written file.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
from PIL import Image

from proto3d.renderer.camera import CONVENTION
from proto3d.compiler.files import write_atomic
from proto3d.renderer.errors import BAD_OPTION, render_error
from proto3d.renderer.palette import colorize, hex_color, palette

DEPTH_SCALE = 1000  # depth PNGs hold millimetres (uint16, 0 = background, clipped at 65.535 m)


def png_bytes(array_or_image) -> bytes:
    image = array_or_image if isinstance(array_or_image, Image.Image) else Image.fromarray(array_or_image)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def save_renders(renders, directory: Path, passes: tuple[str, ...]) -> list[Path]:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise render_error(BAD_OPTION, f"cannot create output folder {str(directory)!r}: {exc.strerror or exc}") from None
    shape = renders.shape
    n_parts, n_instances = len(shape.parts), len(shape.instances)
    written = []

    def put(name: str, data: bytes) -> None:
        written.append(write_atomic(directory / name, data))

    for v in renders.views:
        arrays = {}
        if "rgb" in passes and v.rgb is not None:
            opaque = bool(np.all(v.rgb[..., 3] == 255))
            put(f"{v.name}_rgb.png", png_bytes(v.rgb[..., :3] if opaque else v.rgb))
        if "depth" in passes and v.depth is not None:
            millimetres = np.clip(np.round(v.depth * DEPTH_SCALE), 0, 0xFFFF).astype(np.uint16)
            put(f"{v.name}_depth.png", png_bytes(millimetres))
            arrays["depth"] = v.depth
        if "normal" in passes and v.normal is not None:
            shown = np.where(v.face[..., None] > 0, np.round((v.normal + 1) * 127.5), 0)
            put(f"{v.name}_normal.png", png_bytes(np.clip(shown, 0, 255).astype(np.uint8)))
            arrays["normal"] = v.normal
        for name, ids, count in (("part", v.part, n_parts), ("instance", v.instance, n_instances)):
            if name in passes:
                put(f"{v.name}_{name}.png", png_bytes(colorize(ids, count)))
                if ids.dtype == np.uint16:
                    put(f"{v.name}_{name}_id.png", png_bytes(ids))
                arrays[name] = ids
        if "primitive" in passes:
            if v.primitive.max() <= 0xFFFF:
                put(f"{v.name}_primitive_id.png", png_bytes(v.primitive.astype(np.uint16)))
            arrays["primitive"] = v.primitive
            arrays["face"] = v.face
        if arrays:
            put(f"{v.name}.npz", npz_bytes(arrays))

    cameras = {"convention": CONVENTION, "views": [v.camera.to_json() for v in renders.views]}
    put("cameras.json", json.dumps(cameras, indent=2).encode())
    put("visibility.json", json.dumps(visibility(renders), indent=2).encode())
    return written


def visibility(renders) -> dict:
    """Part table with palette colours, per-view visible pixel counts, what no view shows."""
    shape = renders.shape
    part_colors, instance_colors = palette(len(shape.parts)), palette(len(shape.instances))
    return {
        "shape": shape.name,
        "id_encoding": "ID buffers and *_id.png hold table index + 1; 0 is background",
        "depth_png": f"uint16 millimetres along camera z (depth * {DEPTH_SCALE}); 0 is background",
        "parts": [
            {"id": i, "label": p.label, "instances": len(p.instance_ids), "color": hex_color(part_colors[i]), "line": p.span.line}
            for i, p in enumerate(shape.parts)
        ],
        "instances": [
            {"id": i, "name": shape.instance_name(i), "part": shape.parts[inst.part_id].label,
             "color": hex_color(instance_colors[i]), "line": inst.span.line}
            for i, inst in enumerate(shape.instances)
        ],
        "views": renders.visible_pixels(),
        "invisible_parts": renders.invisible_parts(),
        "invisible_instances": renders.invisible_instances(),
    }

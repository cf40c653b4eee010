"""Writing renders to a folder: PNGs to look at, lossless 16-bit PNGs and .npz to compute with.

Every file goes through the project's one atomic writer (a temporary file in the same
folder, then a rename), so a reader never sees a half-written file.

Encoding is most of the cost of saving, so PNGs and .npz members are deflated at zlib level 1
(Pillow's and `np.savez_compressed`'s level 6 made writing a view cost ten times as much as
rendering it, for files about a quarter smaller).
"""

from __future__ import annotations

import io
import json
import zipfile
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from numba import njit
from PIL import Image

from proto3d.compiler.kernel_cache import load_kernels_lightly
from proto3d.files import write_atomic
from proto3d.renderer.camera import CONVENTION
from proto3d.renderer.errors import BAD_OPTION, render_error
from proto3d.renderer.palette import colorize, hex_color, palette
from proto3d.renderer.render import PixelCounts, view_bytes

DEPTH_SCALE = 1000  # depth PNGs hold millimetres (uint16, 0 = background, clipped at 65.535 m)
SAVE_PIXEL_BYTES = (
    24  # bytes per pixel encoding a view takes: its files' bytes plus the largest scratch array
)


def png_bytes(image) -> bytes:
    """An L/RGB/RGBA Pillow image, or an (H, W) uint8/uint16 or (H, W, 3|4) uint8 array -> PNG bytes."""
    if not isinstance(image, Image.Image):
        array = np.asarray(image)
        if array.dtype.kind == "u" and array.itemsize == 2:
            array = array.astype(np.uint16, copy=False)  # native byte order: Pillow's I;16
        image = Image.fromarray(array)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """Arrays -> the bytes of an .npz file, as `np.savez_compressed` writes it but at zlib level 1."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, array in arrays.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)
    return buffer.getvalue()


@njit(cache=True, nogil=True)
def split_alpha(rgba: np.ndarray) -> tuple[np.ndarray, bool]:
    """(H, W, 4) -> a contiguous copy of its (H, W, 3) colour, and whether every pixel is opaque;
    one pass (NumPy's copy of an RGB view of RGBA alone takes 5x as long)."""
    h, w = rgba.shape[:2]
    rgb = np.empty((h, w, 3), np.uint8)
    opaque = True
    for y in range(h):
        for x in range(w):
            rgb[y, x, 0], rgb[y, x, 1], rgb[y, x, 2] = rgba[y, x, 0], rgba[y, x, 1], rgba[y, x, 2]
            opaque &= rgba[y, x, 3] == 255
    return rgb, opaque


@njit(cache=True, nogil=True)
def normal_preview(normal: np.ndarray, face: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 image of world normals, round((n + 1) * 127.5) in float32; background 0."""
    out = np.zeros(normal.shape, np.uint8)
    for y in range(face.shape[0]):
        for x in range(face.shape[1]):
            if face[y, x] > 0:
                for k in range(3):
                    out[y, x, k] = min(
                        max(np.rint((normal[y, x, k] + np.float32(1)) * np.float32(127.5)), 0), 255
                    )
    return out


def save_renders(renders, directory: Path, passes: tuple[str, ...]) -> list[Path]:
    with ViewWriter(renders.shape, directory, passes) as writer:
        for view in renders.views:
            writer.add(view)
        return writer.finish()


class ViewWriter:
    """Writes views to a folder as they arrive, keeping only their pixel counts and cameras.

    Two views are encoded at a time (zlib and the Numba kernels release the GIL) and their
    files written in order; `add` waits while two are being encoded, so a stream of views
    never piles up. `written` lists the files written so far (a caller that fails halfway
    knows what to remove); `finish` writes cameras.json and visibility.json.
    """

    def __init__(self, shape, directory: Path, passes: tuple[str, ...]):
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise render_error(
                BAD_OPTION, f"cannot create output folder {str(directory)!r}: {exc.strerror or exc}"
            ) from None
        self.shape, self.directory, self.passes = shape, directory, passes
        self.counts = PixelCounts(shape)
        self.cameras: list[dict] = []
        self.written: list[Path] = []
        self._pool = ThreadPoolExecutor(2)
        self._encoding: deque = deque()

    def __enter__(self) -> ViewWriter:
        return self

    def __exit__(self, *exc) -> None:
        self._pool.shutdown(cancel_futures=True)

    def add(self, view) -> None:
        self.counts.add(view)
        self.cameras.append(view.camera.to_json())
        if len(self._encoding) == 2:
            self._write(self._encoding.popleft())
        self._encoding.append(self._pool.submit(_view_files, self.shape, view, self.passes))

    def finish(self) -> list[Path]:
        while self._encoding:
            self._write(self._encoding.popleft())
        self._write_file(
            "cameras.json", json.dumps({"convention": CONVENTION, "views": self.cameras}, indent=2).encode()
        )
        self._write_file(
            "visibility.json", json.dumps(visibility(self.shape, self.counts), indent=2).encode()
        )
        return self.written

    def _write(self, encoding) -> None:
        for name, data in encoding.result():
            self._write_file(name, data)

    def _write_file(self, name: str, data: bytes) -> None:
        self.written.append(write_atomic(self.directory / name, data))


def view_file_names(name: str, passes: tuple[str, ...]) -> list[str]:
    """Every file a view may be saved as (`_view_files` leaves out 16-bit PNGs of ids that do not fit)."""
    suffixes = {
        "rgb": ["_rgb.png"],
        "depth": ["_depth.png"],
        "normal": ["_normal.png"],
        "part": ["_part.png", "_part_id.png"],
        "instance": ["_instance.png", "_instance_id.png"],
        "primitive": ["_primitive_id.png"],
    }
    return [name + suffix for p in passes for suffix in suffixes[p]] + [f"{name}.npz"] * any(
        p != "rgb" for p in passes
    )


def streaming_bytes(cameras, passes: tuple[str, ...]) -> int:
    """About the most memory `render_each` into a `ViewWriter` holds: two views drawn, two encoded, the
    framebuffers (measured: 831 MB over the process's own for 6 views of 2048x2048 with every pass; counted: 912)."""
    largest = max(cameras, key=lambda c: c.width * c.height)
    return (
        5 * view_bytes(largest.width, largest.height, passes)
        + 2 * largest.width * largest.height * SAVE_PIXEL_BYTES
    )


def _view_files(shape, v, passes: tuple[str, ...]) -> list[tuple[str, bytes]]:
    """(file name, bytes) of every file of one view."""
    files, arrays = [], {}
    if "rgb" in passes and v.rgb is not None:
        rgb, opaque = split_alpha(v.rgb)
        files.append((f"{v.name}_rgb.png", png_bytes(rgb if opaque else v.rgb)))
    if "depth" in passes and v.depth is not None:
        millimetres = np.clip(np.round(v.depth * DEPTH_SCALE), 0, 0xFFFF).astype(np.uint16)
        files.append((f"{v.name}_depth.png", png_bytes(millimetres)))
        arrays["depth"] = v.depth
    if "normal" in passes and v.normal is not None:
        files.append((f"{v.name}_normal.png", png_bytes(normal_preview(v.normal, v.face))))
        arrays["normal"] = v.normal
    for name, count in (("part", len(shape.parts)), ("instance", len(shape.instances))):
        if name in passes:
            ids = getattr(v, name)
            files.append((f"{v.name}_{name}.png", png_bytes(colorize(ids, count))))
            if ids.dtype == np.uint16:
                files.append((f"{v.name}_{name}_id.png", png_bytes(ids)))
            arrays[name] = ids
    if "primitive" in passes:
        if v.primitive.max() <= 0xFFFF:
            files.append((f"{v.name}_primitive_id.png", png_bytes(v.primitive.astype(np.uint16))))
        arrays["primitive"] = v.primitive
        arrays["face"] = v.face
    if arrays:
        files.append((f"{v.name}.npz", npz_bytes(arrays)))
    return files


def visibility(shape, counts: PixelCounts) -> dict:
    """Part table with palette colours, per-view visible pixel counts, what no view shows."""
    part_colors, instance_colors = palette(len(shape.parts)), palette(len(shape.instances))
    return {
        "shape": shape.name,
        "id_encoding": "ID buffers and *_id.png hold table index + 1; 0 is background",
        "depth_png": f"uint16 millimetres along camera z (depth * {DEPTH_SCALE}); 0 is background",
        "parts": [
            {
                "id": i,
                "label": p.label,
                "instances": len(p.instance_ids),
                "color": hex_color(part_colors[i]),
                "line": p.span.line,
            }
            for i, p in enumerate(shape.parts)
        ],
        "instances": [
            {
                "id": i,
                "name": shape.instance_name(i),
                "part": shape.parts[inst.part_id].label,
                "color": hex_color(instance_colors[i]),
                "line": inst.span.line,
            }
            for i, inst in enumerate(shape.instances)
        ],
        "views": counts.visible_pixels(),
        "invisible_parts": counts.invisible_parts(),
        "invisible_instances": counts.invisible_instances(),
    }


load_kernels_lightly(__name__)  # imported after the renderer package switched its kernels

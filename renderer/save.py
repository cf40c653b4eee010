"""Writing renders to a folder: PNGs to look at, lossless 16-bit PNGs and .npz to compute with.

Every file goes through the project's one atomic writer (a temporary file in the same
folder, then a rename), so a reader never sees a half-written file.

Encoding is most of the cost of saving, so PNG and .npz bytes are made here, not by Pillow and
`np.savez_compressed` (same formats, same decoded arrays): Pillow tries five filters on every row,
and both ran zlib at level 6 with its full search, which made writing a view cost ten times as
much as rendering it.
"""
from __future__ import annotations

import io
import json
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from numba import njit
from PIL import Image

from proto3d.renderer.camera import CONVENTION
from proto3d.compiler.files import write_atomic
from proto3d.renderer.errors import BAD_OPTION, render_error
from proto3d.renderer.palette import colorize, hex_color, palette

DEPTH_SCALE = 1000  # depth PNGs hold millimetres (uint16, 0 = background, clipped at 65.535 m)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOR_TYPES = {1: 0, 3: 2, 4: 6}  # channels -> PNG colour type: grey, RGB, RGBA


def png_bytes(image, runs: bool = False) -> bytes:
    """(H, W) uint8/uint16 or (H, W, 3|4) uint8 array, or an L/RGB/RGBA Pillow image -> PNG bytes.

    One filter for the whole image, "Sub" (each byte minus the same byte of the pixel to its left)
    or "Up" (minus the byte above), whichever leaves smaller values on every eighth row (renders
    take Sub, the contact sheet Up), then zlib level 1. Pillow instead tries all five filters on
    every row, at level 6: a 512x512 render took 18 ms, now 3. `runs=True` has zlib look for runs
    only: renders, palette masks and id buffers are flat regions, filtered to runs of zeros, and
    pack smaller that way at the same speed; ramps (depth) and detail (the sheet) need the full search.
    """
    if isinstance(image, Image.Image) and image.mode not in ("L", "RGB", "RGBA"):
        raise ValueError(f"cannot encode a {image.mode} image as PNG here; convert it to L, RGB or RGBA")
    a = np.asarray(image)
    channels = 1 if a.ndim == 2 else a.shape[-1]
    wide = a.dtype.kind == "u" and a.itemsize == 2
    if a.ndim not in (2, 3) or not a.size or not (a.dtype == np.uint8 or wide) or channels not in _COLOR_TYPES or (wide and channels != 1):
        raise ValueError(f"cannot encode a {a.dtype} array of shape {a.shape} as PNG")
    h, w = a.shape[:2]
    rows = np.ascontiguousarray(a, ">u2" if wide else np.uint8).view(np.uint8).reshape(h, -1)  # PNG samples are big-endian
    step = rows.shape[1] // w  # bytes per pixel
    sample = np.arange(1, h, 8)
    up = _size(rows[sample] - rows[sample - 1]) < _size(rows[sample, step:] - rows[sample, :-step])
    raw = np.empty((h, 1 + rows.shape[1]), np.uint8)  # uint8 arithmetic wraps modulo 256, as the filters do
    if up:
        raw[:, 0] = 2
        raw[0, 1:] = rows[0]
        np.subtract(rows[1:], rows[:-1], out=raw[1:, 1:])
    else:
        raw[:, 0] = 1
        raw[:, 1 : 1 + step] = rows[:, :step]
        np.subtract(rows[:, step:], rows[:, :-step], out=raw[:, 1 + step :])
    deflate = zlib.compressobj(1, zlib.DEFLATED, 15, 8, zlib.Z_RLE if runs else zlib.Z_DEFAULT_STRATEGY)
    idat = deflate.compress(raw) + deflate.flush()
    header = struct.pack(">IIBBBBB", w, h, 16 if wide else 8, _COLOR_TYPES[channels], 0, 0, 0)
    return PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def _size(filtered: np.ndarray) -> int:
    """Sum of the filtered bytes read as signed: PNG's usual estimate of how well they will pack."""
    return int(np.abs(filtered.view(np.int8), dtype=np.int16).sum())


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(body, zlib.crc32(kind)))


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """Arrays -> the bytes of an .npz file (a zip of .npy members, as `np.load` reads them).

    Each member is deflated at zlib level 1; float members (depth, normals) look for runs only:
    they are runs of zero background and high-entropy mantissas, where a full search finds
    nothing more, at twice the cost. (`zipfile` has no way to choose the strategy.)
    """
    members, directory, offset = [], [], 0
    for name, array in arrays.items():
        array = np.asarray(array, order="C")
        header = io.BytesIO()  # the .npy header, then the array's own memory: no copy of the data
        np.lib.format.write_array_header_1_0(header, np.lib.format.header_data_from_array_1_0(array))
        header, body = header.getvalue(), array.reshape(-1).view(np.uint8)
        deflate = zlib.compressobj(1, zlib.DEFLATED, -15, 8, zlib.Z_RLE if array.dtype.kind == "f" else zlib.Z_DEFAULT_STRATEGY)
        data = deflate.compress(header) + deflate.compress(body) + deflate.flush()
        crc, size = zlib.crc32(body, zlib.crc32(header)), len(header) + body.nbytes
        filename = f"{name}.npy".encode()
        # version 2.0 needed, no flags, method deflate, time 00:00 of 1980-01-01, CRC-32, sizes, name length
        fields = struct.pack("<HHHHHIIIH", 20, 0, 8, 0, 0x21, crc, len(data), size, len(filename))
        local = b"PK\x03\x04" + fields + b"\0\0" + filename  # no extra field
        # made by version 2.0; no extra field, comment, disk number or attributes; where the member starts
        directory.append(b"PK\x01\x02" + struct.pack("<H", 20) + fields + struct.pack("<HHHHII", 0, 0, 0, 0, 0, offset) + filename)
        members += [local, data]
        offset += len(local) + len(data)
    central = b"".join(directory)
    end = b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, len(directory), len(directory), len(central), offset, 0)
    return b"".join(members) + central + end


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
                    out[y, x, k] = min(max(np.rint((normal[y, x, k] + np.float32(1)) * np.float32(127.5)), 0), 255)
    return out


def save_renders(renders, directory: Path, passes: tuple[str, ...]) -> list[Path]:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise render_error(BAD_OPTION, f"cannot create output folder {str(directory)!r}: {exc.strerror or exc}") from None
    written = []
    # two views are encoded at a time (zlib and the Numba kernels release the GIL; on two free cores
    # this halves the wait); files are written in order
    pool = ThreadPoolExecutor(2)
    try:
        for files in pool.map(lambda view: _view_files(renders.shape, view, passes), renders.views):
            written += [write_atomic(directory / name, data) for name, data in files]
    finally:
        pool.shutdown(cancel_futures=True)
    cameras = {"convention": CONVENTION, "views": [v.camera.to_json() for v in renders.views]}
    written.append(write_atomic(directory / "cameras.json", json.dumps(cameras, indent=2).encode()))
    written.append(write_atomic(directory / "visibility.json", json.dumps(visibility(renders), indent=2).encode()))
    return written


def _view_files(shape, v, passes: tuple[str, ...]) -> list[tuple[str, bytes]]:
    """(file name, bytes) of every file of one view."""
    files, arrays = [], {}
    if "rgb" in passes and v.rgb is not None:
        rgb, opaque = split_alpha(v.rgb)
        files.append((f"{v.name}_rgb.png", png_bytes(rgb if opaque else v.rgb, runs=True)))
    if "depth" in passes and v.depth is not None:
        millimetres = np.clip(np.round(v.depth * DEPTH_SCALE), 0, 0xFFFF).astype(">u2")
        files.append((f"{v.name}_depth.png", png_bytes(millimetres)))
        arrays["depth"] = v.depth
    if "normal" in passes and v.normal is not None:
        files.append((f"{v.name}_normal.png", png_bytes(normal_preview(v.normal, v.face))))
        arrays["normal"] = v.normal
    for name, count in (("part", len(shape.parts)), ("instance", len(shape.instances))):
        if name in passes:
            ids = getattr(v, name)
            files.append((f"{v.name}_{name}.png", png_bytes(colorize(ids, count), runs=True)))
            if ids.dtype == np.uint16:
                files.append((f"{v.name}_{name}_id.png", png_bytes(ids, runs=True)))
            arrays[name] = ids
    if "primitive" in passes:
        if v.primitive.max() <= 0xFFFF:
            files.append((f"{v.name}_primitive_id.png", png_bytes(v.primitive.astype(">u2"), runs=True)))
        arrays["primitive"] = v.primitive
        arrays["face"] = v.face
    if arrays:
        files.append((f"{v.name}.npz", npz_bytes(arrays)))
    return files


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

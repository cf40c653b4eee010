"""Read a `proto3d dataset` segmentation set back with NumPy alone (no Pillow, torch or pycocotools).

This file imports nothing from proto3d, so it can be copied next to a training script:

    from seg_reader import SegmentationSet
    data = SegmentationSet("out/", split="train")
    sample = data[0]  # image (H,W,3) uint8, parts (H,W) uint16 global part ids, instances (H,W) uint16, ...
    data.part_names[sample["parts"][100, 120]]  # "chair/seat"

It also holds the PNG codec and COCO RLE code the dataset writer uses, so reader and writer agree
by construction. The codec writes (and decodes) what proto3d writes: 8-bit grey/RGB/RGBA and
16-bit grey, no interlace, filter "None" or "Up" per row; other PNGs raise ValueError.
"""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOR_TYPES = {1: 0, 3: 2, 4: 6}  # channels -> PNG colour type


def encode_png(array: np.ndarray, level: int = 6) -> bytes:
    """(H, W) uint8/uint16 or (H, W, 3|4) uint8 -> PNG bytes, every row filtered with "Up".

    "Up" (row minus the row above) is vectorised both ways and compresses renders and masks
    well; the output is a byte-for-byte function of the array and `level`.
    """
    a = np.ascontiguousarray(array)
    channels = 1 if a.ndim == 2 else a.shape[2]
    if (
        a.dtype not in (np.uint8, np.uint16)
        or channels not in _COLOR_TYPES
        or (a.dtype == np.uint16 and channels != 1)
    ):
        raise ValueError(f"cannot encode a {a.dtype} array of shape {a.shape} as PNG")
    h, w = a.shape[:2]
    rows = a.astype(">u2").view(np.uint8) if a.dtype == np.uint16 else a
    rows = rows.reshape(h, -1)
    up = rows.copy()
    up[1:] -= rows[:-1]  # uint8 arithmetic wraps modulo 256, as the PNG filter does
    raw = np.hstack([np.full((h, 1), 2, np.uint8), up])
    header = struct.pack(">IIBBBBB", w, h, 16 if a.dtype == np.uint16 else 8, _COLOR_TYPES[channels], 0, 0, 0)
    return (
        PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw.tobytes(), level))
        + _chunk(b"IEND", b"")
    )


def decode_png(data: bytes) -> np.ndarray:
    """PNG bytes (as written by `encode_png`, or any PNG using only filters None and Up) -> array."""
    if data[:8] != PNG_SIGNATURE:
        raise ValueError("not a PNG file")
    pos, idat, header = 8, [], None
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos : pos + 4]), data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    if header is None:
        raise ValueError("PNG without IHDR")
    w, h, depth, color_type, _, _, interlace = header
    channels = {v: k for k, v in _COLOR_TYPES.items()}.get(color_type)
    if channels is None or depth not in (8, 16) or interlace:
        raise ValueError(
            f"unsupported PNG (colour type {color_type}, depth {depth}, interlace {interlace}); use Pillow"
        )
    stride = w * channels * depth // 8
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), np.uint8).reshape(h, stride + 1)
    filters, rows = raw[:, 0], raw[:, 1:]
    if np.any(filters > 2) or np.any(filters == 1):
        raise ValueError("PNG uses filters other than None/Up; read it with Pillow")
    # Up: each row adds the decoded row above. Runs of Up rows are cumulative sums from the last None row.
    out = np.empty_like(rows)
    start = 0
    for end in list(np.flatnonzero(filters[1:] == 0) + 1) + [h]:
        out[start:end] = np.cumsum(rows[start:end], axis=0, dtype=np.uint8)
        start = end
    if depth == 16:
        return out.view(">u2").astype(np.uint16).reshape(h, w)
    return out.reshape((h, w) if channels == 1 else (h, w, channels))


def read_png(path: str | Path) -> np.ndarray:
    return decode_png(Path(path).read_bytes())


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


# ---- COCO run-length encoding (pycocotools' compressed string form, column-major) ----------------


def rle_encode(mask: np.ndarray) -> dict:
    """(H, W) bool -> {"size": [H, W], "counts": str}, exactly as pycocotools.mask.encode writes it."""
    flat = np.asarray(mask, bool).ravel(order="F")
    edges = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    counts = np.diff(np.concatenate([[0], edges, [flat.size]]))
    if flat.size and flat[0]:
        counts = np.concatenate([[0], counts])
    out = bytearray()
    for i, count in enumerate(counts.tolist()):
        x = count - counts[i - 2] if i > 2 else count
        x = int(x)
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = x != -1 if c & 0x10 else x != 0
            out.append((c | 0x20 if more else c) + 48)
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": out.decode("ascii")}


def rle_decode(rle: dict) -> np.ndarray:
    """The inverse of `rle_encode` (also accepts uncompressed RLE with a list of counts)."""
    h, w = rle["size"]
    counts = rle["counts"]
    if isinstance(counts, str):
        counts = _rle_counts(counts.encode("ascii"))
    values = np.arange(len(counts)) % 2 == 1
    return np.repeat(values, counts).reshape((h, w), order="F")


def _rle_counts(s: bytes) -> list[int]:
    counts, p = [], 0
    while p < len(s):
        x = k = 0
        more = True
        while more:
            c = s[p] - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


# ---- the dataset -------------------------------------------------------------------------------


class SegmentationSet:
    """The images, part masks and instance masks of one split of a `proto3d dataset` folder.

    `sample = data[i]` is a dict: image (H, W, 3) uint8; parts (H, W) uint16 global part ids
    (0 = background, names in `part_names`); instances (H, W) uint16 instance index + 1 in the
    image's shape (names in sample["instance_names"]); category (int, index in `categories`);
    id (the image id `proto3d dataset --regenerate` takes) and the manifest record. A dataset made
    with a label map has the vocabulary's class names and `ignore_index` 255 (else None): parts
    that belong to no class.
    """

    def __init__(self, root: str | Path, split: str | None = "train") -> None:
        self.root = Path(root)
        labels = json.loads((self.root / "labels.json").read_text(encoding="utf-8"))
        self.categories = [c["name"] for c in labels["categories"]]
        self.part_names = ["background"] + [p["name"] for p in labels["parts"]]
        self.ignore_index = labels.get("ignore_index")
        with open(self.root / "manifest.jsonl", encoding="utf-8") as f:
            records = [json.loads(line) for line in f if line.strip()]
        self.records = [r for r in records if split is None or r["split"] == split]

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict:
        r = self.records[index]
        files = r["files"]
        return {
            "id": r["id"],
            "image": read_png(self.root / files["image"])[..., :3],
            "parts": read_png(self.root / files["parts"]),
            "instances": read_png(self.root / files["instances"]),
            "category": self.categories.index(r["category"]),
            "instance_names": [i["name"] for i in r["instances"]],
            "record": r,
        }
